package specs

import (
	"math"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestWorkerScalerFor(t *testing.T) {
	tests := []struct {
		name           string
		g              *galleryv1alpha1.Gallery
		keda, withoutK WorkerScaler // with KEDA installed, without
	}{{
		name: "no autoscaling: fixed",
		g:    gallery(),
		keda: ScaleWorkersFixed, withoutK: ScaleWorkersFixed,
	}, {
		name: "server autoscaling only: workers fixed",
		g:    gallery(withServerAutoscaling(2, 10)),
		keda: ScaleWorkersFixed, withoutK: ScaleWorkersFixed,
	}, {
		name: "embedded: no workers to scale",
		g:    gallery(withEmbeddedDatabase(), withWorkersAutoscaling(1, 10)),
		keda: ScaleWorkersFixed, withoutK: ScaleWorkersFixed,
	}, {
		name: "cpu without backlog: an HPA, KEDA or not",
		g:    gallery(withWorkersAutoscaling(1, 10), withoutWorkersBacklog(), withWorkersCPU(utilization(60, 0))),
		keda: ScaleWorkersHPA, withoutK: ScaleWorkersHPA,
	}, {
		name: "memory without backlog: an HPA",
		g:    gallery(withWorkersAutoscaling(1, 10), withoutWorkersBacklog(), withWorkersMemory(utilization(70, 40))),
		keda: ScaleWorkersHPA, withoutK: ScaleWorkersHPA,
	}, {
		name: "backlog only: KEDA, else the operator's backlog scaler",
		g:    gallery(withWorkersAutoscaling(1, 10)),
		keda: ScaleWorkersKEDA, withoutK: ScaleWorkersBacklog,
	}, {
		name: "backlog and cpu: KEDA, else an HPA raised by the backlog",
		g:    gallery(withWorkersAutoscaling(1, 10), withWorkersCPU(utilization(60, 0))),
		keda: ScaleWorkersKEDA, withoutK: ScaleWorkersHPAWithBacklog,
	}, {
		name: "backlog and memory: KEDA, else an HPA raised by the backlog",
		g:    gallery(withWorkersAutoscaling(1, 10), withWorkersMemory(utilization(70, 40))),
		keda: ScaleWorkersKEDA, withoutK: ScaleWorkersHPAWithBacklog,
	}}
	for _, tt := range tests {
		if got := WorkerScalerFor(tt.g, true); got != tt.keda {
			t.Errorf("%s, KEDA installed: %s, want %s", tt.name, got, tt.keda)
		}
		if got := WorkerScalerFor(tt.g, false); got != tt.withoutK {
			t.Errorf("%s, no KEDA: %s, want %s", tt.name, got, tt.withoutK)
		}
	}
}

func TestWorkerScalerString(t *testing.T) {
	for s, want := range map[WorkerScaler]string{
		ScaleWorkersFixed: "fixed", ScaleWorkersHPA: "hpa", ScaleWorkersKEDA: "keda",
		ScaleWorkersHPAWithBacklog: "hpa+backlog", ScaleWorkersBacklog: "backlog",
	} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestBacklogReplicas(t *testing.T) {
	for _, tt := range []struct {
		backlog                 int64
		target, lowest, highest int32
		want                    int32
	}{
		{0, 20, 0, 10, 0},
		{0, 20, 1, 10, 1},
		{1, 20, 0, 10, 1},
		{20, 20, 0, 10, 1},
		{21, 20, 0, 10, 2},
		{39, 20, 0, 10, 2},
		{40, 20, 0, 10, 2},
		{41, 20, 0, 10, 3},
		{5, 20, 3, 10, 3},     // the minimum holds
		{1000, 20, 1, 10, 10}, // clamped to the maximum
		{math.MaxInt64 - 1, 1, 1, 500, 500},
		{5, 0, 0, 10, 5}, // target < 1 counts as 1
		{5, -7, 0, 10, 5},
		{100, 1, 0, 10, 10},
		{-3, 20, 0, 10, 0}, // a nonsensical negative backlog never goes below the minimum
		{-3, 20, 2, 10, 2},
	} {
		if got := BacklogReplicas(tt.backlog, tt.target, tt.lowest, tt.highest); got != tt.want {
			t.Errorf("BacklogReplicas(%d, %d, %d, %d) = %d, want %d", tt.backlog, tt.target, tt.lowest, tt.highest, got, tt.want)
		}
	}
}

// trigger is what the tests read of one ScaledObject trigger.
type trigger struct {
	typ, metricType string
	metadata        map[string]string
	authRef         string
}

func triggersOf(t *testing.T, u *unstructured.Unstructured) []trigger {
	t.Helper()
	raw, ok, err := unstructured.NestedSlice(u.Object, "spec", "triggers")
	if !ok || err != nil {
		t.Fatalf("spec.triggers: found %v, %v", ok, err)
	}
	var out []trigger
	for _, r := range raw {
		m := r.(map[string]any)
		tr := trigger{metadata: map[string]string{}}
		tr.typ, _, _ = unstructured.NestedString(m, "type")
		tr.metricType, _, _ = unstructured.NestedString(m, "metricType")
		tr.authRef, _, _ = unstructured.NestedString(m, "authenticationRef", "name")
		md, _, err := unstructured.NestedStringMap(m, "metadata")
		if err != nil {
			t.Fatalf("trigger %s metadata is not strings: %v", tr.typ, err)
		}
		tr.metadata = md
		out = append(out, tr)
	}
	return out
}

func TestScaledObject(t *testing.T) {
	tests := []struct {
		name     string
		g        *galleryv1alpha1.Gallery
		floor    int32
		lo, hi   int64
		redis    map[string]string // metadata of both redis-streams triggers (stream aside)
		authRef  string
		resource map[string]string // cpu / memory trigger -> value, in order after the two Redis ones
		order    []string
	}{{
		name: "managed Redis, backlog only, scale to zero allowed",
		g:    gallery(withWorkersAutoscaling(0, 10)),
		lo:   0, hi: 10,
		redis: map[string]string{
			"address": "demo-redis.photos.svc:6379", "consumerGroup": "workers",
			"lagCount": "20", "databaseIndex": "0",
		},
		authRef: "demo-workers",
		order:   []string{"redis-streams", "redis-streams"},
	}, {
		name: "external Redis with TLS, a db and a password",
		g: gallery(withExternalRedis(), withWorkersAutoscaling(1, 30), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Cache.External.DB = 4
			g.Spec.Autoscaling.Workers.Backlog.TargetJobsPerWorker = 50
		}),
		lo: 1, hi: 30,
		redis: map[string]string{
			"address": "my-cache.abc123.euw1.cache.amazonaws.com:6379", "databaseIndex": "4", "lagCount": "50",
			"consumerGroup": "workers",
		},
		authRef: "demo-workers",
		order:   []string{"redis-streams", "redis-streams"},
	}, {
		name: "external Redis without a password: no authenticationRef",
		g: gallery(withExternalRedis(), withWorkersAutoscaling(1, 10), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Cache.External.PasswordSecretRef = nil
		}),
		lo: 1, hi: 10,
		redis: map[string]string{"address": "my-cache.abc123.euw1.cache.amazonaws.com:6379"},
		order: []string{"redis-streams", "redis-streams"},
	}, {
		name: "cpu and memory follow both Redis triggers, in that order",
		g:    gallery(withWorkersAutoscaling(1, 10), withWorkersMemory(utilization(75, 40)), withWorkersCPU(utilization(65, 0))),
		lo:   1, hi: 10,
		redis:    map[string]string{"lagCount": "20"},
		authRef:  "demo-workers",
		resource: map[string]string{"cpu": "65", "memory": "75"},
		order:    []string{"redis-streams", "redis-streams", "cpu", "memory"},
	}, {
		name: "memory alone",
		g:    gallery(withWorkersAutoscaling(1, 10), withWorkersMemory(utilization(80, 0))),
		lo:   1, hi: 10,
		authRef:  "demo-workers",
		resource: map[string]string{"memory": "80"},
		order:    []string{"redis-streams", "redis-streams", "memory"},
	}, {
		name:  "a schedule raises the minimum",
		g:     gallery(withWorkersAutoscaling(1, 10)),
		floor: 4,
		lo:    4, hi: 10,
		authRef: "demo-workers",
		order:   []string{"redis-streams", "redis-streams"},
	}, {
		name:  "a schedule above max stops at max",
		g:     gallery(withWorkersAutoscaling(1, 10)),
		floor: 40,
		lo:    10, hi: 10,
		authRef: "demo-workers",
		order:   []string{"redis-streams", "redis-streams"},
	}, {
		name:  "a schedule below min changes nothing",
		g:     gallery(withWorkersAutoscaling(3, 10)),
		floor: 2,
		lo:    3, hi: 10,
		authRef: "demo-workers",
		order:   []string{"redis-streams", "redis-streams"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ScaledObject(tt.g, ScaleWorkersKEDA, tt.floor)
			if u == nil {
				t.Fatal("no ScaledObject")
			}
			assertApplyable(t, u, "keda.sh/v1alpha1", "ScaledObject", "demo-workers", galleryv1alpha1.ComponentWorkers)
			spec := u.Object["spec"].(map[string]any)
			if name, _, _ := unstructured.NestedString(spec, "scaleTargetRef", "name"); name != "demo-workers" {
				t.Errorf("scaleTargetRef = %q, want demo-workers", name)
			}
			lo, _, _ := unstructured.NestedInt64(spec, "minReplicaCount")
			hi, _, _ := unstructured.NestedInt64(spec, "maxReplicaCount")
			if lo != tt.lo || hi != tt.hi {
				t.Errorf("range = %d..%d, want %d..%d", lo, hi, tt.lo, tt.hi)
			}
			hpa, _, _ := unstructured.NestedString(spec, "advanced", "horizontalPodAutoscalerConfig", "name")
			window, _, _ := unstructured.NestedInt64(spec, "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown", "stabilizationWindowSeconds")
			if hpa != "demo-workers" || window != 300 {
				t.Errorf("KEDA's HPA %q with scale-down window %d, want demo-workers, 300", hpa, window)
			}

			// Map iteration is random: build again and again, the order must not move.
			for range 20 {
				if again := ScaledObject(tt.g, ScaleWorkersKEDA, tt.floor); !equality.Semantic.DeepEqual(again, u) {
					t.Fatal("the ScaledObject differs between two builds (trigger order?)")
				}
			}
			triggers := triggersOf(t, u)
			var order []string
			for _, tr := range triggers {
				order = append(order, tr.typ)
			}
			if len(order) != len(tt.order) {
				t.Fatalf("triggers = %q, want %q", order, tt.order)
			}
			for i := range order {
				if order[i] != tt.order[i] {
					t.Errorf("triggers = %q, want %q", order, tt.order)
				}
			}
			// Uploads first, then reclassification: the streams the queue writes
			// (internal/queue), both read by the workers' group, with the same settings.
			for i, stream := range []string{"sortographer:demo:jobs", "sortographer:demo:jobs:low"} {
				r := triggers[i]
				if r.metadata["stream"] != stream {
					t.Errorf("redis-streams trigger %d stream = %q, want %q", i, r.metadata["stream"], stream)
				}
				for k, v := range tt.redis {
					if r.metadata[k] != v {
						t.Errorf("redis-streams %s %s = %q, want %q", stream, k, r.metadata[k], v)
					}
				}
				if len(r.metadata) != len(triggers[0].metadata) {
					t.Errorf("redis-streams %s metadata %v differs from the upload stream's %v", stream, r.metadata, triggers[0].metadata)
				}
				for k, v := range triggers[0].metadata {
					if k != "stream" && r.metadata[k] != v {
						t.Errorf("redis-streams %s %s = %q, the upload stream's is %q", stream, k, r.metadata[k], v)
					}
				}
				// KEDA parses enableTLS with strconv.ParseBool.
				wantTLS := strconv.FormatBool(tt.g.Spec.Cache.External != nil && tt.g.Spec.Cache.External.TLS != nil && tt.g.Spec.Cache.External.TLS.Enabled)
				if got := r.metadata["enableTLS"]; got != wantTLS {
					t.Errorf("redis-streams %s enableTLS = %q, want %q", stream, got, wantTLS)
				}
				for _, secret := range []string{"password", "passwordFromEnv", "username"} {
					if _, ok := r.metadata[secret]; ok {
						t.Errorf("redis-streams %s metadata carries %s; credentials belong in the TriggerAuthentication", stream, secret)
					}
				}
				if r.authRef != tt.authRef {
					t.Errorf("redis-streams %s authenticationRef = %q, want %q", stream, r.authRef, tt.authRef)
				}
			}
			for _, tr := range triggers[2:] {
				if tr.metricType != "Utilization" || tr.metadata["value"] != tt.resource[tr.typ] || len(tr.metadata) != 1 {
					t.Errorf("%s trigger = %+v, want Utilization value %s", tr.typ, tr, tt.resource[tr.typ])
				}
			}
		})
	}
}

