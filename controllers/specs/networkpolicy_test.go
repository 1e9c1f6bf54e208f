package specs

import (
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestNetworkPolicies(t *testing.T) {
	tests := []struct {
		name  string
		g     *galleryv1alpha1.Gallery
		names []string
		// Egress of server and workers, beyond DNS.
		toPods     map[string]int32 // component -> port, this Gallery's pods
		toAnywhere []int32          // ports open to any address
		// podIdentity: egress to the EKS Pod Identity agent.
		podIdentity bool
		// scaler owns the workers' count; redisReaders are the labels of pods in any
		// namespace that Redis admits besides server and workers (the queue-length readers).
		scaler       WorkerScaler
		redisReaders map[string]string
	}{{
		name:   "offline defaults: managed Redis and MariaDB, volume, builtin classifier",
		g:      gallery(),
		names:  []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods: map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
	}, {
		name:       "external Redis and MySQL open only their ports",
		g:          gallery(withExternalRedis(), withExternalDatabase(galleryv1alpha1.DatabaseMySQL)),
		names:      []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate"},
		toAnywhere: []int32{6379, 3306},
	}, {
		name:       "external Postgres on its default port, Redis on a custom one",
		g:          gallery(withExternalRedis(), withRedisAddress("cache.internal:6380"), withExternalDatabase(galleryv1alpha1.DatabasePostgres)),
		names:      []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate"},
		toAnywhere: []int32{6380, 5432},
	}, {
		name:       "external database on a custom port, managed Redis",
		g:          gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withDatabasePort(3307)),
		names:      []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis"},
		toPods:     map[string]int32{galleryv1alpha1.ComponentRedis: 6379},
		toAnywhere: []int32{3307},
	}, {
		name:        "S3 opens HTTPS and the Pod Identity agent",
		g:           gallery(withS3()),
		names:       []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:      map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		toAnywhere:  []int32{443},
		podIdentity: true,
	}, {
		name:        "Rekognition opens HTTPS and the Pod Identity agent",
		g:           gallery(withRekognition()),
		names:       []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:      map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		toAnywhere:  []int32{443},
		podIdentity: true,
	}, {
		name:        "an S3-compatible store's own port",
		g:           gallery(withS3(), withS3Endpoint("http://minio.storage.svc:9000")),
		names:       []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:      map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		toAnywhere:  []int32{443, 9000},
		podIdentity: true,
	}, {
		name:   "embedded database: one server pod, no workers, no database",
		g:      gallery(withEmbeddedDatabase()),
		names:  []string{"demo-default-deny", "demo-server", "demo-redis"},
		toPods: map[string]int32{galleryv1alpha1.ComponentRedis: 6379},
	}, {
		name:         "KEDA reads the queue length from Redis",
		g:            gallery(),
		scaler:       ScaleWorkersKEDA,
		names:        []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:       map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		redisReaders: map[string]string{"app": "keda-operator"},
	}, {
		name:         "the operator's backlog scaler reads the queue length from Redis",
		g:            gallery(),
		scaler:       ScaleWorkersBacklog,
		names:        []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:       map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		redisReaders: map[string]string{galleryv1alpha1.LabelName: galleryv1alpha1.OperatorName},
	}, {
		name:         "the backlog scaler beside an HPA reads it too",
		g:            gallery(),
		scaler:       ScaleWorkersHPAWithBacklog,
		names:        []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:       map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		redisReaders: map[string]string{galleryv1alpha1.LabelName: galleryv1alpha1.OperatorName},
	}, {
		name:   "a CPU-only HPA needs no queue reader",
		g:      gallery(),
		scaler: ScaleWorkersHPA,
		names:  []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods: map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
	}, {
		name:   "server port follows the spec",
		g:      gallery(withServerPort(9000)),
		names:  []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods: map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
	}, {
		name: "metrics port and who may scrape it follow the spec",
		g: gallery(withMetricsPort(9464), withMetricsFrom(networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
		})),
		names:  []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods: map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
	}, {
		name:       "tracing opens the collector's port",
		g:          gallery(withTracing("http://otel-collector.monitoring:4318", nil)),
		names:      []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:     map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		toAnywhere: []int32{4318},
	}, {
		name:       "tracing to an HTTPS collector opens 443 without AWS",
		g:          gallery(withTracing("https://otlp.example.com/", nil)),
		names:      []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:     map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		toAnywhere: []int32{443},
	}, {
		name:       "single sign-on opens the provider's HTTPS port",
		g:          gallery(withOIDC("https://login.example.edu/realms/uni")),
		names:      []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:     map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		toAnywhere: []int32{443},
	}, {
		name:       "single sign-on with a provider on its own port",
		g:          gallery(withOIDC("https://keycloak.example.edu:8443/realms/uni")),
		names:      []string{"demo-default-deny", "demo-server", "demo-workers", "demo-migrate", "demo-redis", "demo-mariadb"},
		toPods:     map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306},
		toAnywhere: []int32{8443},
	}, {
		name:        "a port both the store and the collector use is opened once",
		g:           gallery(withS3(), withS3Endpoint("http://minio.storage.svc:9000"), withTracing("https://otlp.example.com", nil), withEmbeddedDatabase()),
		names:       []string{"demo-default-deny", "demo-server", "demo-redis"},
		toPods:      map[string]int32{galleryv1alpha1.ComponentRedis: 6379},
		toAnywhere:  []int32{443, 9000},
		podIdentity: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policies := NetworkPolicies(tt.g, tt.scaler)
			byName := map[string]*networkingv1.NetworkPolicy{}
			var names []string
			for _, p := range policies {
				names = append(names, p.Name)
				byName[p.Name] = p
				assertApplyable(t, p, "networking.k8s.io/v1", "NetworkPolicy", p.Name, p.Labels[galleryv1alpha1.LabelComponent])
			}
			if !slices.Equal(names, tt.names) {
				t.Fatalf("policies = %v, want %v", names, tt.names)
			}

			deny := byName["demo-default-deny"]
			wantAll := map[string]string{galleryv1alpha1.LabelInstance: "demo", galleryv1alpha1.LabelName: "sortographer"}
			if !maps.Equal(deny.Spec.PodSelector.MatchLabels, wantAll) || len(deny.Spec.PodSelector.MatchExpressions) != 0 {
				t.Errorf("default deny selects %+v, want every pod of the Gallery %v", deny.Spec.PodSelector, wantAll)
			}
			assertPolicyTypes(t, deny, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)
			if len(deny.Spec.Ingress) != 0 || len(deny.Spec.Egress) != 0 {
				t.Errorf("default deny allows something: %+v", deny.Spec)
			}

			appPort, metricsPort := tt.g.Spec.Server.Port, tt.g.Spec.Monitoring.MetricsPort
			app := []string{galleryv1alpha1.ComponentServer}
			if tt.g.RunsWorkers() {
				app = append(app, galleryv1alpha1.ComponentWorkers)
			}
			for _, component := range app {
				p := byName["demo-"+component]
				assertSelectsComponent(t, p, tt.g, component)
				assertPolicyTypes(t, p, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)
				// Ingress: the metrics port from spec.monitoring.metricsFrom (any source
				// when empty); the server's port from any source (the ingress controller),
				// but not the workers' (only the kubelet probes it, unfiltered).
				rules := p.Spec.Ingress
				if component == galleryv1alpha1.ComponentServer {
					if len(rules) != 2 || len(rules[0].From) != 0 || !hasPorts(rules[0].Ports, appPort) {
						t.Fatalf("server ingress = %+v, want port %d from anywhere, then the metrics port", rules, appPort)
					}
					rules = rules[1:]
				}
				if len(rules) != 1 || !hasPorts(rules[0].Ports, metricsPort) ||
					!equality.Semantic.DeepEqual(rules[0].From, tt.g.Spec.Monitoring.MetricsFrom) {
					t.Errorf("%s ingress = %+v, want only metrics port %d from %+v", component, p.Spec.Ingress, metricsPort, tt.g.Spec.Monitoring.MetricsFrom)
				}
				assertEgress(t, p, tt.g, tt.toPods, tt.toAnywhere, tt.podIdentity)
			}
			// An upgrade's migration pod reaches what the server reaches and serves nothing.
			if p, ok := byName["demo-migrate"]; ok {
				assertSelectsComponent(t, p, tt.g, galleryv1alpha1.ComponentMigrate)
				assertPolicyTypes(t, p, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)
				if len(p.Spec.Ingress) != 0 {
					t.Errorf("migrate ingress = %+v, want none", p.Spec.Ingress)
				}
				assertEgress(t, p, tt.g, tt.toPods, tt.toAnywhere, tt.podIdentity)
			} else if RunsMigrationJobs(tt.g) {
				t.Errorf("no migrate policy for a Gallery whose upgrades migrate in a Job")
			}

			// Redis and MariaDB admit exactly this Gallery's server and workers, and Redis
			// also the scaler that reads the queue's length, if any.
			for _, backend := range []struct {
				policy, component string
				port              int32
				readers           map[string]string
			}{
				{"demo-redis", galleryv1alpha1.ComponentRedis, 6379, tt.redisReaders},
				{"demo-mariadb", galleryv1alpha1.ComponentDatabase, 3306, nil},
			} {
				p, ok := byName[backend.policy]
				if !ok {
					continue
				}
				component, port := backend.component, backend.port
				assertSelectsComponent(t, p, tt.g, component)
				if len(p.Spec.Ingress) != 1 || !hasPorts(p.Spec.Ingress[0].Ports, port) {
					t.Fatalf("%s ingress = %+v, want one rule on %d", component, p.Spec.Ingress, port)
				}
				var from []string
				var readers []map[string]string
				for _, peer := range p.Spec.Ingress[0].From {
					switch {
					case peer.IPBlock != nil || peer.PodSelector == nil:
						t.Errorf("%s admits a peer that is not a pod: %+v", component, peer)
					case peer.NamespaceSelector != nil:
						readers = append(readers, peer.PodSelector.MatchLabels)
					default:
						from = append(from, componentOf(t, tt.g, peer.PodSelector.MatchLabels))
					}
				}
				want := app
				if component == galleryv1alpha1.ComponentDatabase {
					want = append(slices.Clone(app), galleryv1alpha1.ComponentMigrate)
				}
				if !slices.Equal(from, want) {
					t.Errorf("%s admits %v, want exactly %v", component, from, want)
				}
				wantReaders := []map[string]string{}
				if backend.readers != nil {
					wantReaders = append(wantReaders, backend.readers)
				}
				if !slices.EqualFunc(readers, wantReaders, maps.Equal) {
					t.Errorf("%s admits pods of other namespaces %v, want %v", component, readers, wantReaders)
				}
				if len(p.Spec.Egress) != 0 {
					t.Errorf("%s allows egress %+v; the default deny should hold", component, p.Spec.Egress)
				}
			}
		})
	}
}

