package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// CacheOptions limits what the operator holds in memory to what it owns: every kind it
// owns is cached only with its managed-by label (ConfigMaps, Services, PVCs and the rest
// of the children; a cluster's other objects, however many, are never listed or
// watched), pods and Jobs only when they also carry a gallery label (for OOM kills and
// backup reports), and no cached object keeps its managedFields. Galleries are all
// cached. Secrets are not cached at all (see ClientOptions): the operator watches their
// metadata only. Anything else the operator reads that is not its own (the admin's
// backup claim) goes through an uncached reader (GalleryReconciler.APIReader). Only the
// given namespaces are cached (all when empty).
//
// Measured on the local cluster with 5 Galleries (docs/operator.md, "Scale"): 5,000
// unrelated Deployments, Services and PVCs in another namespace no longer move the
// operator's memory; unscoped, they added tens of MiB.
func CacheOptions(namespaces []string) cache.Options {
	o := cache.Options{
		// The operator never reads managedFields from the cache: releaseReplicas, which
		// does, reads through the API reader. They are often half an object's size.
		DefaultTransform: slimMetadataTransform,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Label: galleryPodSelector, Transform: sharingMaps(podCacheTransform)},
			// Backup Jobs (and their CronJobs' Jobs, which carry the template's labels).
			&batchv1.Job{}: {Label: galleryPodSelector},
		},
	}
	for _, obj := range cachedChildKinds {
		// One entry per kind: ByObject is keyed by pointer, and two entries of one kind
		// would leave the choice between them to the map's order.
		by := cache.ByObject{Label: managedBySelector, Transform: metadataOnly}
		switch obj.(type) {
		case *appsv1.Deployment:
			by.Transform = slimDeployment
		case *appsv1.StatefulSet:
			by.Transform = slimStatefulSet
		}
		by.Transform = sharingMaps(by.Transform)
		o.ByObject[obj] = by
	}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}

// slimMetadataTransform is every cached object's transform: no managedFields, and the
// strings a thousand Galleries' children repeat (label keys and values, namespaces,
// owners) held once (internMeta). The Secrets the operator watches by their metadata
// keep only their names: galleriesUsingSecret needs no more, and a Secret applied with
// kubectl would otherwise bring its values along in the
// kubectl.kubernetes.io/last-applied-configuration annotation.
func slimMetadataTransform(obj any) (any, error) {
	if p, ok := obj.(*metav1.PartialObjectMetadata); ok {
		return &metav1.PartialObjectMetadata{TypeMeta: p.TypeMeta, ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: intern(p.Namespace), UID: p.UID, ResourceVersion: p.ResourceVersion,
		}}, nil
	}
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		internMeta(m)
	}
	return obj, nil
}

// annotationLastApplied is where `kubectl apply` (client-side) keeps what it applied.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// internMeta makes m's namespace, labels, annotation keys and owner references share
// one copy of each string with every other cached object (the unique package's
// canonical strings), and drops kubectl's last-applied-configuration. Each child of a
// Gallery repeats its namespace, the Gallery's name and UID and the same six label keys;
// decoded, each had its own copies.
func internMeta(m metav1.Object) {
	m.SetNamespace(intern(m.GetNamespace()))
	if l := m.GetLabels(); l != nil {
		out := make(map[string]string, len(l))
		for k, v := range l {
			out[intern(k)] = intern(v)
		}
		m.SetLabels(out)
	}
	if a := m.GetAnnotations(); a != nil {
		out := make(map[string]string, len(a))
		for k, v := range a {
			if k == annotationLastApplied {
				continue // nothing reads it; a Gallery applied with kubectl carries its whole spec in it
			}
			out[intern(k)] = v
		}
		m.SetAnnotations(out)
	}
	refs := m.GetOwnerReferences()
	for i := range refs {
		r := &refs[i]
		r.APIVersion, r.Kind, r.Name, r.UID = intern(r.APIVersion), intern(r.Kind), intern(r.Name), types.UID(intern(string(r.UID)))
	}
}

