package specs

import (
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestServiceAccount(t *testing.T) {
	irsa := map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/gallery"}
	for _, tt := range []struct {
		name, component, want string
		g                     *galleryv1alpha1.Gallery
		annotations           map[string]string
	}{
		{"server", galleryv1alpha1.ComponentServer, "demo-server", gallery(), nil},
		{"workers", galleryv1alpha1.ComponentWorkers, "demo-workers", gallery(), nil},
		{"server with IRSA", galleryv1alpha1.ComponentServer, "demo-server", gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Placement.ServiceAccountAnnotations = maps.Clone(irsa)
		}), irsa},
		{"workers with IRSA", galleryv1alpha1.ComponentWorkers, "demo-workers", gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Placement.ServiceAccountAnnotations = maps.Clone(irsa)
		}), irsa},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sa := ServiceAccount(tt.g, tt.component)
			assertApplyable(t, sa, "v1", "ServiceAccount", tt.want, tt.component)
			if !maps.Equal(sa.Annotations, tt.annotations) {
				t.Errorf("annotations = %v, want %v", sa.Annotations, tt.annotations)
			}
			if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				t.Error("the ServiceAccount mounts an API token; the gallery never calls the API")
			}
			if len(tt.annotations) > 0 {
				sa.Annotations["changed"] = "by a caller"
				if _, ok := tt.g.Spec.Placement.ServiceAccountAnnotations["changed"]; ok {
					t.Error("the ServiceAccount's annotations are the Gallery's map, not a copy")
				}
			}
		})
	}
}

func TestServerService(t *testing.T) {
	assertService(t, ServerService(gallery()), "demo-server", galleryv1alpha1.ComponentServer, "http", 80)
	assertService(t, ServerService(gallery(withServerPort(9000))), "demo-server", galleryv1alpha1.ComponentServer, "http", 80)
}

// No Service of a Gallery (the Ingress routes to the server's) reaches the metrics port,
// so the metrics are never public on the gallery's host name.
func TestNoServiceExposesTheMetricsPort(t *testing.T) {
	for _, g := range []*galleryv1alpha1.Gallery{gallery(), gallery(withMetricsPort(9464), withServerPort(9000))} {
		for _, s := range []*corev1.Service{ServerService(g), RedisService(g), MariaDBService(g)} {
			for _, p := range s.Spec.Ports {
				if p.TargetPort == intstr.FromString(MetricsPortName) || p.TargetPort == intstr.FromInt32(g.Spec.Monitoring.MetricsPort) ||
					p.Port == g.Spec.Monitoring.MetricsPort {
					t.Errorf("Service %s exposes the metrics port: %+v", s.Name, p)
				}
			}
		}
	}
}

func TestServerDeployment(t *testing.T) {
	tests := []struct {
		name     string
		g        *galleryv1alpha1.Gallery
		replicas *int32 // nil: left to the HPA
		recreate bool
		maxSurge intstr.IntOrString
	}{{
		name:     "defaults: two replicas, rolling 25%",
		g:        gallery(),
		replicas: ptr.To[int32](2),
		maxSurge: intstr.FromString("25%"),
	}, {
		name: "fixed replicas and an absolute surge",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Server.Replicas = ptr.To[int32](5)
			g.Spec.Server.MaxSurge = ptr.To(intstr.FromInt32(2))
		}),
		replicas: ptr.To[int32](5),
		maxSurge: intstr.FromInt32(2),
	}, {
		name:     "zero replicas is kept (a stopped gallery)",
		g:        gallery(func(g *galleryv1alpha1.Gallery) { g.Spec.Server.Replicas = ptr.To[int32](0) }),
		replicas: ptr.To[int32](0),
		maxSurge: intstr.FromString("25%"),
	}, {
		name: "autoscaled: the HPA owns replicas",
		g: gallery(withServerAutoscaling(2, 10), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Server.Replicas = ptr.To[int32](7)
		}),
		maxSurge: intstr.FromString("25%"),
	}, {
		name:     "workers autoscaled only: the server keeps its fixed count",
		g:        gallery(withWorkersAutoscaling(1, 10)),
		replicas: ptr.To[int32](2),
		maxSurge: intstr.FromString("25%"),
	}, {
		name:     "embedded: one pod, recreated so the old one lets go of SQLite",
		g:        gallery(withEmbeddedDatabase()),
		replicas: ptr.To[int32](1),
		recreate: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ServerDeployment(tt.g, "cafe0123")
			assertApplyable(t, d, "apps/v1", "Deployment", "demo-server", galleryv1alpha1.ComponentServer)
			if !equality.Semantic.DeepEqual(d.Spec.Replicas, tt.replicas) {
				t.Errorf("replicas = %v, want %v", ptr.Deref(d.Spec.Replicas, -1), ptr.Deref(tt.replicas, -1))
			}
			s := d.Spec.Strategy
			if tt.recreate {
				if s.Type != appsv1.RecreateDeploymentStrategyType || s.RollingUpdate != nil {
					t.Errorf("strategy = %+v, want Recreate", s)
				}
			} else if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
				!equality.Semantic.DeepEqual(s.RollingUpdate.MaxUnavailable, ptr.To(intstr.FromInt32(0))) ||
				!equality.Semantic.DeepEqual(s.RollingUpdate.MaxSurge, &tt.maxSurge) {
				t.Errorf("strategy = %+v, want RollingUpdate maxUnavailable 0 maxSurge %s", s, tt.maxSurge.String())
			}
			if ptr.Deref(d.Spec.RevisionHistoryLimit, 0) != 5 {
				t.Errorf("revisionHistoryLimit = %v, want 5", d.Spec.RevisionHistoryLimit)
			}
			assertGalleryPod(t, d, tt.g, galleryv1alpha1.ComponentServer, "cafe0123")
			c := d.Spec.Template.Spec.Containers[0]
			if c.Name != "server" || c.Image != tt.g.Spec.Server.Image || !slices.Equal(c.Args, []string{"serve"}) {
				t.Errorf("container %s image %s args %q, want server %s [serve]", c.Name, c.Image, c.Args, tt.g.Spec.Server.Image)
			}
			if !equality.Semantic.DeepEqual(c.Resources, tt.g.Spec.Server.Resources) {
				t.Errorf("resources = %+v, want the spec's", c.Resources)
			}
		})
	}
}

