package controllers

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/config"
)

// ownReconciled marks a Gallery for a test's own reconciler.
func ownReconciled(g *galleryv1alpha1.Gallery) {
	if g.Labels == nil {
		g.Labels = map[string]string{}
	}
	g.Labels[labelOwnReconciler] = "true"
}

func withBacklogScaling(cpu bool) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		p := &galleryv1alpha1.WorkerScalingPolicy{MinReplicas: 1, MaxReplicas: 8, Backlog: &galleryv1alpha1.BacklogTarget{TargetJobsPerWorker: 10}, ScaleDownStabilizationSeconds: 300}
		if cpu {
			p.CPU = &galleryv1alpha1.UtilizationTarget{TargetUtilization: 60}
		}
		g.Spec.Autoscaling = &galleryv1alpha1.AutoscalingSpec{Workers: p}
	}
}

func reconcileTimes(t *testing.T, r *GalleryReconciler, g *galleryv1alpha1.Gallery, n int) {
	t.Helper()
	for range n {
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(g)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWithKEDAWorkersScaleOnAScaledObject(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled, withBacklogScaling(true))
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}, KEDAInstalled: true}
	reconcileTimes(t, r, g, 2)

	so := &unstructured.Unstructured{}
	so.SetGroupVersionKind(specs.ScaledObjectGVK)
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.WorkersName()}, so); err != nil {
		t.Fatalf("no ScaledObject: %v", err)
	}
	triggers, _, _ := unstructured.NestedSlice(so.Object, "spec", "triggers")
	if len(triggers) != 3 {
		t.Fatalf("triggers = %v, want redis-streams on uploads and on reclassification, and cpu", triggers)
	}
	for i, stream := range []string{config.QueueStream(g.Name), config.QueueLowStream(g.Name)} {
		redisTrigger := triggers[i].(map[string]any)
		md := redisTrigger["metadata"].(map[string]any)
		if redisTrigger["type"] != "redis-streams" || md["stream"] != stream || md["consumerGroup"] != config.QueueGroup || md["lagCount"] != "10" {
			t.Errorf("redis trigger %d = %v, want stream %s", i, redisTrigger, stream)
		}
	}
	if cpu := triggers[2].(map[string]any); cpu["type"] != "cpu" {
		t.Errorf("third trigger = %v, want cpu", cpu)
	}
	ta := &unstructured.Unstructured{}
	ta.SetGroupVersionKind(specs.TriggerAuthenticationGVK)
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.WorkersName()}, ta); err != nil {
		t.Fatalf("no TriggerAuthentication: %v", err)
	}
	refs, _, _ := unstructured.NestedSlice(ta.Object, "spec", "secretTargetRef")
	if ref := refs[0].(map[string]any); ref["name"] != g.GeneratedSecretName() || ref["key"] != specs.SecretKeyRedisPassword {
		t.Errorf("secretTargetRef = %v", ref)
	}
	// KEDA makes the HPA; the operator must not make one too, nor own replicas.
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.WorkersName()}, &autoscalingv2.HorizontalPodAutoscaler{}); !apierrors.IsNotFound(err) {
		t.Errorf("the operator made a workers HPA beside KEDA (err=%v)", err)
	}
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.WorkersName()}, d); err != nil {
		t.Fatal(err)
	}
	for _, mf := range d.ManagedFields {
		if mf.Manager == FieldOwner && containsField(mf.FieldsV1.GetRawString(), "replicas") {
			t.Error("the operator owns the workers' spec.replicas beside KEDA")
		}
	}

	// Autoscaling off: the KEDA objects go.
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Autoscaling = nil
	})
	reconcileTimes(t, r, g, 1)
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.WorkersName()}, so); !apierrors.IsNotFound(err) {
		t.Errorf("ScaledObject left behind after autoscaling was removed (err=%v)", err)
	}
}

func containsField(raw, field string) bool {
	return strings.Contains(raw, `"f:`+field+`"`)
}
