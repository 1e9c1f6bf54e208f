// Package specs builds every child object of a Gallery. Each builder is a pure function
// of the Gallery (and, where needed, values the reconciler resolved, such as a Secret's
// hash): no client, no context, no clock. The reconciler applies what they return.
package specs

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Annotations the operator sets on children.
const (
	// AnnotationConfigHash on a pod template is the hash of every Secret and ConfigMap
	// the pods consume, so a change rolls them.
	AnnotationConfigHash = "sortographer.io/config-hash"
	// AnnotationGalleryGeneration records the Gallery generation a child was built from.
	AnnotationGalleryGeneration = "sortographer.io/gallery-generation"
)

// Well-known topology key for zone spread.
const zoneTopologyKey = "topology.kubernetes.io/zone"

// ObjectMeta is the metadata of a namespaced child of one component. Owner references
// are set by the reconciler.
func ObjectMeta(g *galleryv1alpha1.Gallery, name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: g.Namespace,
		Labels:    g.ChildLabels(component),
	}
}

// PodSecurityContext runs every pod as a non-root user with the runtime's default
// seccomp profile (the "restricted" Pod Security Standard).
func PodSecurityContext(uid int64) *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(uid),
		RunAsGroup:     ptr.To(uid),
		FSGroup:        ptr.To(uid),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// ContainerSecurityContext is read-only root, no privilege escalation, no capabilities.
func ContainerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// ApplyPlacement puts spec.placement (node selector, tolerations, affinity, priority
// class, zone spread) and the image pull secrets on a pod spec of one component.
func ApplyPlacement(g *galleryv1alpha1.Gallery, component string, pod *corev1.PodSpec) {
	p := g.Spec.Placement
	pod.NodeSelector = p.NodeSelectorLabels()
	pod.Tolerations = galleryv1alpha1.CoreTolerations(p.Tolerations)
	pod.Affinity = p.Affinity.Core()
	pod.PriorityClassName = p.PriorityClassName
	pod.ImagePullSecrets = g.Spec.ImagePullSecrets
	if p.ZoneSpread.Enabled == nil || *p.ZoneSpread.Enabled {
		when := corev1.ScheduleAnyway
		if p.ZoneSpread.WhenUnsatisfiable == "DoNotSchedule" {
			when = corev1.DoNotSchedule
		}
		skew := p.ZoneSpread.MaxSkew
		if skew < 1 {
			skew = 1
		}
		pod.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew:           skew,
			TopologyKey:       zoneTopologyKey,
			WhenUnsatisfiable: when,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: g.SelectorLabels(component)},
			// Count only pods of the current rollout, so an update does not skew.
			MatchLabelKeys: []string{"pod-template-hash"},
		}}
	}
}

// TmpVolume is a writable emptyDir for /tmp, since the root filesystem is read-only.
func TmpVolume() (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"}
}

// clusterIPService fronts one component's pods on port, forwarding to their container
// port named portName.
func clusterIPService(g *galleryv1alpha1.Gallery, name, component, portName string, port int32) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: ObjectMeta(g, name, component),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: g.SelectorLabels(component),
			Ports: []corev1.ServicePort{{
				Name: portName, Port: port, TargetPort: intstr.FromString(portName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// singletonStatefulSet runs one pod of a managed component (Redis, MariaDB), its
// volumes from claims. whenDeleted decides whether those volumes go with the Gallery;
// they are always kept when scaled down.
func singletonStatefulSet(g *galleryv1alpha1.Gallery, name, component string, pod corev1.PodTemplateSpec,
	claims []corev1.PersistentVolumeClaim, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		TypeMeta:   typeMeta("apps/v1", "StatefulSet"),
		ObjectMeta: ObjectMeta(g, name, component),
		Spec: appsv1.StatefulSetSpec{
			Replicas:             ptr.To[int32](1),
			ServiceName:          name,
			Selector:             &metav1.LabelSelector{MatchLabels: g.SelectorLabels(component)},
			Template:             pod,
			VolumeClaimTemplates: claims,
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: whenDeleted,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
}

// dataClaimName names the volume claim template of a managed component.
const dataClaimName = "data"

// dataClaimTemplate is the ReadWriteOnce "data" volume claim template of a managed
// component.
func dataClaimTemplate(g *galleryv1alpha1.Gallery, component string, size resource.Quantity, class *string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: dataClaimName, Labels: g.ChildLabels(component)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}
