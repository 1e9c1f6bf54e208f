package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// CacheOptions limits what the operator holds in memory: only the given namespaces
// (all when empty), and only its own ConfigMaps. Secrets are not cached at all (see
// ClientOptions); the operator watches their metadata only.
func CacheOptions(namespaces []string) cache.Options {
	o := cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{galleryv1alpha1.LabelManagedBy: galleryv1alpha1.ManagedBy})},
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

// ClientOptions makes the manager's client read Secrets straight from the API server,
// so no Secret value (the admin's or the generated ones) sits in the operator's cache.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// KEDAInstalled reports whether KEDA's ScaledObject kind is served.
func KEDAInstalled(mapper meta.RESTMapper) bool {
	_, err := mapper.RESTMapping(specs.ScaledObjectGVK.GroupKind(), specs.ScaledObjectGVK.Version)
	return err == nil
}
