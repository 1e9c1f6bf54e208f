package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// childChanged passes a child's update only when the Gallery's pass could act on it:
// something the operator applies changed (the spec, labels, annotations, owners), or
// something status reads did (readiness counts and conditions of Deployments and
// StatefulSets, a claim's phase, an HPA's ScalingLimited, a Job's completion). A bump of
// metadata.resourceVersion alone, managedFields, a condition's timestamps, or status
// fields nothing reads (a Deployment's unavailableReplicas, a StatefulSet's revisions, an
// HPA's current metrics every 15 s, a CronJob's lastScheduleTime) cause no pass.
// Creations and deletions always do.
var childChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		if e.ObjectOld == nil || e.ObjectNew == nil {
			return true
		}
		return !equality.Semantic.DeepEqual(statusRelevant(e.ObjectOld), statusRelevant(e.ObjectNew))
	},
}

// statusRelevant is a copy of a child with only what the reconciler reads or writes:
// resourceVersion, managedFields and the status fields no condition or metric reads are
// cleared.
func statusRelevant(o client.Object) runtime.Object {
	c, ok := o.DeepCopyObject().(client.Object)
	if !ok {
		return o
	}
	c.SetResourceVersion("")
	c.SetManagedFields(nil)
	switch c := c.(type) {
	case *appsv1.Deployment:
		s := c.Status
		conds := make([]appsv1.DeploymentCondition, 0, len(s.Conditions))
		for _, cond := range s.Conditions {
			kept := appsv1.DeploymentCondition{Type: cond.Type, Status: cond.Status, Reason: cond.Reason}
			if cond.Reason == deploymentTimedOut {
				kept.Message = cond.Message // the Degraded message quotes it
			}
			conds = append(conds, kept)
		}
		c.Status = appsv1.DeploymentStatus{ // deploymentReady and replicaStatus
			ObservedGeneration: s.ObservedGeneration, Replicas: s.Replicas, UpdatedReplicas: s.UpdatedReplicas,
			ReadyReplicas: s.ReadyReplicas, AvailableReplicas: s.AvailableReplicas, Conditions: conds,
		}
	case *appsv1.StatefulSet:
		s := c.Status
		c.Status = appsv1.StatefulSetStatus{ // statefulSetReady
			ObservedGeneration: s.ObservedGeneration, ReadyReplicas: s.ReadyReplicas, UpdatedReplicas: s.UpdatedReplicas,
		}
	case *autoscalingv2.HorizontalPodAutoscaler:
		var conds []autoscalingv2.HorizontalPodAutoscalerCondition
		for _, cond := range c.Status.Conditions {
			if cond.Type == autoscalingv2.ScalingLimited { // scalingLimited
				conds = append(conds, autoscalingv2.HorizontalPodAutoscalerCondition{Type: cond.Type, Status: cond.Status, Reason: cond.Reason, Message: cond.Message})
			}
		}
		c.Status = autoscalingv2.HorizontalPodAutoscalerStatus{Conditions: conds}
	case *batchv1.Job:
		var conds []batchv1.JobCondition
		for _, cond := range c.Status.Conditions {
			if cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed { // runOf
				conds = append(conds, batchv1.JobCondition{Type: cond.Type, Status: cond.Status, Reason: cond.Reason, Message: cond.Message})
			}
		}
		c.Status = batchv1.JobStatus{Conditions: conds, CompletionTime: c.Status.CompletionTime}
	case *batchv1.CronJob:
		c.Status = batchv1.CronJobStatus{} // status reads the Jobs, not their CronJob's
	}
	return c
}
