package controllers

import (
	"maps"
	"reflect"
	"runtime"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// sharedLabels holds one label map for all the cached objects whose labels are equal.
// A Gallery's children repeat the same six labels (its name and the component among
// them), and each decoded object brought its own map: a few hundred bytes an object,
// the largest part of a slimmed object's metadata (docs/operator.md, Scale).
//
// A set is dropped when the last cached object using it has been collected (a
// runtime cleanup on each object), so deleted Galleries' sets do not pile up. The maps
// are never written: the cache hands out deep copies.
var sharedLabels = &labelSets{sets: map[fingerprint]*labelSet{}}

type labelSets struct {
	mu   sync.Mutex
	sets map[fingerprint]*labelSet
}

type labelSet struct {
	key    fingerprint // in labelSets.sets
	labels map[string]string
	users  int
}

// take returns the shared set equal to labels, to release once the object using it is
// gone, or nil when the set under labels' key holds other labels (two label sets with one
// fingerprint: the object keeps its own map). The set, not its key, is what each
// object's cleanup holds: a key string an object was the largest part of what sharing
// saved; the key is a fingerprint, not the labels in one string, which were a kilobyte a
// Gallery.
func (s *labelSets) take(labels map[string]string) *labelSet {
	key := labelSetKey(labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.sets[key]
	if ok && !maps.Equal(set.labels, labels) {
		return nil
	}
	if !ok {
		m := make(map[string]string, len(labels))
		for k, v := range labels {
			m[intern(k)] = intern(v)
		}
		set = &labelSet{key: key, labels: m}
		s.sets[key] = set
	}
	set.users++
	return set
}

// release is run when an object that took set has been collected.
func (s *labelSets) release(set *labelSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set.users--; set.users <= 0 && s.sets[set.key] == set {
		delete(s.sets, set.key)
	}
}

// len is how many distinct label sets are held.
func (s *labelSets) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sets)
}

// labelSetKey is the fingerprint of labels, the same for equal maps.
func labelSetKey(labels map[string]string) fingerprint {
	keys := slices.Sorted(maps.Keys(labels))
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, k, labels[k])
	}
	return fingerprintOf(parts...)
}

// uniqueLabel marks labels no other object shares (a StatefulSet pod's own name): such
// a set would cost the table more than it saves.
const uniqueLabel = "statefulset.kubernetes.io/pod-name"

// sharingLabels runs transform, then gives the object it made the shared map of its
// labels.
func sharingLabels(transform toolscache.TransformFunc) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		out, err := transform(obj)
		if err != nil {
			return out, err
		}
		return shareLabels(sharedLabels, out), nil
	}
}

func shareLabels(sets *labelSets, obj any) any {
	m, ok := obj.(metav1.Object)
	if !ok {
		return obj // a DeletedFinalStateUnknown tombstone
	}
	labels := m.GetLabels()
	if len(labels) == 0 || labels[uniqueLabel] != "" {
		return obj
	}
	p := reflect.ValueOf(obj)
	if p.Kind() != reflect.Pointer || p.IsNil() {
		return obj
	}
	set := sets.take(labels)
	if set == nil {
		return obj
	}
	m.SetLabels(set.labels)
	// Any pointer into the object will do: a cleanup runs once the object is unreachable.
	runtime.AddCleanup((*byte)(p.UnsafePointer()), sets.release, set)
	return obj
}
