package controllers

import (
	"maps"
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Cached children with equal labels share one map; the set goes once no cached object
// uses it; a StatefulSet pod's labels, which no other object has, are left alone.
func TestSharedLabels(t *testing.T) {
	sets := newSharedMaps[string](func(v string) string { return v })
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: "team"}}
	service := func() *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Labels: maps.Clone(g.ChildLabels(galleryv1alpha1.ComponentServer))}}
	}
	a := shareMaps(sets, newRequestSets(), service()).(*corev1.Service)
	b := shareMaps(sets, newRequestSets(), service()).(*corev1.Service)
	if reflect.ValueOf(a.Labels).UnsafePointer() != reflect.ValueOf(b.Labels).UnsafePointer() {
		t.Error("two Services with equal labels keep a map each")
	}
	if !maps.Equal(a.Labels, g.ChildLabels(galleryv1alpha1.ComponentServer)) {
		t.Errorf("shared labels %v, want %v", a.Labels, g.ChildLabels(galleryv1alpha1.ComponentServer))
	}
	other := shareMaps(sets, newRequestSets(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(g.ChildLabels(galleryv1alpha1.ComponentWorkers))}}).(*corev1.Service)
	if other.Labels[galleryv1alpha1.LabelComponent] != galleryv1alpha1.ComponentWorkers || sets.len() != 2 {
		t.Errorf("another component's labels %v, %d sets held", other.Labels, sets.len())
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{uniqueLabel: "photos-redis-0"}}}
	if shareMaps(sets, newRequestSets(), pod); sets.len() != 2 {
		t.Errorf("a StatefulSet pod's labels were shared: %d sets", sets.len())
	}
	if out := shareMaps(sets, newRequestSets(), "tombstone"); out != "tombstone" {
		t.Error("shareMaps changed a tombstone")
	}

	// Once the objects are gone (none is used below), so are their sets.
	if n := heldAfterCollection(sets.len); n != 0 {
		t.Errorf("%d label sets held after every object using them was collected", n)
	}
}

// heldAfterCollection is held() once it reaches zero, or after ten seconds of
// collections: a runtime cleanup runs some time after its object was collected.
func heldAfterCollection(held func() int) int {
	deadline := time.Now().Add(10 * time.Second)
	for held() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	return held()
}

// Two label sets with one fingerprint cannot be found by chance, but if they were, an
// object must keep its own labels rather than take the other set's.
func TestSharedLabelsKeepOwnOnFingerprintClash(t *testing.T) {
	mine := map[string]string{"app": "photos"}
	theirs := map[string]string{"app": "other"}
	sets := newSharedMaps[string](func(v string) string { return v })
	sets.sets[sets.mapKey(mine)] = &sharedMap[string, string]{key: sets.mapKey(mine), m: theirs, users: 1}
	svc := shareMaps(sets, newRequestSets(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(mine)}}).(*corev1.Service)
	if !maps.Equal(svc.Labels, mine) {
		t.Errorf("labels %v after a fingerprint clash, want %v", svc.Labels, mine)
	}
	if set := sets.sets[sets.mapKey(mine)]; set.users != 1 {
		t.Errorf("the clashing set has %d users, want 1: the object must not count as one", set.users)
	}
	if sets.mapKey(map[string]string{"a": "b", "c": "d"}) != sets.mapKey(map[string]string{"c": "d", "a": "b"}) {
		t.Error("equal label maps have different keys")
	}
	if sets.mapKey(map[string]string{"ab": "c"}) == sets.mapKey(map[string]string{"a": "bc"}) {
		t.Error(`{"ab": "c"} and {"a": "bc"} share a key`)
	}
}

func newRequestSets() *sharedMaps[corev1.ResourceName, resource.Quantity] {
	return newSharedMaps[corev1.ResourceName](func(q resource.Quantity) string { return q.String() })
}

// Claims and StatefulSets' claim templates asking for the same size share one
// ResourceList; another size keeps its own; the lists go with the objects.
func TestSharedRequests(t *testing.T) {
	labels, requests := newSharedMaps[string](func(v string) string { return v }), newRequestSets()
	size := func(s string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(s)}
	}
	claim := func(s string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: size(s)}}}
	}
	a := shareMaps(labels, requests, claim("10Gi")).(*corev1.PersistentVolumeClaim)
	b := shareMaps(labels, requests, claim("10Gi")).(*corev1.PersistentVolumeClaim)
	set := shareMaps(labels, requests, &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{VolumeClaimTemplates: []corev1.PersistentVolumeClaim{*claim("10Gi"), *claim("20Gi")}}}).(*appsv1.StatefulSet)
	mapOf := func(r corev1.ResourceList) unsafe.Pointer { return reflect.ValueOf(r).UnsafePointer() }
	if mapOf(a.Spec.Resources.Requests) != mapOf(b.Spec.Resources.Requests) || mapOf(a.Spec.Resources.Requests) != mapOf(set.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests) {
		t.Error("two claims and a claim template asking for 10Gi keep a ResourceList each")
	}
	if got := set.Spec.VolumeClaimTemplates[1].Spec.Resources.Requests.Storage().String(); got != "20Gi" || requests.len() != 2 {
		t.Errorf("the 20Gi template asks for %s; %d lists held, want 2", got, requests.len())
	}
	if n := heldAfterCollection(requests.len); n != 0 {
		t.Errorf("%d ResourceLists held after every object using them was collected", n)
	}
}
