package specs

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// childTables are every table of children, as the reconciler calls them.
func childTables(g *galleryv1alpha1.Gallery) map[string][]Child {
	backup, drill := BackupCronJobs(g)
	tables := map[string][]Child{
		"IdentityChildren":     IdentityChildren(g),
		"ManagedRedisChildren": ManagedRedisChildren(g, "h"),
		"ServerChildren":       ServerChildren(g, "h", 2, true),
		"IngressChildren":      IngressChildren(g),
		"MonitoringChildren":   MonitoringChildren(g),
		"BackupCronJobs":       {backup, drill},
	}
	for _, keda := range []bool{false, true} {
		scaler := WorkerScalerFor(g, keda)
		tables[fmt.Sprintf("WorkersChildren, KEDA %v", keda)] = WorkersChildren(g, "h", nil, scaler, 2, true, keda)
		tables[fmt.Sprintf("NetworkPolicyChildren, KEDA %v", keda)] = NetworkPolicyChildren(g, scaler)
	}
	return tables
}

// kindOf names an object's kind: its Go type, or its GVK when it is unstructured.
func kindOf(o Object) string {
	if u, ok := o.(*unstructured.Unstructured); ok {
		return u.GroupVersionKind().String()
	}
	return reflect.TypeOf(o).String()
}

// TestChildrenAreNamedAsBuilt: the kind and name a child is deleted under are the ones
// its builder gives it, for every shape of Gallery; so what an earlier spec made is found.
func TestChildrenAreNamedAsBuilt(t *testing.T) {
	for shape, g := range purityShapes() {
		for table, children := range childTables(g) {
			for i, c := range children {
				if c.Desired == nil {
					continue
				}
				if c.Ref == nil {
					t.Errorf("%s of %q, child %d: built with no Ref", table, shape, i)
					continue
				}
				if got, want := kindOf(c.Desired), kindOf(c.Ref); got != want {
					t.Errorf("%s of %q, child %d: built as %s, deleted as %s", table, shape, i, got, want)
				}
				if c.Desired.GetName() != c.Ref.GetName() || c.Desired.GetNamespace() != c.Ref.GetNamespace() {
					t.Errorf("%s of %q: built as %s/%s, deleted as %s/%s", table, shape,
						c.Desired.GetNamespace(), c.Desired.GetName(), c.Ref.GetNamespace(), c.Ref.GetName())
				}
			}
		}
	}
}

// fates sorts children by what the reconciler does with them: applied, deleted, or left
// alone; each as "kind name".
func fates(children []Child) (applied, deleted []string, leftAlone int) {
	short := func(o Object) string {
		if u, ok := o.(*unstructured.Unstructured); ok {
			return u.GetKind() + " " + o.GetName()
		}
		return reflect.TypeOf(o).Elem().Name() + " " + o.GetName()
	}
	for _, c := range children {
		switch {
		case c.Desired != nil:
			applied = append(applied, short(c.Desired))
		case c.Ref != nil:
			deleted = append(deleted, short(c.Ref))
		default:
			leftAlone++
		}
	}
	return applied, deleted, leftAlone
}

