package controllers

// Table tests of the pure decisions of apply.go: what an apply sends, and whether a
// child needs one at all (a steady state sends nothing).

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/sortographer/sortographer/controllers/specs"
)

func TestIsSubset(t *testing.T) {
	tests := []struct {
		name       string
		want, have any
		subset     bool
	}{
		{"equal scalars", "a", "a", true},
		{"different scalars", "a", "b", false},
		{"numbers of any width", int64(3), float64(3), true},
		{"int and int32", 3, int32(3), true},
		{"a fraction is no integer", int64(3), 3.5, false},
		{"someone else's extra key", map[string]any{"a": "1"}, map[string]any{"a": "1", "restartedAt": "now"}, true},
		{"a key of ours missing", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1"}, false},
		{"a key of ours changed", map[string]any{"a": "1"}, map[string]any{"a": "2"}, false},
		{"defaults inside list elements", []any{map[string]any{"name": "c"}}, []any{map[string]any{"name": "c", "imagePullPolicy": "IfNotPresent"}}, true},
		{"a list element removed", []any{"a"}, []any{"a", "b"}, false},
		{"a list element added", []any{"a", "b"}, []any{"a"}, false},
		{"a map where a list is", map[string]any{}, []any{}, false},
		{"nested change", map[string]any{"spec": map[string]any{"replicas": int64(2)}}, map[string]any{"spec": map[string]any{"replicas": int64(3)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isSubset(tt.want, tt.have); got != tt.subset {
				t.Errorf("isSubset = %v, want %v", got, tt.subset)
			}
		})
	}
}

func TestPruneEmpty(t *testing.T) {
	m := map[string]any{
		"metadata": map[string]any{"name": "x", "creationTimestamp": nil},
		"spec": map[string]any{
			"volumes": []any{map[string]any{"name": "tmp", "emptyDir": map[string]any{}, "secret": nil}},
		},
	}
	pruneEmpty(m)
	want := map[string]any{
		"metadata": map[string]any{"name": "x"},
		"spec":     map[string]any{"volumes": []any{map[string]any{"name": "tmp", "emptyDir": map[string]any{}}}},
	}
	if hashOf(m) != hashOf(want) {
		t.Errorf("pruned to %v, want %v (nil values go, empty maps stay)", m, want)
	}
}

func TestToApplyUnstructured(t *testing.T) {
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "photos-config", Namespace: "pure"},
		Data:       map[string]string{"K": "v"},
	}
	u, err := toApplyUnstructured(cm)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Object["metadata"].(map[string]any)["creationTimestamp"]; ok {
		t.Error("creationTimestamp: null is sent")
	}
	d := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: metav1.ObjectMeta{Name: "d"}}
	u, err = toApplyUnstructured(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Object["status"]; ok {
		t.Error("an empty status is sent with the spec")
	}
	if _, err := toApplyUnstructured(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "untyped"}}); err == nil {
		t.Error("an object without apiVersion/kind was accepted")
	}
}

// applied is what the operator applies for a ConfigMap with data, stamped.
func applied(t *testing.T, data map[string]string) *unstructured.Unstructured {
	t.Helper()
	u, err := toApplyUnstructured(&corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "photos-config", Namespace: "pure", Labels: map[string]string{"app": "sortographer"}},
		Data:       data,
	})
	if err != nil {
		t.Fatal(err)
	}
	stampAppliedHash(u)
	return u
}

func TestUpToDate(t *testing.T) {
	want := applied(t, map[string]string{"A": "1"})
	live := func(change func(u *unstructured.Unstructured)) *unstructured.Unstructured {
		u := want.DeepCopy()
		// What the API server adds.
		u.SetUID("u-1")
		u.SetResourceVersion("7")
		change(u)
		return u
	}
	tests := []struct {
		name     string
		desired  *unstructured.Unstructured
		live     *unstructured.Unstructured
		upToDate bool
	}{
		{"as applied", want, live(func(*unstructured.Unstructured) {}), true},
		{"someone else's annotation", want, live(func(u *unstructured.Unstructured) {
			ann := u.GetAnnotations()
			ann["kubectl.kubernetes.io/restartedAt"] = "2026-11-23T09:00:00Z"
			u.SetAnnotations(ann)
		}), true},
		{"the operator wants something new", applied(t, map[string]string{"A": "2"}), live(func(*unstructured.Unstructured) {}), false},
		{"someone changed a field of ours", want, live(func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "edited", "data", "A")
		}), false},
		{"someone removed a label of ours", want, live(func(u *unstructured.Unstructured) { u.SetLabels(nil) }), false},
		{"applied before hashes were recorded", want, live(func(u *unstructured.Unstructured) {
			ann := u.GetAnnotations()
			delete(ann, annotationAppliedHash)
			u.SetAnnotations(ann)
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := upToDate(tt.desired, tt.live); got != tt.upToDate {
				t.Errorf("upToDate = %v, want %v", got, tt.upToDate)
			}
		})
	}
}

