package controllers

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// The suite's API server serves the Prometheus Operator's real PodMonitor CRD
// (test/crds), so the PodMonitor the operator applies is validated against its schema.
func TestPodMonitorIsDetected(t *testing.T) {
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(env.Config, hc)
	if err != nil {
		t.Fatal(err)
	}
	if !PodMonitorInstalled(mapper) {
		t.Error("PodMonitorInstalled = false with the PodMonitor CRD served")
	}
	if PodMonitorInstalled(meta.NewDefaultRESTMapper(nil)) {
		t.Error("PodMonitorInstalled = true where no PodMonitor kind is served")
	}
}

func podMonitorOf(t *testing.T, g *galleryv1alpha1.Gallery) (*unstructured.Unstructured, error) {
	t.Helper()
	pm := &unstructured.Unstructured{}
	pm.SetGroupVersionKind(specs.PodMonitorGVK)
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: g.Namespace, Name: g.PodMonitorName()}, pm)
	return pm, err
}

func TestPodMonitorFollowsTheSpecWhereServed(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Monitoring.PodMonitor.Labels = map[string]string{"release": "prometheus"}
	})
	m, _ := ownMetrics(t)
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}, PodMonitorInstalled: true, metrics: m}
	reconcileTimes(t, r, g, 1)

	pm, err := podMonitorOf(t, g)
	if err != nil {
		t.Fatalf("no PodMonitor: %v", err)
	}
	if !metav1IsControlledBy(pm, mustGet(t, g)) {
		t.Errorf("the PodMonitor is not owned by the Gallery: %v", pm.GetOwnerReferences())
	}
	if pm.GetLabels()["release"] != "prometheus" {
		t.Errorf("labels = %v, want release=prometheus for the Prometheus' podMonitorSelector", pm.GetLabels())
	}
	endpoints, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(endpoints) != 1 {
		t.Fatalf("podMetricsEndpoints = %v, want one", endpoints)
	}
	if e := endpoints[0].(map[string]any); e["port"] != "metrics" || e["path"] != "/metrics" || e["interval"] != "30s" {
		t.Errorf("endpoint = %v, want port metrics, path /metrics, every 30s (the API's default)", e)
	}

	// Turned off: it goes.
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Monitoring.PodMonitor.Enabled = ptr.To(false)
	})
	reconcileTimes(t, r, g, 1)
	if _, err := podMonitorOf(t, g); !apierrors.IsNotFound(err) {
		t.Errorf("PodMonitor left after podMonitor.enabled=false (err=%v)", err)
	}
}

func TestNoPodMonitorWhereTheKindIsNotServed(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled)
	m, _ := ownMetrics(t)
	// The CRD exists in the suite, but the operator did not find it at start-up.
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}, metrics: m}
	reconcileTimes(t, r, g, 2)
	if _, err := podMonitorOf(t, g); !apierrors.IsNotFound(err) {
		t.Errorf("a PodMonitor was made without the kind detected (err=%v)", err)
	}
}
