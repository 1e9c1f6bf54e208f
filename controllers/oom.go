package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// A container that passes its memory limit is killed by the kernel; the kubelet reports it
// terminated with reason OOMKilled (in state while it is down, in lastState once it
// restarted) and restarts it. The operator reads that from the Gallery's pods (server,
// workers, managed Redis and MariaDB, init containers included) into the MemoryPressure
// condition and one OOMKilled warning event per kill.

// oomWindow is how long an OOM kill keeps MemoryPressure True. Ten minutes is twice the
// kubelet's longest crash-loop back-off (5 minutes), so a container killed at every start
// keeps the condition True without flapping; it is also how long a container must run
// cleanly before the kubelet itself forgets its crashes (its back-off resets). A pod that
// is replaced takes its kills with it.
const oomWindow = 10 * time.Minute

// maxListedOOMKills bounds the condition's message (fifty workers killed at once must not
// make a message of fifty lines): the newest are listed, the rest counted.
const maxListedOOMKills = 5

// reasonOOMKilled is what the kubelet writes in a container's terminated state.
const reasonOOMKilled = "OOMKilled"

// oomKill is the last OOM kill of one container.
type oomKill struct {
	component string // the pod's app.kubernetes.io/component
	pod       string
	container string
	// at is when it was killed (terminated.finishedAt); zero when the kubelet did not say,
	// which counts as recent until the pod goes.
	at time.Time
	// limit is the container's memory limit ("" when it has none: the node ran out).
	limit    string
	restarts int32
}

// id names the kill (not its restart count, which moves when the container comes back):
// it is how a kill already reported in the condition is told from a new one.
func (k oomKill) id() string {
	at := "an unknown time"
	if !k.at.IsZero() {
		at = k.at.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("pod %s container %s (%s) at %s", k.pod, k.container, k.component, at)
}

// String says what happened and which spec field to raise. It holds names, a quantity and
// a count: nothing from a Secret.
func (k oomKill) String() string {
	field := memoryLimitField(k.component)
	limit := "memory limit " + k.limit
	advice := "raise " + field
	if k.limit == "" {
		limit = "no memory limit (the node ran out of memory)"
		advice = "set " + field
	}
	if field == "" {
		advice = "raise the container's memory limit"
	}
	return fmt.Sprintf("%s, %s, restart count %d: %s", k.id(), limit, k.restarts, advice)
}

// memoryLimitField is the Gallery field that sets a component's memory limit.
func memoryLimitField(component string) string {
	switch component {
	case galleryv1alpha1.ComponentServer:
		return "spec.server.resources.limits.memory"
	case galleryv1alpha1.ComponentWorkers:
		return "spec.workers.resources.limits.memory"
	case galleryv1alpha1.ComponentRedis:
		return "spec.cache.managed.memory"
	case galleryv1alpha1.ComponentDatabase:
		return "spec.database.managed.resources.limits.memory"
	}
	return ""
}

// podOOMKills are the containers of one pod whose current or last termination was an OOM
// kill, in the order of the pod's status.
func podOOMKills(p *corev1.Pod) []oomKill {
	limits := map[string]string{}
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			limits[c.Name] = q.String()
		}
	}
	var kills []oomKill
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		t := cs.State.Terminated
		if t == nil || t.Reason != reasonOOMKilled {
			t = cs.LastTerminationState.Terminated
		}
		if t == nil || t.Reason != reasonOOMKilled {
			continue
		}
		limit := limits[cs.Name]
		if cs.Resources != nil { // what the kubelet applied, after an in-place resize too
			if q, ok := cs.Resources.Limits[corev1.ResourceMemory]; ok {
				limit = q.String()
			}
		}
		kills = append(kills, oomKill{
			component: p.Labels[galleryv1alpha1.LabelComponent],
			pod:       p.Name, container: cs.Name,
			at: t.FinishedAt.UTC(), limit: limit, restarts: cs.RestartCount,
		})
	}
	return kills
}

// recentOOMKills are the pods' OOM kills within oomWindow before now, newest first.
func recentOOMKills(pods []corev1.Pod, now time.Time) []oomKill {
	var kills []oomKill
	for i := range pods {
		for _, k := range podOOMKills(&pods[i]) {
			if k.at.IsZero() || now.Sub(k.at) < oomWindow {
				kills = append(kills, k)
			}
		}
	}
	slices.SortFunc(kills, func(a, b oomKill) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.pod, b.pod), strings.Compare(a.container, b.container))
	})
	return kills
}

// nextOOMExpiry is how long until the oldest dated kill leaves the window (and the
// condition's message changes); 0 when none will.
func nextOOMExpiry(kills []oomKill, now time.Time) time.Duration {
	var next time.Duration
	for _, k := range kills {
		if k.at.IsZero() {
			continue
		}
		if d := k.at.Add(oomWindow).Sub(now); next == 0 || d < next {
			next = d
		}
	}
	return next
}

// listedOOMKills are the kills the condition's message names.
func listedOOMKills(kills []oomKill) []oomKill { return kills[:min(len(kills), maxListedOOMKills)] }

// oomMessage is MemoryPressure's message for recent kills (at least one).
func oomMessage(kills []oomKill) string {
	var b strings.Builder
	if len(kills) == 1 {
		fmt.Fprintf(&b, "1 container was OOM-killed in the last %s: ", windowText())
	} else {
		fmt.Fprintf(&b, "%d containers were OOM-killed in the last %s: ", len(kills), windowText())
	}
	for i, k := range listedOOMKills(kills) {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k.String())
	}
	if n := len(kills) - maxListedOOMKills; n > 0 {
		fmt.Fprintf(&b, "; and %d more", n)
	}
	return b.String()
}

func windowText() string { return fmt.Sprintf("%.0f minutes", oomWindow.Minutes()) }

// newOOMKills are the listed kills that the previous MemoryPressure message did not name:
// the ones to send an event for. The status remembers what was reported, so an operator
// restart or a new leader does not report a kill twice.
func newOOMKills(kills []oomKill, previousMessage string) []oomKill {
	var fresh []oomKill
	for _, k := range listedOOMKills(kills) {
		if !strings.Contains(previousMessage, k.id()) {
			fresh = append(fresh, k)
		}
	}
	return fresh
}

// galleryOfPod maps a pod to its Gallery by the sortographer.io/gallery label (pods are
// owned by ReplicaSets and StatefulSets, not by the Gallery).
func galleryOfPod(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[galleryv1alpha1.LabelGallery]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// oomKillsChanged passes only the pod events that can change MemoryPressure: a pod with an
// OOM kill appears or goes, or a pod's kills (or their restart counts) change. Readiness
// flips and the like reconcile nothing.
var oomKillsChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return hasOOMKill(e.Object) },
	DeleteFunc: func(e event.DeleteEvent) bool { return hasOOMKill(e.Object) },
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldPod, ok1 := asPod(e.ObjectOld)
		newPod, ok2 := asPod(e.ObjectNew)
		return ok1 && ok2 && !sameOOMKills(podOOMKills(oldPod), podOOMKills(newPod))
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// sameOOMKills reports whether two lists of kills would read the same in the condition.
func sameOOMKills(a, b []oomKill) bool {
	return slices.EqualFunc(a, b, func(x, y oomKill) bool { return x.String() == y.String() })
}

func hasOOMKill(o client.Object) bool {
	p, ok := asPod(o)
	return ok && len(podOOMKills(p)) > 0
}