func assertPolicyTypes(t *testing.T, p *networkingv1.NetworkPolicy, want ...networkingv1.PolicyType) {
	t.Helper()
	if !slices.Equal(p.Spec.PolicyTypes, want) {
		t.Errorf("%s policyTypes = %v, want %v", p.Name, p.Spec.PolicyTypes, want)
	}
}

func assertSelectsComponent(t *testing.T, p *networkingv1.NetworkPolicy, g *galleryv1alpha1.Gallery, component string) {
	t.Helper()
	if !maps.Equal(p.Spec.PodSelector.MatchLabels, g.SelectorLabels(component)) {
		t.Errorf("%s selects %v, want the %s pods", p.Name, p.Spec.PodSelector.MatchLabels, component)
	}
}

// componentOf names the component a peer's pod selector picks out of this Gallery.
func componentOf(t *testing.T, g *galleryv1alpha1.Gallery, sel map[string]string) string {
	t.Helper()
	for _, c := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers, galleryv1alpha1.ComponentRedis, galleryv1alpha1.ComponentDatabase, galleryv1alpha1.ComponentBackup, galleryv1alpha1.ComponentMigrate} {
		if maps.Equal(sel, g.SelectorLabels(c)) {
			return c
		}
	}
	t.Errorf("selector %v picks no single component of %s", sel, g.Name)
	return "?"
}

