// Package crd tests the Gallery CRD against a real kube-apiserver: samples are accepted
// and defaulted, invalid manifests are rejected with a message naming the field, and
// every field is documented.
package crd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

var nameSeq atomic.Int64

// gallery makes an unstructured Gallery from a spec written as YAML, in a fresh name.
func gallery(t *testing.T, specYAML string) *unstructured.Unstructured {
	t.Helper()
	spec := map[string]any{}
	if err := yaml.Unmarshal([]byte(specYAML), &spec); err != nil {
		t.Fatalf("bad test YAML: %v\n%s", err, specYAML)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": galleryv1alpha1.GroupVersion.String(),
		"kind":       "Gallery",
		"metadata":   map[string]any{"name": fmt.Sprintf("g%d", nameSeq.Add(1)), "namespace": "default"},
		"spec":       spec,
	}}
	return u
}

func TestSamplesAreAcceptedWithDefaults(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "gallery_*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 samples, found %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(raw, &u.Object); err != nil {
				t.Fatal(err)
			}
			u.SetNamespace("default")
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("sample rejected: %v", err)
			}
			t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })

			var g galleryv1alpha1.Gallery
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &g); err != nil {
				t.Fatal(err)
			}
			checkCommonDefaults(t, g.Spec)
			switch g.Name {
			case "photos":
				checkMinimalDefaults(t, g.Spec)
			case "photos-prod":
				checkProductionDefaults(t, g.Spec)
			}
		})
	}
}

func checkCommonDefaults(t *testing.T, s galleryv1alpha1.GallerySpec) {
	t.Helper()
	// Defaults every sample gets, whatever it sets.
	if s.Server.Port != 8080 || s.Server.Probes.Readiness.PeriodSeconds != 5 || s.Server.MaxSurge.String() != "25%" {
		t.Errorf("server defaults missing: port=%d readiness=%+v maxSurge=%v", s.Server.Port, s.Server.Probes.Readiness, s.Server.MaxSurge)
	}
	if s.Workers.Jobs.MaxAttempts != 5 || s.Workers.Jobs.VisibilityTimeout.Duration.String() != "2m0s" {
		t.Errorf("job defaults missing: %+v", s.Workers.Jobs)
	}
	if s.Placement.ZoneSpread.Enabled == nil || !*s.Placement.ZoneSpread.Enabled || s.Placement.PodDisruptionBudget.MaxUnavailable.IntValue() != 1 {
		t.Errorf("placement defaults missing: %+v", s.Placement)
	}
	if s.Auth.AllowSignUp == nil || s.Auth.RememberMeLifetime.Hours() != 720 || s.Auth.SessionMaxLifetime.Hours() != 720 {
		t.Errorf("auth defaults missing: %+v", s.Auth)
	}
}

// checkMinimalDefaults: the minimal sample gets every component defaulted.
func checkMinimalDefaults(t *testing.T, s galleryv1alpha1.GallerySpec) {
	t.Helper()
	if s.Cache.Managed == nil || s.Cache.Managed.Version != "7.4" || s.Cache.Managed.EvictionPolicy != "volatile-lru" || s.Cache.Managed.Memory.String() != "256Mi" {
		t.Errorf("cache default: %+v", s.Cache.Managed)
	}
	if s.Database.Managed == nil || s.Database.Managed.StorageSize.String() != "10Gi" || s.Database.Managed.Version != "11.4" {
		t.Errorf("database default: %+v", s.Database.Managed)
	}
	if s.Storage.Volume == nil || s.Storage.Volume.Size.String() != "20Gi" || s.Storage.Volume.AccessMode != "ReadWriteMany" {
		t.Errorf("storage default: %+v", s.Storage.Volume)
	}
	// No default image: an unpinned Gallery runs the operator's current default, so
	// upgrading the operator upgrades it.
	if s.Server.Image != "" || s.Server.Resources.Requests.Cpu().String() != "500m" || s.Server.Resources.Limits.Memory().String() != "1Gi" {
		t.Errorf("server default: image=%q (want none) resources=%+v", s.Server.Image, s.Server.Resources)
	}
	if s.Workers.Classifier.Provider != galleryv1alpha1.ClassifierBuiltin || s.Workers.Concurrency != 4 || s.Workers.Pacing.IntakePerSecond != 10 {
		t.Errorf("workers default: %+v", s.Workers)
	}
	if s.Ingress != nil || s.Autoscaling != nil {
		t.Errorf("ingress and autoscaling must stay off by default")
	}
}

func checkProductionDefaults(t *testing.T, s galleryv1alpha1.GallerySpec) {
	t.Helper()
	if s.Workers.Classifier.Rekognition.MinConfidence != 75 || s.Database.External.CredentialsSecret.UsernameKey != "username" {
		t.Errorf("production sample read back wrong: %+v", s)
	}
	if s.Autoscaling.Server.ScaleDownMaxPodsPerMinute != 1 || s.Autoscaling.Schedules[0].TimeZone != "Europe/London" {
		t.Errorf("autoscaling defaults: %+v", s.Autoscaling)
	}
	if m := s.Monitoring; m.MetricsPort != 9090 || m.PodMonitor.Interval != "30s" || m.Tracing == nil || *m.Tracing.SamplingPercent != 5 {
		t.Errorf("monitoring read back wrong: %+v", m)
	}
}

// A valid base that the invalid cases start from.
const validBase = `
database: {managed: {}}
`