func intern(s string) string { return unique.Make(s).Value() }

// podCacheTransform keeps of a cached pod only what the operator reads, as a cachedPod:
// its name, labels and times, the phase and container states (OOM kills, a backup's
// report, a migration's output), and for the containers that were OOM-killed their
// memory limits (in the spec and as the kubelet applied them: what the kill is reported
// against) and a last termination that was the kill. A pod's volumes, environment,
// probes, conditions and addresses are most of its size, and the corev1.Pod struct
// itself is four times a cachedPod; with a thousand Galleries' pods cached, dropping
// them is tens of MiB (docs/operator.md, Scale). The operator never writes a pod.
func podCacheTransform(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a DeletedFinalStateUnknown tombstone
	}
	oomKilled := oomKilledContainers(p)
	cached := &cachedPod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp,
			OwnerReferences: p.OwnerReferences,
		},
		phase:          p.Status.Phase,
		initContainers: compactContainers(p.Spec.InitContainers, p.Status.InitContainerStatuses, oomKilled),
		containers:     compactContainers(p.Spec.Containers, p.Status.ContainerStatuses, oomKilled),
	}
	internMeta(cached)
	return cached, nil
}

// oomKilledContainers names the containers of p whose current or last termination was an
// OOM kill: only their memory limits are ever read (podOOMKills), so only they keep them
// in the cache. A limit kept for every container was a third of a cached pod.
func oomKilledContainers(p *corev1.Pod) map[string]bool {
	var names map[string]bool
	for _, s := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		for _, t := range []*corev1.ContainerStateTerminated{s.State.Terminated, s.LastTerminationState.Terminated} {
			if t != nil && t.Reason == reasonOOMKilled {
				if names == nil {
					names = map[string]bool{}
				}
				names[s.Name] = true
			}
		}
	}
	return names
}

// slimDeployment and slimStatefulSet keep of a cached Deployment or StatefulSet its
// metadata (slimChildMeta), the status fields status reads (deploymentStatusRead,
// statefulSetStatusRead), replicas, each container's name and image (which release
// runs), and a StatefulSet's claim templates' names and sizes; the pod template, most of
// the object, is dropped. The applier cannot compare a child's template with the cache
// then: it reads the child once from the API server and remembers the generation it
// found up to date (applier.checks); a change of anyone's to the spec raises the
// generation, so the next pass reads it again.
func slimDeployment(obj any) (any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return obj, nil
	}
	return &appsv1.Deployment{
		TypeMeta: d.TypeMeta, ObjectMeta: slimChildMeta(d, d.ObjectMeta),
		Spec:   appsv1.DeploymentSpec{Replicas: d.Spec.Replicas, Template: slimTemplate(d.Spec.Template)},
		Status: deploymentStatusRead(d.Status),
	}, nil
}

func slimStatefulSet(obj any) (any, error) {
	s, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return obj, nil
	}
	claims := make([]corev1.PersistentVolumeClaim, len(s.Spec.VolumeClaimTemplates))
	for i, c := range s.Spec.VolumeClaimTemplates {
		claims[i] = corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: c.Name},
			Spec:       corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: c.Spec.Resources.Requests}},
		}
	}
	return &appsv1.StatefulSet{
		TypeMeta: s.TypeMeta, ObjectMeta: slimChildMeta(s, s.ObjectMeta),
		Spec: appsv1.StatefulSetSpec{
			Replicas: s.Spec.Replicas, Template: slimTemplate(s.Spec.Template), VolumeClaimTemplates: claims,
		},
		Status: statefulSetStatusRead(s.Status),
	}, nil
}

