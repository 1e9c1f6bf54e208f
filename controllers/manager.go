package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// CacheOptions limits what the operator holds in memory to what it owns: every kind it
// owns is cached only with its managed-by label (ConfigMaps, Services, PVCs and the rest
// of the children; a cluster's other objects, however many, are never listed or
// watched), pods and Jobs only when they also carry a gallery label (for OOM kills and
// backup reports), and no cached object keeps its managedFields. Galleries are all
// cached. Secrets are not cached at all (see ClientOptions): the operator watches their
// metadata only. Anything else the operator reads that is not its own (the admin's
// backup claim) goes through an uncached reader (GalleryReconciler.APIReader). Only the
// given namespaces are cached (all when empty).
//
// Measured on the local cluster with 5 Galleries (docs/operator.md, "Scale"): 5,000
// unrelated Deployments, Services and PVCs in another namespace no longer move the
// operator's memory; unscoped, they added tens of MiB.
func CacheOptions(namespaces []string) cache.Options {
	o := cache.Options{
		// The operator never reads managedFields from the cache: releaseReplicas, which
		// does, reads through the API reader. They are often half an object's size.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Label: galleryPodSelector},
			// Backup Jobs (and their CronJobs' Jobs, which carry the template's labels).
			&batchv1.Job{}: {Label: galleryPodSelector},
		},
	}
	for _, obj := range cachedChildKinds {
		o.ByObject[obj] = cache.ByObject{Label: managedBySelector}
	}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}

// cachedChildKinds are the kinds of child the operator applies and caches (by its
// managed-by label): the applier reads their live objects from the cache. A kind the
// operator applies that is not here (Secrets, KEDA's and the Prometheus Operator's
// kinds) is read from the API server, never through a cache the client would start for it
// unscoped.
var cachedChildKinds = []client.Object{
	&appsv1.Deployment{}, &appsv1.StatefulSet{}, &corev1.Service{}, &corev1.ConfigMap{},
	&corev1.ServiceAccount{}, &corev1.PersistentVolumeClaim{}, &autoscalingv2.HorizontalPodAutoscaler{},
	&policyv1.PodDisruptionBudget{}, &networkingv1.Ingress{}, &networkingv1.NetworkPolicy{}, &batchv1.CronJob{},
}

// managedBySelector selects what the operator made: every child carries
// app.kubernetes.io/managed-by=sortographer-operator (Gallery.ChildLabels), and so do the
// claims a StatefulSet makes from its templates.
var managedBySelector = labels.SelectorFromSet(labels.Set{galleryv1alpha1.LabelManagedBy: galleryv1alpha1.ManagedBy})

// galleryPodSelector selects the pods of every Gallery: the operator's managed-by label and
// a sortographer.io/gallery label (the children's pod templates carry both).
var galleryPodSelector = func() labels.Selector {
	managed, err := labels.NewRequirement(galleryv1alpha1.LabelManagedBy, selection.Equals, []string{galleryv1alpha1.ManagedBy})
	if err != nil {
		panic(err)
	}
	gallery, err := labels.NewRequirement(galleryv1alpha1.LabelGallery, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*managed, *gallery)
}()

// ClientOptions makes the manager's client read Secrets straight from the API server,
// so no Secret value (the admin's or the generated ones) sits in the operator's cache.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// KEDAInstalled reports whether KEDA's ScaledObject kind is served.
func KEDAInstalled(mapper meta.RESTMapper) bool { return served(mapper, specs.ScaledObjectGVK) }

// PodMonitorInstalled reports whether the Prometheus Operator's PodMonitor kind is
// served.
func PodMonitorInstalled(mapper meta.RESTMapper) bool { return served(mapper, specs.PodMonitorGVK) }

func served(mapper meta.RESTMapper, gvk schema.GroupVersionKind) bool {
	_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}

// HPAToleranceServed reports whether the API server keeps an HPA's
// spec.behavior.{scaleUp,scaleDown}.tolerance (feature HPAConfigurableTolerance: alpha
// in 1.33, on by default from 1.35). Older servers drop it, or refuse it in an apply;
// either way the operator would re-apply the HPA on every pass. It asks by creating, as
// a dry run, an HPA with a tolerance in namespace and reading it back.
func HPAToleranceServed(ctx context.Context, c client.Client, namespace string) (bool, error) {
	probe := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "sortographer-probe-", Namespace: namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "probe"},
			MaxReplicas:    2,
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{Tolerance: resource.NewMilliQuantity(500, resource.DecimalSI)},
			},
		},
	}
	if err := c.Create(ctx, probe, client.DryRunAll); err != nil {
		return false, fmt.Errorf("dry-run an HPA with a tolerance in namespace %s: %w", namespace, err)
	}
	b := probe.Spec.Behavior
	return b != nil && b.ScaleDown != nil && b.ScaleDown.Tolerance != nil, nil
}