func TestInvalidManifestsAreRejectedNamingTheField(t *testing.T) {
	cases := []struct {
		name string
		spec string
		// wantAll must each appear in the API server's error.
		wantAll []string
	}{
		{"cache has both managed and external", `cache: {managed: {}, external: {address: "r:6379"}}`, []string{"spec.cache", "exactly one of managed or external"}},
		{"cache is empty", `cache: {}`, []string{"spec.cache", "exactly one of managed or external"}},
		{"trusted proxy is an address, not a CIDR", `server: {trustedProxies: ["10.1.2.3"]}`, []string{"spec.server.trustedProxies", "must be CIDRs"}},
		{"trusted proxy is a name", `server: {trustedProxies: ["10.0.0.0/8", "ingress-nginx"]}`, []string{"spec.server.trustedProxies", "must be CIDRs"}},
		{"no sign-ins a second", `auth: {signInsPerSecond: 0}`, []string{"spec.auth.signInsPerSecond"}},
		{"external cache without address", `cache: {external: {}}`, []string{"spec.cache.external.address", "Required"}},
		{"external cache address without port", `cache: {external: {address: "redis.local"}}`, []string{"spec.cache.external.address"}},
		{"managed cache evicts every key", `cache: {managed: {evictionPolicy: allkeys-lru}}`, []string{"spec.cache.managed.evictionPolicy", "Unsupported value"}},
		{"managed cache too small", `cache: {managed: {memory: 8Mi}}`, []string{"spec.cache.managed.memory", "at least 32Mi"}},
		{"database has two kinds", `database: {managed: {}, embedded: {}}`, []string{"spec.database", "exactly one of managed, external or embedded"}},
		{"database is empty", `database: {}`, []string{"spec.database", "exactly one of"}},
		{"external database engine unknown", `database: {external: {engine: oracle, host: db, credentialsSecret: {name: db}}}`, []string{"spec.database.external.engine", "Unsupported value"}},
		{"external database without host", `database: {external: {engine: mysql, credentialsSecret: {name: db}}}`, []string{"spec.database.external.host", "Required"}},
		{"external database without credentials", `database: {external: {engine: mysql, host: db}}`, []string{"spec.database.external.credentialsSecret", "Required"}},
		{"external database bad tls mode", `database: {external: {engine: postgres, host: db, credentialsSecret: {name: db}, tlsMode: sometimes}}`, []string{"spec.database.external.tlsMode"}},
		{"external database reader host invalid", `database: {external: {engine: mysql, host: db, readerHosts: ["bad host"], credentialsSecret: {name: db}}}`, []string{"spec.database.external.readerHosts[0]"}},
		{"embedded database with two server replicas", `{database: {embedded: {}}, storage: {volume: {accessMode: ReadWriteOnce}}, server: {replicas: 2}}`, []string{"spec.server.replicas", "must be 1 with an embedded database"}},
		{"embedded database with autoscaling", `{database: {embedded: {}}, storage: {volume: {accessMode: ReadWriteOnce}}, autoscaling: {server: {memory: {targetUtilization: 70}}}}`, []string{"spec.autoscaling", "embedded database"}},
		{"embedded database with worker replicas", `{database: {embedded: {}}, storage: {volume: {accessMode: ReadWriteOnce}}, workers: {replicas: 3}}`, []string{"spec.workers.replicas", "embedded database"}},
		{"storage has both kinds", `storage: {s3: {bucket: photos}, volume: {}}`, []string{"spec.storage", "exactly one of s3 or volume"}},
		{"s3 without bucket", `storage: {s3: {region: eu-west-1}}`, []string{"spec.storage.s3.bucket", "Required"}},
		{"s3 bucket with capitals", `storage: {s3: {bucket: MyPhotos}}`, []string{"spec.storage.s3.bucket"}},
		{"s3 kms key without kms", `storage: {s3: {bucket: photos, serverSideEncryption: {type: AES256, kmsKeyId: alias/x}}}`, []string{"spec.storage.s3.serverSideEncryption.kmsKeyId", "only valid with type aws:kms"}},
		{"s3 unknown encryption", `storage: {s3: {bucket: photos, serverSideEncryption: {type: rot13}}}`, []string{"spec.storage.s3.serverSideEncryption.type", "Unsupported value"}},
		{"s3 endpoint not a URL", `storage: {s3: {bucket: photos, endpoint: "minio:9000"}}`, []string{"spec.storage.s3.endpoint"}},
		{"volume ReadWriteOnce with several pods", `storage: {volume: {accessMode: ReadWriteOnce}}`, []string{"spec.storage.volume.accessMode", "ReadWriteMany"}},
		{"server autoscaling min above max", `autoscaling: {server: {minReplicas: 5, maxReplicas: 3, memory: {targetUtilization: 70}}}`, []string{"spec.autoscaling.server.minReplicas", "less than or equal to maxReplicas"}},
		{"server autoscaling above 500 pods", `autoscaling: {server: {maxReplicas: 1000}}`, []string{"spec.autoscaling.server.maxReplicas"}},
		{"scale-in threshold above scale-out", `autoscaling: {server: {memory: {targetUtilization: 40, scaleInUtilization: 70}}}`, []string{"spec.autoscaling.server.memory.scaleInUtilization", "below targetUtilization"}},
		{"worker autoscaling min above max", `autoscaling: {workers: {minReplicas: 9, maxReplicas: 2}}`, []string{"spec.autoscaling.workers.minReplicas", "less than or equal to maxReplicas"}},
		{"backlog target zero", `autoscaling: {workers: {backlog: {targetJobsPerWorker: 0}}}`, []string{"spec.autoscaling.workers.backlog.targetJobsPerWorker"}},
		{"schedule with bad cron", `autoscaling: {server: {}, schedules: [{name: rush, start: "every monday", duration: 1h, serverMinReplicas: 4}]}`, []string{"spec.autoscaling.schedules[0].start"}},
		{"schedule raising nothing", `autoscaling: {server: {}, schedules: [{name: rush, start: "0 7 * * 1", duration: 1h}]}`, []string{"spec.autoscaling.schedules[0]", "serverMinReplicas or workersMinReplicas"}},
		{"schedule without server autoscaling", `autoscaling: {workers: {}, schedules: [{name: rush, start: "0 7 * * 1", duration: 1h, serverMinReplicas: 4}]}`, []string{"spec.autoscaling.schedules", "needs spec.autoscaling.server"}},
		{"schedule above the server's maximum", `autoscaling: {server: {maxReplicas: 6}, schedules: [{name: rush, start: "0 7 * * 1", duration: 1h, serverMinReplicas: 8}]}`, []string{"spec.autoscaling.schedules", "serverMinReplicas must not exceed spec.autoscaling.server.maxReplicas"}},
		{"schedule above the default maximum", `autoscaling: {server: {}, schedules: [{name: rush, start: "0 7 * * 1", duration: 1h, serverMinReplicas: 11}]}`, []string{"spec.autoscaling.schedules", "serverMinReplicas must not exceed"}},
		{"schedule above the workers' maximum", `autoscaling: {workers: {maxReplicas: 3}, schedules: [{name: rush, start: "0 7 * * 1", duration: 1h, workersMinReplicas: 4}]}`, []string{"spec.autoscaling.schedules", "workersMinReplicas must not exceed spec.autoscaling.workers.maxReplicas"}},
		{"server env sets the listen address", `server: {env: [{name: TZ, value: UTC}, {name: SORTOGRAPHER_LISTEN_ADDR, value: ":9999"}]}`, []string{"spec.server.env", "Forbidden", "a setting the operator makes from the spec"}},
		{"workers env sets the classifier", `workers: {env: [{name: SORTOGRAPHER_CLASSIFIER, value: rekognition}, {name: SORTOGRAPHER_LOG_LEVEL, value: debug}]}`, []string{"spec.workers.env", "Forbidden", "only SORTOGRAPHER_DECODE_MEMORY"}},
		{"server memory request above its limit", `server: {resources: {requests: {memory: 2Gi}, limits: {memory: 1Gi}}}`, []string{"spec.server.resources", "request above its limit"}},
		{"workers cpu request above its limit, as numbers", `workers: {resources: {requests: {cpu: 2}, limits: {cpu: 1500m}}}`, []string{"spec.workers.resources", "request above its limit"}},
		{"MariaDB request above its limit", `database: {managed: {resources: {requests: {memory: 1Gi}, limits: {memory: 512Mi}}}}`, []string{"spec.database.managed.resources", "request above its limit"}},
		{"backup request above its limit", `backup: {schedule: "@daily", destination: {volume: {claimName: backups}}, resources: {requests: {memory: 3Gi}, limits: {memory: 2Gi}}}`, []string{"spec.backup.resources", "request above its limit"}},
		{"node selector key with a space", `placement: {nodeSelector: {"node pool": gallery}}`, []string{"spec.placement.nodeSelector", "every key must be a label key"}},
		{"node selector key too long", `placement: {nodeSelector: {"` + strings.Repeat("k", 64) + `": gallery}}`, []string{"spec.placement.nodeSelector", "every key must be a label key"}},
		{"node selector value with a slash", `placement: {nodeSelector: {kubernetes.io/arch: "arm/64"}}`, []string{"spec.placement.nodeSelector.kubernetes.io/arch", "should match"}},
		{"node selector value too long", `placement: {nodeSelector: {pool: "` + strings.Repeat("v", 64) + `"}}`, []string{"spec.placement.nodeSelector.pool", "Too long"}},
		{"env name with a space", `server: {env: [{name: "MY VAR", value: x}]}`, []string{"spec.server.env[0].name", "should match"}},
		{"env name starting with a digit", `workers: {env: [{name: 1THREADS, value: "2"}]}`, []string{"spec.workers.env[0].name", "should match"}},
		{"env named ..x", `server: {env: [{name: ..x, value: "1"}]}`, []string{"spec.server.env[0]", "may not be named '.' or start with '..'"}},
		{"env valueFrom with two sources", `server: {env: [{name: X, valueFrom: {fieldRef: {fieldPath: metadata.name}, secretKeyRef: {name: s, key: k}}}]}`, []string{"spec.server.env[0]", "exactly one of fieldRef"}},
		{"env valueFrom empty", `workers: {env: [{name: X, valueFrom: {}}]}`, []string{"spec.workers.env[0]", "exactly one of fieldRef"}},
		{"env with value and valueFrom", `server: {env: [{name: TOKEN, value: x, valueFrom: {secretKeyRef: {name: s, key: k}}}]}`, []string{"spec.server.env[0]", "set value or valueFrom, not both"}},
		{"toleration without a key, operator Equal", `placement: {tolerations: [{operator: Equal, value: gallery, effect: NoSchedule}]}`, []string{"spec.placement.tolerations[0]", "must have operator Exists"}},
		{"toleration Exists with a value", `placement: {tolerations: [{key: dedicated, operator: Exists, value: gallery}]}`, []string{"spec.placement.tolerations[0]", "operator Exists has no value"}},
		{"toleration seconds without NoExecute", `placement: {tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule, tolerationSeconds: 60}]}`, []string{"spec.placement.tolerations[0]", "effect NoExecute only"}},
		{"toleration with an unknown effect", `placement: {tolerations: [{key: dedicated, operator: Exists, effect: NoRun}]}`, []string{"spec.placement.tolerations[0].effect", "Unsupported value"}},
		{"toleration with a bad key", `placement: {tolerations: [{key: "dedicated pool", operator: Exists}]}`, []string{"spec.placement.tolerations[0].key", "should match"}},
		{"toleration value not a label value", `placement: {tolerations: [{key: dedicated, value: "a/b", effect: NoSchedule}]}`, []string{"spec.placement.tolerations[0].value", "should match"}},
		{"node affinity without terms", `placement: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: []}}}}`, []string{"nodeSelectorTerms", "at least 1"}},
		{"node affinity In without values", `placement: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In}]}]}}}}`, []string{"matchExpressions[0]", "need at least one value"}},
		{"node affinity Exists with values", `placement: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: gpu, operator: Exists, values: ["1"]}]}]}}}}`, []string{"matchExpressions[0]", "take no values"}},
		{"node affinity Gt not a number", `placement: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: cores, operator: Gt, values: [many]}]}]}}}}`, []string{"matchExpressions[0]", "exactly one value, an integer"}},
		{"node affinity on a field other than the name", `placement: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchFields: [{key: spec.unschedulable, operator: In, values: ["true"]}]}]}}}}`, []string{"matchFields[0].key", "Unsupported value"}},
		{"preferred node affinity weight 0", `placement: {affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 0, preference: {matchExpressions: [{key: zone, operator: Exists}]}}]}}}`, []string{"preferredDuringSchedulingIgnoredDuringExecution[0].weight", "greater than or equal to 1"}},
		{"pod anti-affinity without a topology key", `placement: {affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {app: gallery}}}]}}}`, []string{"topologyKey", "Required value"}},
		{"pod affinity weight above 100", `placement: {affinity: {podAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 101, podAffinityTerm: {topologyKey: kubernetes.io/hostname}}]}}}`, []string{"weight", "less than or equal to 100"}},
		{"pod affinity selector with a bad operator", `placement: {affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: {matchExpressions: [{key: app, operator: Gt, values: ["1"]}]}}]}}}`, []string{"matchExpressions[0].operator", "Unsupported value"}},
		{"pod affinity selector label value with a slash", `placement: {affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: "a/b"}}}]}}}`, []string{"matchLabels.app", "should match"}},
		{"pod affinity namespace not a DNS label", `placement: {affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, namespaces: [Photos]}]}}}`, []string{"namespaces[0]", "should match"}},
		{"schedule with bad duration", `autoscaling: {server: {}, schedules: [{name: rush, start: "0 7 * * 1", duration: "a while", serverMinReplicas: 4}]}`, []string{"spec.autoscaling.schedules[0].duration"}},
		{"schedule names repeat", `autoscaling: {server: {}, schedules: [{name: rush, start: "0 7 * * 1", duration: 1h, serverMinReplicas: 4}, {name: rush, start: "0 8 * * 1", duration: 1h, serverMinReplicas: 5}]}`, []string{"spec.autoscaling.schedules[1]", "Duplicate value"}},
		{"unknown classifier", `workers: {classifier: {provider: magic}}`, []string{"spec.workers.classifier.provider", "Unsupported value"}},
		{"rekognition without settings", `workers: {classifier: {provider: rekognition}}`, []string{"spec.workers.classifier.rekognition", "required when provider is rekognition"}},
		{"rekognition confidence above 100", `workers: {classifier: {provider: rekognition, rekognition: {region: eu-west-1, minConfidence: 150}}}`, []string{"spec.workers.classifier.rekognition.minConfidence"}},
		{"rekognition bad region", `workers: {classifier: {provider: rekognition, rekognition: {region: europe}}}`, []string{"spec.workers.classifier.rekognition.region"}},
		{"text confidence above 100", `workers: {classifier: {text: {minConfidence: 101}}}`, []string{"spec.workers.classifier.text.minConfidence"}},
		{"text confidence negative", `workers: {classifier: {text: {minConfidence: -5}}}`, []string{"spec.workers.classifier.text.minConfidence"}},
		{"text enabled not a boolean", `workers: {classifier: {text: {enabled: sometimes}}}`, []string{"spec.workers.classifier.text.enabled"}},
		{"zero worker concurrency", `workers: {concurrency: 0}`, []string{"spec.workers.concurrency"}},
		{"visibility timeout not a duration", `workers: {jobs: {visibilityTimeout: soon}}`, []string{"spec.workers.jobs.visibilityTimeout"}},
		{"custom model from two places", `workers: {classifier: {builtin: {customModel: {configMapName: a, persistentVolumeClaimName: b}}}}`, []string{"spec.workers.classifier.builtin.customModel", "exactly one of"}},
		{"privileged server port", `server: {port: 80}`, []string{"spec.server.port"}},
		{"negative server replicas", `server: {replicas: -1}`, []string{"spec.server.replicas"}},
		{"preStop longer than grace", `server: {preStopDelaySeconds: 60, terminationGracePeriodSeconds: 30}`, []string{"spec.server.preStopDelaySeconds", "less than spec.server.terminationGracePeriodSeconds"}},
		{"upload limit over 1Gi", `server: {maxUploadSize: 2Gi}`, []string{"spec.server.maxUploadSize", "between 1Ki and 1Gi"}},
		{"maxSurge zero", `server: {maxSurge: 0}`, []string{"spec.server.maxSurge"}},
		{"probe timeout above period", `server: {probes: {readiness: {periodSeconds: 2, timeoutSeconds: 5}}}`, []string{"spec.server.probes.readiness.timeoutSeconds"}},
		{"ingress without hosts", `ingress: {hosts: []}`, []string{"spec.ingress.hosts"}},
		{"ingress host invalid", `ingress: {hosts: ["Photos_Example.com"]}`, []string{"spec.ingress.hosts[0]"}},
		{"ingress tls with nothing", `ingress: {hosts: [a.example.com], tls: {}}`, []string{"spec.ingress.tls", "secretName"}},
		{"ingress body below upload size", `{server: {maxUploadSize: 50Mi}, ingress: {hosts: [a.example.com], maxBodySize: 10Mi}}`, []string{"spec.ingress.maxBodySize", "at least spec.server.maxUploadSize"}},
		{"issuer of unknown kind", `ingress: {hosts: [a.example.com], tls: {issuer: {name: le, kind: Vault}}}`, []string{"spec.ingress.tls.issuer.kind"}},
		{"remember-me shorter than token", `auth: {tokenLifetime: 48h, rememberMeLifetime: 24h}`, []string{"spec.auth.rememberMeLifetime", "at least spec.auth.tokenLifetime"}},
		{"token lifetime too short", `auth: {tokenLifetime: 1s}`, []string{"spec.auth.tokenLifetime", "between 5m and 8760h"}},
		{"session max lifetime too short", `auth: {sessionMaxLifetime: 30m}`, []string{"spec.auth.sessionMaxLifetime", "between 1h and 8760h"}},
		{"jwt secret ref without key", `auth: {jwtSecretRef: {name: jwt}}`, []string{"spec.auth.jwtSecretRef.key", "Required"}},
		{"share link lifetime zero", `auth: {sharing: {maxLinkLifetime: 0s}}`, []string{"spec.auth.sharing.maxLinkLifetime", "positive duration"}},
		{"share link lifetime negative", `auth: {sharing: {maxLinkLifetime: -24h}}`, []string{"spec.auth.sharing.maxLinkLifetime", "positive duration"}},
		{"sharing enabled not a bool", `auth: {sharing: {enabled: sometimes}}`, []string{"spec.auth.sharing.enabled", "boolean"}},
		{"oidc issuer over http", `auth: {oidc: {issuer: "http://login.example.edu", clientID: gallery, clientSecretRef: {name: sso, key: secret}}}`, []string{"spec.auth.oidc.issuer must be an https URL"}},
		{"oidc issuer not a URL", `auth: {oidc: {issuer: "login.example.edu", clientID: gallery, clientSecretRef: {name: sso, key: secret}}}`, []string{"spec.auth.oidc.issuer must be an https URL"}},
		{"oidc without client id", `auth: {oidc: {issuer: "https://login.example.edu", clientSecretRef: {name: sso, key: secret}}}`, []string{"spec.auth.oidc.clientID", "Required"}},
		{"oidc without client secret", `auth: {oidc: {issuer: "https://login.example.edu", clientID: gallery}}`, []string{"spec.auth.oidc.clientSecretRef", "Required"}},
		{"oidc scopes without openid", `auth: {oidc: {issuer: "https://login.example.edu", clientID: gallery, clientSecretRef: {name: sso, key: secret}, scopes: [email, profile]}}`, []string{"spec.auth.oidc.scopes must include openid"}},
		{"oidc scope with a comma", `auth: {oidc: {issuer: "https://login.example.edu", clientID: gallery, clientSecretRef: {name: sso, key: secret}, scopes: [openid, "email,profile"]}}`, []string{"spec.auth.oidc.scopes[1]"}},
		{"oidc admin claim without values", `auth: {oidc: {issuer: "https://login.example.edu", clientID: gallery, clientSecretRef: {name: sso, key: secret}, claims: {admin: {claim: groups, values: []}}}}`, []string{"spec.auth.oidc.claims.admin.values"}},
		{"oidc admin value with a comma", `auth: {oidc: {issuer: "https://login.example.edu", clientID: gallery, clientSecretRef: {name: sso, key: secret}, claims: {admin: {claim: groups, values: ["a,b"]}}}}`, []string{"spec.auth.oidc.claims.admin.values must not contain commas"}},
		{"oidc redirect elsewhere", `auth: {oidc: {issuer: "https://login.example.edu", clientID: gallery, clientSecretRef: {name: sso, key: secret}, redirectURL: "https://photos.example.edu/callback"}}`, []string{"spec.auth.oidc.redirectURL must be an https URL ending in /api/auth/oidc/callback"}},
		{"oidc local passwords not a bool", `auth: {oidc: {issuer: "https://login.example.edu", clientID: gallery, clientSecretRef: {name: sso, key: secret}, localPasswords: maybe}}`, []string{"spec.auth.oidc.localPasswords", "boolean"}},
		{"quota without a limit", `auth: {quota: {}}`, []string{"spec.auth.quota", "must set storage, photos or both"}},
		{"quota storage below 1Mi", `auth: {quota: {storage: 10Ki}}`, []string{"spec.auth.quota.storage", "between 1Mi and 1Pi"}},
		{"quota of no photos", `auth: {quota: {photos: 0}}`, []string{"spec.auth.quota.photos", "greater than or equal to 1"}},
		{"zone spread policy unknown", `placement: {zoneSpread: {whenUnsatisfiable: Sometimes}}`, []string{"spec.placement.zoneSpread.whenUnsatisfiable"}},
		{"pdb maxUnavailable zero", `placement: {podDisruptionBudget: {maxUnavailable: 0}}`, []string{"spec.placement.podDisruptionBudget.maxUnavailable"}},
		{"metrics on the server's port", `monitoring: {metricsPort: 8080}`, []string{"spec.monitoring.metricsPort", "must differ from spec.server.port"}},
		{"server moved onto the default metrics port", `server: {port: 9090}`, []string{"spec.monitoring.metricsPort", "must differ from spec.server.port"}},
		{"privileged metrics port", `monitoring: {metricsPort: 90}`, []string{"spec.monitoring.metricsPort"}},
		{"too many metrics sources", `monitoring: {metricsFrom: [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}]}`, []string{"spec.monitoring.metricsFrom", "must have at most 16 items"}},
		{"pod monitor interval not a duration", `monitoring: {podMonitor: {interval: often}}`, []string{"spec.monitoring.podMonitor.interval"}},
		{"pod monitor interval in hours", `monitoring: {podMonitor: {interval: 1h}}`, []string{"spec.monitoring.podMonitor.interval"}},
		{"tracing without endpoint", `monitoring: {tracing: {samplingPercent: 5}}`, []string{"spec.monitoring.tracing.endpoint", "Required"}},
		{"tracing endpoint not a URL", `monitoring: {tracing: {endpoint: "otel-collector:4318"}}`, []string{"spec.monitoring.tracing.endpoint"}},
		{"tracing above 100 percent", `monitoring: {tracing: {endpoint: "http://otel:4318", samplingPercent: 101}}`, []string{"spec.monitoring.tracing.samplingPercent"}},
		{"backup without a destination", `backup: {schedule: "0 3 * * *", destination: {}}`, []string{"spec.backup.destination", "exactly one of s3 or volume"}},
		{"backup to two destinations", `backup: {schedule: "0 3 * * *", destination: {s3: {bucket: backups}, volume: {claimName: backups}}}`, []string{"spec.backup.destination", "exactly one of s3 or volume"}},
		{"backup without a schedule", `backup: {destination: {volume: {claimName: backups}}}`, []string{"spec.backup.schedule", "Required"}},
		{"backup schedule not cron", `backup: {schedule: "every night", destination: {volume: {claimName: backups}}}`, []string{"spec.backup.schedule"}},
		{"backup schedule yearly", `backup: {schedule: "@yearly", destination: {volume: {claimName: backups}}}`, []string{"spec.backup.schedule"}},
		{"backup retention empty", `backup: {schedule: "@daily", destination: {volume: {claimName: backups}}, retention: {}}`, []string{"spec.backup.retention", "keep, keepFor or both"}},
		{"backup keeps none", `backup: {schedule: "@daily", destination: {volume: {claimName: backups}}, retention: {keep: 0}}`, []string{"spec.backup.retention.keep"}},
		{"backup kept a minute", `backup: {schedule: "@daily", destination: {volume: {claimName: backups}}, retention: {keepFor: 1m}}`, []string{"spec.backup.retention.keepFor", "between 1h and 87600h"}},
		{"backup subPath climbs out", `backup: {schedule: "@daily", destination: {volume: {claimName: backups, subPath: "../other"}}}`, []string{"spec.backup.destination.volume.subPath"}},
		{"backup bucket with capitals", `backup: {schedule: "@daily", destination: {s3: {bucket: Backups}}}`, []string{"spec.backup.destination.s3.bucket"}},
		{"drill schedule not cron", `backup: {schedule: "@daily", destination: {volume: {claimName: backups}}, drill: {schedule: sundays}}`, []string{"spec.backup.drill.schedule"}},
		{"restore with backup and before", `restoreFrom: {source: {volume: {claimName: backups}}, backup: 20261205T031500Z, before: "2026-12-05T03:00:00Z"}`, []string{"spec.restoreFrom", "backup and spec.restoreFrom.before are mutually exclusive"}},
		{"restore without a source", `restoreFrom: {source: {}}`, []string{"spec.restoreFrom.source", "exactly one of s3 or volume"}},
		{"restore verifies above 100 percent", `restoreFrom: {source: {volume: {claimName: backups}}, verifyPhotosPercent: 101}`, []string{"spec.restoreFrom.verifyPhotosPercent"}},
	}
	if len(cases) < 30 {
		t.Fatalf("the issue asks for at least 30 invalid manifests; have %d", len(cases))
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := gallery(t, tc.spec)
			err := env.Client.Create(ctx, u)
			if err == nil {
				_ = env.Client.Delete(ctx, u)
				t.Fatalf("accepted, want rejected:\n%s", tc.spec)
			}
			for _, want := range tc.wantAll {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestNameLongerThan40IsRejected(t *testing.T) {
	u := gallery(t, validBase)
	u.SetName(strings.Repeat("a", 41))
	err := env.Client.Create(context.Background(), u)
	if err == nil || !strings.Contains(err.Error(), "metadata.name must be at most 40 characters") {
		t.Fatalf("want the 40-character rule, got %v", err)
	}
}

// TestNamesThatMakeNoServiceNameAreRejected: a name Kubernetes accepts for the Gallery
// (a DNS subdomain) but not for its Services (a DNS label that starts with a letter, on
// every version the chart supports: 1.30 and later) is refused, naming the rule; a
// 40-character label is accepted.
func TestNamesThatMakeNoServiceNameAreRejected(t *testing.T) {
	for _, name := range []string{"photos.prod", "1photos", "9"} {
		u := gallery(t, validBase)
		u.SetName(name)
		err := env.Client.Create(context.Background(), u)
		if err == nil {
			_ = env.Client.Delete(context.Background(), u)
			t.Errorf("%q accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "metadata.name must be lower-case letters, digits and '-', starting with a letter") {
			t.Errorf("%q: want the Service-name rule, got %v", name, err)
		}
	}
	u := gallery(t, validBase)
	u.SetName("p" + strings.Repeat("-0", 19) + "z")
	if err := env.Client.Create(context.Background(), u); err != nil {
		t.Fatalf("a 40-character label refused: %v", err)
	}
	_ = env.Client.Delete(context.Background(), u)
}

func TestChangesThatWouldLoseDataAreRejected(t *testing.T) {
	cases := []struct {
		name          string
		before, after string
		want          []string
	}{
		{"storage s3 to volume", `storage: {s3: {bucket: photos}}`, `storage: {volume: {}}`, []string{"spec.storage", "immutable"}},
		{"s3 bucket renamed", `storage: {s3: {bucket: photos}}`, `storage: {s3: {bucket: photos2}}`, []string{"spec.storage.s3.bucket", "immutable"}},
		{"s3 prefix changed", `storage: {s3: {bucket: photos, prefix: a/}}`, `storage: {s3: {bucket: photos, prefix: b/}}`, []string{"spec.storage.s3.prefix", "immutable"}},
		{"database managed to external", `database: {managed: {}}`, `database: {external: {engine: mysql, host: db, credentialsSecret: {name: db}}}`, []string{"spec.database", "immutable"}},
		{"database engine changed", `database: {external: {engine: mysql, host: db, credentialsSecret: {name: db}}}`, `database: {external: {engine: postgres, host: db, credentialsSecret: {name: db}}}`, []string{"spec.database.external.engine", "immutable"}},
		{"managed database shrinks", `database: {managed: {storageSize: 20Gi}}`, `database: {managed: {storageSize: 10Gi}}`, []string{"spec.database.managed.storageSize", "never shrink"}},
		{"volume shrinks", `storage: {volume: {size: 50Gi}}`, `storage: {volume: {size: 20Gi}}`, []string{"spec.storage.volume.size", "never shrink"}},
		{"volume class changed", `storage: {volume: {storageClassName: efs}}`, `storage: {volume: {storageClassName: gp3}}`, []string{"spec.storage.volume.storageClassName", "immutable"}},
		{"restoreFrom added to an existing gallery", `storage: {volume: {}}`, `restoreFrom: {source: {volume: {claimName: backups}}}`, []string{"spec.restoreFrom", "only be set when the Gallery is created"}},
		{"managed MariaDB downgraded", `database: {managed: {version: "11.4"}}`, `database: {managed: {version: "10.11"}}`, []string{"spec.database.managed.version", "cannot go down"}},
		{"managed MariaDB minor downgraded", `database: {managed: {version: "11.4"}}`, `database: {managed: {version: "11.2"}}`, []string{"spec.database.managed.version", "cannot go down"}},
		{"managed MariaDB two majors up", `database: {managed: {version: "10.11"}}`, `database: {managed: {version: "12.1"}}`, []string{"spec.database.managed.version", "one major version at a time"}},
		{"managed Redis downgraded", `cache: {managed: {version: "7.4"}}`, `cache: {managed: {version: "7.2"}}`, []string{"spec.cache.managed.version", "cannot go down"}},
		{"managed Redis two majors up", `cache: {managed: {version: "6.2"}}`, `cache: {managed: {version: "8.0"}}`, []string{"spec.cache.managed.version", "one major version at a time"}},
		{"restoreFrom changed", `restoreFrom: {source: {volume: {claimName: backups}}, backup: a}`, `restoreFrom: {source: {volume: {claimName: backups}}, backup: b}`, []string{"spec.restoreFrom", "immutable"}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := gallery(t, tc.before)
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("before state rejected: %v", err)
			}
			t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })
			next := gallery(t, tc.after)
			u.Object["spec"] = next.Object["spec"]
			err := env.Client.Update(ctx, u)
			if err == nil {
				t.Fatalf("update accepted, want rejected: %s -> %s", tc.before, tc.after)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}

	// Growing is allowed.
	u := gallery(t, `storage: {volume: {size: 20Gi}}`)
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.Object["spec"] = gallery(t, `storage: {volume: {size: 40Gi}}`).Object["spec"]
	if err := env.Client.Update(ctx, u); err != nil {
		t.Fatalf("growing the volume was rejected: %v", err)
	}

	// Upgrades one major version at a time, and within one, are allowed.
	for _, step := range []struct{ before, after string }{
		{`database: {managed: {version: "10.11"}}`, `database: {managed: {version: "11.4"}}`},
		{`database: {managed: {version: "11.4"}}`, `database: {managed: {version: "11.4.5"}}`},
		{`cache: {managed: {version: "7.2"}}`, `cache: {managed: {version: "8.0"}}`},
	} {
		u := gallery(t, step.before)
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		u.Object["spec"] = gallery(t, step.after).Object["spec"]
		if err := env.Client.Update(ctx, u); err != nil {
			t.Errorf("upgrade %s -> %s rejected: %v", step.before, step.after, err)
		}
		_ = env.Client.Delete(ctx, u)
	}
}

// Every property of the schema carries a description, so `kubectl explain` documents it.
func TestEveryFieldIsDocumented(t *testing.T) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "galleries.sortographer.io"}, &crd); err != nil {
		t.Fatal(err)
	}
	var undocumented []string
	var walk func(path string, s apiextensionsv1.JSONSchemaProps)
	walk = func(path string, s apiextensionsv1.JSONSchemaProps) {
		for name, p := range s.Properties {
			child := path + "." + name
			if strings.TrimSpace(p.Description) == "" && path != "" {
				undocumented = append(undocumented, child)
			}
			walk(child, p)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(path+"[]", *s.Items.Schema)
		}
	}
	schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	walk("", schema.Properties["spec"])
	walk("status", schema.Properties["status"])
	sort.Strings(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("%d fields have no description:\n%s", len(undocumented), strings.Join(undocumented, "\n"))
	}
}

