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
		c.Status = deploymentStatusRead(c.Status)
	case *appsv1.StatefulSet:
		c.Status = statefulSetStatusRead(c.Status)
	case *autoscalingv2.HorizontalPodAutoscaler:
		c.Status = autoscalingv2.HorizontalPodAutoscalerStatus{Conditions: scalingLimitedConditions(c.Status.Conditions)}
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

// deploymentStatusRead is what deploymentReady and replicaStatus read of a Deployment's
// status: its counts and its conditions' types, statuses and reasons (with the message
// of a timed-out rollout, which the Degraded message quotes). The cache keeps no more
// (slimDeployment), and childChanged compares no more.
func deploymentStatusRead(s appsv1.DeploymentStatus) appsv1.DeploymentStatus {
	var conds []appsv1.DeploymentCondition
	if len(s.Conditions) > 0 {
		conds = make([]appsv1.DeploymentCondition, 0, len(s.Conditions))
	}
	for _, cond := range s.Conditions {
		kept := appsv1.DeploymentCondition{Type: cond.Type, Status: cond.Status, Reason: cond.Reason}
		if cond.Reason == deploymentTimedOut {
			kept.Message = cond.Message
		}
		conds = append(conds, kept)
	}
	return appsv1.DeploymentStatus{
		ObservedGeneration: s.ObservedGeneration, Replicas: s.Replicas, UpdatedReplicas: s.UpdatedReplicas,
		ReadyReplicas: s.ReadyReplicas, AvailableReplicas: s.AvailableReplicas, Conditions: conds,
	}
}

// statefulSetStatusRead is what statefulSetReady reads of a StatefulSet's status.
func statefulSetStatusRead(s appsv1.StatefulSetStatus) appsv1.StatefulSetStatus {
	return appsv1.StatefulSetStatus{ObservedGeneration: s.ObservedGeneration, ReadyReplicas: s.ReadyReplicas, UpdatedReplicas: s.UpdatedReplicas}
}

// scalingLimitedConditions is what scalingLimited reads of an HPA's conditions: its
// ScalingLimited condition, without timestamps.
func scalingLimitedConditions(conds []autoscalingv2.HorizontalPodAutoscalerCondition) []autoscalingv2.HorizontalPodAutoscalerCondition {
	var out []autoscalingv2.HorizontalPodAutoscalerCondition
	for _, c := range conds {
		if c.Type == autoscalingv2.ScalingLimited {
			out = append(out, autoscalingv2.HorizontalPodAutoscalerCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
		}
	}
	return out
}
