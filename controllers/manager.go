package controllers

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// CacheOptions limits what the operator holds in memory: only the given namespaces
// (all when empty), only its own ConfigMaps, and only the pods and Jobs of Galleries
// (for their OOM kills and backup reports), without their managedFields. Secrets are not cached at all (see
// ClientOptions); the operator watches their metadata only.
func CacheOptions(namespaces []string) cache.Options {
	o := cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{galleryv1alpha1.LabelManagedBy: galleryv1alpha1.ManagedBy})},
			&corev1.Pod{}:       {Label: galleryPodSelector, Transform: cache.TransformStripManagedFields()},
			// Backup Jobs (and their CronJobs' Jobs, which carry the template's labels).
			&batchv1.Job{}: {Label: galleryPodSelector, Transform: cache.TransformStripManagedFields()},
		},
	}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}

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
