package specs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

// defaultConfig is the whole app configuration of gallery(): managed MariaDB and Redis,
// a photo volume, the builtin classifier, the CRD's defaults everywhere else.
var defaultConfig = map[string]string{
	config.EnvGalleryName:    "demo",
	config.EnvListenAddr:     ":8080",
	config.EnvDataDir:        "/var/lib/sortographer",
	config.EnvLogFormat:      "json",
	config.EnvLogLevel:       "info",
	config.EnvMaxUploadBytes: "26214400",
	config.EnvShutdownGrace:  "45s",

	config.EnvTokenLifetime:      "24h0m0s",
	config.EnvRememberMeLifetime: "720h0m0s",
	config.EnvAllowSignUp:        "true",
	config.EnvAdmins:             "",

	config.EnvInProcessWorkers:          "false",
	config.EnvWorkerConcurrency:         "4",
	config.EnvProviderRequestsPerSecond: "5",
	config.EnvIntakePerSecond:           "10",
	config.EnvBatchSize:                 "10",
	config.EnvMaxAttempts:               "5",
	config.EnvVisibilityTimeout:         "2m0s",
	config.EnvRequeueAfter:              "10m0s",
	config.EnvClassifier:                "builtin",
	config.EnvBuiltinMinScore:           "30",

	config.EnvDatabaseDriver:  "mysql",
	config.EnvDatabaseHost:    "demo-mariadb",
	config.EnvDatabasePort:    "3306",
	config.EnvDatabaseName:    "sortographer",
	config.EnvDatabaseUser:    "sortographer",
	config.EnvDatabaseTLSMode: "disable",

	config.EnvRedisAddr: "demo-redis:6379",

	config.EnvStorageBackend: "filesystem",
	config.EnvStoragePath:    "/var/lib/sortographer/photos",
}

func TestConfigMapDefaults(t *testing.T) {
	cm := ConfigMap(gallery())
	assertApplyable(t, cm, "v1", "ConfigMap", "demo-config", galleryv1alpha1.ComponentServer)
	if len(cm.BinaryData) != 0 {
		t.Errorf("binaryData = %v, want none", cm.BinaryData)
	}
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		if want, ok := defaultConfig[k]; !ok {
			t.Errorf("unexpected key %s = %q", k, cm.Data[k])
		} else if cm.Data[k] != want {
			t.Errorf("%s = %q, want %q", k, cm.Data[k], want)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(defaultConfig)) {
		if _, ok := cm.Data[k]; !ok {
			t.Errorf("missing key %s (want %q)", k, defaultConfig[k])
		}
	}
}

// The API's default metrics port is where the app serves metrics when
// SORTOGRAPHER_METRICS_ADDR is not set, which is what lets the ConfigMap leave it out.
func TestDefaultMetricsPortIsTheApps(t *testing.T) {
	if addr := fmt.Sprintf(":%d", galleryv1alpha1.DefaultMetricsPort); addr != config.DefaultMetricsAddr {
		t.Fatalf("spec.monitoring.metricsPort defaults to %s, the app to %s", addr, config.DefaultMetricsAddr)
	}
	if p := gallery().Spec.Monitoring.MetricsPort; p != galleryv1alpha1.DefaultMetricsPort {
		t.Fatalf("the fixture's metricsPort %d is not the API's default %d", p, galleryv1alpha1.DefaultMetricsPort)
	}
}