// assertGalleryPod checks what server and worker pods share: selector, config hash,
// ServiceAccount, hardening, no API token, the ConfigMap through envFrom, the http and
// metrics ports.
func assertGalleryPod(t *testing.T, d *appsv1.Deployment, g *galleryv1alpha1.Gallery, component, hash string) {
	t.Helper()
	assertSelects(t, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels, g.SelectorLabels(component))
	if got := d.Spec.Template.Annotations[AnnotationConfigHash]; got != hash {
		t.Errorf("pod annotation %s = %q, want %q", AnnotationConfigHash, got, hash)
	}
	pod := d.Spec.Template.Spec
	assertHardened(t, pod, GalleryUID)
	if pod.ServiceAccountName != g.Name+"-"+component {
		t.Errorf("serviceAccountName = %q, want %s-%s", pod.ServiceAccountName, g.Name, component)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts an API token")
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("service links are on: Kubernetes would inject env that shadows the app's")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != "demo-config" {
		t.Errorf("envFrom = %+v, want the ConfigMap demo-config", c.EnvFrom)
	}
	wantPorts := []corev1.ContainerPort{
		{Name: "http", ContainerPort: g.Spec.Server.Port, Protocol: corev1.ProtocolTCP},
		{Name: "metrics", ContainerPort: g.Spec.Monitoring.MetricsPort, Protocol: corev1.ProtocolTCP},
	}
	if !equality.Semantic.DeepEqual(c.Ports, wantPorts) {
		t.Errorf("ports = %+v, want http %d/TCP and metrics %d/TCP", c.Ports, g.Spec.Server.Port, g.Spec.Monitoring.MetricsPort)
	}
	if c.ImagePullPolicy != g.Spec.Server.ImagePullPolicy {
		t.Errorf("imagePullPolicy = %s, want %s", c.ImagePullPolicy, g.Spec.Server.ImagePullPolicy)
	}
	for _, s := range SecretEnv(g) {
		assertSecretEnv(t, c, s.Env, s.Secret, s.Key)
	}
}

func TestServerDeploymentConfigHash(t *testing.T) {
	a, b := ServerDeployment(gallery(), "aaaa"), ServerDeployment(gallery(), "bbbb")
	if equality.Semantic.DeepEqual(a.Spec.Template, b.Spec.Template) {
		t.Error("a new config hash leaves the pod template unchanged: the pods would not roll")
	}
	b.Spec.Template.Annotations[AnnotationConfigHash] = "aaaa"
	if !equality.Semantic.DeepEqual(a, b) {
		t.Error("the config hash changes more than its annotation")
	}
}

func TestServerDeploymentMigrate(t *testing.T) {
	for name, g := range map[string]*galleryv1alpha1.Gallery{
		"defaults": gallery(),
		"embedded with a custom model and extra env": gallery(withEmbeddedDatabase(), withCustomModelClaim("models"),
			func(g *galleryv1alpha1.Gallery) {
				g.Spec.Server.Env = []galleryv1alpha1.EnvVar{{Name: "TZ", Value: "UTC"}}
			}),
		"external services with CAs": gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withDatabaseCA("rds-ca", "ca.pem"),
			withExternalRedis(), withRedisCA("cache-ca", "ca.crt"), withS3(), withS3Credentials("s3-creds")),
	} {
		t.Run(name, func(t *testing.T) {
			pod := ServerDeployment(g, "h").Spec.Template.Spec
			if len(pod.InitContainers) != 1 {
				t.Fatalf("init containers = %d, want migrate only", len(pod.InitContainers))
			}
			m, c := pod.InitContainers[0], pod.Containers[0]
			if m.Name != "migrate" || !slices.Equal(m.Args, []string{"migrate"}) {
				t.Errorf("init container %s args %q, want migrate [migrate]", m.Name, m.Args)
			}
			if m.Image != c.Image || m.ImagePullPolicy != c.ImagePullPolicy {
				t.Errorf("migrate runs %s (%s), the server %s (%s)", m.Image, m.ImagePullPolicy, c.Image, c.ImagePullPolicy)
			}
			if !equality.Semantic.DeepEqual(m.EnvFrom, c.EnvFrom) || !equality.Semantic.DeepEqual(m.Env, c.Env) {
				t.Error("migrate does not read the server's configuration")
			}
			if !equality.Semantic.DeepEqual(m.VolumeMounts, c.VolumeMounts) {
				t.Errorf("migrate mounts %+v, the server %+v", m.VolumeMounts, c.VolumeMounts)
			}
			if !equality.Semantic.DeepEqual(m.SecurityContext, c.SecurityContext) || !equality.Semantic.DeepEqual(m.Resources, c.Resources) {
				t.Error("migrate's securityContext or resources differ from the server's")
			}
			if m.StartupProbe != nil || m.LivenessProbe != nil || m.ReadinessProbe != nil || m.Lifecycle != nil || len(m.Ports) != 0 {
				t.Error("migrate has probes, a lifecycle or ports; an init container must not")
			}
		})
	}
}

