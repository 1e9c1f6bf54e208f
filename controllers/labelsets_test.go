package controllers

import (
	"maps"
	"reflect"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Cached children with equal labels share one map; the set goes once no cached object
// uses it; a StatefulSet pod's labels, which no other object has, are left alone.
func TestSharedLabels(t *testing.T) {
	sets := &labelSets{sets: map[fingerprint]*labelSet{}}
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: "team"}}
	service := func() *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Labels: maps.Clone(g.ChildLabels(galleryv1alpha1.ComponentServer))}}
	}
	a := shareLabels(sets, service()).(*corev1.Service)
	b := shareLabels(sets, service()).(*corev1.Service)
	if reflect.ValueOf(a.Labels).UnsafePointer() != reflect.ValueOf(b.Labels).UnsafePointer() {
		t.Error("two Services with equal labels keep a map each")
	}
	if !maps.Equal(a.Labels, g.ChildLabels(galleryv1alpha1.ComponentServer)) {
		t.Errorf("shared labels %v, want %v", a.Labels, g.ChildLabels(galleryv1alpha1.ComponentServer))
	}
	other := shareLabels(sets, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(g.ChildLabels(galleryv1alpha1.ComponentWorkers))}}).(*corev1.Service)
	if other.Labels[galleryv1alpha1.LabelComponent] != galleryv1alpha1.ComponentWorkers || sets.len() != 2 {
		t.Errorf("another component's labels %v, %d sets held", other.Labels, sets.len())
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{uniqueLabel: "photos-redis-0"}}}
	if shareLabels(sets, pod); sets.len() != 2 {
		t.Errorf("a StatefulSet pod's labels were shared: %d sets", sets.len())
	}
	if out := shareLabels(sets, "tombstone"); out != "tombstone" {
		t.Error("shareLabels changed a tombstone")
	}

	// Once the objects are gone (none is used below), so are their sets.
	deadline := time.Now().Add(10 * time.Second)
	for sets.len() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := sets.len(); n != 0 {
		t.Errorf("%d label sets held after every object using them was collected", n)
	}
}

// Two label sets with one fingerprint cannot be found by chance, but if they were, an
// object must keep its own labels rather than take the other set's.
func TestSharedLabelsKeepOwnOnFingerprintClash(t *testing.T) {
	mine := map[string]string{"app": "photos"}
	theirs := map[string]string{"app": "other"}
	sets := &labelSets{sets: map[fingerprint]*labelSet{
		labelSetKey(mine): {key: labelSetKey(mine), labels: theirs, users: 1},
	}}
	svc := shareLabels(sets, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(mine)}}).(*corev1.Service)
	if !maps.Equal(svc.Labels, mine) {
		t.Errorf("labels %v after a fingerprint clash, want %v", svc.Labels, mine)
	}
	if set := sets.sets[labelSetKey(mine)]; set.users != 1 {
		t.Errorf("the clashing set has %d users, want 1: the object must not count as one", set.users)
	}
	if labelSetKey(map[string]string{"a": "b", "c": "d"}) != labelSetKey(map[string]string{"c": "d", "a": "b"}) {
		t.Error("equal label maps have different keys")
	}
	if labelSetKey(map[string]string{"ab": "c"}) == labelSetKey(map[string]string{"a": "bc"}) {
		t.Error(`{"ab": "c"} and {"a": "bc"} share a key`)
	}
}
