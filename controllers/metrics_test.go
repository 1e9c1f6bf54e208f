package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// ownMetrics are metrics of a test's own reconciler, in a registry of their own: the
// suite's manager, which does not see the test's Gallery, forgets its series whenever a
// child of it changes (the Gallery is not found in its cache).
func ownMetrics(t *testing.T) (*galleryMetrics, prometheus.Gatherer) {
	t.Helper()
	m := newGalleryMetrics()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.collectors()...)
	return m, reg
}

// seriesOf gathers the operator's metrics of one Gallery from a registry (the
// process' is controller-runtime's, which its metrics endpoint serves):
// `name{label=value,...}` (labels other than namespace and gallery, sorted) -> value.
func seriesOf(t *testing.T, reg prometheus.Gatherer, ns, gallery string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels[labelNamespace] != ns || labels[labelGallery] != gallery {
				continue
			}
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(labels)) {
				if k != labelNamespace && k != labelGallery {
					parts = append(parts, k+"="+labels[k])
				}
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out[mf.GetName()+"{"+strings.Join(parts, ",")+"}"] = v
		}
	}
	return out
}

// withPrefix is the part of series whose key starts with prefix.
func withPrefix(series map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range series {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// statusSeries are the condition and phase series a status should give.
func statusSeries(s galleryv1alpha1.GalleryStatus) map[string]float64 {
	want := map[string]float64{}
	for _, c := range s.Conditions {
		for _, st := range []string{"true", "false", "unknown"} {
			want[fmt.Sprintf("sortographer_gallery_condition{condition=%s,status=%s}", c.Type, st)] = boolFloat(strings.EqualFold(st, string(c.Status)))
		}
	}
	for _, p := range []string{"Pending", "Progressing", "Ready", "Degraded", "Suspended", "Failed"} {
		want[fmt.Sprintf("sortographer_gallery_phase{phase=%s}", p)] = boolFloat(p == string(s.Phase))
	}
	return want
}

func assertStatusSeries(t *testing.T, reg prometheus.Gatherer, g *galleryv1alpha1.Gallery) {
	t.Helper()
	live := mustGet(t, g)
	if len(live.Status.Conditions) < 8 || live.Status.Phase == "" {
		t.Fatalf("status not written: %+v", live.Status)
	}
	got := seriesOf(t, reg, g.Namespace, g.Name)
	condAndPhase := withPrefix(got, "sortographer_gallery_condition")
	maps.Copy(condAndPhase, withPrefix(got, "sortographer_gallery_phase"))
	if want := statusSeries(live.Status); !maps.Equal(condAndPhase, want) {
		t.Errorf("condition and phase series:\n%s\nwant (from the status):\n%s", dump(condAndPhase), dump(want))
	}
}

func dump(m map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "  %s %g\n", k, m[k])
	}
	return b.String()
}

func TestOperatorMetricsFollowTheStatus(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled)
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	m, reg := ownMetrics(t)
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}, Clock: clocktesting.NewFakePassiveClock(at), metrics: m}
	reconcileTimes(t, r, g, 2)

	assertStatusSeries(t, reg, g)
	got := seriesOf(t, reg, ns, g.Name)
	if got["sortographer_gallery_condition{condition=Ready,status=false}"] != 1 || got["sortographer_gallery_phase{phase=Progressing}"] != 1 {
		t.Errorf("a Gallery whose pods do not run yet is not Ready=false, Progressing:\n%s", dump(got))
	}
	wantRest := map[string]float64{
		"sortographer_gallery_replicas{component=server,state=desired}":                 2,
		"sortographer_gallery_replicas{component=server,state=ready}":                   0,
		"sortographer_gallery_replicas{component=workers,state=desired}":                1,
		"sortographer_gallery_replicas{component=workers,state=ready}":                  0,
		"sortographer_gallery_volume_info{persistentvolumeclaim=photos-photos}":         1,
		"sortographer_gallery_volume_info{persistentvolumeclaim=data-photos-mariadb-0}": 1,
		"sortographer_gallery_last_reconcile_success_timestamp_seconds{}":               float64(at.Unix()),
	}
	for k, v := range wantRest {
		if got[k] != v {
			t.Errorf("%s = %g, want %g", k, got[k], v)
		}
	}
	// Every kind the Gallery has counts its failed writes from 0.
	for _, kind := range []string{"Secret", "ConfigMap", "ServiceAccount", "PersistentVolumeClaim", "StatefulSet", "Service", "Deployment", "PodDisruptionBudget", "NetworkPolicy"} {
		if v, ok := got["sortographer_gallery_apply_failures_total{kind="+kind+"}"]; !ok || v != 0 {
			t.Errorf("apply failures of %s = %g (present %v), want 0", kind, v, ok)
		}
	}
	if _, ok := got["sortographer_gallery_queue_backlog{}"]; ok {
		t.Error("a queue backlog series without a backlog scaler")
	}

	// The pods in the operator's cache (here: the direct client) are the join keys.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "photos-server-abc12", Namespace: ns, Labels: galleryPodLabels(g)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "example.com/sortographer"}}},
	}
	pod.Labels[galleryv1alpha1.LabelComponent] = galleryv1alpha1.ComponentServer
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	markDeploymentAvailable(t, ns, g.ServerName())
	markDeploymentAvailable(t, ns, g.WorkersName())
	markStatefulSetReady(t, ns, g.RedisName())
	markStatefulSetReady(t, ns, g.DatabaseName())
	markClaimBound(t, ns, g.PhotosClaimName())
	reconcileTimes(t, r, g, 1)

	assertStatusSeries(t, reg, g)
	got = seriesOf(t, reg, ns, g.Name)
	for k, v := range map[string]float64{
		"sortographer_gallery_condition{condition=Ready,status=true}":          1,
		"sortographer_gallery_condition{condition=Ready,status=false}":         0,
		"sortographer_gallery_phase{phase=Ready}":                              1,
		"sortographer_gallery_phase{phase=Progressing}":                        0,
		"sortographer_gallery_replicas{component=server,state=ready}":          2,
		"sortographer_gallery_pod_info{component=server,pod=" + pod.Name + "}": 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %g, want %g\n%s", k, got[k], v, dump(got))
		}
	}

	// A pod that goes takes its series with it.
	if err := k8s.Delete(context.Background(), pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod gone", func() error {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), &corev1.Pod{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %w", err)
	})
	reconcileTimes(t, r, g, 1)
	if p := withPrefix(seriesOf(t, reg, ns, g.Name), "sortographer_gallery_pod_info"); len(p) != 0 {
		t.Errorf("pod_info of a deleted pod: %v", p)
	}
}