func TestConfigMap(t *testing.T) {
	tests := []struct {
		name   string
		g      *galleryv1alpha1.Gallery
		want   map[string]string // keys with these values
		absent []string          // keys that must not be set
	}{{
		name: "embedded: SQLite on its volume, in-process workers, no database server",
		g:    gallery(withEmbeddedDatabase()),
		want: map[string]string{
			config.EnvDatabaseDriver:   "sqlite",
			config.EnvSQLitePath:       "/var/lib/sortographer/db/sortographer.db",
			config.EnvInProcessWorkers: "true",
		},
		absent: []string{config.EnvDatabaseHost, config.EnvDatabasePort, config.EnvDatabaseName, config.EnvDatabaseUser,
			config.EnvDatabaseTLSMode, config.EnvDatabaseReaderHosts, config.EnvDatabaseCAFile},
	}, {
		name: "managed MariaDB: its Service, no TLS inside the cluster",
		g:    gallery(),
		want: map[string]string{
			config.EnvDatabaseDriver: "mysql", config.EnvDatabaseHost: "demo-mariadb", config.EnvDatabasePort: "3306",
			config.EnvDatabaseName: "sortographer", config.EnvDatabaseUser: "sortographer", config.EnvDatabaseTLSMode: "disable",
		},
		absent: []string{config.EnvSQLitePath, config.EnvDatabaseReaderHosts, config.EnvDatabaseCAFile},
	}, {
		name: "external MySQL with readers and a CA bundle; the user comes from its Secret",
		g: gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withDatabaseCA("rds-ca", "global-bundle.pem"),
			func(g *galleryv1alpha1.Gallery) {
				g.Spec.Database.External.ReaderHosts = []string{"r1.eu-west-1.rds.amazonaws.com", "r2.eu-west-1.rds.amazonaws.com"}
				g.Spec.Database.External.TLSMode = "verify-full"
				g.Spec.Database.External.Name = "photos"
			}),
		want: map[string]string{
			config.EnvDatabaseDriver:      "mysql",
			config.EnvDatabaseHost:        "gallery.cluster-abc.eu-west-1.rds.amazonaws.com",
			config.EnvDatabaseReaderHosts: "r1.eu-west-1.rds.amazonaws.com,r2.eu-west-1.rds.amazonaws.com",
			config.EnvDatabasePort:        "3306",
			config.EnvDatabaseName:        "photos",
			config.EnvDatabaseTLSMode:     "verify-full",
			config.EnvDatabaseCAFile:      "/etc/sortographer/database-ca/global-bundle.pem",
		},
		absent: []string{config.EnvDatabaseUser, config.EnvSQLitePath},
	}, {
		name: "external Postgres on its default port, no readers, no CA",
		g: gallery(withExternalDatabase(galleryv1alpha1.DatabasePostgres), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Database.External.ReaderHosts = nil
		}),
		want: map[string]string{
			config.EnvDatabaseDriver: "postgres", config.EnvDatabasePort: "5432", config.EnvDatabaseReaderHosts: "",
			config.EnvDatabaseTLSMode: "require",
		},
		absent: []string{config.EnvDatabaseUser, config.EnvDatabaseCAFile},
	}, {
		name:   "external database on a custom port",
		g:      gallery(withExternalDatabase(galleryv1alpha1.DatabasePostgres), withDatabasePort(6432)),
		want:   map[string]string{config.EnvDatabasePort: "6432"},
		absent: []string{config.EnvDatabaseUser},
	}, {
		name:   "managed Redis: its Service, no TLS, no user, default db",
		g:      gallery(),
		want:   map[string]string{config.EnvRedisAddr: "demo-redis:6379"},
		absent: []string{config.EnvRedisDB, config.EnvRedisUsername, config.EnvRedisTLS, config.EnvRedisTLSServerName, config.EnvRedisCAFile},
	}, {
		name: "external Redis with TLS and the system roots",
		g:    gallery(withExternalRedis()),
		want: map[string]string{
			config.EnvRedisAddr: "my-cache.abc123.euw1.cache.amazonaws.com:6379", config.EnvRedisDB: "0", config.EnvRedisTLS: "true",
		},
		absent: []string{config.EnvRedisUsername, config.EnvRedisTLSServerName, config.EnvRedisCAFile},
	}, {
		name: "external Redis with an ACL user, a db, a server name and a CA bundle",
		g: gallery(withExternalRedis(), withRedisCA("cache-ca", "ca.crt"), func(g *galleryv1alpha1.Gallery) {
			e := g.Spec.Cache.External
			e.Username, e.DB, e.TLS.ServerName = "gallery", 3, "cache.internal"
		}),
		want: map[string]string{
			config.EnvRedisUsername: "gallery", config.EnvRedisDB: "3", config.EnvRedisTLS: "true",
			config.EnvRedisTLSServerName: "cache.internal", config.EnvRedisCAFile: "/etc/sortographer/redis-ca/ca.crt",
		},
	}, {
		name: "external Redis with TLS off ignores its CA and server name",
		g: gallery(withExternalRedis(), withRedisCA("cache-ca", "ca.crt"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Cache.External.TLS.Enabled = false
			g.Spec.Cache.External.TLS.ServerName = "cache.internal"
		}),
		want:   map[string]string{config.EnvRedisDB: "0"},
		absent: []string{config.EnvRedisTLS, config.EnvRedisTLSServerName, config.EnvRedisCAFile},
	}, {
		name: "external Redis without TLS",
		g: gallery(withExternalRedis(), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Cache.External.TLS = nil
		}),
		want:   map[string]string{config.EnvRedisAddr: "my-cache.abc123.euw1.cache.amazonaws.com:6379"},
		absent: []string{config.EnvRedisTLS, config.EnvRedisTLSServerName, config.EnvRedisCAFile},
	}, {
		name: "filesystem storage on the photo volume",
		g:    gallery(),
		want: map[string]string{config.EnvStorageBackend: "filesystem", config.EnvStoragePath: "/var/lib/sortographer/photos"},
		absent: []string{config.EnvS3Bucket, config.EnvS3Region, config.EnvS3Prefix, config.EnvS3Endpoint,
			config.EnvS3ForcePathStyle, config.EnvS3SSE, config.EnvS3SSEKMSKeyID},
	}, {
		name: "S3 on AWS with the bucket's default encryption",
		g:    gallery(withS3()),
		want: map[string]string{
			config.EnvStorageBackend: "s3", config.EnvS3Bucket: "demo-photos", config.EnvS3Region: "eu-west-1",
			config.EnvS3Prefix: "", config.EnvS3ForcePathStyle: "false",
		},
		absent: []string{config.EnvStoragePath, config.EnvS3Endpoint, config.EnvS3SSE, config.EnvS3SSEKMSKeyID},
	}, {
		name: "S3-compatible store: endpoint, path style, prefix, no region",
		g: gallery(withS3(), withS3Endpoint("http://minio.storage:9000"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Storage.S3.Region = ""
			g.Spec.Storage.S3.Prefix = "galleries/prod/"
		}),
		want: map[string]string{
			config.EnvS3Endpoint: "http://minio.storage:9000", config.EnvS3ForcePathStyle: "true", config.EnvS3Prefix: "galleries/prod/",
		},
		absent: []string{config.EnvS3Region, config.EnvStoragePath},
	}, {
		name: "S3 with SSE-KMS and a key",
		g: gallery(withS3(), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Storage.S3.ServerSideEncryption = &galleryv1alpha1.ServerSideEncryptionSpec{
				Type: "aws:kms", KMSKeyID: "arn:aws:kms:eu-west-1:111122223333:alias/photos",
			}
		}),
		want: map[string]string{config.EnvS3SSE: "aws:kms", config.EnvS3SSEKMSKeyID: "arn:aws:kms:eu-west-1:111122223333:alias/photos"},
	}, {
		name: "S3 with SSE-S3",
		g: gallery(withS3(), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Storage.S3.ServerSideEncryption = &galleryv1alpha1.ServerSideEncryptionSpec{Type: "AES256"}
		}),
		want:   map[string]string{config.EnvS3SSE: "AES256"},
		absent: []string{config.EnvS3SSEKMSKeyID},
	}, {
		name: "Rekognition in its region, no endpoint, the bundled model",
		g:    gallery(withRekognition()),
		want: map[string]string{
			config.EnvClassifier: "rekognition", config.EnvRekognitionRegion: "eu-west-1",
			config.EnvRekognitionMinConfidence: "70", config.EnvRekognitionMaxLabels: "20",
		},
		absent: []string{config.EnvRekognitionEndpoint, config.EnvModelDir},
	}, {
		name: "Rekognition through a VPC endpoint with its own thresholds",
		g: gallery(withRekognition(), func(g *galleryv1alpha1.Gallery) {
			r := g.Spec.Workers.Classifier.Rekognition
			r.Endpoint, r.MinConfidence, r.MaxLabels = "https://rekognition.vpce.example.com", 85, 5
		}),
		want: map[string]string{
			config.EnvRekognitionEndpoint:      "https://rekognition.vpce.example.com",
			config.EnvRekognitionMinConfidence: "85", config.EnvRekognitionMaxLabels: "5",
		},
	}, {
		name: "builtin provider ignores a leftover rekognition block",
		g: gallery(withRekognition(), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Workers.Classifier.Provider = galleryv1alpha1.ClassifierBuiltin
		}),
		want: map[string]string{config.EnvClassifier: "builtin"},
		absent: []string{config.EnvRekognitionRegion, config.EnvRekognitionMinConfidence, config.EnvRekognitionMaxLabels,
			config.EnvRekognitionEndpoint},
	}, {
		name: "builtin with a custom model from a ConfigMap and its own score",
		g: gallery(withCustomModelConfigMap("my-model"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Workers.Classifier.Builtin.MinScore = 55
		}),
		want:   map[string]string{config.EnvClassifier: "builtin", config.EnvModelDir: "/etc/sortographer/model", config.EnvBuiltinMinScore: "55"},
		absent: []string{config.EnvRekognitionRegion},
	}, {
		name:   "a custom model is ignored with Rekognition",
		g:      gallery(withCustomModelClaim("models"), withRekognition()),
		absent: []string{config.EnvModelDir},
	}, {
		name: "builtin with a custom model from a PVC",
		g:    gallery(withCustomModelClaim("models")),
		want: map[string]string{config.EnvModelDir: "/etc/sortographer/model"},
	}, {
		name: "auth: lifetimes, admins, sign-up closed",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			a := &g.Spec.Auth
			a.TokenLifetime = metav1.Duration{Duration: 90 * time.Minute}
			a.RememberMeLifetime = metav1.Duration{Duration: 168 * time.Hour}
			a.AllowSignUp = ptr.To(false)
			a.Admins = []string{"ada@example.com", "grace@example.com"}
		}),
		want: map[string]string{
			config.EnvTokenLifetime: "1h30m0s", config.EnvRememberMeLifetime: "168h0m0s",
			config.EnvAllowSignUp: "false", config.EnvAdmins: "ada@example.com,grace@example.com",
		},
	}, {
		name: "auth: the default absolute session lifetime is not written",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Auth.SessionMaxLifetime = metav1.Duration{Duration: config.DefaultSessionMaxLifetime}
		}),
		want: map[string]string{},
	}, {
		name: "auth: an absolute session lifetime",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Auth.SessionMaxLifetime = metav1.Duration{Duration: 12 * time.Hour}
		}),
		want: map[string]string{config.EnvSessionMaxLifetime: "12h0m0s"},
	}, {
		name: "sign-in limits: trusted proxies and the global cap",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Server.TrustedProxies = []string{"10.0.0.0/8", "fd00::/8"}
			g.Spec.Auth.SignInsPerSecond = 50
		}),
		want: map[string]string{config.EnvTrustedProxies: "10.0.0.0/8,fd00::/8", config.EnvSignInsPerSecond: "50"},
	}, {
		name:   "sign-in limits: defaulted writes nothing (the app's defaults)",
		g:      gallery(),
		absent: []string{config.EnvTrustedProxies, config.EnvSignInsPerSecond},
	}, {
		name:   "sign-in limits: undefaulted cap writes nothing",
		g:      gallery(func(g *galleryv1alpha1.Gallery) { g.Spec.Auth.SignInsPerSecond = 0 }),
		absent: []string{config.EnvSignInsPerSecond},
	}, {
		name: "auth: undefaulted sign-up means open",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Auth.AllowSignUp = nil
			g.Spec.Auth.Admins = []string{"ada@example.com"}
		}),
		want: map[string]string{config.EnvAllowSignUp: "true", config.EnvAdmins: "ada@example.com"},
	}, {
		name: "oidc: off writes nothing",
		g:    gallery(),
		absent: []string{config.EnvOIDCIssuer, config.EnvOIDCClientID, config.EnvOIDCClientSecret, config.EnvOIDCScopes,
			config.EnvOIDCLocalPasswords, config.EnvOIDCCreateAccounts},
	}, {
		name: "oidc: defaults; the client secret is never in the ConfigMap",
		g:    gallery(withOIDC("https://login.example.edu/realms/uni")),
		want: map[string]string{
			config.EnvOIDCIssuer: "https://login.example.edu/realms/uni", config.EnvOIDCClientID: "gallery",
			config.EnvOIDCScopes: "openid,email,profile", config.EnvOIDCEmailClaim: "email", config.EnvOIDCNameClaim: "name",
			config.EnvOIDCCreateAccounts: "true", config.EnvOIDCLocalPasswords: "true",
		},
		absent: []string{config.EnvOIDCClientSecret, config.EnvOIDCAdminClaim, config.EnvOIDCAdminValues, config.EnvOIDCQuotaClaim,
			config.EnvOIDCProviderName, config.EnvOIDCRedirectURL},
	}, {
		name: "oidc: admin group, quota claim, single sign-on only",
		g: gallery(withOIDC("https://login.example.edu/realms/uni", func(o *galleryv1alpha1.OIDCSpec) {
			o.Scopes = []string{"openid", "email", "groups"}
			o.Claims.Admin = &galleryv1alpha1.OIDCAdminClaimSpec{Claim: "groups", Values: []string{"gallery-admins", "it-staff"}}
			o.Claims.Quota = "photo_quota"
			o.CreateAccounts, o.LocalPasswords = ptr.To(false), ptr.To(false)
			o.ProviderName, o.RedirectURL = "University login", "https://photos.example.edu/api/auth/oidc/callback"
		})),
		want: map[string]string{
			config.EnvOIDCScopes: "openid,email,groups", config.EnvOIDCAdminClaim: "groups", config.EnvOIDCAdminValues: "gallery-admins,it-staff",
			config.EnvOIDCQuotaClaim: "photo_quota", config.EnvOIDCCreateAccounts: "false", config.EnvOIDCLocalPasswords: "false",
			config.EnvOIDCProviderName: "University login", config.EnvOIDCRedirectURL: "https://photos.example.edu/api/auth/oidc/callback",
		},
	}, {
		name:   "sharing: defaulted on and uncapped writes nothing (the app's defaults)",
		g:      gallery(withSharing(ptr.To(true), nil)),
		absent: []string{config.EnvSharingEnabled, config.EnvShareMaxLifetime, config.EnvShareStripLocation},
	}, {
		name:   "sharing: undefaulted means on and uncapped",
		g:      gallery(withSharing(nil, nil)),
		absent: []string{config.EnvSharingEnabled, config.EnvShareMaxLifetime},
	}, {
		name:   "sharing: turned off",
		g:      gallery(withSharing(ptr.To(false), nil)),
		want:   map[string]string{config.EnvSharingEnabled: "false"},
		absent: []string{config.EnvShareMaxLifetime},
	}, {
		name:   "sharing: location stripped, the default, writes nothing",
		g:      gallery(withSharing(nil, nil), withStripLocation(ptr.To(true))),
		absent: []string{config.EnvShareStripLocation},
	}, {
		name:   "sharing: location kept in shared photos",
		g:      gallery(withSharing(nil, nil), withStripLocation(ptr.To(false))),
		want:   map[string]string{config.EnvShareStripLocation: "false"},
		absent: []string{config.EnvSharingEnabled, config.EnvShareMaxLifetime},
	}, {
		name:   "sharing: links capped at 30 days",
		g:      gallery(withSharing(ptr.To(true), &metav1.Duration{Duration: 720 * time.Hour})),
		want:   map[string]string{config.EnvShareMaxLifetime: "720h0m0s"},
		absent: []string{config.EnvSharingEnabled},
	}, {
		name: "sharing: off and capped",
		g:    gallery(withSharing(ptr.To(false), &metav1.Duration{Duration: 90 * time.Minute})),
		want: map[string]string{config.EnvSharingEnabled: "false", config.EnvShareMaxLifetime: "1h30m0s"},
	}, {
		name:   "quota: absent writes nothing (unlimited, the app's default)",
		g:      gallery(),
		absent: []string{config.EnvQuotaStorageBytes, config.EnvQuotaPhotos},
	}, {
		name:   "quota: storage only, in bytes",
		g:      gallery(withQuota(ptr.To(resource.MustParse("10Gi")), nil)),
		want:   map[string]string{config.EnvQuotaStorageBytes: "10737418240"},
		absent: []string{config.EnvQuotaPhotos},
	}, {
		name: "quota: storage and photos",
		g:    gallery(withQuota(ptr.To(resource.MustParse("500M")), ptr.To[int64](2000))),
		want: map[string]string{config.EnvQuotaStorageBytes: "500000000", config.EnvQuotaPhotos: "2000"},
	}, {
		name:   "text: defaulted writes nothing (the app's auto reads text with builtin, not with rekognition)",
		g:      gallery(),
		absent: []string{config.EnvTextReader, config.EnvTextMinConfidence},
	}, {
		name:   "text: defaulted with rekognition writes nothing either",
		g:      gallery(withRekognition()),
		absent: []string{config.EnvTextReader, config.EnvTextMinConfidence},
	}, {
		name:   "text: undefaulted confidence is the app's",
		g:      gallery(withText(nil, 0)),
		absent: []string{config.EnvTextReader, config.EnvTextMinConfidence},
	}, {
		name:   "text: on with builtin names Tesseract",
		g:      gallery(withText(ptr.To(true), 80)),
		want:   map[string]string{config.EnvTextReader: "tesseract"},
		absent: []string{config.EnvTextMinConfidence},
	}, {
		name: "text: on with rekognition names DetectText, with its confidence",
		g:    gallery(withRekognition(), withText(ptr.To(true), 85)),
		want: map[string]string{config.EnvTextReader: "rekognition", config.EnvTextMinConfidence: "85"},
	}, {
		name:   "text: off with builtin",
		g:      gallery(withText(ptr.To(false), 80)),
		want:   map[string]string{config.EnvTextReader: "none"},
		absent: []string{config.EnvTextMinConfidence},
	}, {
		name: "server: port, upload size, shutdown grace from the pod's grace",
		g: gallery(withServerPort(9000), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Server.MaxUploadSize = resource.MustParse("50Mi")
			g.Spec.Server.TerminationGracePeriodSeconds = 120
			g.Spec.Server.PreStopDelaySeconds = 30
		}),
		want: map[string]string{config.EnvListenAddr: ":9000", config.EnvMaxUploadBytes: "52428800", config.EnvShutdownGrace: "85s"},
	}, {
		name: "metrics moved off the app's default port",
		g:    gallery(withMetricsPort(9464)),
		want: map[string]string{config.EnvListenAddr: ":8080", config.EnvMetricsAddr: ":9464"},
	}, {
		name: "workers: concurrency, pacing and jobs",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			w := &g.Spec.Workers
			w.Concurrency = 16
			w.Pacing = galleryv1alpha1.PacingSpec{ProviderRequestsPerSecond: 50, IntakePerSecond: 200, BatchSize: 25}
			w.Jobs = galleryv1alpha1.JobsSpec{
				MaxAttempts:       9,
				VisibilityTimeout: metav1.Duration{Duration: 45 * time.Second},
				RequeueAfter:      metav1.Duration{Duration: 2 * time.Hour},
			}
		}),
		want: map[string]string{
			config.EnvWorkerConcurrency: "16", config.EnvProviderRequestsPerSecond: "50", config.EnvIntakePerSecond: "200",
			config.EnvBatchSize: "25", config.EnvMaxAttempts: "9", config.EnvVisibilityTimeout: "45s", config.EnvRequeueAfter: "2h0m0s",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := ConfigMap(tt.g)
			assertApplyable(t, cm, "v1", "ConfigMap", "demo-config", galleryv1alpha1.ComponentServer)
			for _, k := range slices.Sorted(maps.Keys(tt.want)) {
				if got, ok := cm.Data[k]; !ok {
					t.Errorf("missing %s, want %q", k, tt.want[k])
				} else if got != tt.want[k] {
					t.Errorf("%s = %q, want %q", k, got, tt.want[k])
				}
			}
			for _, k := range tt.absent {
				if v, ok := cm.Data[k]; ok {
					t.Errorf("%s = %q, want it unset", k, v)
				}
			}
		})
	}
}