// metadataOnly keeps of every other cached child its metadata (slimChildMeta: its
// annotations, and for the kinds without a generation their content, folded into one
// fingerprint) and what status reads: an HPA's ScalingLimited condition, an Ingress'
// addresses, a claim's requested size and phase. Nothing else of them is read but by the
// applier, which compares the fingerprint and the generation with what it last found up
// to date (applier.checks).
func metadataOnly(obj any) (any, error) {
	switch o := obj.(type) {
	case *policyv1.PodDisruptionBudget:
		return &policyv1.PodDisruptionBudget{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta)}, nil
	case *networkingv1.NetworkPolicy:
		return &networkingv1.NetworkPolicy{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta)}, nil
	case *autoscalingv2.HorizontalPodAutoscaler:
		return &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta),
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{Conditions: scalingLimitedConditions(o.Status.Conditions)}}, nil
	case *networkingv1.Ingress:
		return &networkingv1.Ingress{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta),
			Status: networkingv1.IngressStatus{LoadBalancer: o.Status.LoadBalancer}}, nil
	case *batchv1.CronJob:
		return &batchv1.CronJob{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta)}, nil
	case *corev1.Service:
		return &corev1.Service{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta)}, nil
	case *corev1.ConfigMap:
		return &corev1.ConfigMap{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta)}, nil
	case *corev1.ServiceAccount:
		return &corev1.ServiceAccount{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta)}, nil
	case *corev1.PersistentVolumeClaim:
		return &corev1.PersistentVolumeClaim{TypeMeta: o.TypeMeta, ObjectMeta: slimChildMeta(o, o.ObjectMeta),
			Spec:   corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: o.Spec.Resources.Requests}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: o.Status.Phase}}, nil
	}
	return obj, nil // a DeletedFinalStateUnknown tombstone
}

// contentDigest is the digest of what a slim cached copy drops of a child without a
// generation: a Service's or a claim's spec, a ConfigMap's data, a ServiceAccount's
// secrets and token setting. A change to them raises no generation, so the digest is
// what tells the applier they changed. ok is false for any other kind.
func contentDigest(obj client.Object) (digest string, ok bool) {
	var content any
	switch o := obj.(type) {
	case *corev1.Service:
		content = o.Spec
	case *corev1.ConfigMap:
		content = []any{o.Data, o.BinaryData, o.Immutable}
	case *corev1.ServiceAccount:
		content = []any{o.Secrets, o.ImagePullSecrets, o.AutomountServiceAccountToken}
	case *corev1.PersistentVolumeClaim:
		content = o.Spec
	default:
		return "", false
	}
	return hashOf(content), true
}

// annotationDeploymentRevision is the Deployment controller's own annotation on a
// Deployment, raised with each rollout; the operator never sets it.
const annotationDeploymentRevision = "deployment.kubernetes.io/revision"

// droppedFingerprint is the fingerprint of what a slim cached copy of obj drops and the
// applier must still see change: its annotations (all but kubectl's last-applied
// configuration and the Deployment controller's revision), and for the kinds without a
// generation their content (contentDigest). The cached copy carries it in place of them
// (slimChildMeta); the applier computes the same of a child it read from the API server.
func droppedFingerprint(obj client.Object) string {
	ann := obj.GetAnnotations()
	digest, _ := contentDigest(obj)
	parts := make([]string, 0, 1+2*len(ann))
	parts = append(parts, digest)
	for _, k := range slices.Sorted(maps.Keys(ann)) {
		if k != annotationLastApplied && k != annotationDeploymentRevision {
			parts = append(parts, k, ann[k])
		}
	}
	f := fingerprintOf(parts...)
	return string(f[:])
}

// slimChildMeta is m, the metadata of the child obj, as a slim cached copy keeps it: no
// managedFields, its strings shared (internMeta), and no annotations — their place, the
// map a cached child held for one or two hashes (the largest part of its metadata at a
// thousand Galleries), is taken by droppedFingerprint, 16 bytes kept in
// metadata.selfLink (cachedFingerprint). The API server has not set selfLink since
// Kubernetes 1.20 and nothing reads it of a cached copy; the operator never writes one.
func slimChildMeta(obj client.Object, m metav1.ObjectMeta) metav1.ObjectMeta {
	dropped := droppedFingerprint(obj)
	m.ManagedFields, m.Annotations = nil, nil
	internMeta(&m)
	m.SetSelfLink(dropped)
	return m
}