func TestServerDeploymentProbes(t *testing.T) {
	custom := galleryv1alpha1.ProbesSpec{
		Liveness:  galleryv1alpha1.ProbeTiming{PeriodSeconds: 20, TimeoutSeconds: 5, FailureThreshold: 6},
		Readiness: galleryv1alpha1.ProbeTiming{PeriodSeconds: 3, TimeoutSeconds: 1, FailureThreshold: 1},
		Startup:   galleryv1alpha1.ProbeTiming{PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 120},
	}
	for _, tt := range []struct {
		name   string
		g      *galleryv1alpha1.Gallery
		probes galleryv1alpha1.ProbesSpec
	}{
		{"defaults", gallery(), gallery().Spec.Server.Probes},
		{"custom timings", gallery(func(g *galleryv1alpha1.Gallery) { g.Spec.Server.Probes = custom }), custom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ServerDeployment(tt.g, "h").Spec.Template.Spec.Containers[0]
			assertProbe(t, "startup", c.StartupProbe, "/livez", tt.probes.Startup)
			assertProbe(t, "liveness", c.LivenessProbe, "/livez", tt.probes.Liveness)
			assertProbe(t, "readiness", c.ReadinessProbe, "/readyz", tt.probes.Readiness)
		})
	}
}

// assertProbe checks an HTTP GET probe of path on the named port http, timed as want.
func assertProbe(t *testing.T, kind string, p *corev1.Probe, path string, want galleryv1alpha1.ProbeTiming) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s probe = %+v, want HTTP GET %s", kind, p, path)
		return
	}
	if p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") {
		t.Errorf("%s probe GET %s on %s, want %s on http", kind, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
	}
	if p.PeriodSeconds != want.PeriodSeconds || p.TimeoutSeconds != want.TimeoutSeconds || p.FailureThreshold != want.FailureThreshold {
		t.Errorf("%s probe every %ds, timeout %ds, %d failures; want %d, %d, %d", kind,
			p.PeriodSeconds, p.TimeoutSeconds, p.FailureThreshold, want.PeriodSeconds, want.TimeoutSeconds, want.FailureThreshold)
	}
}

func TestServerDeploymentShutdown(t *testing.T) {
	for _, tt := range []struct {
		name           string
		grace, preStop int64
	}{
		{"defaults: 10s preStop sleep in a 60s grace", 60, 10},
		{"long deregistration delay", 300, 120},
		{"no preStop delay: no lifecycle hook", 30, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := gallery(func(g *galleryv1alpha1.Gallery) {
				g.Spec.Server.TerminationGracePeriodSeconds = tt.grace
				g.Spec.Server.PreStopDelaySeconds = tt.preStop
			})
			pod := ServerDeployment(g, "h").Spec.Template.Spec
			if ptr.Deref(pod.TerminationGracePeriodSeconds, -1) != tt.grace {
				t.Errorf("terminationGracePeriodSeconds = %v, want %d", pod.TerminationGracePeriodSeconds, tt.grace)
			}
			l := pod.Containers[0].Lifecycle
			if tt.preStop == 0 {
				if l != nil {
					t.Errorf("lifecycle = %+v, want none without a preStop delay", l)
				}
				return
			}
			if l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds != tt.preStop ||
				l.PreStop.Exec != nil || l.PreStop.HTTPGet != nil {
				t.Errorf("preStop = %+v, want sleep %ds", l, tt.preStop)
			}
		})
	}
}