func TestShutdownGrace(t *testing.T) {
	for _, tt := range []struct {
		grace, preStop int64
		want           string
	}{
		{60, 10, "45s"},
		{60, 0, "55s"},
		{120, 30, "85s"},
		{3600, 600, "2995s"},
		{16, 10, "1s"}, // exactly the floor
		{30, 25, "1s"}, // 0 left: floor of 1
		{10, 9, "1s"},  // negative: floor of 1
		{1, 0, "1s"},
	} {
		g := gallery(func(g *galleryv1alpha1.Gallery) {
			g.Spec.Server.TerminationGracePeriodSeconds = tt.grace
			g.Spec.Server.PreStopDelaySeconds = tt.preStop
		})
		if got := ConfigMap(g).Data[config.EnvShutdownGrace]; got != tt.want {
			t.Errorf("grace %ds, preStop %ds: %s = %q, want %q", tt.grace, tt.preStop, config.EnvShutdownGrace, got, tt.want)
		}
	}
}

// configShapes are Galleries that together set every branch of the ConfigMap.
func configShapes() map[string]*galleryv1alpha1.Gallery {
	return map[string]*galleryv1alpha1.Gallery{
		"defaults": gallery(),
		"embedded": gallery(withEmbeddedDatabase(), withCustomModelClaim("models")),
		"external everything": gallery(withExternalDatabase(galleryv1alpha1.DatabasePostgres), withDatabaseCA("rds-ca", "ca.pem"),
			withExternalRedis(), withRedisCA("cache-ca", "ca.crt"), withS3(), withS3Endpoint("https://s3.example.com"),
			withS3Credentials("s3-creds"), withRekognition(), withJWTSecretRef("jwt", "key"), func(g *galleryv1alpha1.Gallery) {
				g.Spec.Cache.External.Username = "gallery"
				g.Spec.Cache.External.DB = 2
				g.Spec.Auth.Admins = []string{"ada@example.com", "grace@example.com"}
				g.Spec.Server.TrustedProxies = []string{"10.0.0.0/8", "2001:db8::/32"}
				g.Spec.Auth.SignInsPerSecond = 40
				g.Spec.Storage.S3.ServerSideEncryption = &galleryv1alpha1.ServerSideEncryptionSpec{Type: "aws:kms", KMSKeyID: "alias/x"}
			}),
		"sharing off, links capped": gallery(withSharing(ptr.To(false), &metav1.Duration{Duration: 48 * time.Hour})),
		"text off":                  gallery(withText(ptr.To(false), 80)),
		"text on, confident":        gallery(withText(ptr.To(true), 90)),
		"rekognition reading text":  gallery(withRekognition(), withText(ptr.To(true), 0)),
		"sharing on, links capped":  gallery(withSharing(ptr.To(true), &metav1.Duration{Duration: 15 * time.Minute})),
		"external mysql, redis without password": gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withExternalRedis(),
			func(g *galleryv1alpha1.Gallery) { g.Spec.Cache.External.PasswordSecretRef = nil }),
	}
}