func TestKubectlExplainDocumentsTheSpec(t *testing.T) {
	kubectl := filepath.Join(env.BinDir, "kubectl")
	for path, want := range map[string]string{
		"gallery.spec":       "describes the gallery the admin wants",
		"gallery.spec.cache": "Exactly one of managed or external",
		"gallery.spec.database.external.readerHosts": "read-replica endpoints",
		"gallery.spec.autoscaling.schedules.start":   "cron expression",
		"gallery.spec.monitoring.metricsPort":        "no Service of the Gallery exposes",
		"gallery.spec.backup":                        "sortographer.io/backup-now",
	} {
		out, err := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "explain", path).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl explain %s: %v\n%s", path, err, out)
		}
		if !strings.Contains(strings.Join(strings.Fields(string(out)), " "), want) {
			t.Errorf("kubectl explain %s lacks %q:\n%s", path, want, out)
		}
	}
}

// The builders' tests start from testenv.DefaultedGallery; it must be exactly what the
// API server makes of `spec: {}`, so a default changed in the CRD is seen by every
// builder test at once rather than typed again beside each.
func TestDefaultedGalleryIsWhatTheAPIServerReturns(t *testing.T) {
	ctx := context.Background()
	u := gallery(t, "{}")
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })
	var got galleryv1alpha1.Gallery
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &got); err != nil {
		t.Fatal(err)
	}
	want := testenv.DefaultedGallery(u.GetName(), u.GetNamespace())
	if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
		gotYAML, _ := yaml.Marshal(got.Spec)
		wantYAML, _ := yaml.Marshal(want.Spec)
		t.Errorf("the API server defaults spec: {} to\n%s\ntestenv.DefaultedGallery says\n%s", gotYAML, wantYAML)
	}
}

