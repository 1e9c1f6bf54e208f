package crd

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// TestMonitoringIsAcceptedAndDefaulted: spec.monitoring defaults to metrics on 9090, a
// PodMonitor every 30s and no tracing; what an admin writes is read back as written,
// with samplingPercent defaulted to 10 and 0 kept as 0.
func TestMonitoringIsAcceptedAndDefaulted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		spec         string
		wantPort     int32
		wantEnabled  bool
		wantInterval string
		wantLabels   map[string]string
		wantFrom     int
		wantEndpoint string // "": no tracing
		wantPercent  int32
	}{
		{"absent: metrics on 9090, a PodMonitor every 30s, no tracing", validBase, galleryv1alpha1.DefaultMetricsPort, true, "30s", nil, 0, "", 0},
		{"server on the default metrics port, metrics moved", validBase + "server: {port: 9090}\nmonitoring: {metricsPort: 9091}", 9091, true, "30s", nil, 0, "", 0},
		{
			"scraped from one namespace, its own PodMonitor labels, traced at the default 10%",
			validBase + `monitoring:
  metricsPort: 9464
  metricsFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
  podMonitor: {interval: 15s, labels: {release: prometheus}}
  tracing: {endpoint: "http://otel-collector.monitoring:4318"}`,
			9464, true, "15s", map[string]string{"release": "prometheus"}, 1, "http://otel-collector.monitoring:4318", 10,
		},
		{"no PodMonitor; only sampled callers traced", validBase + `monitoring: {podMonitor: {enabled: false}, tracing: {endpoint: "https://otlp.example.com", samplingPercent: 0}}`,
			galleryv1alpha1.DefaultMetricsPort, false, "30s", nil, 0, "https://otlp.example.com", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := gallery(t, tc.spec)
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("rejected, want accepted: %v\n%s", err, tc.spec)
			}
			t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })
			var g galleryv1alpha1.Gallery
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &g); err != nil {
				t.Fatal(err)
			}
			m := g.Spec.Monitoring
			if m.MetricsPort != tc.wantPort || len(m.MetricsFrom) != tc.wantFrom {
				t.Errorf("metricsPort %d, %d metricsFrom; want %d, %d", m.MetricsPort, len(m.MetricsFrom), tc.wantPort, tc.wantFrom)
			}
			if ptr.Deref(m.PodMonitor.Enabled, !tc.wantEnabled) != tc.wantEnabled || m.PodMonitor.Interval != tc.wantInterval || len(m.PodMonitor.Labels) != len(tc.wantLabels) {
				t.Errorf("podMonitor = %+v, want enabled %v every %s with labels %v", m.PodMonitor, tc.wantEnabled, tc.wantInterval, tc.wantLabels)
			}
			for k, v := range tc.wantLabels {
				if m.PodMonitor.Labels[k] != v {
					t.Errorf("podMonitor label %s = %q, want %q", k, m.PodMonitor.Labels[k], v)
				}
			}
			switch {
			case tc.wantEndpoint == "" && m.Tracing != nil:
				t.Errorf("tracing = %+v, want none", m.Tracing)
			case tc.wantEndpoint != "" && (m.Tracing == nil || m.Tracing.Endpoint != tc.wantEndpoint || ptr.Deref(m.Tracing.SamplingPercent, -1) != tc.wantPercent):
				t.Errorf("tracing = %+v, want %s at %d%%", m.Tracing, tc.wantEndpoint, tc.wantPercent)
			}
		})
	}
}
