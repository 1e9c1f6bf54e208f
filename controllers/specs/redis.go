package specs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

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

// redisUID is the redis user of the official image (Debian and Alpine variants alike).
const redisUID = 999

// redisConfKey is redis.conf's key in the ConfigMap and its file name under /etc/redis.
const redisConfKey = "redis.conf"

// RedisMaxMemory is Redis' maxmemory: 80% of the container limit, leaving room for
// fragmentation, client buffers and the AOF rewrite so the kernel does not OOM-kill it.
func RedisMaxMemory(limit resource.Quantity) int64 {
	return limit.Value() * 8 / 10
}

// RedisConfigMap is redis.conf. The password is not in it: it is passed with
// --requirepass from an environment variable fed by the generated Secret.
func RedisConfigMap(g *galleryv1alpha1.Gallery) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   typeMeta("v1", "ConfigMap"),
		ObjectMeta: ObjectMeta(g, g.RedisName(), galleryv1alpha1.ComponentRedis),
		Data:       map[string]string{redisConfKey: redisConf(g.Spec.Cache.Managed)},
	}
}

// RedisSecretRefs are the Secret keys the Redis pod reads: its password. The reconciler
// hashes their values with RedisConfigHash into RedisStatefulSet's configHash.
func RedisSecretRefs(g *galleryv1alpha1.Gallery) []SecretRef {
	return []SecretRef{{"REDIS_PASSWORD", g.GeneratedSecretName(), SecretKeyRedisPassword}}
}

// RedisConfigHash is a short hash of redis.conf. With the values of RedisSecretRefs it
// makes RedisStatefulSet's configHash, which rolls Redis when its own configuration
// (eviction policy, persistence) or its password changes, and only then: the gallery's
// ConfigMap is none of Redis' business, and without persistence every restart empties
// the queue.
func RedisConfigHash(g *galleryv1alpha1.Gallery) string {
	sum := sha256.Sum256([]byte(redisConf(g.Spec.Cache.Managed)))
	return hex.EncodeToString(sum[:])[:16]
}

func redisConf(m *galleryv1alpha1.ManagedRedisSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bind 0.0.0.0\nport %d\n", galleryv1alpha1.RedisPort)
	// Only this Gallery's pods reach the port (NetworkPolicies) and a password is
	// required, so protected mode, which refuses remote clients, would only get in the way.
	b.WriteString("protected-mode no\n")
	fmt.Fprintf(&b, "maxmemory %d\n", RedisMaxMemory(m.Memory))
	fmt.Fprintf(&b, "maxmemory-policy %s\n", redisEvictionPolicy(m.EvictionPolicy))
	if m.Persistence != nil {
		b.WriteString("dir /data\nappendonly yes\nappendfsync everysec\n")
	} else {
		b.WriteString("save \"\"\nappendonly no\n")
	}
	return b.String()
}

// redisEvictionPolicy never lets an allkeys-* policy through: the job queue's keys have
// no TTL, so allkeys-* would silently drop jobs. The CRD's enum already refuses it; this
// guards a Gallery that skipped validation or defaulting.
func redisEvictionPolicy(p galleryv1alpha1.RedisEvictionPolicy) galleryv1alpha1.RedisEvictionPolicy {
	switch {
	case p == "":
		return "volatile-lru"
	case p == "noeviction", strings.HasPrefix(string(p), "volatile-"):
		return p
	default:
		return "noeviction"
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
		claims = []corev1.PersistentVolumeClaim{dataClaimTemplate(g, galleryv1alpha1.ComponentRedis, p.Size, p.StorageClassName)}
	} else {
		volumes = append(volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	// A TCP probe: "redis-cli -a <password> ping" would put the password in the process
	// list, and Redis accepts connections only once it is listening, which is what the
	// clients need (while it loads a large AOF it answers LOADING; they retry).
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
		// The kubelet expands $(REDIS_PASSWORD) from the env below, so the pod spec holds
		// only the reference; Redis replaces its command line with its process title at
		// start-up, so the expanded value leaves the process list too.
		Args:  []string{"/etc/redis/" + redisConfKey, "--requirepass", "$(REDIS_PASSWORD)"},
		Ports: []corev1.ContainerPort{{Name: "redis", ContainerPort: galleryv1alpha1.RedisPort, Protocol: corev1.ProtocolTCP}},
		Env:   envFromSecrets(RedisSecretRefs(g)),
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
		ObjectMeta: metav1.ObjectMeta{Labels: g.ChildLabels(galleryv1alpha1.ComponentRedis), Annotations: map[string]string{AnnotationConfigHash: configHash}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              PodSecurityContext(redisUID),
			Containers:                   []corev1.Container{container},
			Volumes:                      volumes,
			EnableServiceLinks:           ptr.To(false),
		},
	}
	ApplyPlacement(g, galleryv1alpha1.ComponentRedis, &pod.Spec)
	// Redis holds a cache and a queue that the database sweep rebuilds (every photo
	// still queued is re-enqueued), so its volume goes with the Gallery rather than
	// linger as an orphan nobody will reattach.
	return singletonStatefulSet(g, g.RedisName(), galleryv1alpha1.ComponentRedis, pod, claims,
		appsv1.DeletePersistentVolumeClaimRetentionPolicyType)
}

// RedisService fronts the managed Redis.
func RedisService(g *galleryv1alpha1.Gallery) *corev1.Service {
	return clusterIPService(g, g.RedisName(), galleryv1alpha1.ComponentRedis, "redis", galleryv1alpha1.RedisPort)
}
