package specs

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testenv"
)

// Fixture identity: every test Gallery is demo in namespace photos.
const (
	testName      = "demo"
	testNamespace = "photos"
)

// galleryOption changes a fixture Gallery; options read as the sentence of a test case.
type galleryOption func(*galleryv1alpha1.Gallery)

// gallery is a Gallery as the API server returns it after applying the CRD's defaults
// (managed Redis and MariaDB, a 20Gi ReadWriteMany photo volume, the builtin classifier,
// zone spread on), changed by opts in order, with the operator's built-in default images.
func gallery(opts ...galleryOption) *galleryv1alpha1.Gallery {
	g := testenv.DefaultedGallery(testName, testNamespace)
	g.UID = "8d0c6a52-5a36-4a3e-9a7e-3f1d9c2b0a11"
	g.Generation = 1
	for _, o := range opts {
		o(g)
	}
	g.WithDefaultImages(galleryv1alpha1.BuiltinDefaultImages()) // as the reconciler does
	return g
}

// resources is CPU and memory requests and a memory limit, the shape of the CRD's
// defaults.
func resources(cpu, memory, memoryLimit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)},
	}
}

// withExternalRedis replaces the managed Redis with an ElastiCache-style one on 6379.
func withExternalRedis() galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Cache = galleryv1alpha1.CacheSpec{External: &galleryv1alpha1.ExternalRedisSpec{
			Address:           "my-cache.abc123.euw1.cache.amazonaws.com:6379",
			TLS:               &galleryv1alpha1.ClientTLSSpec{Enabled: true},
			PasswordSecretRef: &galleryv1alpha1.SecretKeyRef{Name: "redis-auth", Key: "token"},
		}}
	}
}

// withRedisAddress sets the external Redis' host:port (after withExternalRedis).
func withRedisAddress(address string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Cache.External.Address = address }
}

// withRedisPersistence gives the managed Redis a PVC of size.
func withRedisPersistence(size string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Cache.Managed.Persistence = &galleryv1alpha1.PersistenceSpec{Size: resource.MustParse(size)}
	}
}

// withRedisEviction sets the managed Redis' maxmemory-policy.
func withRedisEviction(p galleryv1alpha1.RedisEvictionPolicy) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Cache.Managed.EvictionPolicy = p }
}

// withRedisMemory sets the managed Redis' memory.
func withRedisMemory(q string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Cache.Managed.Memory = resource.MustParse(q) }
}

// withExternalDatabase replaces the managed MariaDB with an RDS-style database of engine
// on its engine's default port.
func withExternalDatabase(engine galleryv1alpha1.DatabaseEngine) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{External: &galleryv1alpha1.ExternalDatabaseSpec{
			Engine:      engine,
			Host:        "gallery.cluster-abc.eu-west-1.rds.amazonaws.com",
			ReaderHosts: []string{"gallery.cluster-ro-abc.eu-west-1.rds.amazonaws.com"},
			Name:        "sortographer",
			CredentialsSecret: galleryv1alpha1.CredentialsSecretRef{
				Name: "gallery-db", UsernameKey: "username", PasswordKey: "password",
			},
			TLSMode: "require",
		}}
	}
}

// withDatabasePort sets the external database's port (after withExternalDatabase).
func withDatabasePort(p int32) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Database.External.Port = ptr.To(p) }
}

// withEmbeddedDatabase makes the gallery a single server pod with SQLite: no workers.
func withEmbeddedDatabase() galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{Embedded: &galleryv1alpha1.EmbeddedDatabaseSpec{
			StorageSize: resource.MustParse("5Gi"),
		}}
	}
}

// withS3 stores photos in an AWS S3 bucket with the pod's credential chain.
func withS3() galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Storage = galleryv1alpha1.StorageSpec{S3: &galleryv1alpha1.S3StorageSpec{
			Bucket: "demo-photos",
			Region: "eu-west-1",
		}}
	}
}

// withS3Endpoint points S3 storage at an S3-compatible store (after withS3).
func withS3Endpoint(url string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Storage.S3.Endpoint = url
		g.Spec.Storage.S3.ForcePathStyle = true
	}
}

// withRekognition labels photos with AWS Rekognition in eu-west-1.
func withRekognition() galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Workers.Classifier.Provider = galleryv1alpha1.ClassifierRekognition
		g.Spec.Workers.Classifier.Rekognition = &galleryv1alpha1.RekognitionSpec{
			Region: "eu-west-1", MinConfidence: 70, MaxLabels: 20,
		}
	}
}