// hasPorts reports whether ports are exactly the TCP ports want.
func hasPorts(ports []networkingv1.NetworkPolicyPort, want ...int32) bool {
	if len(ports) != len(want) {
		return false
	}
	for i, p := range ports {
		if p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP || p.Port == nil || *p.Port != intstr.FromInt32(want[i]) || p.EndPort != nil {
			return false
		}
	}
	return true
}

// assertEgress checks server and worker egress rule by rule: DNS to kube-dns, then
// exactly the Gallery's pods, the ports to anywhere and the Pod Identity agent expected.
func assertEgress(t *testing.T, p *networkingv1.NetworkPolicy, g *galleryv1alpha1.Gallery, toPods map[string]int32, toAnywhere []int32, podIdentity bool) {
	t.Helper()
	gotPods := map[string]int32{}
	var gotAnywhere []int32
	gotIdentity, gotDNS := false, false
	for _, r := range p.Spec.Egress {
		switch {
		case isDNS(r):
			gotDNS = true
		case len(r.To) == 0:
			if len(r.Ports) != 1 || !hasPorts(r.Ports, r.Ports[0].Port.IntVal) {
				t.Errorf("%s: egress to anywhere with ports %+v, want one TCP port", p.Name, r.Ports)
				continue
			}
			gotAnywhere = append(gotAnywhere, r.Ports[0].Port.IntVal)
		case r.To[0].IPBlock != nil:
			var cidrs []string
			for _, peer := range r.To {
				if peer.IPBlock == nil {
					t.Errorf("%s: egress mixes addresses and pods: %+v", p.Name, r.To)
					continue
				}
				cidrs = append(cidrs, peer.IPBlock.CIDR)
			}
			if !slices.Equal(cidrs, []string{"169.254.170.23/32", "fd00:ec2::23/128"}) || !hasPorts(r.Ports, 80) {
				t.Errorf("%s: unexpected egress to addresses %v on %+v", p.Name, cidrs, r.Ports)
			}
			gotIdentity = true
		default:
			if len(r.To) != 1 || r.To[0].NamespaceSelector != nil || r.To[0].PodSelector == nil || len(r.Ports) != 1 {
				t.Errorf("%s: unexpected egress rule %+v", p.Name, r)
				continue
			}
			gotPods[componentOf(t, g, r.To[0].PodSelector.MatchLabels)] = r.Ports[0].Port.IntVal
			if !hasPorts(r.Ports, r.Ports[0].Port.IntVal) {
				t.Errorf("%s: egress to pods on %+v, want one TCP port", p.Name, r.Ports)
			}
		}
	}
	if !gotDNS {
		t.Errorf("%s: no DNS egress to kube-dns", p.Name)
	}
	if !maps.Equal(gotPods, toPods) {
		t.Errorf("%s: egress to this Gallery's pods = %v, want %v", p.Name, gotPods, toPods)
	}
	if !slices.Equal(gotAnywhere, toAnywhere) {
		t.Errorf("%s: egress to any address on %v, want %v", p.Name, gotAnywhere, toAnywhere)
	}
	if gotIdentity != podIdentity {
		t.Errorf("%s: egress to the Pod Identity agent = %v, want %v", p.Name, gotIdentity, podIdentity)
	}
}

