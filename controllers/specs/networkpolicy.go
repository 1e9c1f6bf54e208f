package specs

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// NetworkPolicies deny everything to and from the Gallery's pods, then allow exactly the
// flows the gallery needs: the wanted ones of NetworkPolicyChildren.
func NetworkPolicies(g *galleryv1alpha1.Gallery, scaler WorkerScaler) []*networkingv1.NetworkPolicy {
	var policies []*networkingv1.NetworkPolicy
	for _, c := range NetworkPolicyChildren(g, scaler) {
		if c.Desired != nil {
			policies = append(policies, c.Desired.(*networkingv1.NetworkPolicy))
		}
	}
	return policies
}

// NetworkPolicyChildren are every NetworkPolicy a Gallery can have, one per component,
// each built when the component runs. scaler decides who else reads the queue's length
// from Redis: the operator's own backlog scaler, or KEDA's operator.
func NetworkPolicyChildren(g *galleryv1alpha1.Gallery, scaler WorkerScaler) []Child {
	all := metav1.LabelSelector{MatchLabels: map[string]string{galleryv1alpha1.LabelName: galleryv1alpha1.AppName, galleryv1alpha1.LabelInstance: g.Name}}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	appEgress := galleryEgress(g)
	fromApp := []networkingv1.NetworkPolicyPeer{appPeer(g, galleryv1alpha1.ComponentServer)}
	if g.RunsWorkers() {
		fromApp = append(fromApp, appPeer(g, galleryv1alpha1.ComponentWorkers))
	}
	fromDatabaseClients := fromApp
	if RunsBackupJobs(g) {
		fromDatabaseClients = append(fromDatabaseClients, appPeer(g, galleryv1alpha1.ComponentBackup))
	}
	if RunsMigrationJobs(g) {
		fromDatabaseClients = append(fromDatabaseClients, appPeer(g, galleryv1alpha1.ComponentMigrate))
	}
	// slot is the policy name, built by build when wanted.
	slot := func(name string, wanted bool, build func(name string) *networkingv1.NetworkPolicy) Child {
		var p *networkingv1.NetworkPolicy
		if wanted {
			p = build(name)
		}
		return optional(g, p, &networkingv1.NetworkPolicy{}, name)
	}
	return []Child{
		// The default deny spans every component; it is labelled with the server's, as
		// every child needs one.
		slot(g.Name+"-default-deny", true, func(name string) *networkingv1.NetworkPolicy {
			return policy(g, name, galleryv1alpha1.ComponentServer, all, both, nil, nil)
		}),
		// The server port is open to any source: the ingress controller's namespace and
		// labels vary by cluster, and an ALB in IP mode connects from VPC addresses that
		// are no pods at all, so no selector would hold everywhere. The server
		// authenticates every request, and serves no metrics there.
		slot(g.ServerName(), true, func(name string) *networkingv1.NetworkPolicy {
			return policy(g, name, galleryv1alpha1.ComponentServer,
				metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentServer)}, both,
				[]networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{port(g.Spec.Server.Port)}}, metricsIngress(g)}, appEgress)
		}),
		// Workers serve health on the server's port and metrics on the metrics port. Only
		// the kubelet probes health, and NetworkPolicies do not filter a node's own
		// traffic to its pods, so only the metrics port is opened.
		slot(g.WorkersName(), g.RunsWorkers(), func(name string) *networkingv1.NetworkPolicy {
			return policy(g, name, galleryv1alpha1.ComponentWorkers,
				metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentWorkers)}, both,
				[]networkingv1.NetworkPolicyIngressRule{metricsIngress(g)}, appEgress)
		}),
		// Backup, restore and drill pods serve nothing; they reach what the app reaches
		// (the database, the photo bucket) and the backup location.
		slot(g.BackupName(), RunsBackupJobs(g), func(name string) *networkingv1.NetworkPolicy {
			return policy(g, name, galleryv1alpha1.ComponentBackup,
				metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentBackup)}, both,
				nil, slices.Concat(appEgress, backupEgress(g, opened(appEgress))))
		}),
		// An upgrade's migration pod serves nothing and reaches what the server reaches.
		slot(g.Name+"-migrate", RunsMigrationJobs(g), func(name string) *networkingv1.NetworkPolicy {
			return policy(g, name, galleryv1alpha1.ComponentMigrate,
				metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentMigrate)}, both, nil, appEgress)
		}),
		slot(g.RedisName(), g.Spec.Cache.Managed != nil, func(name string) *networkingv1.NetworkPolicy {
			fromRedisClients := fromApp
			switch scaler {
			case ScaleWorkersBacklog, ScaleWorkersHPAWithBacklog:
				fromRedisClients = append(fromRedisClients, anyNamespacePods(map[string]string{galleryv1alpha1.LabelName: galleryv1alpha1.OperatorName}))
			case ScaleWorkersKEDA:
				fromRedisClients = append(fromRedisClients, anyNamespacePods(map[string]string{"app": "keda-operator"}))
			}
			return policy(g, name, galleryv1alpha1.ComponentRedis,
				metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentRedis)},
				[]networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				[]networkingv1.NetworkPolicyIngressRule{{From: fromRedisClients, Ports: []networkingv1.NetworkPolicyPort{port(galleryv1alpha1.RedisPort)}}}, nil)
		}),
		slot(g.DatabaseName(), g.Spec.Database.Managed != nil, func(name string) *networkingv1.NetworkPolicy {
			return policy(g, name, galleryv1alpha1.ComponentDatabase,
				metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentDatabase)},
				[]networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				[]networkingv1.NetworkPolicyIngressRule{{From: fromDatabaseClients, Ports: []networkingv1.NetworkPolicyPort{port(MariaDBPort)}}}, nil)
		}),
	}
}

