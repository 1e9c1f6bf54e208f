package specs

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// ServerHPA scales the server Deployment. minFloor is the highest minimum of the
// schedules open now (0 when none); the reconciler works it out from the clock, so this
// stays pure. tolerance says whether the API server keeps the HPA's scale-down tolerance
// (HPAToleranceServed): without it, scaleInUtilization cannot be expressed and the HPA
// keeps its default. Nil when the server is not autoscaled.
func ServerHPA(g *galleryv1alpha1.Gallery, minFloor int32, tolerance bool) *autoscalingv2.HorizontalPodAutoscaler {
	if !g.ServerAutoscaled() {
		return nil
	}
	p := g.Spec.Autoscaling.Server
	h := hpa(g, g.ServerName(), galleryv1alpha1.ComponentServer, p.MinReplicas, p.MaxReplicas, minFloor, p.CPU, p.Memory)
	h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(p.ScaleUpStabilizationSeconds)},
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(p.ScaleDownStabilizationSeconds),
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: p.ScaleDownMaxPodsPerMinute, PeriodSeconds: 60}},
			Tolerance:                  scaleDownTolerance(tolerance, p.CPU, p.Memory),
		},
	}
	return h
}

// WorkersHPA scales the workers on CPU and memory. minFloor is the highest of the
// schedules' minimum and, without KEDA, what the queue backlog needs; tolerance is
// ServerHPA's. Nil unless the scaler is an HPA (with KEDA, KEDA makes its own).
func WorkersHPA(g *galleryv1alpha1.Gallery, scaler WorkerScaler, minFloor int32, tolerance bool) *autoscalingv2.HorizontalPodAutoscaler {
	if scaler != ScaleWorkersHPA && scaler != ScaleWorkersHPAWithBacklog {
		return nil
	}
	p := g.Spec.Autoscaling.Workers
	h := hpa(g, g.WorkersName(), galleryv1alpha1.ComponentWorkers, p.MinReplicas, p.MaxReplicas, minFloor, p.CPU, p.Memory)
	h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(p.ScaleDownStabilizationSeconds),
			Tolerance:                  scaleDownTolerance(tolerance, p.CPU, p.Memory),
		},
	}
	return h
}

func hpa(g *galleryv1alpha1.Gallery, name, component string, minReplicas, maxReplicas, minFloor int32, cpu, memory *galleryv1alpha1.UtilizationTarget) *autoscalingv2.HorizontalPodAutoscaler {
	lowest := max(minReplicas, min(minFloor, maxReplicas), 1)
	h := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   typeMeta("autoscaling/v2", "HorizontalPodAutoscaler"),
		ObjectMeta: ObjectMeta(g, name, component),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    ptr.To(lowest),
			MaxReplicas:    maxReplicas,
		},
	}
	for _, m := range []struct {
		name   corev1.ResourceName
		target *galleryv1alpha1.UtilizationTarget
	}{{corev1.ResourceCPU, cpu}, {corev1.ResourceMemory, memory}} {
		if m.target == nil {
			continue
		}
		h.Spec.Metrics = append(h.Spec.Metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   m.name,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(m.target.TargetUtilization)},
			},
		})
	}
	return h
}

// scaleDownTolerance turns "scale in below X% when the target is T%" into the HPA's
// scale-down tolerance: the HPA removes pods only when use/target < 1 - tolerance, so
// tolerance = 1 - X/T = (T-X)/T (70% out, 40% in → 0.429). It is rounded up to the
// thousandth in integers, so the HPA never scales in above X. With several metrics the
// largest tolerance wins: no metric scales in earlier than its admin asked. Nil keeps
// the HPA's default (10%), as does a server that does not keep the field (served false).
func scaleDownTolerance(served bool, targets ...*galleryv1alpha1.UtilizationTarget) *resource.Quantity {
	if !served {
		return nil
	}
	milli := int64(-1)
	for _, t := range targets {
		if t == nil || t.ScaleInUtilization == nil {
			continue
		}
		gap, target := int64(t.TargetUtilization-*t.ScaleInUtilization), int64(t.TargetUtilization)
		milli = max(milli, (gap*1000+target-1)/target)
	}
	if milli < 0 {
		return nil
	}
	return resource.NewMilliQuantity(milli, resource.DecimalSI)
}

// ScaleInUnexpressed says, for status, why the HPA of a component cannot honour the
// Gallery's scaleInUtilization: the API server does not keep the scale-down tolerance.
// Empty when there is nothing to say.
func ScaleInUnexpressed(p *galleryv1alpha1.UtilizationTarget, q *galleryv1alpha1.UtilizationTarget, tolerance bool) string {
	if tolerance || (scaleDownTolerance(true, p, q) == nil) {
		return ""
	}
	return "; scaleInUtilization is not applied: this Kubernetes does not keep an HPA's behavior.scaleDown.tolerance (HPAConfigurableTolerance, on by default from 1.35), so the HPA scales in at its default 10% below the target"
}
