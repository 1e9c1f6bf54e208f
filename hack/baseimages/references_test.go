package main

import (
	"encoding/json"
	"os"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// TestReferencesAreTheGalleryDefaults: the Redis and MariaDB images are tagged with the
// references the pods of a `spec: {}` Gallery use, as the API server defaults it from
// the CRD (config/crd/bases), so the node finds them without a registry.
func TestReferencesAreTheGalleryDefaults(t *testing.T) {
	b, err := os.ReadFile("../../config/crd/bases/sortographer.io_galleries.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i, v := range crd.Spec.Versions {
		if v.Name == galleryv1alpha1.GroupVersion.Version {
			version = &crd.Spec.Versions[i]
		}
	}
	if version == nil {
		t.Fatalf("the CRD has no version %s", galleryv1alpha1.GroupVersion.Version)
	}
	obj := map[string]any{"apiVersion": galleryv1alpha1.GroupVersion.String(), "kind": "Gallery", "spec": map[string]any{}}
	if err := applyDefaults(obj, *version.Schema.OpenAPIV3Schema); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var g galleryv1alpha1.Gallery
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	g.WithDefaultImages(galleryv1alpha1.BuiltinDefaultImages()) // as the operator does
	if got := g.RedisImage(); got != redisRef {
		t.Errorf("a spec: {} Gallery's Redis image is %q, the image is tagged %q", got, redisRef)
	}
	if got := g.MariaDBImage(); got != mariadbRef {
		t.Errorf("a spec: {} Gallery's MariaDB image is %q, the image is tagged %q", got, mariadbRef)
	}
}

// applyDefaults fills obj's absent properties with their schema's defaults, then does
// the same inside each object property, as the API server defaults a custom resource
// (enough for the Gallery's spec; lists and additionalProperties are left alone).
func applyDefaults(obj map[string]any, s apiextensionsv1.JSONSchemaProps) error {
	for name, p := range s.Properties {
		if _, ok := obj[name]; !ok && p.Default != nil {
			var v any
			if err := json.Unmarshal(p.Default.Raw, &v); err != nil {
				return err
			}
			obj[name] = v
		}
		if child, ok := obj[name].(map[string]any); ok {
			if err := applyDefaults(child, p); err != nil {
				return err
			}
		}
	}
	return nil
}