// TestValuesNearTheRulesAreAccepted: what the rules must let through is accepted — label
// keys with and without a prefix and an empty label value in nodeSelector, and the
// SORTOGRAPHER_* tuning the operator never sets (galleryv1alpha1.AdminSettingsEnv, which
// controllers/specs checks against what it sets), with other variables beside it, in
// the server's and the workers' env.
func TestValuesNearTheRulesAreAccepted(t *testing.T) {
	ctx := context.Background()
	// Label keys with and without a prefix, and an empty value, pass the nodeSelector rules.
	u := gallery(t, `{placement: {nodeSelector: {kubernetes.io/arch: arm64, node.example.com/pool-1: gallery_a.b, pool: ""}}}`)
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatalf("a valid nodeSelector refused: %v", err)
	}
	_ = env.Client.Delete(ctx, u)
	// ASVS L2's absolute session lifetime, shorter than the default idle lifetimes,
	// which it caps.
	u = gallery(t, `{auth: {sessionMaxLifetime: 12h}}`)
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatalf("sessionMaxLifetime 12h refused: %v", err)
	}
	_ = env.Client.Delete(ctx, u)
	u = gallery(t, `{server: {trustedProxies: ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]}, auth: {signInsPerSecond: 10000}}`)
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatalf("valid trusted proxies refused: %v", err)
	}
	_ = env.Client.Delete(ctx, u)
	for _, name := range galleryv1alpha1.AdminSettingsEnv {
		t.Run(name, func(t *testing.T) {
			u := gallery(t, fmt.Sprintf(`{server: {env: [{name: TZ, value: UTC}, {name: %s, value: "1"}]}, workers: {env: [{name: %s, value: "1"}]}}`, name, name))
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("refused: %v", err)
			}
			_ = env.Client.Delete(ctx, u)
		})
	}
}

