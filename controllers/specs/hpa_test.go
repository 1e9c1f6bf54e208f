package specs

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// metric is one resource metric an HPA scales on: resource at target percent.
type metric struct {
	resource corev1.ResourceName
	target   int32
}

// assertHPA checks target, range, metrics (in order) and the scale-down tolerance
// ("" for none) of an HPA scaling the Deployment name.
func assertHPA(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler, name, component string, lo, hi int32, metrics []metric, tolerance string) {
	t.Helper()
	assertApplyable(t, h, "autoscaling/v2", "HorizontalPodAutoscaler", name, component)
	ref := h.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != name {
		t.Errorf("scaleTargetRef = %+v, want apps/v1 Deployment %s", ref, name)
	}
	if ptr.Deref(h.Spec.MinReplicas, -1) != lo || h.Spec.MaxReplicas != hi {
		t.Errorf("range = %d..%d, want %d..%d", ptr.Deref(h.Spec.MinReplicas, -1), h.Spec.MaxReplicas, lo, hi)
	}
	if len(h.Spec.Metrics) != len(metrics) {
		t.Fatalf("metrics = %+v, want %+v", h.Spec.Metrics, metrics)
	}
	for i, m := range h.Spec.Metrics {
		r := m.Resource
		if m.Type != autoscalingv2.ResourceMetricSourceType || r == nil || r.Name != metrics[i].resource ||
			r.Target.Type != autoscalingv2.UtilizationMetricType || ptr.Deref(r.Target.AverageUtilization, -1) != metrics[i].target {
			t.Errorf("metric %d = %+v, want %s utilization %d%%", i, m, metrics[i].resource, metrics[i].target)
		}
	}
	b := h.Spec.Behavior
	if b == nil || b.ScaleDown == nil {
		t.Fatalf("behavior = %+v, want a scale-down rule", b)
	}
	got := ""
	if b.ScaleDown.Tolerance != nil {
		got = b.ScaleDown.Tolerance.String()
	}
	if got != tolerance {
		t.Errorf("scale-down tolerance = %q, want %q", got, tolerance)
	}
}

func TestServerHPA(t *testing.T) {
	memory := []metric{{corev1.ResourceMemory, 70}}
	tests := []struct {
		name      string
		g         *galleryv1alpha1.Gallery
		floor     int32
		lo, hi    int32
		metrics   []metric
		tolerance string
	}{{
		name: "defaults: memory out at 70%, in below 40% (tolerance 1-40/70)",
		g:    gallery(withServerAutoscaling(2, 10)),
		lo:   2, hi: 10, metrics: memory, tolerance: "429m",
	}, {
		name:  "a schedule raises the minimum",
		g:     gallery(withServerAutoscaling(2, 10)),
		floor: 6,
		lo:    6, hi: 10, metrics: memory, tolerance: "429m",
	}, {
		name:  "a schedule above max stops at max",
		g:     gallery(withServerAutoscaling(2, 10)),
		floor: 50,
		lo:    10, hi: 10, metrics: memory, tolerance: "429m",
	}, {
		name:  "a schedule below min changes nothing",
		g:     gallery(withServerAutoscaling(3, 10)),
		floor: 1,
		lo:    3, hi: 10, metrics: memory, tolerance: "429m",
	}, {
		name: "cpu before memory; the larger tolerance wins (cpu 1-20/80 = 0.75)",
		g:    gallery(withServerAutoscaling(2, 10), withServerCPU(utilization(80, 20))),
		lo:   2, hi: 10, metrics: []metric{{corev1.ResourceCPU, 80}, memory[0]}, tolerance: "750m",
	}, {
		name: "the larger tolerance wins whichever metric has it (memory 1-15/60)",
		g:    gallery(withServerAutoscaling(2, 10), withServerCPU(utilization(100, 50)), withServerMemory(utilization(60, 15))),
		lo:   2, hi: 10, metrics: []metric{{corev1.ResourceCPU, 100}, {corev1.ResourceMemory, 60}}, tolerance: "750m",
	}, {
		name: "one metric without scale-in keeps the other's tolerance",
		g:    gallery(withServerAutoscaling(2, 10), withServerCPU(utilization(60, 0))),
		lo:   2, hi: 10, metrics: []metric{{corev1.ResourceCPU, 60}, memory[0]}, tolerance: "429m",
	}, {
		name: "cpu only, no scale-in: the HPA's own tolerance",
		g:    gallery(withServerAutoscaling(1, 4), withServerCPU(utilization(60, 0)), withServerMemory(nil)),
		lo:   1, hi: 4, metrics: []metric{{corev1.ResourceCPU, 60}},
	}, {
		name: "memory 90/60: tolerance 1/3 rounded up",
		g:    gallery(withServerAutoscaling(2, 10), withServerMemory(utilization(90, 60))),
		lo:   2, hi: 10, metrics: []metric{{corev1.ResourceMemory, 90}}, tolerance: "334m",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ServerHPA(tt.g, tt.floor, true)
			if h == nil {
				t.Fatal("no server HPA")
			}
			assertHPA(t, h, "demo-server", galleryv1alpha1.ComponentServer, tt.lo, tt.hi, tt.metrics, tt.tolerance)
		})
	}
}