// withServerPort sets the port the server (and the workers' metrics) listen on.
func withServerPort(p int32) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Server.Port = p }
}

// withImagePullSecret adds a pull secret for every image of the Gallery.
func withImagePullSecret(name string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.ImagePullSecrets = append(g.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
}

// withoutZoneSpread turns zone spread off.
func withoutZoneSpread() galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Placement.ZoneSpread.Enabled = ptr.To(false) }
}

// Assertions shared by the builder tests.

// assertHardened checks the restricted Pod Security Standard and a read-only root on
// every container of a pod: non-root as uid, RuntimeDefault seccomp, no privilege
// escalation, every capability dropped, and a writable /tmp.
func assertHardened(t *testing.T, pod corev1.PodSpec, uid int64) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot is not true: %+v", psc)
	}
	if psc != nil && (psc.RunAsUser == nil || *psc.RunAsUser != uid) {
		t.Errorf("pod securityContext.runAsUser = %v, want %d", psc.RunAsUser, uid)
	}
	if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
		t.Errorf("pod seccompProfile = %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
			t.Errorf("container %s: capabilities = %+v, want drop [ALL] and no add", c.Name, sc.Capabilities)
		}
		if mountAt(c, "/tmp") == nil {
			t.Errorf("container %s: no writable /tmp under a read-only root", c.Name)
		}
	}
}

// mountAt is the container's volume mount at path, or nil.
func mountAt(c corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// volumeNamed is the pod's volume called name, or nil.
func volumeNamed(pod corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// envNamed is the container's environment variable called name, or nil.
func envNamed(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// assertSecretEnv checks that env var name comes from key of Secret secret.
func assertSecretEnv(t *testing.T, c corev1.Container, name, secret, key string) {
	t.Helper()
	e := envNamed(c, name)
	switch {
	case e == nil:
		t.Errorf("container %s has no env %s", c.Name, name)
	case e.Value != "":
		t.Errorf("env %s has a literal value; want it from Secret %s", name, secret)
	case e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
		t.Errorf("env %s is not from a Secret: %+v", name, e.ValueFrom)
	case e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != key:
		t.Errorf("env %s from Secret %s key %s, want %s key %s", name,
			e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, secret, key)
	}
}

// assertApplyable checks what the reconciler's server-side apply needs: apiVersion and
// kind survive the conversion to unstructured, and the object sits in the Gallery's
// namespace under its name with the Gallery's labels.
func assertApplyable(t *testing.T, obj runtime.Object, apiVersion, kind, name, component string) {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatalf("convert %T to unstructured: %v", obj, err)
	}
	if u["apiVersion"] != apiVersion || u["kind"] != kind {
		t.Errorf("%T: apiVersion/kind = %v/%v, want %s/%s", obj, u["apiVersion"], u["kind"], apiVersion, kind)
	}
	meta, _ := u["metadata"].(map[string]any)
	if meta["name"] != name || meta["namespace"] != testNamespace {
		t.Errorf("%T: name/namespace = %v/%v, want %s/%s", obj, meta["name"], meta["namespace"], name, testNamespace)
	}
	labels, _ := meta["labels"].(map[string]any)
	want := gallery().ChildLabels(component)
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("%T %s: label %s = %v, want %s", obj, name, k, labels[k], v)
		}
	}
}

// Options for the server, workers, scaling, ingress and secrets builders.

// utilization is an autoscaling target: out at target percent, in below scaleIn percent
// (0: the HPA's own tolerance).
func utilization(target, scaleIn int32) *galleryv1alpha1.UtilizationTarget {
	t := &galleryv1alpha1.UtilizationTarget{TargetUtilization: target}
	if scaleIn > 0 {
		t.ScaleInUtilization = ptr.To(scaleIn)
	}
	return t
}

// withServerAutoscaling autoscales the server between lo and hi pods with the CRD's
// defaults: memory out at 70% and in below 40%, scale-up at once, scale-down after 300s
// by one pod a minute.
func withServerAutoscaling(lo, hi int32) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		if g.Spec.Autoscaling == nil {
			g.Spec.Autoscaling = &galleryv1alpha1.AutoscalingSpec{}
		}
		g.Spec.Autoscaling.Server = &galleryv1alpha1.ScalingPolicy{
			MinReplicas:                   lo,
			MaxReplicas:                   hi,
			Memory:                        utilization(70, 40),
			ScaleDownStabilizationSeconds: 300,
			ScaleDownMaxPodsPerMinute:     1,
		}
	}
}

