package specs

import (
	"testing"

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
