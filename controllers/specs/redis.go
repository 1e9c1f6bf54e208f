package specs

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// SecretKeyRedisPassword is the generated Secret's key for the managed Redis password.
const SecretKeyRedisPassword = "redis-password"

// redisUID is the redis user of the official image.
const redisUID = 999

// RedisMaxMemory is Redis' maxmemory: 80% of the container limit, leaving room for
// fragmentation and the replication buffer so the kernel never OOM-kills it.
func RedisMaxMemory(limit resource.Quantity) int64 {
	return limit.Value() * 8 / 10
}

// RedisConfigMap is redis.conf. The password is not in it: it is passed with
// --requirepass from an environment variable fed by the generated Secret.
func RedisConfigMap(g *galleryv1alpha1.Gallery) *corev1.ConfigMap {
	m := g.Spec.Cache.Managed
	conf := fmt.Sprintf(`bind 0.0.0.0
port %d
protected-mode no
maxmemory %d
# volatile-* policies evict only keys with a TTL; the job queue has none.
maxmemory-policy %s
`, galleryv1alpha1.RedisPort, RedisMaxMemory(m.Memory), m.EvictionPolicy)
	if m.Persistence != nil {
		conf += "dir /data\nappendonly yes\nappendfsync everysec\n"
	} else {
		conf += "save \"\"\nappendonly no\n"
	}
	return &corev1.ConfigMap{
		TypeMeta:   typeMeta("v1", "ConfigMap"),
		ObjectMeta: ObjectMeta(g, g.RedisName(), galleryv1alpha1.ComponentRedis),
		Data:       map[string]string{"redis.conf": conf},
	}
}

// RedisStatefulSet runs the managed Redis: one pod, its config from RedisConfigMap, its
// data on a PVC when persistence is set.
func RedisStatefulSet(g *galleryv1alpha1.Gallery, configHash string) *appsv1.StatefulSet {
	m := g.Spec.Cache.Managed
	tmp, tmpMount := TmpVolume()
	volumes := []corev1.Volume{tmp, {Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: g.RedisName()},
	}}}}
	mounts := []corev1.VolumeMount{tmpMount, {Name: "config", MountPath: "/etc/redis", ReadOnly: true}, {Name: "data", MountPath: "/data"}}
	var claims []corev1.PersistentVolumeClaim
	if p := m.Persistence; p != nil {
		claims = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: g.Labels(galleryv1alpha1.ComponentRedis)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: p.StorageClassName,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: p.Size}},
			},
		}}
	} else {
		volumes = append(volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	probe := func(period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("redis")}},
			PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: 3,
		}
	}
	container := corev1.Container{
		Name:            "redis",
		Image:           g.RedisImage(),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"redis-server"},
		// $(REDIS_PASSWORD) is expanded by the kubelet from the env below.
		Args:  []string{"/etc/redis/redis.conf", "--requirepass", "$(REDIS_PASSWORD)"},
		Ports: []corev1.ContainerPort{{Name: "redis", ContainerPort: galleryv1alpha1.RedisPort, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{{Name: "REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: g.GeneratedSecretName()}, Key: SecretKeyRedisPassword,
		}}}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: m.Memory},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: m.Memory},
		},
		ReadinessProbe:  probe(5),
		LivenessProbe:   probe(10),
		VolumeMounts:    mounts,
		SecurityContext: ContainerSecurityContext(),
	}
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: g.Labels(galleryv1alpha1.ComponentRedis), Annotations: map[string]string{AnnotationConfigHash: configHash}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              PodSecurityContext(redisUID),
			Containers:                   []corev1.Container{container},
			Volumes:                      volumes,
			EnableServiceLinks:           ptr.To(false),
		},
	}
	ApplyPlacement(g, galleryv1alpha1.ComponentRedis, &pod.Spec)
	return &appsv1.StatefulSet{
		TypeMeta:   typeMeta("apps/v1", "StatefulSet"),
		ObjectMeta: ObjectMeta(g, g.RedisName(), galleryv1alpha1.ComponentRedis),
		Spec: appsv1.StatefulSetSpec{
			Replicas:             ptr.To[int32](1),
			ServiceName:          g.RedisName(),
			Selector:             &metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentRedis)},
			Template:             pod,
			VolumeClaimTemplates: claims,
			// The queue is rebuilt from the database by the sweep, so its volume goes with
			// the Gallery.
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
}

// RedisService fronts the managed Redis.
func RedisService(g *galleryv1alpha1.Gallery) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: ObjectMeta(g, g.RedisName(), galleryv1alpha1.ComponentRedis),
		Spec: corev1.ServiceSpec{
			Selector: g.SelectorLabels(galleryv1alpha1.ComponentRedis),
			Ports:    []corev1.ServicePort{{Name: "redis", Port: galleryv1alpha1.RedisPort, TargetPort: intstr.FromString("redis"), Protocol: corev1.ProtocolTCP}},
		},
	}
}