func TestScaledObjectOtherScalers(t *testing.T) {
	g := gallery(withWorkersAutoscaling(1, 10), withWorkersCPU(utilization(60, 0)))
	for _, s := range []WorkerScaler{ScaleWorkersFixed, ScaleWorkersHPA, ScaleWorkersHPAWithBacklog, ScaleWorkersBacklog} {
		if u := ScaledObject(g, s, 2); u != nil {
			t.Errorf("scaler %s: ScaledObject %s, want none", s, u.GetName())
		}
		if u := TriggerAuthentication(g, s); u != nil {
			t.Errorf("scaler %s: TriggerAuthentication %s, want none", s, u.GetName())
		}
	}
}

func TestTriggerAuthentication(t *testing.T) {
	for _, tt := range []struct {
		name        string
		g           *galleryv1alpha1.Gallery
		secret, key string // "" for none
	}{
		{"managed Redis: the generated password", gallery(withWorkersAutoscaling(1, 10)), "demo-generated", SecretKeyRedisPassword},
		{"external Redis: the admin's Secret", gallery(withExternalRedis(), withWorkersAutoscaling(1, 10)), "redis-auth", "token"},
		{"external Redis without a password: none", gallery(withExternalRedis(), withWorkersAutoscaling(1, 10),
			func(g *galleryv1alpha1.Gallery) { g.Spec.Cache.External.PasswordSecretRef = nil }), "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := TriggerAuthentication(tt.g, ScaleWorkersKEDA)
			if tt.secret == "" {
				if u != nil {
					t.Errorf("TriggerAuthentication %s, want none", u.GetName())
				}
				return
			}
			if u == nil {
				t.Fatal("no TriggerAuthentication")
			}
			assertApplyable(t, u, "keda.sh/v1alpha1", "TriggerAuthentication", "demo-workers", galleryv1alpha1.ComponentWorkers)
			refs, _, err := unstructured.NestedSlice(u.Object, "spec", "secretTargetRef")
			if err != nil || len(refs) != 1 {
				t.Fatalf("secretTargetRef = %v (%v), want one", refs, err)
			}
			ref := refs[0].(map[string]any)
			if ref["parameter"] != "password" || ref["name"] != tt.secret || ref["key"] != tt.key {
				t.Errorf("secretTargetRef = %v, want password from %s key %s", ref, tt.secret, tt.key)
			}
			if _, ok := u.Object["spec"].(map[string]any)["env"]; ok {
				t.Error("TriggerAuthentication reads env; it should read the Secret")
			}
		})
	}
}
