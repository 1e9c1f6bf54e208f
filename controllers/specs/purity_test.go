package specs

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// purityShapes are Galleries that between them take every branch of every builder.
func purityShapes() map[string]*galleryv1alpha1.Gallery {
	return map[string]*galleryv1alpha1.Gallery{
		"defaults": gallery(),
		"embedded": gallery(withEmbeddedDatabase(), withCustomModelConfigMap("my-model"), withIngress("photos.example.com")),
		"external everything, placed, autoscaled": gallery(
			withExternalDatabase(galleryv1alpha1.DatabasePostgres), withDatabaseCA("rds-ca", "ca.pem"),
			withExternalRedis(), withRedisCA("cache-ca", "ca.crt"), withS3(), withS3Credentials("s3-creds"),
			withRekognition(), withJWTSecretRef("jwt", "key"), withCustomModelClaim("models"),
			withIngress("photos.example.com", "www.photos.example.com"), withIngressIssuer("Issuer", "team-ca"),
			withServerAutoscaling(2, 10), withServerCPU(utilization(60, 30)),
			withWorkersAutoscaling(1, 20), withWorkersCPU(utilization(70, 0)), withWorkersMemory(utilization(80, 40)),
			withImagePullSecret("registry"), withMaxUnavailable(intstr.FromString("25%")),
			func(g *galleryv1alpha1.Gallery) {
				p := &g.Spec.Placement
				p.NodeSelector = map[string]galleryv1alpha1.LabelValue{"pool": "gallery"}
				p.Tolerations = []galleryv1alpha1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
				p.Affinity = &galleryv1alpha1.Affinity{PodAntiAffinity: &galleryv1alpha1.PodAffinity{}}
				p.PriorityClassName = "high"
				p.ServiceAccountAnnotations = map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}
				g.Spec.Server.Env = []galleryv1alpha1.EnvVar{{Name: "TZ", Value: "UTC"}}
				g.Spec.Workers.Env = []galleryv1alpha1.EnvVar{{Name: "OMP_NUM_THREADS", Value: "2"}}
				g.Spec.Ingress.ClassName = ptr.To("alb")
				g.Spec.Ingress.Annotations = map[string]string{"alb.ingress.kubernetes.io/scheme": "internal"}
			}),
		"backlog on managed Redis, TLS by Secret": gallery(withWorkersAutoscaling(0, 10), withRedisPersistence("1Gi"),
			withIngress("photos.example.com"), withIngressTLSSecret("cert"), withoutZoneSpread(), withoutPodDisruptionBudget()),
		"monitored and traced": gallery(withMetricsPort(9464), withPodMonitor("15s", map[string]string{"release": "prometheus"}),
			withTracing("http://otel-collector.monitoring:4318", ptr.To[int32](25)),
			withMetricsFrom(networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "monitoring"}}}),
			func(g *galleryv1alpha1.Gallery) {
				g.Spec.Server.Env = []galleryv1alpha1.EnvVar{{Name: "OTEL_TRACES_SAMPLER", Value: "always_on"}}
			}),
		"not scraped": gallery(withoutPodMonitor()),
		"backed up to a volume, drilled": gallery(withEmbeddedDatabase(), withBackupToVolume("backups", "prod"), withDrill("@weekly", ""),
			withImagePullSecret("registry"), func(g *galleryv1alpha1.Gallery) {
				g.Spec.Placement.Affinity = &galleryv1alpha1.Affinity{PodAffinity: &galleryv1alpha1.PodAffinity{}}
			}),
		"backed up to S3, restored": gallery(withS3(), withBackupToS3("backups", "http://minio:9000", "creds"), withRestoreFrom("old", "")),
	}
}