// withServerCPU sets the server's CPU target (after withServerAutoscaling).
func withServerCPU(t *galleryv1alpha1.UtilizationTarget) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Autoscaling.Server.CPU = t }
}

// withServerMemory sets or, with nil, removes the server's memory target (after
// withServerAutoscaling).
func withServerMemory(t *galleryv1alpha1.UtilizationTarget) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Autoscaling.Server.Memory = t }
}

// withWorkersAutoscaling autoscales the workers between lo and hi pods with the CRD's
// defaults: on the queue backlog at 20 jobs a worker, scale-down after 300s.
func withWorkersAutoscaling(lo, hi int32) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		if g.Spec.Autoscaling == nil {
			g.Spec.Autoscaling = &galleryv1alpha1.AutoscalingSpec{}
		}
		g.Spec.Autoscaling.Workers = &galleryv1alpha1.WorkerScalingPolicy{
			MinReplicas:                   lo,
			MaxReplicas:                   hi,
			Backlog:                       &galleryv1alpha1.BacklogTarget{TargetJobsPerWorker: 20},
			ScaleDownStabilizationSeconds: 300,
		}
	}
}

// withWorkersCPU sets the workers' CPU target (after withWorkersAutoscaling).
func withWorkersCPU(t *galleryv1alpha1.UtilizationTarget) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Autoscaling.Workers.CPU = t }
}

// withWorkersMemory sets the workers' memory target (after withWorkersAutoscaling).
func withWorkersMemory(t *galleryv1alpha1.UtilizationTarget) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Autoscaling.Workers.Memory = t }
}

// withoutWorkersBacklog scales the workers on CPU and memory only (after
// withWorkersAutoscaling).
func withoutWorkersBacklog() galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Autoscaling.Workers.Backlog = nil }
}

// withIngress exposes the gallery on hosts over plain HTTP with the CRD's 100Mi body size.
func withIngress(hosts ...string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Ingress = &galleryv1alpha1.IngressSpec{Hosts: hosts, MaxBodySize: resource.MustParse("100Mi")}
	}
}

// withIngressTLSSecret serves the ingress hosts over HTTPS with an existing certificate
// Secret (after withIngress).
func withIngressTLSSecret(secret string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		if g.Spec.Ingress.TLS == nil {
			g.Spec.Ingress.TLS = &galleryv1alpha1.IngressTLSSpec{}
		}
		g.Spec.Ingress.TLS.SecretName = secret
	}
}

// withIngressIssuer has cert-manager's issuer of kind (Issuer, ClusterIssuer or "" for
// an undefaulted spec) issue the ingress certificate (after withIngress).
func withIngressIssuer(kind, name string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		if g.Spec.Ingress.TLS == nil {
			g.Spec.Ingress.TLS = &galleryv1alpha1.IngressTLSSpec{}
		}
		g.Spec.Ingress.TLS.Issuer = &galleryv1alpha1.IssuerRef{Kind: kind, Name: name}
	}
}

// withJWTSecretRef signs sessions with the admin's own key instead of a generated one.
func withJWTSecretRef(secret, key string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Auth.JWTSecretRef = &galleryv1alpha1.SecretKeyRef{Name: secret, Key: key}
	}
}

// withOIDC turns on single sign-on through issuer, its client secret in the Secret
// "sso-client" under "secret", with the CRD's defaults.
func withOIDC(issuer string, more ...func(*galleryv1alpha1.OIDCSpec)) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		o := &galleryv1alpha1.OIDCSpec{
			Issuer: issuer, ClientID: "gallery",
			ClientSecretRef: galleryv1alpha1.SecretKeyRef{Name: "sso-client", Key: "secret"},
			Scopes:          []string{"openid", "email", "profile"},
			Claims:          galleryv1alpha1.OIDCClaimsSpec{Email: "email", Name: "name"},
			CreateAccounts:  ptr.To(true), LocalPasswords: ptr.To(true),
		}
		for _, m := range more {
			m(o)
		}
		g.Spec.Auth.OIDC = o
	}
}

// withS3Credentials reads S3 access keys from secret instead of the pod's chain (after
// withS3).
func withS3Credentials(secret string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Storage.S3.CredentialsSecret = secret }
}

