package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// FieldOwner is the one field manager the operator applies every child with.
const FieldOwner = "sortographer-operator"

// annotationAppliedHash records the hash of what the operator last applied to a child, so
// that a steady state sends nothing at all to the API server.
const annotationAppliedHash = "sortographer.io/applied-hash"

// applier writes children with server-side apply, and only when they differ from what
// the operator wants.
type applier struct {
	client client.Client
	scheme *runtime.Scheme
}

// applyResult says what apply did.
type applyResult int

const (
	unchanged applyResult = iota
	created
	updated
)

// apply makes the child match desired: owned by the Gallery, under one field owner.
// It writes nothing when the live object already carries the same applied hash and
// every field the operator sets still has its value (someone else's fields, such as
// kubectl's restartedAt or an HPA's replica count, are theirs).
func (a *applier) apply(ctx context.Context, g *galleryv1alpha1.Gallery, desired client.Object) (applyResult, error) {
	if err := controllerutil.SetControllerReference(g, desired, a.scheme); err != nil {
		return unchanged, fmt.Errorf("own %T %s: %w", desired, desired.GetName(), err)
	}
	return a.applyUnowned(ctx, desired)
}

// applyUnowned is apply without an owner reference, for what must outlive the Gallery.
func (a *applier) applyUnowned(ctx context.Context, desired client.Object) (applyResult, error) {
	u, err := toApplyUnstructured(desired)
	if err != nil {
		return unchanged, err
	}
	hash := hashOf(u.Object)
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[annotationAppliedHash] = hash
	u.SetAnnotations(ann)

	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(u.GroupVersionKind())
	err = a.client.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return unchanged, fmt.Errorf("get %s %s: %w", u.GetKind(), u.GetName(), err)
	case live.GetAnnotations()[annotationAppliedHash] == hash && isSubset(u.Object, live.Object):
		return unchanged, nil
	}
	if err := a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return unchanged, fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	if apierrors.IsNotFound(err) {
		return created, nil
	}
	return updated, nil
}

// toApplyUnstructured turns a typed object from a builder into the apply configuration:
// only the fields the builder set (no creationTimestamp: null, no empty status).
func toApplyUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	delete(m, "status")
	pruneEmpty(m)
	u := &unstructured.Unstructured{Object: m}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, fmt.Errorf("%T %s has no apiVersion/kind: builders must set TypeMeta", obj, obj.GetName())
	}
	return u, nil
}

// pruneEmpty drops nil values (creationTimestamp: null and the like), which typed
// structs produce for fields a builder never set. Empty maps stay: emptyDir: {} means
// something.
func pruneEmpty(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			pruneEmpty(t)
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					pruneEmpty(em)
				}
			}
		}
	}
}

// isSubset reports whether every value in want is in have: maps by key, lists element by
// element with the same length (a removed list element is a change), scalars equal.
func isSubset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if !isSubset(wv, h[k]) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !isSubset(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(normalizeNumber(want), normalizeNumber(have))
	}
}

func normalizeNumber(v any) any {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	}
	return v
}

func hashOf(v any) string {
	b, _ := json.Marshal(v) // maps marshal with sorted keys: stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// deleteIfPresent removes a child the Gallery no longer wants (an HPA after autoscaling
// is turned off, the Ingress after spec.ingress is removed), if the Gallery owns it.
func (a *applier) deleteIfPresent(ctx context.Context, g *galleryv1alpha1.Gallery, obj client.Object) (bool, error) {
	if err := a.client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if !metav1IsControlledBy(obj, g) {
		return false, nil
	}
	if err := a.client.Delete(ctx, obj, client.PropagationPolicy("Background")); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return true, nil
}

func metav1IsControlledBy(obj client.Object, g *galleryv1alpha1.Gallery) bool {
	for _, r := range obj.GetOwnerReferences() {
		if r.Controller != nil && *r.Controller && r.UID == g.UID {
			return true
		}
	}
	return false
}
