package specs

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// PodDisruptionBudget keeps one component serving through node drains. Nil when PDBs
// are off, for a component that does not run, or for a single-pod server (a PDB there
// would block every drain; the embedded database is one pod by design).
func PodDisruptionBudget(g *galleryv1alpha1.Gallery, component string) *policyv1.PodDisruptionBudget {
	p := g.Spec.Placement.PodDisruptionBudget
	if p.Enabled != nil && !*p.Enabled {
		return nil
	}
	name := g.ServerName()
	switch component {
	case galleryv1alpha1.ComponentServer:
		if g.Embedded() {
			return nil
		}
	case galleryv1alpha1.ComponentWorkers:
		if !g.RunsWorkers() {
			return nil
		}
		name = g.WorkersName()
	default:
		return nil
	}
	maxUnavailable := p.MaxUnavailable
	if maxUnavailable == nil {
		maxUnavailable = ptr.To(intstr.FromInt32(1))
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   typeMeta("policy/v1", "PodDisruptionBudget"),
		ObjectMeta: ObjectMeta(g, name, component),
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: g.SelectorLabels(component)},
			MaxUnavailable: maxUnavailable,
			// Pods that are not ready yet may be evicted, so a broken rollout never blocks
			// a drain.
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}