// withDatabaseCA trusts the CA bundle in key of secret for the external database (after
// withExternalDatabase).
func withDatabaseCA(secret, key string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Database.External.CASecretRef = &galleryv1alpha1.SecretKeyRef{Name: secret, Key: key}
	}
}

// withRedisCA trusts the CA bundle in key of secret for the external Redis' TLS (after
// withExternalRedis).
func withRedisCA(secret, key string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Cache.External.TLS.CASecretRef = &galleryv1alpha1.SecretKeyRef{Name: secret, Key: key}
	}
}

// withCustomModelConfigMap has the builtin classifier load the admin's model from a
// ConfigMap.
func withCustomModelConfigMap(name string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Workers.Classifier.Builtin.CustomModel = &galleryv1alpha1.CustomModelSpec{ConfigMapName: name}
	}
}

// withCustomModelClaim has the builtin classifier load the admin's model from a PVC.
func withCustomModelClaim(name string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Workers.Classifier.Builtin.CustomModel = &galleryv1alpha1.CustomModelSpec{PersistentVolumeClaimName: name}
	}
}

// withoutPodDisruptionBudget turns PDBs off.
func withoutPodDisruptionBudget() galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Placement.PodDisruptionBudget.Enabled = ptr.To(false)
	}
}

// withMaxUnavailable sets the PDBs' maxUnavailable.
func withMaxUnavailable(v intstr.IntOrString) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Placement.PodDisruptionBudget.MaxUnavailable = &v }
}

// withMetricsPort moves the metrics to port p.
func withMetricsPort(p int32) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Monitoring.MetricsPort = p }
}

// withMetricsFrom lets only peers reach the metrics port.
func withMetricsFrom(peers ...networkingv1.NetworkPolicyPeer) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Monitoring.MetricsFrom = peers }
}

// withTracing sends traces to endpoint, recording percent of new traces (nil: the
// API's default).
func withTracing(endpoint string, percent *int32) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Monitoring.Tracing = &galleryv1alpha1.TracingSpec{Endpoint: endpoint, SamplingPercent: percent}
	}
}

// withPodMonitor sets the PodMonitor's interval and labels.
func withPodMonitor(interval string, labels map[string]string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Monitoring.PodMonitor.Interval = interval
		g.Spec.Monitoring.PodMonitor.Labels = labels
	}
}

// withoutPodMonitor turns the PodMonitor off.
func withoutPodMonitor() galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Monitoring.PodMonitor.Enabled = ptr.To(false) }
}

// withBackupToVolume backs up daily at 03:00 to the admin's claim, the CRD's defaults
// filled in (keep 7, photos, 100m/256Mi/1Gi).
func withBackupToVolume(claim, subPath string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Backup = &galleryv1alpha1.BackupSpec{
			Schedule:    "0 3 * * *",
			Destination: galleryv1alpha1.BackupLocation{Volume: &galleryv1alpha1.BackupVolumeLocation{ClaimName: claim, SubPath: subPath}},
			Retention:   galleryv1alpha1.BackupRetention{Keep: ptr.To[int32](7)},
			Photos:      ptr.To(true),
			Resources:   resources("100m", "256Mi", "1Gi"),
		}
	}
}

// withBackupToS3 backs up to a bucket on an S3-compatible store, credentials from secret
// ("" for the pod's chain).
func withBackupToS3(bucket, endpoint, secret string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		withBackupToVolume("", "")(g)
		g.Spec.Backup.Destination = galleryv1alpha1.BackupLocation{S3: &galleryv1alpha1.BackupS3Location{
			Bucket: bucket, Region: "eu-west-1", Prefix: "backups/", Endpoint: endpoint, ForcePathStyle: endpoint != "", CredentialsSecret: secret,
		}}
	}
}

// withDrill schedules restore drills (after withBackupTo…).
func withDrill(schedule, zone string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Backup.Drill = &galleryv1alpha1.BackupDrillSpec{Schedule: schedule, TimeZone: zone}
	}
}

// withRestoreFrom starts the Gallery from the backups of gallery in a bucket.
func withRestoreFrom(gallery, backup string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.RestoreFrom = &galleryv1alpha1.RestoreSpec{
			Source:  galleryv1alpha1.BackupLocation{S3: &galleryv1alpha1.BackupS3Location{Bucket: "old-backups", CredentialsSecret: "backup-creds"}},
			Gallery: gallery, Backup: backup, VerifyPhotosPercent: ptr.To[int32](10),
		}
	}
}
