package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// cachedPod is what the operator's cache holds of a pod of a Gallery (podCacheTransform):
// its metadata, its phase and, per container, what podOOMKills, newestReport,
// migrationOutput and the pod_info series read. A corev1.Pod is 1,240 bytes with nothing
// set and a ContainerStatus 208; a thousand Galleries' five thousand pods held 6 MiB of
// empty fields that way (docs/operator.md, Scale). This is about 300 bytes.
//
// Readers never see one: the cache hands out a deep copy of what it holds, and a
// cachedPod's deep copy (DeepCopyObject) is the corev1.Pod it stands for, so a List of
// pods through the manager's client gets corev1.Pods as before. Only the pod watch's
// predicate gets the cached object itself (asPod).
type cachedPod struct {
	metav1.ObjectMeta
	phase                      corev1.PodPhase
	initContainers, containers []cachedContainer
}

// cachedContainer is one container's status, and for a container that was OOM-killed
// the memory limits the kill is reported against.
type cachedContainer struct {
	name         string
	ready        bool
	restartCount int32
	state        corev1.ContainerState
	// oomKilled: its current or last termination was an OOM kill; then lastOOMKill is
	// its last termination if that was the kill, specLimit its memory limit in the pod's
	// spec and appliedLimit the one the kubelet applied (after an in-place resize too).
	oomKilled               bool
	lastOOMKill             *corev1.ContainerStateTerminated
	specLimit, appliedLimit *resource.Quantity
}

var _ client.Object = &cachedPod{}

// GetObjectKind implements runtime.Object; a cached pod carries no TypeMeta.
func (p *cachedPod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object: the corev1.Pod p stands for, sharing nothing
// with p. It is how the cache's readers turn what it holds into what they were asked for.
func (p *cachedPod) DeepCopyObject() runtime.Object { return p.pod() }

// pod is the corev1.Pod p stands for: the fields podCacheTransform keeps.
func (p *cachedPod) pod() *corev1.Pod {
	out := &corev1.Pod{Status: corev1.PodStatus{Phase: p.phase}}
	p.DeepCopyInto(&out.ObjectMeta)
	out.Spec.InitContainers, out.Status.InitContainerStatuses = expandContainers(p.initContainers)
	out.Spec.Containers, out.Status.ContainerStatuses = expandContainers(p.containers)
	return out
}

func expandContainers(cs []cachedContainer) ([]corev1.Container, []corev1.ContainerStatus) {
	if cs == nil {
		return nil, nil
	}
	var spec []corev1.Container
	statuses := make([]corev1.ContainerStatus, len(cs))
	for i, c := range cs {
		statuses[i] = corev1.ContainerStatus{Name: c.name, Ready: c.ready, RestartCount: c.restartCount, State: *c.state.DeepCopy()}
		if !c.oomKilled {
			continue
		}
		if c.lastOOMKill != nil {
			statuses[i].LastTerminationState.Terminated = c.lastOOMKill.DeepCopy()
		}
		if c.appliedLimit != nil {
			statuses[i].Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: c.appliedLimit.DeepCopy()}}
		}
		container := corev1.Container{Name: c.name}
		if c.specLimit != nil {
			container.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: c.specLimit.DeepCopy()}
		}
		spec = append(spec, container)
	}
	return spec, statuses
}

// compactContainers keeps of a pod's container statuses what cachedContainer holds, and
// for the OOM-killed ones (oomKilled names them) their memory limits from specs.
func compactContainers(specs []corev1.Container, statuses []corev1.ContainerStatus, oomKilled map[string]bool) []cachedContainer {
	if statuses == nil {
		return nil
	}
	out := make([]cachedContainer, len(statuses))
	for i, s := range statuses {
		c := cachedContainer{name: s.Name, ready: s.Ready, restartCount: s.RestartCount, state: s.State, oomKilled: oomKilled[s.Name]}
		if c.oomKilled {
			if t := s.LastTerminationState.Terminated; t != nil && t.Reason == reasonOOMKilled {
				c.lastOOMKill = t
			}
			if s.Resources != nil {
				c.appliedLimit = memoryLimitOf(s.Resources)
			}
			for j := range specs {
				if specs[j].Name == s.Name {
					c.specLimit = memoryLimitOf(&specs[j].Resources)
				}
			}
		}
		out[i] = c
	}
	return out
}

// memoryLimitOf is r's memory limit, or nil.
func memoryLimitOf(r *corev1.ResourceRequirements) *resource.Quantity {
	q, ok := r.Limits[corev1.ResourceMemory]
	if !ok {
		return nil
	}
	return &q
}

// asPod is the pod a watch event carries: a cachedPod's, or a corev1.Pod as is.
func asPod(o client.Object) (*corev1.Pod, bool) {
	switch p := o.(type) {
	case *cachedPod:
		return p.pod(), true
	case *corev1.Pod:
		return p, true
	}
	return nil, false
}