// metricsIngress opens the metrics port to spec.monitoring.metricsFrom, or to any source
// when it is empty (Prometheus' namespace and labels vary by cluster).
func metricsIngress(g *galleryv1alpha1.Gallery) networkingv1.NetworkPolicyIngressRule {
	var from []networkingv1.NetworkPolicyPeer
	for _, p := range g.Spec.Monitoring.MetricsFrom {
		from = append(from, *p.DeepCopy())
	}
	return networkingv1.NetworkPolicyIngressRule{From: from, Ports: []networkingv1.NetworkPolicyPort{port(g.MetricsPort())}}
}

// galleryEgress is where server and workers may connect: DNS, this Gallery's Redis and
// database (in-cluster pods, or the external port on any address, since an RDS or
// ElastiCache endpoint's addresses change), HTTPS when AWS is used (AWS endpoints
// have no fixed addresses), the tracing collector's port when tracing is on, and the
// OpenID provider's port with single sign-on.
func galleryEgress(g *galleryv1alpha1.Gallery) []networkingv1.NetworkPolicyEgressRule {
	// kube-dns by its conventional label in any namespace. A cluster whose pods resolve
	// through NodeLocal DNSCache (a link-local address on the node) needs its own policy.
	dns := networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{
			{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))},
			{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(53))},
		},
	}
	rules := []networkingv1.NetworkPolicyEgressRule{dns}
	if g.Spec.Cache.Managed != nil {
		rules = append(rules, toPods(g, galleryv1alpha1.ComponentRedis, galleryv1alpha1.RedisPort))
	} else if e := g.Spec.Cache.External; e != nil {
		rules = append(rules, toPort(portOf(e.Address, galleryv1alpha1.RedisPort)))
	}
	if g.Spec.Database.Managed != nil {
		rules = append(rules, toPods(g, galleryv1alpha1.ComponentDatabase, MariaDBPort))
	} else if g.Spec.Database.External != nil {
		rules = append(rules, toPort(g.DatabasePort()))
	}
	opened := map[int32]bool{}
	if UsesAWS(g) {
		// 443 covers S3, Rekognition and STS (IRSA's web-identity exchange).
		rules = append(rules, toPort(443), podIdentityAgent())
		opened[443] = true
	}
	// An S3-compatible store or a Rekognition endpoint override may listen elsewhere
	// (MinIO on 9000, say), and so may the OTLP collector (4318, in the cluster or not).
	var endpoints []string
	if s3 := g.Spec.Storage.S3; s3 != nil && s3.Endpoint != "" {
		endpoints = append(endpoints, s3.Endpoint)
	}
	if r := g.Spec.Workers.Classifier.Rekognition; r != nil && r.Endpoint != "" &&
		g.Spec.Workers.Classifier.Provider == galleryv1alpha1.ClassifierRekognition {
		endpoints = append(endpoints, r.Endpoint)
	}
	if t := g.Spec.Monitoring.Tracing; t != nil {
		endpoints = append(endpoints, t.Endpoint)
	}
	// The OpenID provider's discovery, keys and token endpoints (the server's; the
	// workers and migrations share this policy's egress). Its address may be anywhere.
	if o := g.Spec.Auth.OIDC; o != nil {
		endpoints = append(endpoints, o.Issuer)
	}
	for _, e := range endpoints {
		if p := endpointPort(e); !opened[p] {
			opened[p] = true
			rules = append(rules, toPort(p))
		}
	}
	return rules
}