func TestServerDeploymentExtraEnv(t *testing.T) {
	extra := []galleryv1alpha1.EnvVar{
		{Name: "TZ", Value: "Europe/London"},
		{Name: "SORTOGRAPHER_LOG_LEVEL", Value: "debug"},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	g := gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL), func(g *galleryv1alpha1.Gallery) { g.Spec.Server.Env = extra })
	c := ServerDeployment(g, "h").Spec.Template.Spec.Containers[0]
	operator := len(SecretEnv(g)) + 1 // and GOMEMLIMIT (TestGoMemLimit)
	if len(c.Env) != operator+len(extra) {
		t.Fatalf("env = %d entries, want %d of the operator's then %d extra", len(c.Env), operator, len(extra))
	}
	if !equality.Semantic.DeepEqual(c.Env[operator:], galleryv1alpha1.CoreEnv(extra)) {
		t.Errorf("env ends with %+v, want the spec's %+v after the operator's", c.Env[operator:], extra)
	}
	for i, r := range SecretEnv(g) {
		if c.Env[i].Name != r.Env {
			t.Errorf("env[%d] = %s, want the operator's %s first", i, c.Env[i].Name, r.Env)
		}
	}
	if w := WorkersDeployment(g, "h", nil).Spec.Template.Spec.Containers[0]; envNamed(w, "TZ") != nil {
		t.Error("the server's extra env reaches the workers")
	}
}