// TestConfigMapLoadsInTheApp feeds the ConfigMap, plus a value for every Secret env var,
// to the app's own config.Load: what the operator writes is what the binary reads.
func TestConfigMapLoadsInTheApp(t *testing.T) {
	for name, g := range configShapes() {
		t.Run(name, func(t *testing.T) {
			cm := ConfigMap(g)
			var environ []string
			for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
				environ = append(environ, k+"="+cm.Data[k])
			}
			for _, r := range SecretEnv(g) {
				environ = append(environ, r.Env+"="+strings.Repeat("s", 40))
			}
			c, err := config.Load(environ)
			if err != nil {
				t.Fatalf("the app refuses the operator's configuration: %v", err)
			}
			s := g.Spec
			if c.GalleryName != g.Name || c.ListenAddr != ":8080" || c.ShutdownGrace != 45*time.Second {
				t.Errorf("gallery %q, listen %q, shutdown grace %v", c.GalleryName, c.ListenAddr, c.ShutdownGrace)
			}
			if c.MaxUploadBytes != s.Server.MaxUploadSize.Value() {
				t.Errorf("max upload = %d, want %d", c.MaxUploadBytes, s.Server.MaxUploadSize.Value())
			}
			if c.Auth.TokenLifetime != s.Auth.TokenLifetime.Duration || c.Auth.RememberMeLifetime != s.Auth.RememberMeLifetime.Duration {
				t.Errorf("lifetimes = %v/%v", c.Auth.TokenLifetime, c.Auth.RememberMeLifetime)
			}
			if !slices.Equal(c.Auth.Admins, s.Auth.Admins) {
				t.Errorf("admins = %q, want %q", c.Auth.Admins, s.Auth.Admins)
			}
			wantSharing, wantMaxLifetime := s.Auth.Sharing.Enabled == nil || *s.Auth.Sharing.Enabled, time.Duration(0)
			if m := s.Auth.Sharing.MaxLinkLifetime; m != nil {
				wantMaxLifetime = m.Duration
			}
			if c.Auth.SharingEnabled != wantSharing || c.Auth.ShareMaxLifetime != wantMaxLifetime {
				t.Errorf("sharing = %v capped at %v, want %v capped at %v", c.Auth.SharingEnabled, c.Auth.ShareMaxLifetime, wantSharing, wantMaxLifetime)
			}
			var proxies []string
			for _, p := range c.TrustedProxies {
				proxies = append(proxies, p.String())
			}
			if !slices.Equal(proxies, s.Server.TrustedProxies) || int32(c.Auth.SignInsPerSecond) != s.Auth.SignInsPerSecond {
				t.Errorf("trusted proxies %q, sign-ins a second %d; want %q, %d", proxies, c.Auth.SignInsPerSecond, s.Server.TrustedProxies, s.Auth.SignInsPerSecond)
			}
			if c.Workers.InProcess != g.Embedded() {
				t.Errorf("in-process workers = %v, want %v", c.Workers.InProcess, g.Embedded())
			}
			if c.Workers.Classifier != string(s.Workers.Classifier.Provider) {
				t.Errorf("classifier = %q, want %q", c.Workers.Classifier, s.Workers.Classifier.Provider)
			}
			// The reader the app runs is the one the API says, read or not.
			wantReader := ""
			if g.ReadsText() {
				wantReader = config.TextReaderTesseract
				if s.Workers.Classifier.Provider == galleryv1alpha1.ClassifierRekognition {
					wantReader = config.TextReaderRekognition
				}
			}
			wantConfidence := float64(s.Workers.Classifier.Text.MinConfidence)
			if wantConfidence == 0 {
				wantConfidence = config.DefaultTextMinConfidence
			}
			if c.Workers.TextReaderName() != wantReader || c.Workers.TextMinConfidence != wantConfidence {
				t.Errorf("text reader %q at %v, want %q at %v", c.Workers.TextReaderName(), c.Workers.TextMinConfidence, wantReader, wantConfidence)
			}
			switch db := s.Database; {
			case db.Embedded != nil:
				if c.Database.Driver != config.DriverSQLite || c.SQLiteFile() != SQLiteDir+"/sortographer.db" {
					t.Errorf("database = %s at %s, want sqlite under %s", c.Database.Driver, c.SQLiteFile(), SQLiteDir)
				}
			case db.External != nil:
				if c.Database.Driver != string(db.External.Engine) || c.Database.Port != int(g.DatabasePort()) ||
					!slices.Equal(c.Database.ReaderHosts, db.External.ReaderHosts) || c.Database.TLSMode != string(db.External.TLSMode) {
					t.Errorf("database = %+v", c.Database)
				}
			}
			if e := s.Cache.External; e != nil {
				if c.Redis.Addr != e.Address || c.Redis.DB != int(e.DB) || c.Redis.Username != e.Username ||
					c.Redis.TLS != (e.TLS != nil && e.TLS.Enabled) {
					t.Errorf("redis = %+v", c.Redis)
				}
			}
			if s.Storage.S3 != nil {
				if c.Storage.Backend != config.StorageS3 || c.Storage.S3Bucket != s.Storage.S3.Bucket {
					t.Errorf("storage = %+v", c.Storage)
				}
			} else if c.Storage.Backend != config.StorageFilesystem || c.StorageDir() != PhotosDir {
				t.Errorf("storage = %s at %s, want filesystem at %s", c.Storage.Backend, c.StorageDir(), PhotosDir)
			}
		})
	}
}