// The applied hash depends on what is applied: not on the order maps were filled in.
func TestStampAppliedHash(t *testing.T) {
	a := applied(t, map[string]string{"A": "1", "B": "2"})
	b := applied(t, map[string]string{"B": "2", "A": "1"})
	c := applied(t, map[string]string{"A": "1", "B": "3"})
	ha, hb, hc := a.GetAnnotations()[annotationAppliedHash], b.GetAnnotations()[annotationAppliedHash], c.GetAnnotations()[annotationAppliedHash]
	if ha == "" || ha != hb {
		t.Errorf("the same ConfigMap hashed %q and %q", ha, hb)
	}
	if ha == hc {
		t.Errorf("different data hashed the same: %q", ha)
	}
}

func TestOwnsField(t *testing.T) {
	entry := func(manager string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, FieldsV1: metav1.NewFieldsV1(fields)}
	}
	replicas := `{"f:spec":{"f:replicas":{}}}`
	tests := []struct {
		name   string
		fields []metav1.ManagedFieldsEntry
		owns   bool
	}{
		{"applied by the operator", []metav1.ManagedFieldsEntry{entry(FieldOwner, metav1.ManagedFieldsOperationApply, replicas)}, true},
		{"applied by another manager", []metav1.ManagedFieldsEntry{entry(replicasHandoffOwner, metav1.ManagedFieldsOperationApply, replicas)}, false},
		{"updated, not applied, by the operator's name", []metav1.ManagedFieldsEntry{entry(FieldOwner, metav1.ManagedFieldsOperationUpdate, replicas)}, false},
		{"the operator owns other fields only", []metav1.ManagedFieldsEntry{entry(FieldOwner, metav1.ManagedFieldsOperationApply, `{"f:spec":{"f:template":{}}}`)}, false},
		{"no managed fields", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ownsField(tt.fields, FieldOwner, "f:replicas"); got != tt.owns {
				t.Errorf("ownsField = %v, want %v", got, tt.owns)
			}
		})
	}
}

func TestIsControlledBy(t *testing.T) {
	g := unsavedGallery()
	g.UID = "g-1"
	ref := func(uid string, controller bool) metav1.OwnerReference {
		return metav1.OwnerReference{UID: types.UID(uid), Controller: ptr.To(controller), Name: "photos"}
	}
	other := metav1.OwnerReference{UID: "g-2", Controller: ptr.To(true)}
	tests := []struct {
		name string
		refs []metav1.OwnerReference
		want bool
	}{
		{"controlled", []metav1.OwnerReference{ref("g-1", true)}, true},
		{"owned but not controlled", []metav1.OwnerReference{ref("g-1", false)}, false},
		{"another Gallery's", []metav1.OwnerReference{other}, false},
		{"the admin's", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{OwnerReferences: tt.refs}}
			if got := metav1IsControlledBy(obj, g); got != tt.want {
				t.Errorf("controlled = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSortChildren(t *testing.T) {
	g := unsavedGallery()
	ingress := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "photos"}}
	gone := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "photos-backup"}}
	wanted, unwanted := sortChildren([]specs.Child{
		{Desired: ingress, Ref: &networkingv1.Ingress{}},
		{Ref: gone},
		{}, // someone else's
	})
	if len(wanted) != 1 || wanted[0] != ingress {
		t.Errorf("applied %v, want the Ingress", wanted)
	}
	if len(unwanted) != 1 || unwanted[0] != gone {
		t.Errorf("deleted %v, want the backup NetworkPolicy", unwanted)
	}
	// The children of a real Gallery: the reconciler deletes what it does not apply.
	wanted, unwanted = sortChildren(specs.IngressChildren(g))
	if len(wanted) != 0 || len(unwanted) != 1 || unwanted[0].GetName() != g.IngressName() || unwanted[0].GetNamespace() != g.Namespace {
		t.Errorf("without spec.ingress: applied %v, deleted %v", wanted, unwanted)
	}
}

// TestCachedObject: the applier reads through the cache only the kinds CacheOptions
// scopes by label; a Secret (never cached) or a kind without a Go type goes to the API
// server, so no read starts an unscoped informer.
func TestCachedObject(t *testing.T) {
	a := &applier{scheme: testScheme}
	for _, tt := range []struct {
		apiVersion, kind string
		cached           bool
	}{
		{"apps/v1", "Deployment", true},
		{"v1", "ConfigMap", true},
		{"autoscaling/v2", "HorizontalPodAutoscaler", true},
		{"batch/v1", "CronJob", true},
		{"v1", "Secret", false},
		{"batch/v1", "Job", false}, // cached, but only the Gallery's pods' selector: created, never applied
		{specs.ScaledObjectGVK.GroupVersion().String(), specs.ScaledObjectGVK.Kind, false},
	} {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(tt.apiVersion)
		u.SetKind(tt.kind)
		if _, ok := a.cachedObject(u); ok != tt.cached {
			t.Errorf("%s %s read from the cache = %v, want %v", tt.apiVersion, tt.kind, ok, tt.cached)
		}
	}
}
