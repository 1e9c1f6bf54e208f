package specs

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// podMonitorEndpoint is what the tests read of the PodMonitor's one scrape endpoint.
type podMonitorEndpoint struct {
	port, path, interval string
	// relabelings: target label -> source label, all with action replace.
	relabelings map[string]string
}

func TestPodMonitor(t *testing.T) {
	tests := []struct {
		name     string
		g        *galleryv1alpha1.Gallery
		none     bool
		labels   map[string]string // beyond the operator's own
		interval string
	}{{
		name:     "defaults: every 30s, the operator's labels only",
		g:        gallery(),
		interval: "30s",
	}, {
		name:     "the admin's interval and labels for a Prometheus' podMonitorSelector",
		g:        gallery(withPodMonitor("15s", map[string]string{"release": "prometheus", "team": "photos"})),
		labels:   map[string]string{"release": "prometheus", "team": "photos"},
		interval: "15s",
	}, {
		name: "the operator's labels win over the admin's",
		g: gallery(withPodMonitor("1m", map[string]string{
			galleryv1alpha1.LabelInstance: "someone-else", "release": "prometheus",
		})),
		labels:   map[string]string{"release": "prometheus"},
		interval: "1m",
	}, {
		name:     "embedded database: the server alone runs, the selector is the same",
		g:        gallery(withEmbeddedDatabase()),
		interval: "30s",
	}, {
		name: "turned off: none",
		g:    gallery(withoutPodMonitor()),
		none: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm := PodMonitor(tt.g)
			if tt.none {
				if pm != nil {
					t.Fatalf("PodMonitor = %v, want none", pm.Object)
				}
				return
			}
			if pm == nil {
				t.Fatal("no PodMonitor")
			}
			assertApplyable(t, pm, "monitoring.coreos.com/v1", "PodMonitor", "demo", galleryv1alpha1.ComponentServer)
			wantLabels := tt.g.ChildLabels(galleryv1alpha1.ComponentServer)
			maps.Copy(wantLabels, tt.labels)
			if !maps.Equal(pm.GetLabels(), wantLabels) {
				t.Errorf("labels = %v, want %v", pm.GetLabels(), wantLabels)
			}

			// It selects the server's and workers' pods of this Gallery in its namespace.
			matchLabels, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
			wantMatch := map[string]string{galleryv1alpha1.LabelName: "sortographer", galleryv1alpha1.LabelInstance: "demo"}
			if !maps.Equal(matchLabels, wantMatch) {
				t.Errorf("selector.matchLabels = %v, want %v", matchLabels, wantMatch)
			}
			exprs, _, _ := unstructured.NestedSlice(pm.Object, "spec", "selector", "matchExpressions")
			wantExprs := []any{map[string]any{"key": galleryv1alpha1.LabelComponent, "operator": "In", "values": []any{"server", "workers"}}}
			if !equality.Semantic.DeepEqual(exprs, wantExprs) {
				t.Errorf("selector.matchExpressions = %v, want %v", exprs, wantExprs)
			}
			for _, component := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers} {
				if !selects(matchLabels, tt.g.ChildLabels(component)) {
					t.Errorf("the selector misses the %s pods' labels %v", component, tt.g.ChildLabels(component))
				}
			}
			namespaces, _, _ := unstructured.NestedStringSlice(pm.Object, "spec", "namespaceSelector", "matchNames")
			if !slices.Equal(namespaces, []string{testNamespace}) {
				t.Errorf("namespaceSelector.matchNames = %v, want [%s]", namespaces, testNamespace)
			}

			endpoints := podMonitorEndpoints(t, pm)
			want := []podMonitorEndpoint{{
				port: "metrics", path: "/metrics", interval: tt.interval,
				relabelings: map[string]string{
					"gallery":   "__meta_kubernetes_pod_label_app_kubernetes_io_instance",
					"component": "__meta_kubernetes_pod_label_app_kubernetes_io_component",
					"namespace": "__meta_kubernetes_namespace",
					"pod":       "__meta_kubernetes_pod_name",
				},
			}}
			if !reflect.DeepEqual(endpoints, want) {
				t.Errorf("podMetricsEndpoints = %+v, want %+v", endpoints, want)
			}
			// The port it scrapes is the server's and workers' metrics port, by name.
			scraped := []corev1.Container{ServerDeployment(tt.g, "h").Spec.Template.Spec.Containers[0]}
			if w := WorkersDeployment(tt.g, "h", nil); w != nil {
				scraped = append(scraped, w.Spec.Template.Spec.Containers[0])
			}
			for _, c := range scraped {
				i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == endpoints[0].port })
				if i < 0 || c.Ports[i].ContainerPort != tt.g.Spec.Monitoring.MetricsPort {
					t.Errorf("the %s container has no port %s on %d: %+v", c.Name, endpoints[0].port, tt.g.Spec.Monitoring.MetricsPort, c.Ports)
				}
			}
		})
	}
}

// selects reports whether every label of sel is on labels.
func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func podMonitorEndpoints(t *testing.T, pm *unstructured.Unstructured) []podMonitorEndpoint {
	t.Helper()
	raw, _, err := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if err != nil {
		t.Fatal(err)
	}
	var out []podMonitorEndpoint
	for _, r := range raw {
		m := r.(map[string]any)
		e := podMonitorEndpoint{relabelings: map[string]string{}}
		e.port, _, _ = unstructured.NestedString(m, "port")
		e.path, _, _ = unstructured.NestedString(m, "path")
		e.interval, _, _ = unstructured.NestedString(m, "interval")
		rs, _, _ := unstructured.NestedSlice(m, "relabelings")
		for _, rr := range rs {
			rl := rr.(map[string]any)
			action, _, _ := unstructured.NestedString(rl, "action")
			target, _, _ := unstructured.NestedString(rl, "targetLabel")
			sources, _, _ := unstructured.NestedStringSlice(rl, "sourceLabels")
			if action != "replace" || len(sources) != 1 {
				t.Errorf("relabeling %v: want one source label, action replace", rl)
				continue
			}
			e.relabelings[target] = sources[0]
		}
		out = append(out, e)
	}
	return out
}