// cachedFingerprint is what a slim cached copy carries of what it dropped
// (slimChildMeta).
func cachedFingerprint(obj client.Object) string { return obj.GetSelfLink() }

func slimTemplate(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	images := func(cs []corev1.Container) []corev1.Container {
		if cs == nil {
			return nil
		}
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, Image: c.Image}
		}
		return out
	}
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{InitContainers: images(t.Spec.InitContainers), Containers: images(t.Spec.Containers)}}
}

// cachedChildKinds are the kinds of child the operator applies and caches (by its
// managed-by label): the applier reads their live objects from the cache. A kind the
// operator applies that is not here (Secrets, KEDA's and the Prometheus Operator's
// kinds) is read from the API server, never through a cache the client would start for it
// unscoped.
var cachedChildKinds = []client.Object{
	&appsv1.Deployment{}, &appsv1.StatefulSet{}, &corev1.Service{}, &corev1.ConfigMap{},
	&corev1.ServiceAccount{}, &corev1.PersistentVolumeClaim{}, &autoscalingv2.HorizontalPodAutoscaler{},
	&policyv1.PodDisruptionBudget{}, &networkingv1.Ingress{}, &networkingv1.NetworkPolicy{}, &batchv1.CronJob{},
}

// managedBySelector selects what the operator made: every child carries
// app.kubernetes.io/managed-by=sortographer-operator (Gallery.ChildLabels), and so do the
// claims a StatefulSet makes from its templates.
var managedBySelector = labels.SelectorFromSet(labels.Set{galleryv1alpha1.LabelManagedBy: galleryv1alpha1.ManagedBy})

// galleryPodSelector selects the pods of every Gallery: the operator's managed-by label and
// a sortographer.io/gallery label (the children's pod templates carry both).
var galleryPodSelector = func() labels.Selector {
	managed, err := labels.NewRequirement(galleryv1alpha1.LabelManagedBy, selection.Equals, []string{galleryv1alpha1.ManagedBy})
	if err != nil {
		panic(err)
	}
	gallery, err := labels.NewRequirement(galleryv1alpha1.LabelGallery, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*managed, *gallery)
}()

// ClientOptions makes the manager's client read Secrets straight from the API server,
// so no Secret value (the admin's or the generated ones) sits in the operator's cache.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// KEDAInstalled reports whether KEDA's ScaledObject kind is served.
func KEDAInstalled(mapper meta.RESTMapper) bool { return served(mapper, specs.ScaledObjectGVK) }

// PodMonitorInstalled reports whether the Prometheus Operator's PodMonitor kind is
// served.
func PodMonitorInstalled(mapper meta.RESTMapper) bool { return served(mapper, specs.PodMonitorGVK) }

func served(mapper meta.RESTMapper, gvk schema.GroupVersionKind) bool {
	_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}

// HPAToleranceServed reports whether the API server keeps an HPA's
// spec.behavior.{scaleUp,scaleDown}.tolerance (feature HPAConfigurableTolerance: alpha
// in 1.33, on by default from 1.35). Older servers drop it, or refuse it in an apply;
// either way the operator would re-apply the HPA on every pass. It asks by creating, as
// a dry run, an HPA with a tolerance in namespace and reading it back.
func HPAToleranceServed(ctx context.Context, c client.Client, namespace string) (bool, error) {
	probe := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "sortographer-probe-", Namespace: namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "probe"},
			MaxReplicas:    2,
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{Tolerance: resource.NewMilliQuantity(500, resource.DecimalSI)},
			},
		},
	}
	if err := c.Create(ctx, probe, client.DryRunAll); err != nil {
		return false, fmt.Errorf("dry-run an HPA with a tolerance in namespace %s: %w", namespace, err)
	}
	b := probe.Spec.Behavior
	return b != nil && b.ScaleDown != nil && b.ScaleDown.Tolerance != nil, nil
}
