package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// applyStatefulSet applies a managed Redis or MariaDB StatefulSet. A StatefulSet's
// volumeClaimTemplates cannot change once it exists, so:
//   - a larger size is applied to the existing PVCs themselves, and the template keeps
//     the size it was created with;
//   - a different set of templates (Redis persistence turned on or off) needs a new
//     StatefulSet: with recreate, the old one is deleted and the next pass makes the new
//     one; without, it is an error.
func (r *GalleryReconciler) applyStatefulSet(ctx context.Context, st *reconcileState, desired *appsv1.StatefulSet, recreate bool) error {
	g := st.gallery
	var live appsv1.StatefulSet
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), &live)
	if apierrors.IsNotFound(err) {
		return r.applyAll(ctx, st, desired)
	}
	if err != nil {
		return fmt.Errorf("get statefulset %s: %w", desired.Name, err)
	}
	if !sameTemplateNames(live.Spec.VolumeClaimTemplates, desired.Spec.VolumeClaimTemplates) {
		if !recreate {
			return fmt.Errorf("statefulset %s: its volume claim templates cannot change", desired.Name)
		}
		if err := r.Client.Delete(ctx, &live, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete statefulset %s to change its volumes: %w", desired.Name, err)
		}
		r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, "Recreating", "Delete", "deleted StatefulSet %s to change its volumes; it is made again next", desired.Name)
		return nil
	}
	replicas := int32(1)
	if live.Spec.Replicas != nil {
		replicas = *live.Spec.Replicas
	}
	for i := range desired.Spec.VolumeClaimTemplates {
		want := &desired.Spec.VolumeClaimTemplates[i]
		was := templateNamed(live.Spec.VolumeClaimTemplates, want.Name)
		waiting, err := r.growClaims(ctx, g, live.Name, want, replicas)
		if err != nil {
			return err
		}
		if waiting {
			st.requeueSoon(preflightRetry) // nothing else wakes us when the claim binds
		}
		want.Spec.Resources.Requests = was.Spec.Resources.Requests.DeepCopy()
	}
	return r.applyAll(ctx, st, desired)
}

// growClaims raises the storage request of each pod's PVC made from template t. waiting
// reports a claim that must grow but is not bound yet.
func (r *GalleryReconciler) growClaims(ctx context.Context, g *galleryv1alpha1.Gallery, sts string, t *corev1.PersistentVolumeClaim, replicas int32) (waiting bool, err error) {
	want := t.Spec.Resources.Requests[corev1.ResourceStorage]
	for i := range replicas {
		var pvc corev1.PersistentVolumeClaim
		name := specs.StatefulSetClaimName(t.Name, sts, i)
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: name}, &pvc); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return false, fmt.Errorf("get pvc %s: %w", name, err)
		}
		have := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if want.Cmp(have) <= 0 {
			continue
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			waiting = true // only a bound claim can grow
			continue
		}
		patch := client.MergeFrom(pvc.DeepCopy())
		if pvc.Spec.Resources.Requests == nil {
			pvc.Spec.Resources.Requests = corev1.ResourceList{}
		}
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = want
		if err := r.Client.Patch(ctx, &pvc, patch, client.FieldOwner(FieldOwner)); err != nil {
			if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
				// Typically a storage class without allowVolumeExpansion: the admin must act;
				// the rest of the Gallery is reconciled regardless.
				r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, "ResizeFailed", "Patch", "could not grow PersistentVolumeClaim %s to %s: %v", name, want.String(), err)
				continue
			}
			return false, fmt.Errorf("grow pvc %s to %s: %w", name, want.String(), err)
		}
		r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, "Resized", "Patch", "asked for %s on PersistentVolumeClaim %s (was %s)", want.String(), name, have.String())
	}
	return waiting, nil
}

func sameTemplateNames(a, b []corev1.PersistentVolumeClaim) bool {
	if len(a) != len(b) {
		return false
	}
	for _, t := range b {
		if templateNamed(a, t.Name) == nil {
			return false
		}
	}
	return true
}

func templateNamed(ts []corev1.PersistentVolumeClaim, name string) *corev1.PersistentVolumeClaim {
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i]
		}
	}
	return nil
}