// isDNS reports whether r is the DNS rule: UDP and TCP 53 to kube-dns in any namespace.
func isDNS(r networkingv1.NetworkPolicyEgressRule) bool {
	if len(r.To) != 1 {
		return false
	}
	peer := r.To[0]
	if peer.NamespaceSelector == nil || len(peer.NamespaceSelector.MatchLabels) != 0 || len(peer.NamespaceSelector.MatchExpressions) != 0 ||
		peer.PodSelector == nil || !maps.Equal(peer.PodSelector.MatchLabels, map[string]string{"k8s-app": "kube-dns"}) {
		return false
	}
	protocols := map[corev1.Protocol]bool{}
	for _, p := range r.Ports {
		if p.Port == nil || *p.Port != intstr.FromInt32(53) || p.Protocol == nil {
			return false
		}
		protocols[*p.Protocol] = true
	}
	return len(r.Ports) == 2 && protocols[corev1.ProtocolUDP] && protocols[corev1.ProtocolTCP]
}

func TestEndpointPort(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		want     int32
	}{
		{"https://s3.eu-west-1.amazonaws.com", 443},
		{"http://minio.storage.svc:9000", 9000},
		{"http://minio.storage.svc", 80},
		{"https://ceph.example.com:8443/bucket?x=1", 8443},
		{"http://[fd00::10]:9000/", 9000},
		{"https://[fd00::10]", 443},
	} {
		if got := endpointPort(tt.endpoint); got != tt.want {
			t.Errorf("endpointPort(%q) = %d, want %d", tt.endpoint, got, tt.want)
		}
	}
}