func TestGalleryPodVolumes(t *testing.T) {
	type mount struct {
		path     string
		readOnly bool
	}
	tests := []struct {
		name   string
		g      *galleryv1alpha1.Gallery
		mounts map[string]mount // volume name -> mount
		check  func(t *testing.T, pod corev1.PodSpec)
	}{{
		name:   "defaults: /tmp and the photo volume",
		g:      gallery(),
		mounts: map[string]mount{"tmp": {"/tmp", false}, "photos": {PhotosDir, false}},
		check: func(t *testing.T, pod corev1.PodSpec) {
			assertClaimVolume(t, pod, "photos", "demo-photos", false)
			if v := volumeNamed(pod, "tmp"); v == nil || v.EmptyDir == nil {
				t.Errorf("tmp volume = %+v, want an emptyDir", v)
			}
		},
	}, {
		name:   "S3: no photo volume",
		g:      gallery(withS3()),
		mounts: map[string]mount{"tmp": {"/tmp", false}},
	}, {
		name:   "embedded: photos and the SQLite volume",
		g:      gallery(withEmbeddedDatabase()),
		mounts: map[string]mount{"tmp": {"/tmp", false}, "photos": {PhotosDir, false}, "sqlite": {SQLiteDir, false}},
		check: func(t *testing.T, pod corev1.PodSpec) {
			assertClaimVolume(t, pod, "sqlite", "demo-sqlite", false)
		},
	}, {
		name:   "embedded with S3: only the SQLite volume",
		g:      gallery(withEmbeddedDatabase(), withS3()),
		mounts: map[string]mount{"tmp": {"/tmp", false}, "sqlite": {SQLiteDir, false}},
	}, {
		name: "CA bundles mounted read-only, one key each",
		g: gallery(withS3(), withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withDatabaseCA("rds-ca", "global-bundle.pem"),
			withExternalRedis(), withRedisCA("cache-ca", "ca.crt")),
		mounts: map[string]mount{"tmp": {"/tmp", false}, "database-ca": {DatabaseCADir, true}, "redis-ca": {RedisCADir, true}},
		check: func(t *testing.T, pod corev1.PodSpec) {
			assertSecretVolume(t, pod, "database-ca", "rds-ca", "global-bundle.pem")
			assertSecretVolume(t, pod, "redis-ca", "cache-ca", "ca.crt")
		},
	}, {
		name:   "custom model from a ConfigMap",
		g:      gallery(withS3(), withCustomModelConfigMap("my-model")),
		mounts: map[string]mount{"tmp": {"/tmp", false}, "model": {ModelDir, true}},
		check: func(t *testing.T, pod corev1.PodSpec) {
			v := volumeNamed(pod, "model")
			if v == nil || v.ConfigMap == nil || v.ConfigMap.Name != "my-model" || v.PersistentVolumeClaim != nil {
				t.Errorf("model volume = %+v, want ConfigMap my-model", v)
			}
		},
	}, {
		name:   "custom model from a PVC, read-only",
		g:      gallery(withS3(), withCustomModelClaim("models")),
		mounts: map[string]mount{"tmp": {"/tmp", false}, "model": {ModelDir, true}},
		check: func(t *testing.T, pod corev1.PodSpec) {
			assertClaimVolume(t, pod, "model", "models", true)
			if v := volumeNamed(pod, "model"); v != nil && v.ConfigMap != nil {
				t.Errorf("model volume is also a ConfigMap: %+v", v)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods := map[string]corev1.PodSpec{"server": ServerDeployment(tt.g, "h").Spec.Template.Spec}
			if w := WorkersDeployment(tt.g, "h", nil); w != nil {
				pods["workers"] = w.Spec.Template.Spec
			}
			for component, pod := range pods {
				var names []string
				for _, v := range pod.Volumes {
					names = append(names, v.Name)
				}
				if got, want := slices.Sorted(slices.Values(names)), slices.Sorted(maps.Keys(tt.mounts)); !slices.Equal(got, want) {
					t.Errorf("%s volumes = %q, want %q", component, got, want)
				}
				c := pod.Containers[0]
				if len(c.VolumeMounts) != len(tt.mounts) {
					t.Errorf("%s mounts = %+v, want %d", component, c.VolumeMounts, len(tt.mounts))
				}
				for name, want := range tt.mounts {
					m := mountAt(c, want.path)
					if m == nil || m.Name != name || m.ReadOnly != want.readOnly {
						t.Errorf("%s mount at %s = %+v, want volume %s read-only %v", component, want.path, m, name, want.readOnly)
					}
				}
				if tt.check != nil {
					tt.check(t, pod)
				}
			}
		})
	}
}

func assertClaimVolume(t *testing.T, pod corev1.PodSpec, name, claim string, readOnly bool) {
	t.Helper()
	v := volumeNamed(pod, name)
	if v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claim || v.PersistentVolumeClaim.ReadOnly != readOnly {
		t.Errorf("volume %s = %+v, want PVC %s read-only %v", name, v, claim, readOnly)
	}
}

func assertSecretVolume(t *testing.T, pod corev1.PodSpec, name, secret, key string) {
	t.Helper()
	v := volumeNamed(pod, name)
	if v == nil || v.Secret == nil || v.Secret.SecretName != secret {
		t.Errorf("volume %s = %+v, want Secret %s", name, v, secret)
		return
	}
	if len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != key || v.Secret.Items[0].Path != key {
		t.Errorf("volume %s items = %+v, want only %s at %s", name, v.Secret.Items, key, key)
	}
	if m := ptr.Deref(v.Secret.DefaultMode, 0o644); m&0o007 != 0 || m&0o040 == 0 {
		t.Errorf("volume %s mode = %o, want group-readable and nothing for others", name, m)
	}
}

func TestGalleryPodPlacement(t *testing.T) {
	// The spec's own types, and the pod fields they must become.
	tolerations := []galleryv1alpha1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gallery", Effect: corev1.TaintEffectNoSchedule}}
	wantTolerations := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gallery", Effect: corev1.TaintEffectNoSchedule}}
	affinity := &galleryv1alpha1.Affinity{
		NodeAffinity: &galleryv1alpha1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &galleryv1alpha1.NodeSelector{
			NodeSelectorTerms: []galleryv1alpha1.NodeSelectorTerm{{MatchExpressions: []galleryv1alpha1.NodeSelectorRequirement{{
				Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"arm64"},
			}}}},
		}},
		PodAntiAffinity: &galleryv1alpha1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []galleryv1alpha1.WeightedPodAffinityTerm{{
			Weight: 50, PodAffinityTerm: galleryv1alpha1.PodAffinityTerm{
				TopologyKey: "kubernetes.io/hostname",
				LabelSelector: &galleryv1alpha1.LabelSelector{
					MatchLabels:      map[string]galleryv1alpha1.LabelValue{"app": "batch"},
					MatchExpressions: []galleryv1alpha1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []galleryv1alpha1.LabelValue{"heavy"}}},
				},
			},
		}}},
	}
	wantAffinity := &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"arm64"},
			}}}},
		}},
		PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey: "kubernetes.io/hostname",
				LabelSelector: &metav1.LabelSelector{
					MatchLabels:      map[string]string{"app": "batch"},
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"heavy"}}},
				},
			},
		}}},
	}
	if got := galleryv1alpha1.CoreTolerations(tolerations); !equality.Semantic.DeepEqual(got, wantTolerations) {
		t.Errorf("tolerations become %+v, want %+v", got, wantTolerations)
	}
	if got := affinity.Core(); !equality.Semantic.DeepEqual(got, wantAffinity) {
		t.Errorf("affinity becomes %+v, want %+v", got, wantAffinity)
	}
	placed := func(g *galleryv1alpha1.Gallery) {
		p := &g.Spec.Placement
		p.NodeSelector = map[string]galleryv1alpha1.LabelValue{"node.kubernetes.io/pool": "gallery"}
		p.Tolerations = tolerations
		p.Affinity = affinity
		p.PriorityClassName = "gallery-high"
	}
	tests := []struct {
		name string
		g    *galleryv1alpha1.Gallery
		// spread: nil means no topology spread constraint.
		spread *corev1.TopologySpreadConstraint
	}{{
		name:   "defaults: zone spread, skew 1, schedule anyway",
		g:      gallery(),
		spread: &corev1.TopologySpreadConstraint{MaxSkew: 1, WhenUnsatisfiable: corev1.ScheduleAnyway},
	}, {
		name: "everything placed, strict spread of 2",
		g: gallery(placed, withImagePullSecret("registry"), withImagePullSecret("mirror"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Placement.ZoneSpread.MaxSkew = 2
			g.Spec.Placement.ZoneSpread.WhenUnsatisfiable = "DoNotSchedule"
		}),
		spread: &corev1.TopologySpreadConstraint{MaxSkew: 2, WhenUnsatisfiable: corev1.DoNotSchedule},
	}, {
		name: "undefaulted zone spread: on, skew 1",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Placement.ZoneSpread = galleryv1alpha1.ZoneSpreadSpec{}
		}),
		spread: &corev1.TopologySpreadConstraint{MaxSkew: 1, WhenUnsatisfiable: corev1.ScheduleAnyway},
	}, {
		name: "zone spread off",
		g:    gallery(placed, withoutZoneSpread()),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for component, d := range map[string]*appsv1.Deployment{
				galleryv1alpha1.ComponentServer:  ServerDeployment(tt.g, "h"),
				galleryv1alpha1.ComponentWorkers: WorkersDeployment(tt.g, "h", ptr.To[int32](1)),
			} {
				pod := d.Spec.Template.Spec
				p := tt.g.Spec.Placement
				if !maps.Equal(pod.NodeSelector, p.NodeSelectorLabels()) || !equality.Semantic.DeepEqual(pod.Tolerations, galleryv1alpha1.CoreTolerations(p.Tolerations)) ||
					!equality.Semantic.DeepEqual(pod.Affinity, p.Affinity.Core()) || pod.PriorityClassName != p.PriorityClassName {
					t.Errorf("%s: placement = %v %v %v %q, want the spec's", component, pod.NodeSelector, pod.Tolerations, pod.Affinity, pod.PriorityClassName)
				}
				if !slices.Equal(pod.ImagePullSecrets, tt.g.Spec.ImagePullSecrets) {
					t.Errorf("%s: imagePullSecrets = %v, want %v", component, pod.ImagePullSecrets, tt.g.Spec.ImagePullSecrets)
				}
				if tt.spread == nil {
					if len(pod.TopologySpreadConstraints) != 0 {
						t.Errorf("%s: spread = %+v, want none", component, pod.TopologySpreadConstraints)
					}
					continue
				}
				if len(pod.TopologySpreadConstraints) != 1 {
					t.Fatalf("%s: spread = %+v, want one constraint", component, pod.TopologySpreadConstraints)
				}
				c := pod.TopologySpreadConstraints[0]
				if c.TopologyKey != "topology.kubernetes.io/zone" || c.MaxSkew != tt.spread.MaxSkew || c.WhenUnsatisfiable != tt.spread.WhenUnsatisfiable {
					t.Errorf("%s: spread over %s skew %d %s, want zone skew %d %s", component,
						c.TopologyKey, c.MaxSkew, c.WhenUnsatisfiable, tt.spread.MaxSkew, tt.spread.WhenUnsatisfiable)
				}
				if c.LabelSelector == nil || !maps.Equal(c.LabelSelector.MatchLabels, tt.g.SelectorLabels(component)) {
					t.Errorf("%s: spread selects %+v, want the %s pods", component, c.LabelSelector, component)
				}
				if !slices.Equal(c.MatchLabelKeys, []string{"pod-template-hash"}) {
					t.Errorf("%s: matchLabelKeys = %q, want [pod-template-hash] so a rollout does not skew", component, c.MatchLabelKeys)
				}
			}
		})
	}
}