// RunsBackupJobs reports whether the Gallery runs backup, restore or drill Jobs.
func RunsBackupJobs(g *galleryv1alpha1.Gallery) bool {
	return g.Spec.Backup != nil || g.Spec.RestoreFrom != nil
}

// backupEgress is where backup pods connect beyond what the app does: the backup and
// restore locations' S3 endpoints (AWS's on 443 with the credential agents, or the
// store's own port). A volume location needs no network. Ports in done are open already.
func backupEgress(g *galleryv1alpha1.Gallery, done map[int32]bool) []networkingv1.NetworkPolicyEgressRule {
	var rules []networkingv1.NetworkPolicyEgressRule
	var locations []galleryv1alpha1.BackupLocation
	if b := g.Spec.Backup; b != nil {
		locations = append(locations, b.Destination)
	}
	if r := g.Spec.RestoreFrom; r != nil {
		locations = append(locations, r.Source)
	}
	for _, loc := range locations {
		if loc.S3 == nil {
			continue
		}
		p := int32(443)
		if loc.S3.Endpoint != "" {
			p = endpointPort(loc.S3.Endpoint)
		} else if !done[-1] {
			done[-1] = true // the credential agent, once
			rules = append(rules, podIdentityAgent())
		}
		if !done[p] {
			done[p] = true
			rules = append(rules, toPort(p))
		}
	}
	return rules
}

// opened are the ports that egress rules open to any address (-1 marks the Pod Identity
// agent's rule).
func opened(rules []networkingv1.NetworkPolicyEgressRule) map[int32]bool {
	ports := map[int32]bool{}
	for _, r := range rules {
		if len(r.To) == 0 {
			for _, p := range r.Ports {
				if p.Port != nil {
					ports[p.Port.IntVal] = true
				}
			}
		}
		for _, to := range r.To {
			if to.IPBlock != nil && to.IPBlock.CIDR == "169.254.170.23/32" {
				ports[-1] = true
			}
		}
	}
	return ports
}

// podIdentityAgent lets the AWS SDK fetch EKS Pod Identity credentials from the node's
// agent, which listens on link-local addresses that a default deny also blocks.
func podIdentityAgent() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "169.254.170.23/32"}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "fd00:ec2::23/128"}},
		},
		Ports: []networkingv1.NetworkPolicyPort{port(80)},
	}
}

// UsesAWS reports whether the gallery calls AWS APIs (S3 or Rekognition).
func UsesAWS(g *galleryv1alpha1.Gallery) bool {
	return g.Spec.Storage.S3 != nil || g.Spec.Workers.Classifier.Provider == galleryv1alpha1.ClassifierRekognition
}

func policy(g *galleryv1alpha1.Gallery, name, component string, sel metav1.LabelSelector, types []networkingv1.PolicyType,
	ingress []networkingv1.NetworkPolicyIngressRule, egress []networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   typeMeta("networking.k8s.io/v1", "NetworkPolicy"),
		ObjectMeta: ObjectMeta(g, name, component),
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: types, Ingress: ingress, Egress: egress},
	}
}

func port(p int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(p))}
}

func appPeer(g *galleryv1alpha1.Gallery, component string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: g.SelectorLabels(component)}}
}

func anyNamespacePods(labels map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: labels}}
}

func toPods(g *galleryv1alpha1.Gallery, component string, p int32) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{appPeer(g, component)}, Ports: []networkingv1.NetworkPolicyPort{port(p)}}
}

func toPort(p int32) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{port(p)}}
}

// portOf is the port of host:port (or [v6]:port), or fallback.
func portOf(hostPort string, fallback int32) int32 {
	i := strings.LastIndex(hostPort, ":")
	if i < 0 {
		return fallback
	}
	p, err := strconv.Atoi(hostPort[i+1:])
	if err != nil || p < 1 || p > 65535 {
		return fallback
	}
	return int32(p)
}

// endpointPort is the port of an http(s) URL: explicit, or the scheme's.
func endpointPort(endpoint string) int32 {
	def := int32(443)
	if strings.HasPrefix(endpoint, "http://") {
		def = 80
	}
	rest := endpoint
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return portOf(rest, def)
}
