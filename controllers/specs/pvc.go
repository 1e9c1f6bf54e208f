package specs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// PhotosClaim holds photos with volume storage. Nil with S3.
func PhotosClaim(g *galleryv1alpha1.Gallery) *corev1.PersistentVolumeClaim {
	v := g.Spec.Storage.Volume
	if v == nil {
		return nil
	}
	return claim(g, g.PhotosClaimName(), v.Size, v.StorageClassName, v.AccessMode)
}

// SQLiteClaim holds the embedded database. Nil otherwise.
func SQLiteClaim(g *galleryv1alpha1.Gallery) *corev1.PersistentVolumeClaim {
	e := g.Spec.Database.Embedded
	if e == nil {
		return nil
	}
	return claim(g, g.SQLiteClaimName(), e.StorageSize, e.StorageClassName, corev1.ReadWriteOnce)
}

// ClaimNames are the PVCs a Gallery's pods use, in a stable order: the photos volume,
// the embedded database's volume, and the data volumes the managed MariaDB's and
// (with persistence) Redis' StatefulSets make for their single pod.
func ClaimNames(g *galleryv1alpha1.Gallery) []string {
	var names []string
	if g.Spec.Storage.Volume != nil {
		names = append(names, g.PhotosClaimName())
	}
	if g.Embedded() {
		names = append(names, g.SQLiteClaimName())
	}
	if g.Spec.Database.Managed != nil {
		names = append(names, StatefulSetClaimName(dataClaimName, g.DatabaseName(), 0))
	}
	if m := g.Spec.Cache.Managed; m != nil && m.Persistence != nil {
		names = append(names, StatefulSetClaimName(dataClaimName, g.RedisName(), 0))
	}
	return names
}

// StatefulSetClaimName is the PVC a StatefulSet makes from its claim template for the
// pod of ordinal.
func StatefulSetClaimName(template, statefulSet string, ordinal int32) string {
	return fmt.Sprintf("%s-%s-%d", template, statefulSet, ordinal)
}

// claim is a PVC. The reconciler does not give PVCs an owner reference: photos and the
// database outlive an accidental `kubectl delete gallery` (delete them by hand).
func claim(g *galleryv1alpha1.Gallery, name string, size resource.Quantity, class *string, mode corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   typeMeta("v1", "PersistentVolumeClaim"),
		ObjectMeta: ObjectMeta(g, name, galleryv1alpha1.ComponentServer),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{mode},
			StorageClassName: class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}