// TestPlacementTheGalleryAcceptsMakesValidPods: tolerations, affinity and env at the
// edges of the Gallery's rules are accepted, and what the operator makes of them (the
// same conversion its builders use) is accepted by the API server in a pod: the
// Gallery's rules are no looser than the pod's.
func TestPlacementTheGalleryAcceptsMakesValidPods(t *testing.T) {
	ctx := context.Background()
	u := gallery(t, `{
  placement: {
    tolerations: [
      {operator: Exists},
      {key: "", operator: Exists, effect: NoSchedule},
      {key: dedicated, value: gallery, effect: NoSchedule},
      {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 30}],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [
          {matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}, {key: cores, operator: Gt, values: ["3"]}]},
          {matchFields: [{key: metadata.name, operator: NotIn, values: [node-1]}]}]},
        preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, preference: {matchExpressions: [{key: spot, operator: DoesNotExist}]}}]},
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, podAffinityTerm: {topologyKey: kubernetes.io/hostname,
          labelSelector: {matchLabels: {app.kubernetes.io/name: sortographer}, matchExpressions: [{key: tier, operator: NotIn, values: [batch]}]},
          namespaces: [photos], namespaceSelector: {matchExpressions: [{key: team, operator: Exists}]},
          matchLabelKeys: [pod-template-hash]}}]}}},
  server: {env: [{name: TZ, value: UTC}, {name: my.app-setting_1, value: x}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}}`)
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatalf("valid placement refused: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })
	var g galleryv1alpha1.Gallery
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &g); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "placed", Namespace: u.GetNamespace()},
		Spec: corev1.PodSpec{
			Tolerations: galleryv1alpha1.CoreTolerations(g.Spec.Placement.Tolerations),
			Affinity:    g.Spec.Placement.Affinity.Core(),
			Containers:  []corev1.Container{{Name: "c", Image: "gallery:v1", Env: galleryv1alpha1.CoreEnv(g.Spec.Server.Env)}},
		},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatalf("the API server refuses a pod with the placement the Gallery accepted: %v", err)
	}
	wantKeys := 1
	if env.ServerMinor < 31 {
		wantKeys = 0 // matchLabelKeys is alpha, off, before 1.31: the server drops it
	}
	if len(pod.Spec.Tolerations) != 4 || pod.Spec.Affinity.PodAntiAffinity == nil || len(pod.Spec.Containers[0].Env) != 3 ||
		len(pod.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.MatchLabelKeys) != wantKeys {
		t.Errorf("pod placement = %+v %+v, want all of the Gallery's", pod.Spec.Tolerations, pod.Spec.Affinity)
	}
	_ = env.Client.Delete(ctx, pod)
}

