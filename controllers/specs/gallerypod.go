package specs

import (
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

// GalleryUID is the non-root user the gallery image runs as (distroless "nonroot").
const GalleryUID = 65532

// Health endpoints of the gallery binary. Readiness checks the database and Redis, never
// the classifier provider.
const (
	LivenessPath  = config.LivenessPath
	ReadinessPath = config.ReadinessPath
)

// EnvGoMemLimit is the Go runtime's soft memory limit (runtime/debug.SetMemoryLimit), in
// bytes.
const EnvGoMemLimit = "GOMEMLIMIT"

// GoMemLimit is the GOMEMLIMIT of a container with this memory limit: 90% of it, the
// rest left for thread stacks and mapped pages. Near this soft limit the Go collector
// runs harder instead of letting the heap grow into the kernel's hard limit and an OOM
// kill. It does not count C allocations (libvips' decodes, ONNX Runtime): the gallery
// sizes its decode budget at half of it (SORTOGRAPHER_DECODE_MEMORY's default), and
// cmd/sortographer's TestServeSurvivesTheWorstUploadsInAMemoryLimit checks that both fit
// under the hard limit. Computed without overflow for any Quantity.
func GoMemLimit(limit resource.Quantity) int64 {
	v := limit.Value()
	return v/10*9 + v%10*9/10
}

// goMemLimitEnv is GOMEMLIMIT for a container with these resources; nil without a
// memory limit (the Go runtime then has none either, as before).
func goMemLimitEnv(r corev1.ResourceRequirements) []corev1.EnvVar {
	limit, ok := r.Limits[corev1.ResourceMemory]
	if !ok || limit.Sign() <= 0 {
		return nil
	}
	return []corev1.EnvVar{{Name: EnvGoMemLimit, Value: strconv.FormatInt(GoMemLimit(limit), 10)}}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// TypeMetaFor is the TypeMeta of a group-version-kind.
func TypeMetaFor(gvk schema.GroupVersionKind) metav1.TypeMeta {
	return typeMeta(gvk.GroupVersion().String(), gvk.Kind)
}

// ServiceAccount is the identity of one component's pods, with the placement's
// annotations (IRSA role, Pod Identity).
func ServiceAccount(g *galleryv1alpha1.Gallery, component string) *corev1.ServiceAccount {
	name := g.ServerName()
	if component == galleryv1alpha1.ComponentWorkers {
		name = g.WorkersName()
	}
	meta := ObjectMeta(g, name, component)
	meta.Annotations = maps.Clone(g.Spec.Placement.ServiceAccountAnnotations)
	return &corev1.ServiceAccount{
		TypeMeta:                     typeMeta("v1", "ServiceAccount"),
		ObjectMeta:                   meta,
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// galleryPod is the pod template shared by server and workers: same image family, same
// configuration, same volumes; args choose the subcommand.
func galleryPod(g *galleryv1alpha1.Gallery, component, image string, args []string, configHash string) corev1.PodTemplateSpec {
	tmp, tmpMount := TmpVolume()
	volumes := []corev1.Volume{tmp}
	mounts := []corev1.VolumeMount{tmpMount}
	if v := g.Spec.Storage.Volume; v != nil {
		volumes = append(volumes, pvcVolume("photos", g.PhotosClaimName()))
		mounts = append(mounts, corev1.VolumeMount{Name: "photos", MountPath: PhotosDir})
	}
	if g.Embedded() {
		volumes = append(volumes, pvcVolume("sqlite", g.SQLiteClaimName()))
		mounts = append(mounts, corev1.VolumeMount{Name: "sqlite", MountPath: SQLiteDir})
	}
	for _, s := range SecretFiles(g) {
		volumes = append(volumes, corev1.Volume{Name: s.Volume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: s.Secret, Items: []corev1.KeyToPath{{Key: s.Key, Path: s.Key}}, DefaultMode: ptr.To[int32](0o440),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: s.Volume, MountPath: s.Dir, ReadOnly: true})
	}
	if m := g.Spec.Workers.Classifier.Builtin.CustomModel; m != nil {
		src := corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: m.ConfigMapName}}}
		if m.PersistentVolumeClaimName != "" {
			src = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: m.PersistentVolumeClaimName, ReadOnly: true}}
		}
		volumes = append(volumes, corev1.Volume{Name: "model", VolumeSource: src})
		mounts = append(mounts, corev1.VolumeMount{Name: "model", MountPath: ModelDir, ReadOnly: true})
	}

	container := corev1.Container{
		Name:            component,
		Image:           image,
		ImagePullPolicy: g.Spec.Server.ImagePullPolicy,
		Args:            args,
		// The metrics port is the app's second listener (SORTOGRAPHER_METRICS_ADDR in the
		// ConfigMap); no Service exposes it.
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: g.Spec.Server.Port, Protocol: corev1.ProtocolTCP},
			{Name: MetricsPortName, ContainerPort: g.MetricsPort(), Protocol: corev1.ProtocolTCP},
		},
		EnvFrom:         []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: g.ConfigMapName()}}}},
		Env:             append(envFromSecrets(SecretEnv(g)), tracingEnv(g, component)...),
		VolumeMounts:    mounts,
		SecurityContext: ContainerSecurityContext(),
	}

	labels := g.ChildLabels(component)
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      labels,
			Annotations: map[string]string{AnnotationConfigHash: configHash},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:           g.ServerName(),
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              PodSecurityContext(GalleryUID),
			Containers:                   []corev1.Container{container},
			Volumes:                      volumes,
			EnableServiceLinks:           ptr.To(false),
		},
	}
	if component == galleryv1alpha1.ComponentWorkers {
		pod.Spec.ServiceAccountName = g.WorkersName()
	}
	ApplyPlacement(g, component, &pod.Spec)
	return pod
}