func TestServerHPABehavior(t *testing.T) {
	g := gallery(withServerAutoscaling(2, 10), func(g *galleryv1alpha1.Gallery) {
		p := g.Spec.Autoscaling.Server
		p.ScaleUpStabilizationSeconds = 30
		p.ScaleDownStabilizationSeconds = 600
		p.ScaleDownMaxPodsPerMinute = 3
	})
	for name, tt := range map[string]struct {
		g                  *galleryv1alpha1.Gallery
		up, down, podsPerM int32
	}{
		"defaults": {gallery(withServerAutoscaling(2, 10)), 0, 300, 1},
		"custom":   {g, 30, 600, 3},
	} {
		b := ServerHPA(tt.g, 0, true).Spec.Behavior
		if b.ScaleUp == nil || ptr.Deref(b.ScaleUp.StabilizationWindowSeconds, -1) != tt.up {
			t.Errorf("%s: scale-up = %+v, want stabilization %ds", name, b.ScaleUp, tt.up)
		}
		d := b.ScaleDown
		if ptr.Deref(d.StabilizationWindowSeconds, -1) != tt.down {
			t.Errorf("%s: scale-down stabilization = %v, want %ds", name, d.StabilizationWindowSeconds, tt.down)
		}
		if len(d.Policies) != 1 || d.Policies[0].Type != autoscalingv2.PodsScalingPolicy ||
			d.Policies[0].Value != tt.podsPerM || d.Policies[0].PeriodSeconds != 60 {
			t.Errorf("%s: scale-down policies = %+v, want %d pods per 60s", name, d.Policies, tt.podsPerM)
		}
		if ptr.Deref(d.SelectPolicy, "") != autoscalingv2.MaxChangePolicySelect {
			t.Errorf("%s: selectPolicy = %v, want Max", name, d.SelectPolicy)
		}
	}
}

func TestServerHPANotAutoscaled(t *testing.T) {
	for name, g := range map[string]*galleryv1alpha1.Gallery{
		"no autoscaling":          gallery(),
		"workers only":            gallery(withWorkersAutoscaling(1, 10)),
		"embedded (no autoscale)": gallery(withEmbeddedDatabase()),
	} {
		if h := ServerHPA(g, 5, true); h != nil {
			t.Errorf("%s: server HPA %s, want none", name, h.Name)
		}
	}
}

func TestWorkersHPA(t *testing.T) {
	tests := []struct {
		name      string
		g         *galleryv1alpha1.Gallery
		scaler    WorkerScaler
		floor     int32
		lo, hi    int32
		metrics   []metric
		tolerance string
	}{{
		name:   "cpu only",
		g:      gallery(withWorkersAutoscaling(1, 20), withoutWorkersBacklog(), withWorkersCPU(utilization(60, 0))),
		scaler: ScaleWorkersHPA,
		lo:     1, hi: 20, metrics: []metric{{corev1.ResourceCPU, 60}},
	}, {
		name:   "a minimum of 0 becomes 1: an HPA cannot scale to zero",
		g:      gallery(withWorkersAutoscaling(0, 20), withoutWorkersBacklog(), withWorkersMemory(utilization(80, 40))),
		scaler: ScaleWorkersHPA,
		lo:     1, hi: 20, metrics: []metric{{corev1.ResourceMemory, 80}}, tolerance: "500m",
	}, {
		name:   "with backlog: the backlog's need is the floor",
		g:      gallery(withWorkersAutoscaling(2, 20), withWorkersCPU(utilization(60, 0)), withWorkersMemory(utilization(70, 40))),
		scaler: ScaleWorkersHPAWithBacklog,
		floor:  7,
		lo:     7, hi: 20, metrics: []metric{{corev1.ResourceCPU, 60}, {corev1.ResourceMemory, 70}}, tolerance: "429m",
	}, {
		name:   "floor above max stops at max",
		g:      gallery(withWorkersAutoscaling(2, 20), withWorkersCPU(utilization(60, 0))),
		scaler: ScaleWorkersHPAWithBacklog,
		floor:  99,
		lo:     20, hi: 20, metrics: []metric{{corev1.ResourceCPU, 60}},
	}, {
		name:   "floor below min changes nothing",
		g:      gallery(withWorkersAutoscaling(4, 20), withoutWorkersBacklog(), withWorkersCPU(utilization(60, 30))),
		scaler: ScaleWorkersHPA,
		floor:  2,
		lo:     4, hi: 20, metrics: []metric{{corev1.ResourceCPU, 60}}, tolerance: "500m",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := WorkersHPA(tt.g, tt.scaler, tt.floor, true)
			if h == nil {
				t.Fatal("no workers HPA")
			}
			assertHPA(t, h, "demo-workers", galleryv1alpha1.ComponentWorkers, tt.lo, tt.hi, tt.metrics, tt.tolerance)
			d := h.Spec.Behavior.ScaleDown
			if ptr.Deref(d.StabilizationWindowSeconds, -1) != 300 {
				t.Errorf("scale-down stabilization = %v, want 300", d.StabilizationWindowSeconds)
			}
			if h.Spec.Behavior.ScaleUp != nil || len(d.Policies) != 0 {
				t.Errorf("behavior = %+v, want the HPA's own scale-up and scale-down rates", h.Spec.Behavior)
			}
		})
	}
}

