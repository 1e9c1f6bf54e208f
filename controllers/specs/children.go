package specs

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Object is a child object, as the reconciler's client takes it (a builder imports no
// client).
type Object interface {
	metav1.Object
	runtime.Object
}

// Child is one child a Gallery can have, whether or not its spec asks for it now. The
// reconciler applies Desired and, when it is nil, deletes Ref (if the Gallery owns it):
// what an earlier spec made is found under the kind and name it was built with, taken
// from the same table, so no name is listed again by hand (TestChildrenAreNamedAsBuilt).
type Child struct {
	// Desired is the object to apply; nil when the spec does not ask for the child.
	Desired Object
	// Ref is an empty object of the child's kind, namespace and name. Nil (with Desired
	// nil) leaves the object alone: it is someone else's (KEDA's HPA of the workers).
	Ref Object
}

// optional is the Child of kind ref (an empty object) named name, built as desired, which
// is nil when the spec does not ask for it.
func optional[T Object](g *galleryv1alpha1.Gallery, desired T, ref T, name string) Child {
	ref.SetNamespace(g.Namespace)
	ref.SetName(name)
	c := Child{Ref: ref}
	var none T
	if any(desired) != any(none) {
		c.Desired = desired
	}
	return c
}

// unstructuredOf is an empty object of a kind the operator has no Go type for (KEDA's,
// the Prometheus Operator's).
func unstructuredOf(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// IdentityChildren are the ServiceAccounts: the server's, and the workers' while the
// Gallery runs workers.
func IdentityChildren(g *galleryv1alpha1.Gallery) []Child {
	var workers *corev1.ServiceAccount
	if g.RunsWorkers() {
		workers = ServiceAccount(g, galleryv1alpha1.ComponentWorkers)
	}
	return []Child{
		optional(g, ServiceAccount(g, galleryv1alpha1.ComponentServer), &corev1.ServiceAccount{}, g.ServerName()),
		optional(g, workers, &corev1.ServiceAccount{}, g.WorkersName()),
	}
}

// ManagedRedisChildren are the managed Redis' ConfigMap, StatefulSet and Service (nil
// Desired with an external Redis). configHash is RedisStatefulSet's.
func ManagedRedisChildren(g *galleryv1alpha1.Gallery, configHash string) []Child {
	var (
		config  *corev1.ConfigMap
		set     *appsv1.StatefulSet
		service *corev1.Service
	)
	if g.Spec.Cache.Managed != nil {
		config, set, service = RedisConfigMap(g), RedisStatefulSet(g, configHash), RedisService(g)
	}
	return []Child{
		optional(g, config, &corev1.ConfigMap{}, g.RedisName()),
		optional(g, set, &appsv1.StatefulSet{}, g.RedisName()),
		optional(g, service, &corev1.Service{}, g.RedisName()),
	}
}

// ServerChildren are the server's Deployment and Service, its HPA when it is
// autoscaled and its PodDisruptionBudget when it has one. configHash, minFloor and
// tolerance are ServerDeployment's and ServerHPA's.
func ServerChildren(g *galleryv1alpha1.Gallery, configHash string, minFloor int32, tolerance bool) []Child {
	return []Child{
		optional(g, ServerDeployment(g, configHash), &appsv1.Deployment{}, g.ServerName()),
		optional(g, ServerService(g), &corev1.Service{}, g.ServerName()),
		optional(g, ServerHPA(g, minFloor, tolerance), &autoscalingv2.HorizontalPodAutoscaler{}, g.ServerName()),
		optional(g, PodDisruptionBudget(g, galleryv1alpha1.ComponentServer), &policyv1.PodDisruptionBudget{}, g.ServerName()),
	}
}

// WorkersChildren are the workers' Deployment, HPA and PodDisruptionBudget, and, where
// KEDA's CRDs are installed, their ScaledObject and TriggerAuthentication. With KEDA
// scaling the workers, an HPA or TriggerAuthentication the operator does not build is
// left alone: KEDA's HPA has the workers' name. configHash, replicas, scaler, minFloor
// and tolerance are the builders'.
func WorkersChildren(g *galleryv1alpha1.Gallery, configHash string, replicas *int32, scaler WorkerScaler, minFloor int32, tolerance, kedaInstalled bool) []Child {
	children := []Child{
		optional(g, WorkersDeployment(g, configHash, replicas), &appsv1.Deployment{}, g.WorkersName()),
		leftToKEDA(scaler, optional(g, WorkersHPA(g, scaler, minFloor, tolerance), &autoscalingv2.HorizontalPodAutoscaler{}, g.WorkersName())),
		optional(g, PodDisruptionBudget(g, galleryv1alpha1.ComponentWorkers), &policyv1.PodDisruptionBudget{}, g.WorkersName()),
	}
	if kedaInstalled {
		children = append(children,
			leftToKEDA(scaler, optional(g, ScaledObject(g, scaler, minFloor), unstructuredOf(ScaledObjectGVK), g.WorkersName())),
			leftToKEDA(scaler, optional(g, TriggerAuthentication(g, scaler), unstructuredOf(TriggerAuthenticationGVK), g.WorkersName())))
	}
	return children
}

// leftToKEDA leaves c alone when KEDA scales the workers and the operator does not build it.
func leftToKEDA(scaler WorkerScaler, c Child) Child {
	if scaler == ScaleWorkersKEDA && c.Desired == nil {
		return Child{}
	}
	return c
}

// IngressChildren are the Ingress, with spec.ingress.
func IngressChildren(g *galleryv1alpha1.Gallery) []Child {
	return []Child{optional(g, Ingress(g), &networkingv1.Ingress{}, g.IngressName())}
}

// MonitoringChildren are the PodMonitor, unless the spec turns it off (the reconciler
// asks only where the kind is served).
func MonitoringChildren(g *galleryv1alpha1.Gallery) []Child {
	return []Child{optional(g, PodMonitor(g), unstructuredOf(PodMonitorGVK), g.PodMonitorName())}
}

// BackupCronJobs are the backup CronJob (with spec.backup) and the restore drill's
// (with spec.backup.drill).
func BackupCronJobs(g *galleryv1alpha1.Gallery) (backup, drill Child) {
	return optional(g, BackupCronJob(g), &batchv1.CronJob{}, g.BackupName()),
		optional(g, RestoreDrillCronJob(g), &batchv1.CronJob{}, g.DrillName())
}
