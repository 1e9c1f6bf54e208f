package controllers

import (
	"maps"
	"reflect"
	"runtime"
	"slices"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// sharedLabels holds one label map for all the cached objects whose labels are equal.
// A Gallery's children repeat the same six labels (its name and the component among
// them), and each decoded object brought its own map: a few hundred bytes an object,
// the largest part of a slimmed object's metadata (docs/operator.md, Scale).
var sharedLabels = newSharedMaps[string](func(v string) string { return v })

// sharedRequests does the same for the requested sizes of claims and of StatefulSets'
// claim templates: a decoded ResourceList of one entry is a map of about 700 bytes, and
// a thousand Galleries ask for a handful of distinct sizes.
var sharedRequests = newSharedMaps[corev1.ResourceName](func(q resource.Quantity) string { return q.String() })

// sharedMaps holds one map for all the cached objects whose maps of one kind are equal.
// A map is dropped when the last cached object using it has been collected (a runtime
// cleanup on each object), so deleted Galleries' maps do not pile up. The maps are never
// written: the cache hands out deep copies.
type sharedMaps[K ~string, V comparable] struct {
	mu sync.Mutex
	// valueKey is the text of a value in a map's fingerprint (mapKey).
	valueKey func(V) string
	sets     map[fingerprint]*sharedMap[K, V]
}

type sharedMap[K ~string, V comparable] struct {
	key   fingerprint // in sharedMaps.sets
	m     map[K]V
	users int
}

func newSharedMaps[K ~string, V comparable](valueKey func(V) string) *sharedMaps[K, V] {
	return &sharedMaps[K, V]{valueKey: valueKey, sets: map[fingerprint]*sharedMap[K, V]{}}
}

// take returns the shared map equal to m, to release once the object using it is gone,
// or nil when the map under m's fingerprint holds other entries (two maps with one
// fingerprint: the object keeps its own). The first object's map becomes the shared one.
// The shared map, not its key, is what each object's cleanup holds: a key string an
// object was the largest part of what sharing saved; the key is a fingerprint, not the
// entries in one string, which were a kilobyte a Gallery.
func (s *sharedMaps[K, V]) take(m map[K]V) *sharedMap[K, V] {
	key := s.mapKey(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.sets[key]
	if ok && !maps.Equal(set.m, m) {
		return nil
	}
	if !ok {
		set = &sharedMap[K, V]{key: key, m: m}
		s.sets[key] = set
	}
	set.users++
	return set
}

// release is run when an object that took set has been collected.
func (s *sharedMaps[K, V]) release(set *sharedMap[K, V]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set.users--; set.users <= 0 && s.sets[set.key] == set {
		delete(s.sets, set.key)
	}
}

// len is how many distinct maps are held.
func (s *sharedMaps[K, V]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sets)
}

// mapKey is the fingerprint of m, the same for equal maps.
func (s *sharedMaps[K, V]) mapKey(m map[K]V) fingerprint {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, string(k), s.valueKey(m[k]))
	}
	return fingerprintOf(parts...)
}

// share gives the object obj points to the shared map equal to m, through set; when
// there is none to share (an empty map, a fingerprint clash) m stays the object's own.
func share[K ~string, V comparable](s *sharedMaps[K, V], obj reflect.Value, m map[K]V, set func(map[K]V)) {
	if len(m) == 0 {
		return
	}
	shared := s.take(m)
	if shared == nil {
		return
	}
	set(shared.m)
	// Any pointer into the object will do: a cleanup runs once the object is unreachable.
	runtime.AddCleanup((*byte)(obj.UnsafePointer()), s.release, shared)
}

// uniqueLabel marks labels no other object shares (a StatefulSet pod's own name): such
// a set would cost the table more than it saves.
const uniqueLabel = "statefulset.kubernetes.io/pod-name"

// sharingMaps runs transform, then gives the object it made the shared maps of its
// labels and, for a claim or a StatefulSet, of its requested sizes.
func sharingMaps(transform toolscache.TransformFunc) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		out, err := transform(obj)
		if err != nil {
			return out, err
		}
		return shareMaps(sharedLabels, sharedRequests, out), nil
	}
}

func shareMaps(labels *sharedMaps[string, string], requests *sharedMaps[corev1.ResourceName, resource.Quantity], obj any) any {
	m, ok := obj.(metav1.Object)
	if !ok {
		return obj // a DeletedFinalStateUnknown tombstone
	}
	p := reflect.ValueOf(obj)
	if p.Kind() != reflect.Pointer || p.IsNil() {
		return obj
	}
	if l := m.GetLabels(); l[uniqueLabel] == "" {
		share(labels, p, l, m.SetLabels)
	}
	switch o := obj.(type) {
	case *corev1.PersistentVolumeClaim:
		share(requests, p, o.Spec.Resources.Requests, func(r map[corev1.ResourceName]resource.Quantity) { o.Spec.Resources.Requests = r })
	case *appsv1.StatefulSet:
		for i := range o.Spec.VolumeClaimTemplates {
			t := &o.Spec.VolumeClaimTemplates[i]
			share(requests, p, t.Spec.Resources.Requests, func(r map[corev1.ResourceName]resource.Quantity) { t.Spec.Resources.Requests = r })
		}
	}
	return obj
}