// failingApply fails every server-side apply of kind with a server error.
func failingApply(t *testing.T, kind string) client.Client {
	t.Helper()
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			if u, ok := obj.(interface{ GetKind() string }); ok && u.GetKind() == kind {
				return apierrors.NewInternalError(errors.New("injected apply failure"))
			}
			return c.Apply(ctx, obj, opts...)
		},
	})
}

func TestApplyFailureCountsItsKind(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled)
	m, reg := ownMetrics(t)
	r := &GalleryReconciler{Client: failingApply(t, "NetworkPolicy"), Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}, metrics: m}
	for i := range 2 {
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: keyOf(g)}); err == nil || !strings.Contains(err.Error(), "injected apply failure") {
			t.Fatalf("pass %d: err = %v, want the injected failure", i+1, err)
		}
	}
	got := withPrefix(seriesOf(t, reg, ns, g.Name), "sortographer_gallery_apply_failures_total")
	if v := got["sortographer_gallery_apply_failures_total{kind=NetworkPolicy}"]; v != 2 {
		t.Errorf("NetworkPolicy apply failures = %g after two failed passes, want 2\n%s", v, dump(got))
	}
	for k, v := range got {
		if k != "sortographer_gallery_apply_failures_total{kind=NetworkPolicy}" && v != 0 {
			t.Errorf("%s = %g, want 0: only NetworkPolicy applies failed", k, v)
		}
	}
	if _, ok := seriesOf(t, reg, ns, g.Name)["sortographer_gallery_last_reconcile_success_timestamp_seconds{}"]; ok {
		t.Error("a Gallery whose passes all failed has a last-success timestamp")
	}
}

// The manager's reconciler reports a Gallery in controller-runtime's registry, which the
// operator's metrics endpoint serves, and deletes every series of the Gallery once it is
// deleted.
func TestDeletedGalleryLeavesNoSeries(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	eventually(t, "series of the Gallery", func() error {
		got := seriesOf(t, ctrlmetrics.Registry, ns, g.Name)
		for _, k := range []string{"sortographer_gallery_phase{phase=Progressing}", "sortographer_gallery_apply_failures_total{kind=Deployment}", "sortographer_gallery_volume_info{persistentvolumeclaim=photos-photos}"} {
			if _, ok := got[k]; !ok {
				return fmt.Errorf("no %s yet", k)
			}
		}
		return nil
	})
	if err := k8s.Delete(context.Background(), mustGet(t, g)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no series left", func() error {
		if got := seriesOf(t, ctrlmetrics.Registry, ns, g.Name); len(got) > 0 {
			keys := slices.Collect(maps.Keys(got))
			sort.Strings(keys)
			return fmt.Errorf("%d series left: %v", len(got), keys)
		}
		return nil
	})
}

// TestScrapeSharesLabelPairs: series whose label values come from a small set share
// one label pair across Galleries and scrapes, and sharing changes nothing a scrape
// says (the pedantic registry checks every series against its description).
func TestScrapeSharesLabelPairs(t *testing.T) {
	m := scrapeGalleries(2)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.collectors()...)
	first, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	second, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather again: %v", err)
	}
	statusPairs := map[string]*dto.LabelPair{}
	var conditionSeries int
	for i, mf := range first {
		if got, want := fmt.Sprint(mf), fmt.Sprint(second[i]); got != want {
			t.Errorf("two scrapes differ:\n%s\n%s", got, want)
		}
		if mf.GetName() != "sortographer_gallery_condition" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			conditionSeries++
			for _, lp := range metric.GetLabel() {
				if lp.GetName() != labelStatus {
					continue
				}
				if seen := statusPairs[lp.GetValue()]; seen != nil && seen != lp {
					t.Errorf("status=%s: two label pairs, want one shared", lp.GetValue())
				}
				statusPairs[lp.GetValue()] = lp
			}
		}
	}
	if conditionSeries != 2*9*3 || len(statusPairs) != 3 {
		t.Errorf("condition series %d with %d status pairs, want 54 with 3", conditionSeries, len(statusPairs))
	}
}
