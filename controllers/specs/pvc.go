package specs

import (
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