// TestBuildersArePure builds every child twice from the same Gallery: the results are
// equal, and the Gallery is as it was. The reconciler relies on both to make no write
// in a steady state.
func TestBuildersArePure(t *testing.T) {
	values := map[string][]byte{"k": []byte("v")}
	builders := map[string]func(*galleryv1alpha1.Gallery) any{
		"ConfigMap":           func(g *galleryv1alpha1.Gallery) any { return ConfigMap(g) },
		"GeneratedSecretKeys": func(g *galleryv1alpha1.Gallery) any { return GeneratedSecretKeys(g) },
		"DatabaseSecretKeys":  func(g *galleryv1alpha1.Gallery) any { return DatabaseSecretKeys(g) },
		"GeneratedSecret":     func(g *galleryv1alpha1.Gallery) any { return GeneratedSecret(g, values) },
		"DatabaseSecret":      func(g *galleryv1alpha1.Gallery) any { return DatabaseSecret(g, values) },
		"SecretEnv":           func(g *galleryv1alpha1.Gallery) any { return SecretEnv(g) },
		"SecretFiles":         func(g *galleryv1alpha1.Gallery) any { return SecretFiles(g) },
		"ServiceAccount server": func(g *galleryv1alpha1.Gallery) any {
			return ServiceAccount(g, galleryv1alpha1.ComponentServer)
		},
		"ServiceAccount workers": func(g *galleryv1alpha1.Gallery) any {
			return ServiceAccount(g, galleryv1alpha1.ComponentWorkers)
		},
		"ServerDeployment":            func(g *galleryv1alpha1.Gallery) any { return ServerDeployment(g, "h") },
		"ServerService":               func(g *galleryv1alpha1.Gallery) any { return ServerService(g) },
		"WorkersDeployment":           func(g *galleryv1alpha1.Gallery) any { return WorkersDeployment(g, "h", ptr.To[int32](3)) },
		"WorkersDeployment, no count": func(g *galleryv1alpha1.Gallery) any { return WorkersDeployment(g, "h", nil) },
		"ServerHPA":                   func(g *galleryv1alpha1.Gallery) any { return ServerHPA(g, 3, true) },
		"WorkersHPA": func(g *galleryv1alpha1.Gallery) any {
			return WorkersHPA(g, WorkerScalerFor(g, false), 2, true)
		},
		"PodDisruptionBudget server": func(g *galleryv1alpha1.Gallery) any {
			return PodDisruptionBudget(g, galleryv1alpha1.ComponentServer)
		},
		"PodDisruptionBudget workers": func(g *galleryv1alpha1.Gallery) any {
			return PodDisruptionBudget(g, galleryv1alpha1.ComponentWorkers)
		},
		"Ingress":                  func(g *galleryv1alpha1.Gallery) any { return Ingress(g) },
		"URL":                      func(g *galleryv1alpha1.Gallery) any { return URL(g) },
		"PhotosClaim":              func(g *galleryv1alpha1.Gallery) any { return PhotosClaim(g) },
		"SQLiteClaim":              func(g *galleryv1alpha1.Gallery) any { return SQLiteClaim(g) },
		"WorkerScalerFor, KEDA":    func(g *galleryv1alpha1.Gallery) any { return WorkerScalerFor(g, true) },
		"WorkerScalerFor, no KEDA": func(g *galleryv1alpha1.Gallery) any { return WorkerScalerFor(g, false) },
		"ScaledObject": func(g *galleryv1alpha1.Gallery) any {
			return ScaledObject(g, WorkerScalerFor(g, true), 2)
		},
		"TriggerAuthentication": func(g *galleryv1alpha1.Gallery) any {
			return TriggerAuthentication(g, WorkerScalerFor(g, true))
		},
		"RedisConfigMap":     func(g *galleryv1alpha1.Gallery) any { return RedisConfigMap(g) },
		"RedisConfigHash":    func(g *galleryv1alpha1.Gallery) any { return RedisConfigHash(g) },
		"RedisStatefulSet":   func(g *galleryv1alpha1.Gallery) any { return RedisStatefulSet(g, "h") },
		"RedisService":       func(g *galleryv1alpha1.Gallery) any { return RedisService(g) },
		"MariaDBStatefulSet": func(g *galleryv1alpha1.Gallery) any { return MariaDBStatefulSet(g, "h") },
		"MariaDBService":     func(g *galleryv1alpha1.Gallery) any { return MariaDBService(g) },
		"NetworkPolicies": func(g *galleryv1alpha1.Gallery) any {
			return NetworkPolicies(g, WorkerScalerFor(g, true))
		},
		"PodMonitor":          func(g *galleryv1alpha1.Gallery) any { return PodMonitor(g) },
		"ClaimNames":          func(g *galleryv1alpha1.Gallery) any { return ClaimNames(g) },
		"BackupCronJob":       func(g *galleryv1alpha1.Gallery) any { return BackupCronJob(g) },
		"BackupJob":           func(g *galleryv1alpha1.Gallery) any { return BackupJob(g, "demo-backup-0a1b2c3d") },
		"RestoreDrillCronJob": func(g *galleryv1alpha1.Gallery) any { return RestoreDrillCronJob(g) },
		"RestoreJob":          func(g *galleryv1alpha1.Gallery) any { return RestoreJob(g) },
		"BackupCredentialRefs": func(g *galleryv1alpha1.Gallery) any {
			if g.Spec.Backup == nil {
				return nil
			}
			return BackupCredentialRefs(g.Spec.Backup.Destination)
		},
	}
	for shape, g := range purityShapes() {
		for name, build := range builders {
			if g.Spec.Database.Managed == nil && name == "MariaDBStatefulSet" {
				continue // the reconciler builds it only for a managed database
			}
			if g.Spec.Cache.Managed == nil && strings.HasPrefix(name, "Redis") && name != "RedisService" {
				continue // the reconciler builds these only for a managed Redis
			}
			before := g.DeepCopy()
			first, second := build(g), build(g)
			if !equality.Semantic.DeepEqual(first, second) {
				t.Errorf("%s of %q differs between two calls:\n%+v\n%+v", name, shape, first, second)
			}
			if !equality.Semantic.DeepEqual(g, before) {
				t.Errorf("%s of %q changed the Gallery", name, shape)
			}
		}
	}
}