func TestTracingEnv(t *testing.T) {
	tests := []struct {
		name string
		g    *galleryv1alpha1.Gallery
		want map[string]string // OTEL_* of every container but OTEL_SERVICE_NAME, which is per component
	}{{
		name: "no tracing: no OpenTelemetry environment at all",
		g:    gallery(),
	}, {
		name: "the API's default: 10% of new traces",
		g:    gallery(withTracing("http://otel-collector.monitoring:4318", nil)),
		want: map[string]string{
			EnvOTLPEndpoint:           "http://otel-collector.monitoring:4318",
			EnvOTELResourceAttributes: "k8s.namespace.name=photos,sortographer.gallery=demo",
			EnvOTELTracesSampler:      "parentbased_traceidratio",
			EnvOTELTracesSamplerArg:   "0.1",
		},
	}, {
		name: "every trace",
		g:    gallery(withTracing("https://otlp.example.com", ptr.To[int32](100))),
		want: map[string]string{
			EnvOTLPEndpoint:           "https://otlp.example.com",
			EnvOTELResourceAttributes: "k8s.namespace.name=photos,sortographer.gallery=demo",
			EnvOTELTracesSampler:      "parentbased_traceidratio",
			EnvOTELTracesSamplerArg:   "1",
		},
	}, {
		name: "only traces a caller sampled",
		g:    gallery(withTracing("http://collector:4318", ptr.To[int32](0))),
		want: map[string]string{
			EnvOTLPEndpoint:           "http://collector:4318",
			EnvOTELResourceAttributes: "k8s.namespace.name=photos,sortographer.gallery=demo",
			EnvOTELTracesSampler:      "parentbased_traceidratio",
			EnvOTELTracesSamplerArg:   "0",
		},
	}, {
		name: "an odd percentage",
		g:    gallery(withTracing("http://collector:4318", ptr.To[int32](33))),
		want: map[string]string{
			EnvOTLPEndpoint:           "http://collector:4318",
			EnvOTELResourceAttributes: "k8s.namespace.name=photos,sortographer.gallery=demo",
			EnvOTELTracesSampler:      "parentbased_traceidratio",
			EnvOTELTracesSamplerArg:   "0.33",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := ServerDeployment(tt.g, "h").Spec.Template.Spec
			workers := WorkersDeployment(tt.g, "h", nil).Spec.Template.Spec
			for component, c := range map[string]corev1.Container{
				"server": server.Containers[0], "migrate": server.InitContainers[0], "workers": workers.Containers[0],
			} {
				got := otelEnv(c)
				want := maps.Clone(tt.want)
				if len(want) > 0 {
					service := "sortographer-" + component
					if component == "migrate" {
						service = "sortographer-server"
					}
					want[EnvOTELServiceName] = service
				}
				if !maps.Equal(got, want) {
					t.Errorf("%s OTEL env = %v, want %v", component, got, want)
				}
			}
			if cm := ConfigMap(tt.g); len(otelKeys(cm.Data)) != 0 {
				t.Errorf("the ConfigMap holds %v; the OpenTelemetry environment is per container", otelKeys(cm.Data))
			}
		})
	}
}

func otelEnv(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		if len(otelKeys(map[string]string{e.Name: ""})) > 0 {
			out[e.Name] = e.Value
		}
	}
	return out
}

func otelKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, "OTEL_") {
			keys = append(keys, k)
		}
	}
	return keys
}

// The admin's env wins over the operator's OpenTelemetry defaults, and no variable is
// named twice (server-side apply refuses a container that does).
func TestAdminEnvOverridesTracingDefaults(t *testing.T) {
	own := []galleryv1alpha1.EnvVar{{Name: EnvOTELTracesSampler, Value: "always_on"}, {Name: "TZ", Value: "UTC"}}
	g := gallery(withTracing("http://collector:4318", nil), func(g *galleryv1alpha1.Gallery) {
		g.Spec.Server.Env = own
		g.Spec.Workers.Env = own
	})
	for name, c := range map[string]corev1.Container{
		"server":  ServerDeployment(g, "h").Spec.Template.Spec.Containers[0],
		"workers": WorkersDeployment(g, "h", nil).Spec.Template.Spec.Containers[0],
	} {
		seen := map[string]int{}
		for _, e := range c.Env {
			seen[e.Name]++
		}
		for k, n := range seen {
			if n > 1 {
				t.Errorf("%s names %s %d times", name, k, n)
			}
		}
		if e := envNamed(c, EnvOTELTracesSampler); e == nil || e.Value != "always_on" {
			t.Errorf("%s sampler = %+v, want the admin's always_on", name, e)
		}
		if e := envNamed(c, EnvOTELTracesSamplerArg); e == nil || e.Value != "0.1" {
			t.Errorf("%s sampler arg = %+v, want the operator's 0.1 (the admin did not set it)", name, e)
		}
		if !equality.Semantic.DeepEqual(c.Env[len(c.Env)-len(own):], galleryv1alpha1.CoreEnv(own)) {
			t.Errorf("%s env ends with %+v, want the admin's %+v", name, c.Env[len(c.Env)-len(own):], own)
		}
	}
}