func TestChildrenFates(t *testing.T) {
	tests := []struct {
		name      string
		children  []Child
		applied   []string
		deleted   []string
		leftAlone int
	}{
		{
			name:     "service accounts of a Gallery with workers",
			children: IdentityChildren(gallery()),
			applied:  []string{"ServiceAccount demo-server", "ServiceAccount demo-workers"},
		},
		{
			name:     "service accounts of an embedded Gallery",
			children: IdentityChildren(gallery(withEmbeddedDatabase())),
			applied:  []string{"ServiceAccount demo-server"},
			deleted:  []string{"ServiceAccount demo-workers"},
		},
		{
			name:     "managed Redis",
			children: ManagedRedisChildren(gallery(), "h"),
			applied:  []string{"ConfigMap demo-redis", "StatefulSet demo-redis", "Service demo-redis"},
		},
		{
			name:     "external Redis: the managed one goes",
			children: ManagedRedisChildren(gallery(withExternalRedis()), ""),
			deleted:  []string{"ConfigMap demo-redis", "StatefulSet demo-redis", "Service demo-redis"},
		},
		{
			name:     "fixed server",
			children: ServerChildren(gallery(), "h", 0, true),
			applied:  []string{"Deployment demo-server", "Service demo-server", "PodDisruptionBudget demo-server"},
			deleted:  []string{"HorizontalPodAutoscaler demo-server"},
		},
		{
			name:     "autoscaled server without a PDB",
			children: ServerChildren(gallery(withServerAutoscaling(2, 10), withoutPodDisruptionBudget()), "h", 0, true),
			applied:  []string{"Deployment demo-server", "Service demo-server", "HorizontalPodAutoscaler demo-server"},
			deleted:  []string{"PodDisruptionBudget demo-server"},
		},
		{
			name:     "fixed workers, no KEDA",
			children: WorkersChildren(gallery(), "h", nil, ScaleWorkersFixed, 0, true, false),
			applied:  []string{"Deployment demo-workers", "PodDisruptionBudget demo-workers"},
			deleted:  []string{"HorizontalPodAutoscaler demo-workers"},
		},
		{
			name:     "fixed workers, KEDA installed: its objects of an earlier spec go",
			children: WorkersChildren(gallery(), "h", nil, ScaleWorkersFixed, 0, true, true),
			applied:  []string{"Deployment demo-workers", "PodDisruptionBudget demo-workers"},
			deleted:  []string{"HorizontalPodAutoscaler demo-workers", "ScaledObject demo-workers", "TriggerAuthentication demo-workers"},
		},
		{
			name:      "KEDA scales the workers: its HPA is left alone",
			children:  WorkersChildren(gallery(withWorkersAutoscaling(1, 10)), "h", nil, ScaleWorkersKEDA, 0, true, true),
			applied:   []string{"Deployment demo-workers", "PodDisruptionBudget demo-workers", "ScaledObject demo-workers", "TriggerAuthentication demo-workers"},
			leftAlone: 1,
		},
		{
			name: "KEDA scales the workers of a Redis without password: no TriggerAuthentication made or deleted",
			children: WorkersChildren(gallery(withWorkersAutoscaling(1, 10), withExternalRedis(), func(g *galleryv1alpha1.Gallery) {
				g.Spec.Cache.External.PasswordSecretRef = nil
			}), "h", nil, ScaleWorkersKEDA, 0, true, true),
			applied:   []string{"Deployment demo-workers", "PodDisruptionBudget demo-workers", "ScaledObject demo-workers"},
			leftAlone: 2,
		},
		{
			name:     "embedded: no workers at all",
			children: WorkersChildren(gallery(withEmbeddedDatabase()), "h", nil, ScaleWorkersFixed, 0, true, false),
			deleted:  []string{"Deployment demo-workers", "HorizontalPodAutoscaler demo-workers", "PodDisruptionBudget demo-workers"},
		},
		{
			name:     "no ingress",
			children: IngressChildren(gallery()),
			deleted:  []string{"Ingress demo"},
		},
		{
			name:     "ingress",
			children: IngressChildren(gallery(withIngress("photos.example.com"))),
			applied:  []string{"Ingress demo"},
		},
		{
			name:     "PodMonitor turned off",
			children: MonitoringChildren(gallery(withoutPodMonitor())),
			deleted:  []string{"PodMonitor demo"},
		},
		{
			name:     "network policies of the defaults",
			children: NetworkPolicyChildren(gallery(), ScaleWorkersFixed),
			applied: []string{"NetworkPolicy demo-default-deny", "NetworkPolicy demo-server", "NetworkPolicy demo-workers",
				"NetworkPolicy demo-migrate", "NetworkPolicy demo-redis", "NetworkPolicy demo-mariadb"},
			deleted: []string{"NetworkPolicy demo-backup"},
		},
		{
			name: "network policies of an embedded, external-Redis, backed-up Gallery",
			children: NetworkPolicyChildren(gallery(withEmbeddedDatabase(), withExternalRedis(), withBackupToVolume("backups", "prod")),
				ScaleWorkersFixed),
			applied: []string{"NetworkPolicy demo-default-deny", "NetworkPolicy demo-server", "NetworkPolicy demo-backup"},
			deleted: []string{"NetworkPolicy demo-workers", "NetworkPolicy demo-migrate", "NetworkPolicy demo-redis", "NetworkPolicy demo-mariadb"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			applied, deleted, leftAlone := fates(tt.children)
			if !slices.Equal(applied, tt.applied) {
				t.Errorf("applied %q, want %q", applied, tt.applied)
			}
			if !slices.Equal(deleted, tt.deleted) {
				t.Errorf("deleted %q, want %q", deleted, tt.deleted)
			}
			if leftAlone != tt.leftAlone {
				t.Errorf("%d left alone, want %d", leftAlone, tt.leftAlone)
			}
		})
	}
}

func TestBackupCronJobs(t *testing.T) {
	tests := []struct {
		name          string
		g             *galleryv1alpha1.Gallery
		backup, drill bool
		backupName    string
		drillName     string
	}{
		{"no backup: both go", gallery(), false, false, "demo-backup", "demo-drill"},
		{"backup without drill", gallery(withBackupToVolume("backups", "prod")), true, false, "demo-backup", "demo-drill"},
		{"backup with drill", gallery(withBackupToVolume("backups", "prod"), withDrill("@weekly", "")), true, true, "demo-backup", "demo-drill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backup, drill := BackupCronJobs(tt.g)
			if (backup.Desired != nil) != tt.backup || (drill.Desired != nil) != tt.drill {
				t.Errorf("backup built %v, drill built %v; want %v, %v", backup.Desired != nil, drill.Desired != nil, tt.backup, tt.drill)
			}
			if backup.Ref.GetName() != tt.backupName || drill.Ref.GetName() != tt.drillName {
				t.Errorf("named %s and %s, want %s and %s", backup.Ref.GetName(), drill.Ref.GetName(), tt.backupName, tt.drillName)
			}
		})
	}
}

// NetworkPolicies are the wanted ones of NetworkPolicyChildren, in order.
func TestNetworkPoliciesAreTheWantedChildren(t *testing.T) {
	for shape, g := range purityShapes() {
		scaler := WorkerScalerFor(g, true)
		applied, _, _ := fates(NetworkPolicyChildren(g, scaler))
		var built []string
		for _, p := range NetworkPolicies(g, scaler) {
			built = append(built, "NetworkPolicy "+p.Name)
		}
		if !slices.Equal(built, applied) {
			t.Errorf("%q: NetworkPolicies %q, children %q", shape, built, applied)
		}
	}
}