func pvcVolume(name, claim string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func httpProbe(path string, t galleryv1alpha1.ProbeTiming) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
		PeriodSeconds:    t.PeriodSeconds,
		TimeoutSeconds:   t.TimeoutSeconds,
		FailureThreshold: t.FailureThreshold,
	}
}

// ServerDeployment runs `sortographer serve`. Its replica count is left unset while an
// HPA owns it. A `migrate` init container brings the schema up to date before a new
// version takes traffic (migrations take a database lock, so replicas may start at once).
func ServerDeployment(g *galleryv1alpha1.Gallery, configHash string) *appsv1.Deployment {
	s := g.Spec.Server
	pod := galleryPod(g, galleryv1alpha1.ComponentServer, s.Image, []string{"serve"}, configHash)
	c := &pod.Spec.Containers[0]
	c.Resources = s.Resources
	// An admin's own GOMEMLIMIT in spec.server.env wins, as any variable of theirs.
	c.Env = withAdminEnv(append(c.Env, goMemLimitEnv(s.Resources)...), galleryv1alpha1.CoreEnv(s.Env))
	c.StartupProbe = httpProbe(LivenessPath, s.Probes.Startup)
	c.LivenessProbe = httpProbe(LivenessPath, s.Probes.Liveness)
	c.ReadinessProbe = httpProbe(ReadinessPath, s.Probes.Readiness)
	if s.PreStopDelaySeconds > 0 {
		// Keep serving while the load balancer deregisters the pod.
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: s.PreStopDelaySeconds}}}
	}
	// migrate has the server's resources, so the server's env, GOMEMLIMIT included.
	migrate := corev1.Container{
		Name: "migrate", Image: c.Image, ImagePullPolicy: c.ImagePullPolicy, Args: []string{"migrate"},
		EnvFrom: c.EnvFrom, Env: c.Env, VolumeMounts: c.VolumeMounts, SecurityContext: c.SecurityContext,
		Resources: s.Resources,
	}
	pod.Spec.InitContainers = []corev1.Container{migrate}
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(s.TerminationGracePeriodSeconds)

	d := deployment(g, g.ServerName(), galleryv1alpha1.ComponentServer, pod, s.MaxSurge)
	if g.Embedded() {
		// One SQLite file on a ReadWriteOnce volume: the old pod must let go first.
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	if !g.ServerAutoscaled() {
		d.Spec.Replicas = ptr.To(g.ServerReplicas())
	}
	return d
}

// ServerService fronts the server pods on port 80.
func ServerService(g *galleryv1alpha1.Gallery) *corev1.Service {
	return clusterIPService(g, g.ServerName(), galleryv1alpha1.ComponentServer, "http", galleryv1alpha1.ServicePort)
}

// WorkersDeployment runs `sortographer work`. Nil with an embedded database (the server
// classifies in-process). replicas is the count the operator owns (fixed, or its own
// backlog scaler's); nil leaves the field to the HPA or KEDA.
func WorkersDeployment(g *galleryv1alpha1.Gallery, configHash string, replicas *int32) *appsv1.Deployment {
	if !g.RunsWorkers() {
		return nil
	}
	w := g.Spec.Workers
	pod := galleryPod(g, galleryv1alpha1.ComponentWorkers, g.WorkersImage(), []string{"work"}, configHash)
	c := &pod.Spec.Containers[0]
	c.Resources = w.Resources
	c.Env = withAdminEnv(append(c.Env, goMemLimitEnv(w.Resources)...), galleryv1alpha1.CoreEnv(w.Env))
	c.LivenessProbe = httpProbe(LivenessPath, g.Spec.Server.Probes.Liveness)
	c.ReadinessProbe = httpProbe(ReadinessPath, g.Spec.Server.Probes.Readiness)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(w.TerminationGracePeriodSeconds)

	d := deployment(g, g.WorkersName(), galleryv1alpha1.ComponentWorkers, pod, ptr.To(intstr.FromString("25%")))
	d.Spec.Replicas = replicas
	return d
}

// deployment is a rolling Deployment of one component that never removes a serving pod
// before its replacement is ready (maxUnavailable 0).
func deployment(g *galleryv1alpha1.Gallery, name, component string, pod corev1.PodTemplateSpec, maxSurge *intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: ObjectMeta(g, name, component),
		Spec: appsv1.DeploymentSpec{
			Selector:             &metav1.LabelSelector{MatchLabels: g.SelectorLabels(component)},
			Template:             pod,
			RevisionHistoryLimit: ptr.To[int32](5),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       maxSurge,
				},
			},
		},
	}
}