// TestGoMemLimit: the server, its migrate init container and the workers get GOMEMLIMIT
// at 90% of their container's memory limit in bytes, none without a memory limit, and an
// admin's own GOMEMLIMIT (spec.server.env, spec.workers.env) instead of the operator's.
func TestGoMemLimit(t *testing.T) {
	adminEnv := func(server, workers string) galleryOption {
		return func(g *galleryv1alpha1.Gallery) {
			if server != "" {
				g.Spec.Server.Env = []galleryv1alpha1.EnvVar{{Name: "TZ", Value: "UTC"}, {Name: EnvGoMemLimit, Value: server}}
			}
			if workers != "" {
				g.Spec.Workers.Env = []galleryv1alpha1.EnvVar{{Name: EnvGoMemLimit, Value: workers}}
			}
		}
	}
	limits := func(server, workers corev1.ResourceRequirements) galleryOption {
		return func(g *galleryv1alpha1.Gallery) { g.Spec.Server.Resources, g.Spec.Workers.Resources = server, workers }
	}
	noMemoryLimit := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), "nvidia.com/gpu": resource.MustParse("1")},
	}
	tests := []struct {
		name            string
		g               *galleryv1alpha1.Gallery
		server, workers string // GOMEMLIMIT's value; "" for none
	}{
		{"the CRD's default 1Gi limits", gallery(), "966367641", "966367641"},
		{"binary and decimal limits, rounded down", gallery(limits(resources("1", "256Mi", "512Mi"), resources("1", "1G", "1G"))), "483183820", "900000000"},
		{"an exact tenth", gallery(limits(resources("1", "100Mi", "100Mi"), resources("1", "1001", "1001"))), "94371840", "900"},
		{"no overflow near int64's end", gallery(limits(resources("1", "1Gi", "7Ei"), resources("1", "1Gi", "8Gi"))), "7263405479023135948", "7730941132"},
		{"no memory limit, none", gallery(limits(noMemoryLimit, noMemoryLimit)), "", ""},
		{"a server without a limit, workers with one", gallery(limits(noMemoryLimit, resources("1", "2Gi", "2Gi"))), "", "1932735283"},
		{"the admin's own in spec.server.env wins", gallery(adminEnv("800MiB", "")), "800MiB", "966367641"},
		{"the admin's own in spec.workers.env wins", gallery(adminEnv("", "off")), "966367641", "off"},
		{"the admin's own without a memory limit", gallery(limits(noMemoryLimit, noMemoryLimit), adminEnv("700MiB", "1GiB")), "700MiB", "1GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := ServerDeployment(tt.g, "h").Spec.Template.Spec
			workers := WorkersDeployment(tt.g, "h", nil).Spec.Template.Spec
			for _, c := range []struct {
				container corev1.Container
				want      string
			}{{server.Containers[0], tt.server}, {server.InitContainers[0], tt.server}, {workers.Containers[0], tt.workers}} {
				var got []string
				for _, e := range c.container.Env {
					if e.Name == EnvGoMemLimit {
						got = append(got, e.Value)
					}
				}
				var want []string
				if c.want != "" {
					want = []string{c.want}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: GOMEMLIMIT values %q, want %q", c.container.Name, got, want)
				}
			}
		})
	}
}

