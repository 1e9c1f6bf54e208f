package specs

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestRedisConfigMap(t *testing.T) {
	tests := []struct {
		name string
		g    *galleryv1alpha1.Gallery
		want []string // lines redis.conf must have
		not  []string // substrings it must not have
	}{{
		name: "defaults: 80% of 256Mi, volatile-lru, nothing on disk",
		g:    gallery(),
		want: []string{"maxmemory 214748364", "maxmemory-policy volatile-lru", `save ""`, "appendonly no",
			"protected-mode no", "bind 0.0.0.0", "port 6379"},
		not: []string{"appendonly yes", "dir /data"},
	}, {
		name: "policy passed through, 80% of 1Gi",
		g:    gallery(withRedisMemory("1Gi"), withRedisEviction("noeviction")),
		want: []string{"maxmemory 858993459", "maxmemory-policy noeviction"},
	}, {
		name: "volatile-lfu passed through",
		g:    gallery(withRedisEviction("volatile-lfu")),
		want: []string{"maxmemory-policy volatile-lfu"},
	}, {
		name: "persistence: append-only file in /data",
		g:    gallery(withRedisPersistence("2Gi")),
		want: []string{"appendonly yes", "dir /data"},
		not:  []string{"appendonly no", `save ""`},
	}, {
		name: "allkeys-* never reaches Redis: it would drop queued jobs",
		g:    gallery(withRedisEviction("allkeys-lru")),
		want: []string{"maxmemory-policy noeviction"},
		not:  []string{"allkeys"},
	}, {
		name: "undefaulted policy falls back to volatile-lru",
		g:    gallery(withRedisEviction("")),
		want: []string{"maxmemory-policy volatile-lru"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := RedisConfigMap(tt.g)
			assertApplyable(t, cm, "v1", "ConfigMap", "demo-redis", galleryv1alpha1.ComponentRedis)
			if len(cm.Data) != 1 || len(cm.BinaryData) != 0 {
				t.Fatalf("data keys = %v, want only redis.conf", cm.Data)
			}
			conf, ok := cm.Data["redis.conf"]
			if !ok {
				t.Fatalf("no redis.conf in %v", cm.Data)
			}
			lines := strings.Split(conf, "\n")
			for _, w := range tt.want {
				if !containsLine(lines, w) {
					t.Errorf("redis.conf has no line %q:\n%s", w, conf)
				}
			}
			for _, n := range append(tt.not, "requirepass", "masterauth", "user ") {
				if strings.Contains(conf, n) {
					t.Errorf("redis.conf contains %q:\n%s", n, conf)
				}
			}
		})
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

func TestRedisMaxMemory(t *testing.T) {
	for _, tt := range []struct {
		limit string
		want  int64
	}{
		{"256Mi", 214748364},
		{"32Mi", 26843545},
		{"1Gi", 858993459},
		{"500M", 400000000},
	} {
		if got := RedisMaxMemory(resource.MustParse(tt.limit)); got != tt.want {
			t.Errorf("RedisMaxMemory(%s) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

func TestRedisConfigHash(t *testing.T) {
	base := RedisConfigHash(gallery())
	if base != RedisConfigHash(gallery()) {
		t.Error("hash of the same Gallery differs between calls")
	}
	for name, g := range map[string]*galleryv1alpha1.Gallery{
		"eviction policy": gallery(withRedisEviction("noeviction")),
		"memory":          gallery(withRedisMemory("512Mi")),
		"persistence":     gallery(withRedisPersistence("1Gi")),
	} {
		if RedisConfigHash(g) == base {
			t.Errorf("changing the %s leaves the hash unchanged, so Redis would not roll", name)
		}
	}
	if RedisConfigHash(gallery(withServerPort(9000))) != base {
		t.Error("a server change alters Redis' hash: Redis would restart and, without persistence, lose the queue")
	}
}

func TestRedisSecretRefs(t *testing.T) {
	got := RedisSecretRefs(gallery())
	want := []SecretRef{{"REDIS_PASSWORD", "demo-generated", SecretKeyRedisPassword}}
	if !slices.Equal(got, want) {
		t.Errorf("RedisSecretRefs = %+v, want %+v", got, want)
	}
	// What the reconciler hashes is what the pod reads.
	c := RedisStatefulSet(gallery(), "").Spec.Template.Spec.Containers[0]
	if len(c.Env) != len(got) {
		t.Errorf("Redis reads %d Secret keys, RedisSecretRefs lists %d", len(c.Env), len(got))
	}
	for _, r := range got {
		assertSecretEnv(t, c, r.Env, r.Secret, r.Key)
	}
}

func TestRedisStatefulSet(t *testing.T) {
	tests := []struct {
		name         string
		g            *galleryv1alpha1.Gallery
		image        string
		memory       string
		claimSize    string // "" means no volumeClaimTemplate, /data an emptyDir
		storageClass *string
		zoneSpread   bool
	}{{
		name:       "defaults: emptyDir data",
		g:          gallery(),
		image:      "docker.io/library/redis:7.4-alpine",
		memory:     "256Mi",
		zoneSpread: true,
	}, {
		name: "persistence: data on a claim of the spec's size and class",
		g: gallery(withRedisPersistence("2Gi"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Cache.Managed.Persistence.StorageClassName = ptr.To("gp3")
		}),
		image:        "docker.io/library/redis:7.4-alpine",
		memory:       "256Mi",
		claimSize:    "2Gi",
		storageClass: ptr.To("gp3"),
		zoneSpread:   true,
	}, {
		name: "image override from a private mirror, memory, no zone spread",
		g: gallery(withRedisMemory("1Gi"), withoutZoneSpread(), withImagePullSecret("mirror-creds"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Cache.Managed.Image = "mirror.example.com/redis:7.4.2"
		}),
		image:  "mirror.example.com/redis:7.4.2",
		memory: "1Gi",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := RedisStatefulSet(tt.g, "cafe0123")
			c := assertSingletonStatefulSet(t, sts, tt.g, "demo-redis", galleryv1alpha1.ComponentRedis, "cafe0123", 999)
			pod := sts.Spec.Template.Spec
			if c.Image != tt.image || c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("image = %s (%s), want %s (IfNotPresent)", c.Image, c.ImagePullPolicy, tt.image)
			}
			if len(c.Ports) != 1 || c.Ports[0].Name != "redis" || c.Ports[0].ContainerPort != 6379 {
				t.Errorf("ports = %+v, want redis 6379", c.Ports)
			}
			assertRedisPassword(t, c)
			assertRedisResources(t, c, tt.memory)
			assertRedisVolumes(t, sts.Spec, c, tt.claimSize, tt.storageClass)
			if r := sts.Spec.PersistentVolumeClaimRetentionPolicy; r == nil ||
				r.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType ||
				r.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("PVC retention = %+v, want delete with the Gallery, retain on scale", r)
			}
			if got := len(pod.TopologySpreadConstraints) > 0; got != tt.zoneSpread {
				t.Errorf("zone spread applied = %v, want %v", got, tt.zoneSpread)
			}
		})
	}
}

// assertRedisPassword checks that the password comes from the generated Secret through
// $(VAR) expansion: never a literal, never in a probe.
func assertRedisPassword(t *testing.T, c corev1.Container) {
	t.Helper()
	assertSecretEnv(t, c, "REDIS_PASSWORD", "demo-generated", SecretKeyRedisPassword)
	cmd := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
	if cmd != "redis-server /etc/redis/redis.conf --requirepass $(REDIS_PASSWORD)" {
		t.Errorf("command = %q", cmd)
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if p == nil {
			t.Error("missing readiness or liveness probe")
			continue
		}
		if p.Exec != nil && strings.Contains(strings.Join(p.Exec.Command, " "), "-a") {
			t.Errorf("probe passes the password on the command line: %v", p.Exec.Command)
		}
		if p.TCPSocket == nil || p.TCPSocket.Port.String() != "redis" {
			t.Errorf("probe = %+v, want tcpSocket on the redis port", p.ProbeHandler)
		}
	}
}

// assertRedisResources checks memory request = limit = the spec's memory, and 100m CPU.
func assertRedisResources(t *testing.T, c corev1.Container, memory string) {
	t.Helper()
	mem := resource.MustParse(memory)
	if r := c.Resources.Requests[corev1.ResourceMemory]; r.Cmp(mem) != 0 {
		t.Errorf("memory request = %s, want %s", r.String(), memory)
	}
	if l := c.Resources.Limits[corev1.ResourceMemory]; l.Cmp(mem) != 0 {
		t.Errorf("memory limit = %s, want %s", l.String(), memory)
	}
	if r := c.Resources.Requests[corev1.ResourceCPU]; r.String() != "100m" {
		t.Errorf("cpu request = %s, want 100m", r.String())
	}
}

// assertRedisVolumes checks the read-only config and /data: a claim template of
// claimSize with persistence, an emptyDir without.
func assertRedisVolumes(t *testing.T, s appsv1.StatefulSetSpec, c corev1.Container, claimSize string, class *string) {
	t.Helper()
	pod := s.Template.Spec
	if m := mountAt(c, "/etc/redis"); m == nil || !m.ReadOnly {
		t.Errorf("config mount = %+v, want read-only at /etc/redis", m)
	} else if v := volumeNamed(pod, m.Name); v == nil || v.ConfigMap == nil || v.ConfigMap.Name != "demo-redis" {
		t.Errorf("config volume = %+v, want ConfigMap demo-redis", v)
	}
	data := mountAt(c, "/data")
	switch {
	case data == nil:
		t.Error("no /data mount")
	case claimSize == "":
		if len(s.VolumeClaimTemplates) != 0 {
			t.Errorf("volumeClaimTemplates = %d, want none without persistence", len(s.VolumeClaimTemplates))
		}
		if v := volumeNamed(pod, data.Name); v == nil || v.EmptyDir == nil {
			t.Errorf("/data volume = %+v, want an emptyDir", v)
		}
	default:
		if volumeNamed(pod, data.Name) != nil {
			t.Errorf("/data is a pod volume; want the claim template %q", data.Name)
		}
		assertClaimTemplate(t, s, data.Name, claimSize, class)
	}
}

// assertSingletonStatefulSet checks what the managed Redis and MariaDB share: one
// replica, the governing Service, the selector, the config hash on the pod template,
// placement, no API token, and a hardened pod of one container, which it returns.
func assertSingletonStatefulSet(t *testing.T, sts *appsv1.StatefulSet, g *galleryv1alpha1.Gallery, name, component, hash string, uid int64) corev1.Container {
	t.Helper()
	assertApplyable(t, sts, "apps/v1", "StatefulSet", name, component)
	s := sts.Spec
	if s.Replicas == nil || *s.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", s.Replicas)
	}
	if s.ServiceName != name {
		t.Errorf("serviceName = %q, want %s", s.ServiceName, name)
	}
	assertSelects(t, s.Selector.MatchLabels, s.Template.Labels, g.SelectorLabels(component))
	if got := s.Template.Annotations[AnnotationConfigHash]; got != hash {
		t.Errorf("pod annotation %s = %q, want %s", AnnotationConfigHash, got, hash)
	}
	pod := s.Template.Spec
	assertHardened(t, pod, uid)
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s mounts a service account token; it never calls the API", name)
	}
	if !slices.Equal(pod.ImagePullSecrets, g.Spec.ImagePullSecrets) {
		t.Errorf("imagePullSecrets = %v, want the spec's %v", pod.ImagePullSecrets, g.Spec.ImagePullSecrets)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	return pod.Containers[0]
}

// assertSelects checks that a selector is exactly want and that the pod labels carry it.
func assertSelects(t *testing.T, selector, podLabels, want map[string]string) {
	t.Helper()
	if len(selector) != len(want) {
		t.Errorf("selector = %v, want %v", selector, want)
	}
	for k, v := range want {
		if selector[k] != v {
			t.Errorf("selector %s = %q, want %q", k, selector[k], v)
		}
		if podLabels[k] != v {
			t.Errorf("pod label %s = %q, want %q (the selector would not match)", k, podLabels[k], v)
		}
	}
}

// assertClaimTemplate checks a StatefulSet's claim template: ReadWriteOnce, size, class.
func assertClaimTemplate(t *testing.T, s appsv1.StatefulSetSpec, name, size string, class *string) {
	t.Helper()
	if len(s.VolumeClaimTemplates) != 1 || s.VolumeClaimTemplates[0].Name != name {
		t.Fatalf("volumeClaimTemplates = %+v, want one named %s", s.VolumeClaimTemplates, name)
	}
	pvc := s.VolumeClaimTemplates[0].Spec
	if got := pvc.Resources.Requests[corev1.ResourceStorage]; got.Cmp(resource.MustParse(size)) != 0 {
		t.Errorf("claim size = %s, want %s", got.String(), size)
	}
	if len(pvc.AccessModes) != 1 || pvc.AccessModes[0] != corev1.ReadWriteOnce {
		t.Errorf("access modes = %v, want [ReadWriteOnce]", pvc.AccessModes)
	}
	if ptr.Deref(pvc.StorageClassName, "<default>") != ptr.Deref(class, "<default>") {
		t.Errorf("storage class = %v, want %v", ptr.Deref(pvc.StorageClassName, "<default>"), ptr.Deref(class, "<default>"))
	}
}

// assertService checks a ClusterIP Service with one named TCP port to a named target.
func assertService(t *testing.T, svc *corev1.Service, name, component, portName string, port int32) {
	t.Helper()
	assertApplyable(t, svc, "v1", "Service", name, component)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("type = %q, want ClusterIP", svc.Spec.Type)
	}
	assertSelects(t, svc.Spec.Selector, gallery().SelectorLabels(component), gallery().SelectorLabels(component))
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("ports = %+v, want one", svc.Spec.Ports)
	}
	p := svc.Spec.Ports[0]
	if p.Name != portName || p.Port != port || p.TargetPort.String() != portName || p.Protocol != corev1.ProtocolTCP {
		t.Errorf("port = %+v, want %s %d/TCP to target %s", p, portName, port, portName)
	}
}

func TestRedisService(t *testing.T) {
	assertService(t, RedisService(gallery()), "demo-redis", galleryv1alpha1.ComponentRedis, "redis", 6379)
}
