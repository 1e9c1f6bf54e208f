package specs

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestPodDisruptionBudget(t *testing.T) {
	server, workers := galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers
	tests := []struct {
		name      string
		g         *galleryv1alpha1.Gallery
		component string
		want      string // maxUnavailable; "" for no PDB
	}{
		{"server, defaults", gallery(), server, "1"},
		{"workers, defaults", gallery(), workers, "1"},
		{"server, percentage", gallery(withMaxUnavailable(intstr.FromString("50%"))), server, "50%"},
		{"workers, absolute", gallery(withMaxUnavailable(intstr.FromInt32(3))), workers, "3"},
		{"undefaulted maxUnavailable means 1", gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Placement.PodDisruptionBudget = galleryv1alpha1.PodDisruptionBudgetSpec{}
		}), server, "1"},
		{"server, disabled", gallery(withoutPodDisruptionBudget()), server, ""},
		{"workers, disabled", gallery(withoutPodDisruptionBudget()), workers, ""},
		{"embedded server: one pod, a PDB would block every drain", gallery(withEmbeddedDatabase()), server, ""},
		{"embedded: no workers", gallery(withEmbeddedDatabase()), workers, ""},
		{"a component without pods of its own", gallery(), galleryv1alpha1.ComponentRedis, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PodDisruptionBudget(tt.g, tt.component)
			if tt.want == "" {
				if p != nil {
					t.Errorf("PDB %s, want none", p.Name)
				}
				return
			}
			if p == nil {
				t.Fatal("no PDB")
			}
			assertApplyable(t, p, "policy/v1", "PodDisruptionBudget", "demo-"+tt.component, tt.component)
			if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.String() != tt.want || p.Spec.MinAvailable != nil {
				t.Errorf("maxUnavailable = %v, minAvailable = %v; want maxUnavailable %s only", p.Spec.MaxUnavailable, p.Spec.MinAvailable, tt.want)
			}
			if p.Spec.Selector == nil {
				t.Fatal("no selector")
			}
			assertSelects(t, p.Spec.Selector.MatchLabels, tt.g.ChildLabels(tt.component), tt.g.SelectorLabels(tt.component))
			if ptr.Deref(p.Spec.UnhealthyPodEvictionPolicy, "") != policyv1.AlwaysAllow {
				t.Errorf("unhealthyPodEvictionPolicy = %v, want AlwaysAllow so a broken rollout never blocks a drain", p.Spec.UnhealthyPodEvictionPolicy)
			}
		})
	}
}
