package specs

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// MetricsPortName is the container port the server and workers serve /metrics on (the
// PodMonitor scrapes it by this name). No Service exposes it.
const MetricsPortName = "metrics"

// MetricsPath is where the metrics port serves the metrics.
const MetricsPath = "/metrics"

// The OpenTelemetry SDK's standard environment, which the gallery binary reads.
const (
	EnvOTLPEndpoint           = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTELServiceName        = "OTEL_SERVICE_NAME"
	EnvOTELResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
	EnvOTELTracesSampler      = "OTEL_TRACES_SAMPLER"
	EnvOTELTracesSamplerArg   = "OTEL_TRACES_SAMPLER_ARG"
)

// defaultSamplingPercent is spec.monitoring.tracing.samplingPercent's default.
const defaultSamplingPercent = 10

// TracingServiceName is the OpenTelemetry service name of one component's pods.
func TracingServiceName(component string) string { return "sortographer-" + component }

// tracingEnv is the OpenTelemetry environment of one component's container: where to
// send spans, who sends them, and which share of new traces to record (a request that
// arrives with a sampled trace context is always recorded). Nil without
// spec.monitoring.tracing: the app then records and sends nothing.
func tracingEnv(g *galleryv1alpha1.Gallery, component string) []corev1.EnvVar {
	t := g.Spec.Monitoring.Tracing
	if t == nil {
		return nil
	}
	ratio := float64(ptr.Deref(t.SamplingPercent, defaultSamplingPercent)) / 100
	return []corev1.EnvVar{
		{Name: EnvOTLPEndpoint, Value: t.Endpoint},
		{Name: EnvOTELServiceName, Value: TracingServiceName(component)},
		{Name: EnvOTELResourceAttributes, Value: fmt.Sprintf("k8s.namespace.name=%s,sortographer.gallery=%s", g.Namespace, g.Name)},
		{Name: EnvOTELTracesSampler, Value: "parentbased_traceidratio"},
		{Name: EnvOTELTracesSamplerArg, Value: strconv.FormatFloat(ratio, 'f', -1, 64)},
	}
}

// withAdminEnv is the operator's env followed by the admin's (spec.server.env or
// spec.workers.env). An operator variable the admin sets too is left out, so the
// admin's value wins (an OTEL_TRACES_SAMPLER of their own, say) and the container never
// names a variable twice, which server-side apply refuses.
func withAdminEnv(operator, admin []corev1.EnvVar) []corev1.EnvVar {
	env := make([]corev1.EnvVar, 0, len(operator)+len(admin))
	for _, e := range operator {
		if !slices.ContainsFunc(admin, func(a corev1.EnvVar) bool { return a.Name == e.Name }) {
			env = append(env, e)
		}
	}
	return append(env, admin...)
}

// PodMonitorGVK is the Prometheus Operator's PodMonitor kind.
var PodMonitorGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}

// scrapedComponents are the components whose pods serve /metrics on the metrics port.
var scrapedComponents = []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers}

// PodMonitor has a Prometheus Operator scrape the metrics port of the Gallery's server
// and workers pods every spec.monitoring.podMonitor.interval. Each series gets the
// labels gallery, component, namespace and pod, so alerts and the dashboard can name the
// Gallery and join the pod metrics of cAdvisor and kube-state-metrics. Nil when
// spec.monitoring.podMonitor.enabled is false; the reconciler applies it only where the
// kind is served.
func PodMonitor(g *galleryv1alpha1.Gallery) *unstructured.Unstructured {
	if !g.PodMonitorEnabled() {
		return nil
	}
	pm := g.Spec.Monitoring.PodMonitor
	interval := pm.Interval
	if interval == "" {
		interval = "30s"
	}
	meta := ObjectMeta(g, g.PodMonitorName(), galleryv1alpha1.ComponentServer)
	labels := maps.Clone(pm.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, meta.Labels) // the operator's labels win
	components := make([]any, 0, len(scrapedComponents))
	for _, c := range scrapedComponents {
		components = append(components, c)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"selector": map[string]any{
				"matchLabels": map[string]any{
					galleryv1alpha1.LabelName:     galleryv1alpha1.AppName,
					galleryv1alpha1.LabelInstance: g.Name,
				},
				"matchExpressions": []any{map[string]any{
					"key": galleryv1alpha1.LabelComponent, "operator": "In", "values": components,
				}},
			},
			"namespaceSelector": map[string]any{"matchNames": []any{g.Namespace}},
			"podMetricsEndpoints": []any{map[string]any{
				"port":        MetricsPortName,
				"path":        MetricsPath,
				"interval":    interval,
				"relabelings": scrapeRelabelings(),
			}},
		},
	}}
	u.SetGroupVersionKind(PodMonitorGVK)
	u.SetName(meta.Name)
	u.SetNamespace(meta.Namespace)
	u.SetLabels(labels)
	return u
}

// scrapeRelabelings copy the pod's Gallery, component, namespace and name onto every
// series scraped from it.
func scrapeRelabelings() []any {
	var out []any
	for _, r := range [][2]string{
		{"__meta_kubernetes_pod_label_app_kubernetes_io_instance", "gallery"},
		{"__meta_kubernetes_pod_label_app_kubernetes_io_component", "component"},
		{"__meta_kubernetes_namespace", "namespace"},
		{"__meta_kubernetes_pod_name", "pod"},
	} {
		out = append(out, map[string]any{"action": "replace", "sourceLabels": []any{r[0]}, "targetLabel": r[1]})
	}
	return out
}