// TestConfigMapHoldsNoSecret: the ConfigMap is readable by anyone who can read
// ConfigMaps, so secrets stay in Secrets, wired as env valueFrom.
func TestConfigMapHoldsNoSecret(t *testing.T) {
	for name, g := range configShapes() {
		t.Run(name, func(t *testing.T) {
			cm := ConfigMap(g)
			fromSecrets := map[string]bool{}
			var secretNames []string
			for _, r := range SecretEnv(g) {
				fromSecrets[r.Env] = true
				secretNames = append(secretNames, r.Secret)
			}
			for k, v := range cm.Data {
				if config.Secret(k) || fromSecrets[k] {
					t.Errorf("ConfigMap holds %s, which comes from a Secret", k)
				}
				for _, word := range []string{"PASSWORD", "SECRET", "ACCESS_KEY", "CREDENTIAL"} {
					if strings.Contains(k, word) {
						t.Errorf("ConfigMap key %s looks like a secret", k)
					}
				}
				for _, s := range secretNames {
					if strings.Contains(v, s) {
						t.Errorf("ConfigMap %s = %q names the Secret %s", k, v, s)
					}
				}
			}
		})
	}
}

// withText sets spec.workers.classifier.text; nil and 0 leave a field unset
// (undefaulted).
func withText(enabled *bool, minConfidence int32) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Workers.Classifier.Text = galleryv1alpha1.TextSpec{Enabled: enabled, MinConfidence: minConfidence}
	}
}

// withStripLocation sets spec.auth.sharing.stripLocation; nil leaves it unset.
func withStripLocation(strip *bool) galleryOption {
	return func(g *galleryv1alpha1.Gallery) { g.Spec.Auth.Sharing.StripLocation = strip }
}

// withQuota sets spec.auth.quota.
func withQuota(storage *resource.Quantity, photos *int64) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Auth.Quota = &galleryv1alpha1.QuotaSpec{Storage: storage, Photos: photos}
	}
}

// withSharing sets spec.auth.sharing; nil leaves a field unset (undefaulted).
func withSharing(enabled *bool, maxLinkLifetime *metav1.Duration) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Auth.Sharing = galleryv1alpha1.SharingSpec{Enabled: enabled, MaxLinkLifetime: maxLinkLifetime}
	}
}