func TestWorkersHPAOtherScalers(t *testing.T) {
	g := gallery(withWorkersAutoscaling(1, 10), withWorkersCPU(utilization(60, 0)))
	for _, s := range []WorkerScaler{ScaleWorkersFixed, ScaleWorkersKEDA, ScaleWorkersBacklog} {
		if h := WorkersHPA(g, s, 3, true); h != nil {
			t.Errorf("scaler %s: workers HPA %s, want none", s, h.Name)
		}
	}
	if h := WorkersHPA(gallery(), ScaleWorkersFixed, 0, true); h != nil {
		t.Error("fixed workers have an HPA")
	}
}

func TestScaleDownTolerance(t *testing.T) {
	for _, tt := range []struct {
		name    string
		targets []*galleryv1alpha1.UtilizationTarget
		want    string // "" for nil
	}{
		{"none", nil, ""},
		{"nil targets", []*galleryv1alpha1.UtilizationTarget{nil, nil}, ""},
		{"no scale-in", []*galleryv1alpha1.UtilizationTarget{utilization(70, 0)}, ""},
		{"70/40 rounds 0.4285… up", []*galleryv1alpha1.UtilizationTarget{utilization(70, 40)}, "429m"},
		{"50/40 is exact", []*galleryv1alpha1.UtilizationTarget{utilization(50, 40)}, "200m"},
		{"10/9 is exact", []*galleryv1alpha1.UtilizationTarget{utilization(10, 9)}, "100m"},
		{"100/50", []*galleryv1alpha1.UtilizationTarget{utilization(100, 50)}, "500m"},
		{"80/20", []*galleryv1alpha1.UtilizationTarget{utilization(80, 20)}, "750m"},
		{"90/60", []*galleryv1alpha1.UtilizationTarget{utilization(90, 60)}, "334m"},
		{"400/1 above 100%", []*galleryv1alpha1.UtilizationTarget{utilization(400, 1)}, "998m"},
		{"largest of several", []*galleryv1alpha1.UtilizationTarget{utilization(80, 20), utilization(70, 40), utilization(100, 50)}, "750m"},
		{"largest, in any order", []*galleryv1alpha1.UtilizationTarget{utilization(100, 50), nil, utilization(70, 40)}, "500m"},
		{"one without scale-in is skipped", []*galleryv1alpha1.UtilizationTarget{utilization(60, 0), utilization(80, 20)}, "750m"},
	} {
		got := ""
		if q := scaleDownTolerance(true, tt.targets...); q != nil {
			got = q.String()
		}
		if got != tt.want {
			t.Errorf("%s: tolerance = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// On an API server that does not keep the scale-down tolerance, the HPAs leave it out
// (else every pass would re-apply them), and the status note says scaleInUtilization is
// not applied; with the field served, or without a scaleInUtilization, nothing is said.
func TestScaleDownToleranceUnsupported(t *testing.T) {
	g := gallery(withServerAutoscaling(2, 10), withWorkersAutoscaling(1, 10), func(g *galleryv1alpha1.Gallery) {
		g.Spec.Autoscaling.Server.CPU = utilization(70, 40)
		g.Spec.Autoscaling.Workers.CPU = utilization(80, 20)
	})
	for served, want := range map[bool]bool{true: true, false: false} {
		s := ServerHPA(g, 0, served).Spec.Behavior.ScaleDown.Tolerance
		w := WorkersHPA(g, WorkerScalerFor(g, false), 0, served).Spec.Behavior.ScaleDown.Tolerance
		if (s != nil) != want || (w != nil) != want {
			t.Errorf("served %v: server tolerance %v, workers %v; want set %v", served, s, w, want)
		}
	}
	for _, tt := range []struct {
		name     string
		cpu, mem *galleryv1alpha1.UtilizationTarget
		served   bool
		wantNote bool
	}{
		{"served", utilization(70, 40), nil, true, false},
		{"unsupported, scale-in asked", utilization(70, 40), nil, false, true},
		{"unsupported, scale-in asked on memory", utilization(70, 0), utilization(80, 20), false, true},
		{"unsupported, no scale-in asked", utilization(70, 0), nil, false, false},
	} {
		note := ScaleInUnexpressed(tt.cpu, tt.mem, tt.served)
		if (note != "") != tt.wantNote || (note != "" && !strings.Contains(note, "scaleInUtilization is not applied")) {
			t.Errorf("%s: note %q, want one %v", tt.name, note, tt.wantNote)
		}
	}
}
