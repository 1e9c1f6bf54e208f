package controllers

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

func TestDatabasePasswordsOutliveTheGallery(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	db := &corev1.Secret{}
	eventually(t, "database secret", mustExist(ns, g.DatabaseSecretName(), db))
	if len(db.OwnerReferences) != 0 {
		t.Errorf("the database secret has owners %v: it would be deleted with the Gallery while the MariaDB volume is kept", db.OwnerReferences)
	}
	if len(db.Data[specs.SecretKeyDatabasePassword]) < 32 || len(db.Data[specs.SecretKeyDatabaseRootPassword]) < 32 {
		t.Errorf("database passwords too short: %d/%d bytes", len(db.Data[specs.SecretKeyDatabasePassword]), len(db.Data[specs.SecretKeyDatabaseRootPassword]))
	}
	gen := &corev1.Secret{}
	eventually(t, "generated secret", mustExist(ns, g.GeneratedSecretName(), gen))
	if !metav1IsControlledBy(gen, mustGet(t, g)) {
		t.Error("the generated secret is not owned by the Gallery")
	}
	if _, ok := gen.Data[specs.SecretKeyDatabasePassword]; ok {
		t.Error("database password also in the owned secret")
	}

	// A Gallery made again under the same name reuses the kept passwords.
	before := string(db.Data[specs.SecretKeyDatabasePassword])
	if err := k8s.Delete(context.Background(), mustGet(t, g)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gallery gone", func() error {
		if err := k8s.Get(context.Background(), keyOf(g), &galleryv1alpha1.Gallery{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %w", err)
		}
		return nil
	})
	g2 := newGallery(t, ns)
	eventually(t, "server deployment of the new gallery", mustExist(ns, g2.ServerName(), &appsv1.Deployment{}))
	after, _ := get(t, ns, g2.DatabaseSecretName(), &corev1.Secret{})
	if string(after.Data[specs.SecretKeyDatabasePassword]) != before {
		t.Fatal("the recreated Gallery got a new database password: it could not open the kept volume")
	}
}

func TestManagedDatabaseStorageGrowsInPlace(t *testing.T) {
	ns := newNamespace(t)
	class := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: "expandable-" + ns},
		Provisioner:          "example.com/fake",
		AllowVolumeExpansion: ptr.To(true),
	}
	if err := k8s.Create(context.Background(), class); err != nil {
		t.Fatal(err)
	}
	g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{Managed: &galleryv1alpha1.ManagedDatabaseSpec{StorageClassName: &class.Name}}
	})
	sts := &appsv1.StatefulSet{}
	eventually(t, "mariadb", mustExist(ns, g.DatabaseName(), sts))
	// The PVC the StatefulSet controller would have made for pod 0, with its template's
	// labels (which the operator's cache selects on).
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data-" + g.DatabaseName() + "-0", Namespace: ns, Labels: sts.Spec.VolumeClaimTemplates[0].Labels},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &class.Name,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
		},
	}
	if err := k8s.Create(context.Background(), pvc); err != nil {
		t.Fatal(err)
	}
	markClaimBound(t, ns, pvc.Name)
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Database.Managed.StorageSize = resource.MustParse("20Gi")
	})
	eventually(t, "pvc grown", func() error {
		p, err := get(t, ns, pvc.Name, &corev1.PersistentVolumeClaim{})
		if err != nil {
			return err
		}
		if got := p.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "20Gi" {
			return fmt.Errorf("pvc asks for %s", got.String())
		}
		return nil
	})
	eventually(t, "pass succeeded", func() error {
		l := mustGet(t, g)
		if l.Status.ObservedGeneration != l.Generation {
			return fmt.Errorf("observedGeneration %d of %d (phase %s)", l.Status.ObservedGeneration, l.Generation, l.Status.Phase)
		}
		return nil
	})
	s, _ := get(t, ns, g.DatabaseName(), &appsv1.StatefulSet{})
	if got := s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "10Gi" {
		t.Errorf("the claim template changed to %s; StatefulSets forbid that", got.String())
	}
}

func TestRedisPersistenceToggleRecreatesItsStatefulSet(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	sts := &appsv1.StatefulSet{}
	eventually(t, "redis", mustExist(ns, g.RedisName(), sts))
	if len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Fatalf("redis without persistence has claim templates")
	}
	oldUID := sts.UID
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Cache.Managed.Persistence = &galleryv1alpha1.PersistenceSpec{Size: resource.MustParse("1Gi")}
	})
	eventually(t, "redis recreated with a volume", func() error {
		s, err := get(t, ns, g.RedisName(), &appsv1.StatefulSet{})
		if err != nil {
			return err
		}
		if s.UID == oldUID || len(s.Spec.VolumeClaimTemplates) != 1 {
			return fmt.Errorf("uid same=%v templates=%d", s.UID == oldUID, len(s.Spec.VolumeClaimTemplates))
		}
		return nil
	})
}

func TestSwitchingToExternalRedisRemovesTheManagedOne(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	eventually(t, "redis", mustExist(ns, g.RedisName(), &appsv1.StatefulSet{}))
	eventually(t, "redis policy", mustExist(ns, g.RedisName(), &networkingv1.NetworkPolicy{}))
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Cache = galleryv1alpha1.CacheSpec{External: &galleryv1alpha1.ExternalRedisSpec{Address: "cache.example.com:6379"}}
	})
	for _, obj := range []interface {
		GetName() string
	}{&appsv1.StatefulSet{}, &corev1.Service{}, &corev1.ConfigMap{}, &networkingv1.NetworkPolicy{}} {
		o := obj
		eventually(t, fmt.Sprintf("%T removed", o), func() error {
			var err error
			switch v := o.(type) {
			case *appsv1.StatefulSet:
				_, err = get(t, ns, g.RedisName(), v)
			case *corev1.Service:
				_, err = get(t, ns, g.RedisName(), v)
			case *corev1.ConfigMap:
				_, err = get(t, ns, g.RedisName(), v)
			case *networkingv1.NetworkPolicy:
				_, err = get(t, ns, g.RedisName(), v)
			}
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there: %w", err)
			}
			return nil
		})
	}
}