func TestWorkersDeployment(t *testing.T) {
	tests := []struct {
		name     string
		g        *galleryv1alpha1.Gallery
		replicas *int32
		image    string
	}{{
		name:     "defaults: the server's image, the operator's count",
		g:        gallery(),
		replicas: ptr.To[int32](1),
		image:    galleryv1alpha1.DefaultGalleryImage,
	}, {
		name:  "nil replicas leave the count to the HPA or KEDA",
		g:     gallery(withWorkersAutoscaling(1, 10), withWorkersCPU(utilization(60, 0))),
		image: galleryv1alpha1.DefaultGalleryImage,
	}, {
		name:     "zero replicas",
		g:        gallery(),
		replicas: ptr.To[int32](0),
		image:    galleryv1alpha1.DefaultGalleryImage,
	}, {
		name: "own image, resources, env and grace",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			w := &g.Spec.Workers
			w.Image = "ghcr.io/sortographer/sortographer:v0.2.0-gpu"
			w.Resources = resources("2", "4Gi", "8Gi")
			w.Resources.Limits["nvidia.com/gpu"] = resource.MustParse("1")
			w.Env = []galleryv1alpha1.EnvVar{{Name: "OMP_NUM_THREADS", Value: "2"}}
			w.TerminationGracePeriodSeconds = 300
			g.Spec.Server.Env = []galleryv1alpha1.EnvVar{{Name: "SERVER_ONLY", Value: "1"}}
		}),
		replicas: ptr.To[int32](12),
		image:    "ghcr.io/sortographer/sortographer:v0.2.0-gpu",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := WorkersDeployment(tt.g, "beef", tt.replicas)
			if d == nil {
				t.Fatal("no workers Deployment")
			}
			assertApplyable(t, d, "apps/v1", "Deployment", "demo-workers", galleryv1alpha1.ComponentWorkers)
			if !equality.Semantic.DeepEqual(d.Spec.Replicas, tt.replicas) {
				t.Errorf("replicas = %v, want %v", ptr.Deref(d.Spec.Replicas, -1), ptr.Deref(tt.replicas, -1))
			}
			s := d.Spec.Strategy
			if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
				s.RollingUpdate.MaxUnavailable.String() != "0" || s.RollingUpdate.MaxSurge.String() != "25%" {
				t.Errorf("strategy = %+v, want RollingUpdate maxUnavailable 0 maxSurge 25%%", s)
			}
			assertGalleryPod(t, d, tt.g, galleryv1alpha1.ComponentWorkers, "beef")
			pod := d.Spec.Template.Spec
			c := pod.Containers[0]
			w := tt.g.Spec.Workers
			if c.Name != "workers" || c.Image != tt.image || !slices.Equal(c.Args, []string{"work"}) {
				t.Errorf("container %s image %s args %q, want workers %s [work]", c.Name, c.Image, c.Args, tt.image)
			}
			if !equality.Semantic.DeepEqual(c.Resources, w.Resources) {
				t.Errorf("resources = %+v, want the workers' %+v", c.Resources, w.Resources)
			}
			operator := len(SecretEnv(tt.g)) + 1 // and GOMEMLIMIT (TestGoMemLimit)
			if len(c.Env) != operator+len(w.Env) || !equality.Semantic.DeepEqual(c.Env[operator:], galleryv1alpha1.CoreEnv(w.Env)) {
				t.Errorf("env = %+v, want the operator's then %+v", c.Env, w.Env)
			}
			if ptr.Deref(pod.TerminationGracePeriodSeconds, -1) != w.TerminationGracePeriodSeconds {
				t.Errorf("grace = %v, want %d", pod.TerminationGracePeriodSeconds, w.TerminationGracePeriodSeconds)
			}
			probes := tt.g.Spec.Server.Probes
			assertProbe(t, "liveness", c.LivenessProbe, "/livez", probes.Liveness)
			assertProbe(t, "readiness", c.ReadinessProbe, "/readyz", probes.Readiness)
			if c.StartupProbe != nil || c.Lifecycle != nil || len(pod.InitContainers) != 0 {
				t.Error("workers have a startup probe, a preStop hook or init containers; only the server does")
			}
		})
	}
}