// TestImageReferencesAreCheckedAtAdmission: spec.server.image (and the workers', the
// managed Redis' and MariaDB's) accepts the references that distribution/reference,
// the grammar containerd and the kubelet parse them with, accepts — registries with
// ports, localhost, digests — and refuses, naming the field, what it refuses.
func TestImageReferencesAreCheckedAtAdmission(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("ab", 32)
	ctx := context.Background()
	for _, c := range []struct {
		ref  string
		pull bool
	}{
		{"ghcr.io/sortographer/sortographer:v0.3.0", true},
		{"127.0.0.1:5000/sortographer/sortographer:v0.3.0", true},
		{"registry:5000/team/app" + digest, true},
		{"localhost/app", true},
		{"Registry.Example.COM/team/app:Tag_1.0-rc", true},
		{"docker.io/library/redis:7.4-alpine" + digest, true},
		{"mariadb", true},
		{"ghcr.io/Sortographer/sortographer:v0.3.0", false}, // capitals in the repository
		{"Sortographer/sortographer", true},                 // capitals make the first part a registry host
		{"sortographer/Sortographer", false},
		{"ghcr.io/sortographer/sortographer :v0.3.0", false}, // a space
		{" ghcr.io/sortographer/sortographer", false},
		{"ghcr.io/sortographer/sortographer:", false},
		{"ghcr.io/sortographer/sortographer@sha256:abc", false}, // a short digest
		{"ghcr.io/sortographer//sortographer", false},
		{"ghcr.io/sortographer/sortographer:-tag", false},
	} {
		t.Run(c.ref, func(t *testing.T) {
			if _, err := reference.ParseNormalizedNamed(c.ref); (err == nil) != c.pull {
				t.Fatalf("distribution/reference parses %q: %v, want it to succeed: %v (the table is wrong)", c.ref, err, c.pull)
			}
			for _, field := range []string{"server", "workers", "cache.managed", "database.managed"} {
				spec := map[string]any{"image": c.ref}
				for _, part := range slices.Backward(strings.Split(field, ".")) {
					spec = map[string]any{part: spec}
				}
				b, _ := json.Marshal(spec)
				u := gallery(t, string(b))
				err := env.Client.Create(ctx, u)
				if err == nil {
					_ = env.Client.Delete(ctx, u)
				}
				switch {
				case c.pull && err != nil:
					t.Errorf("spec.%s.image refused: %v", field, err)
				case !c.pull && err == nil:
					t.Errorf("spec.%s.image accepted", field)
				case !c.pull && !strings.Contains(err.Error(), "spec."+field+".image is not an image reference a container runtime can pull"):
					t.Errorf("spec.%s.image refused without naming the field: %v", field, err)
				}
			}
		})
	}
}

// TestOIDCIsAcceptedWithDefaults: the smallest single sign-on (issuer, client, secret)
// is accepted and defaulted to the scopes and claims the gallery expects, creating
// accounts and keeping local passwords.
func TestOIDCIsAcceptedWithDefaults(t *testing.T) {
	ctx := context.Background()
	u := gallery(t, `auth: {oidc: {issuer: "https://login.example.edu/realms/uni", clientID: gallery, clientSecretRef: {name: sso, key: secret}, claims: {admin: {claim: groups, values: [gallery-admins]}}, redirectURL: "https://photos.example.edu/api/auth/oidc/callback"}}`)
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatalf("a valid oidc refused: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })
	var g galleryv1alpha1.Gallery
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &g); err != nil {
		t.Fatal(err)
	}
	o := g.Spec.Auth.OIDC
	if o == nil || !slices.Equal(o.Scopes, []string{"openid", "email", "profile"}) || o.Claims.Email != "email" || o.Claims.Name != "name" ||
		o.CreateAccounts == nil || !*o.CreateAccounts || o.LocalPasswords == nil || !*o.LocalPasswords {
		t.Errorf("defaulted oidc = %+v", o)
	}
}
