package specs

import (
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestClaims(t *testing.T) {
	tests := []struct {
		name  string
		build func(*galleryv1alpha1.Gallery) *corev1.PersistentVolumeClaim
		g     *galleryv1alpha1.Gallery
		claim string // "" for none
		size  string
		mode  corev1.PersistentVolumeAccessMode
		class *string
	}{{
		name: "photos: 20Gi shared volume", build: PhotosClaim, g: gallery(),
		claim: "demo-photos", size: "20Gi", mode: corev1.ReadWriteMany,
	}, {
		name: "photos: class and size", build: PhotosClaim,
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Storage.Volume.Size = resource.MustParse("200Gi")
			g.Spec.Storage.Volume.StorageClassName = ptr.To("efs-sc")
		}),
		claim: "demo-photos", size: "200Gi", mode: corev1.ReadWriteMany, class: ptr.To("efs-sc"),
	}, {
		name: "photos: single-node volume with an embedded database", build: PhotosClaim,
		g: gallery(withEmbeddedDatabase(), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Storage.Volume.AccessMode = corev1.ReadWriteOnce
		}),
		claim: "demo-photos", size: "20Gi", mode: corev1.ReadWriteOnce,
	}, {
		name: "photos: none with S3", build: PhotosClaim, g: gallery(withS3()),
	}, {
		name: "sqlite: 5Gi single-node volume", build: SQLiteClaim, g: gallery(withEmbeddedDatabase()),
		claim: "demo-sqlite", size: "5Gi", mode: corev1.ReadWriteOnce,
	}, {
		name: "sqlite: class and size", build: SQLiteClaim,
		g: gallery(withEmbeddedDatabase(), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Database.Embedded.StorageSize = resource.MustParse("8Gi")
			g.Spec.Database.Embedded.StorageClassName = ptr.To("gp3")
		}),
		claim: "demo-sqlite", size: "8Gi", mode: corev1.ReadWriteOnce, class: ptr.To("gp3"),
	}, {
		name: "sqlite: none with a managed database", build: SQLiteClaim, g: gallery(),
	}, {
		name: "sqlite: none with an external database", build: SQLiteClaim, g: gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL)),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := tt.build(tt.g)
			if tt.claim == "" {
				if pvc != nil {
					t.Errorf("claim %s, want none", pvc.Name)
				}
				return
			}
			if pvc == nil {
				t.Fatal("no claim")
			}
			assertApplyable(t, pvc, "v1", "PersistentVolumeClaim", tt.claim, galleryv1alpha1.ComponentServer)
			s := pvc.Spec
			if got := s.Resources.Requests[corev1.ResourceStorage]; got.Cmp(resource.MustParse(tt.size)) != 0 {
				t.Errorf("size = %s, want %s", got.String(), tt.size)
			}
			if len(s.AccessModes) != 1 || s.AccessModes[0] != tt.mode {
				t.Errorf("access modes = %v, want [%s]", s.AccessModes, tt.mode)
			}
			if ptr.Deref(s.StorageClassName, "<default>") != ptr.Deref(tt.class, "<default>") {
				t.Errorf("class = %v, want %v", ptr.Deref(s.StorageClassName, "<default>"), ptr.Deref(tt.class, "<default>"))
			}
			if len(pvc.OwnerReferences) != 0 {
				t.Error("claim has an owner: photos and the database must outlive the Gallery")
			}
		})
	}
}

func TestClaimNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    *galleryv1alpha1.Gallery
		want []string
	}{
		{"defaults: photos and the managed MariaDB's data", gallery(), []string{"demo-photos", "data-demo-mariadb-0"}},
		{"Redis persistence adds its data", gallery(withRedisPersistence("1Gi")), []string{"demo-photos", "data-demo-mariadb-0", "data-demo-redis-0"}},
		{"embedded: photos and SQLite", gallery(withEmbeddedDatabase()), []string{"demo-photos", "demo-sqlite"}},
		{"S3 and external everything: none", gallery(withS3(), withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withExternalRedis()), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ClaimNames(tt.g)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ClaimNames = %v, want %v", got, tt.want)
			}
			// Each name is one the builders make: a PVC, or a StatefulSet's claim for pod 0.
			made := map[string]bool{}
			for _, c := range []*corev1.PersistentVolumeClaim{PhotosClaim(tt.g), SQLiteClaim(tt.g)} {
				if c != nil {
					made[c.Name] = true
				}
			}
			var sets []*appsv1.StatefulSet
			if tt.g.Spec.Database.Managed != nil {
				sets = append(sets, MariaDBStatefulSet(tt.g, "h"))
			}
			if tt.g.Spec.Cache.Managed != nil {
				sets = append(sets, RedisStatefulSet(tt.g, "h"))
			}
			for _, s := range sets {
				for _, tmpl := range s.Spec.VolumeClaimTemplates {
					made[StatefulSetClaimName(tmpl.Name, s.Name, 0)] = true
				}
			}
			if !maps.Equal(made, setOf(got)) {
				t.Errorf("the builders make claims %v, ClaimNames says %v", slices.Sorted(maps.Keys(made)), got)
			}
		})
	}
}

func setOf(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}