func TestWorkersDeploymentEmbedded(t *testing.T) {
	if d := WorkersDeployment(gallery(withEmbeddedDatabase()), "h", ptr.To[int32](1)); d != nil {
		t.Errorf("embedded database has a workers Deployment %s; the server classifies in-process", d.Name)
	}
}

// TestFailoverChangesRollThePods: each change docs/disaster-recovery.md has an admin make
// after promoting a reader of an external database rolls the server and the workers.
// What the pods read from the ConfigMap (host, port, readers) leaves the template alone
// here and rolls it through the config hash: the reconciler hashes the ConfigMap's data
// into it (controllers/phases.go, reconcileSecrets) and a new hash changes the template
// (TestServerDeploymentConfigHash). Which Secret and keys the pods read is in the
// template itself; a new value in the same Secret changes the hash (controllers
// TestChangedSecretRollsThePods).
func TestFailoverChangesRollThePods(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change galleryOption
		// inConfigMap: the change is in the ConfigMap's data; inTemplate: in the pod
		// template, under the same config hash.
		inConfigMap, inTemplate bool
	}{
		{"the promoted reader becomes the writer host", func(g *galleryv1alpha1.Gallery) {
			g.Spec.Database.External.Host = "gallery-reader-1.abc.eu-west-1.rds.amazonaws.com"
		}, true, false},
		{"the promoted reader leaves the reader hosts", func(g *galleryv1alpha1.Gallery) {
			g.Spec.Database.External.ReaderHosts = nil
		}, true, false},
		{"the new writer listens on another port", withDatabasePort(6543), true, false},
		{"the new writer's credentials are in another Secret", func(g *galleryv1alpha1.Gallery) {
			g.Spec.Database.External.CredentialsSecret.Name = "gallery-db-promoted"
		}, false, true},
		{"the new writer's password is under another key", func(g *galleryv1alpha1.Gallery) {
			g.Spec.Database.External.CredentialsSecret.PasswordKey = "password-promoted"
		}, false, true},
	} {
		for _, engine := range []galleryv1alpha1.DatabaseEngine{galleryv1alpha1.DatabaseMySQL, galleryv1alpha1.DatabasePostgres} {
			t.Run(string(engine)+"/"+tt.name, func(t *testing.T) {
				before, after := gallery(withExternalDatabase(engine)), gallery(withExternalDatabase(engine), tt.change)
				if changed := !maps.Equal(ConfigMap(before).Data, ConfigMap(after).Data); changed != tt.inConfigMap {
					t.Errorf("ConfigMap data changed: %t, want %t", changed, tt.inConfigMap)
				}
				for _, d := range []func(*galleryv1alpha1.Gallery) *appsv1.Deployment{
					func(g *galleryv1alpha1.Gallery) *appsv1.Deployment { return ServerDeployment(g, "same-hash") },
					func(g *galleryv1alpha1.Gallery) *appsv1.Deployment {
						return WorkersDeployment(g, "same-hash", ptr.To[int32](2))
					},
				} {
					a, b := d(before), d(after)
					if changed := !equality.Semantic.DeepEqual(a.Spec.Template, b.Spec.Template); changed != tt.inTemplate {
						t.Errorf("%s pod template changed: %t, want %t", a.Name, changed, tt.inTemplate)
					}
				}
			})
		}
	}
}
