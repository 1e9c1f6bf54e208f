package specs

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

// Paths inside the gallery pods.
const (
	DataDir       = "/var/lib/sortographer"
	PhotosDir     = DataDir + "/photos"
	SQLiteDir     = DataDir + "/db"
	ModelDir      = "/etc/sortographer/model"
	DatabaseCADir = "/etc/sortographer/database-ca"
	RedisCADir    = "/etc/sortographer/redis-ca"
)

// SecretKeyJWT is the key of the generated JWT signing key.
const SecretKeyJWT = "jwt-secret"

// ConfigMap is the app's non-secret configuration, keyed by the environment variable
// names of internal/config; the pods read it with envFrom. Secrets are wired as env
// valueFrom in the pod templates (SecretEnv).
func ConfigMap(g *galleryv1alpha1.Gallery) *corev1.ConfigMap {
	s := g.Spec
	d := map[string]string{
		config.EnvGalleryName:    g.Name,
		config.EnvListenAddr:     fmt.Sprintf(":%d", s.Server.Port),
		config.EnvDataDir:        DataDir,
		config.EnvLogFormat:      "json",
		config.EnvLogLevel:       "info",
		config.EnvMaxUploadBytes: strconv.FormatInt(s.Server.MaxUploadSize.Value(), 10),
		config.EnvShutdownGrace:  fmt.Sprintf("%ds", shutdownGraceSeconds(s.Server)),

		config.EnvTokenLifetime:      s.Auth.TokenLifetime.Duration.String(),
		config.EnvRememberMeLifetime: s.Auth.RememberMeLifetime.Duration.String(),
		config.EnvAllowSignUp:        strconv.FormatBool(s.Auth.AllowSignUp == nil || *s.Auth.AllowSignUp),
		config.EnvAdmins:             strings.Join(s.Auth.Admins, ","),

		config.EnvInProcessWorkers:          strconv.FormatBool(g.Embedded()),
		config.EnvWorkerConcurrency:         strconv.Itoa(int(s.Workers.Concurrency)),
		config.EnvProviderRequestsPerSecond: strconv.Itoa(int(s.Workers.Pacing.ProviderRequestsPerSecond)),
		config.EnvIntakePerSecond:           strconv.Itoa(int(s.Workers.Pacing.IntakePerSecond)),
		config.EnvBatchSize:                 strconv.Itoa(int(s.Workers.Pacing.BatchSize)),
		config.EnvMaxAttempts:               strconv.Itoa(int(s.Workers.Jobs.MaxAttempts)),
		config.EnvVisibilityTimeout:         s.Workers.Jobs.VisibilityTimeout.Duration.String(),
		config.EnvRequeueAfter:              s.Workers.Jobs.RequeueAfter.Duration.String(),
	}
	addSharing(d, s.Auth.Sharing)
	addOIDC(d, s.Auth.OIDC)
	addSessionMaxLifetime(d, s.Auth)
	addSignInLimits(d, s)
	addQuota(d, s.Auth.Quota)
	addMetrics(d, g)
	addClassifier(d, s.Workers.Classifier)
	addText(d, s.Workers.Classifier)
	addDatabase(d, g)
	addRedis(d, g)
	addStorage(d, s.Storage)
	return &corev1.ConfigMap{
		TypeMeta:   typeMeta("v1", "ConfigMap"),
		ObjectMeta: ObjectMeta(g, g.ConfigMapName(), galleryv1alpha1.ComponentServer),
		Data:       d,
	}
}

// shutdownGraceSeconds leaves the app time to finish in-flight requests after the
// preStop delay, within the pod's grace period, with a few seconds to spare.
func shutdownGraceSeconds(s galleryv1alpha1.ServerSpec) int64 {
	left := s.TerminationGracePeriodSeconds - s.PreStopDelaySeconds - 5
	if left < 1 {
		left = 1
	}
	return left
}

// addOIDC writes single sign-on's settings, all but the client secret, which the pods
// read from its Secret (SecretEnv). Nothing without oidc: the app's default is off.
func addOIDC(d map[string]string, o *galleryv1alpha1.OIDCSpec) {
	if o == nil {
		return
	}
	d[config.EnvOIDCIssuer] = o.Issuer
	d[config.EnvOIDCClientID] = o.ClientID
	if len(o.Scopes) > 0 {
		d[config.EnvOIDCScopes] = strings.Join(o.Scopes, ",")
	}
	if o.Claims.Email != "" {
		d[config.EnvOIDCEmailClaim] = o.Claims.Email
	}
	if o.Claims.Name != "" {
		d[config.EnvOIDCNameClaim] = o.Claims.Name
	}
	if a := o.Claims.Admin; a != nil {
		d[config.EnvOIDCAdminClaim] = a.Claim
		d[config.EnvOIDCAdminValues] = strings.Join(a.Values, ",")
	}
	if o.Claims.Quota != "" {
		d[config.EnvOIDCQuotaClaim] = o.Claims.Quota
	}
	d[config.EnvOIDCCreateAccounts] = strconv.FormatBool(o.CreateAccounts == nil || *o.CreateAccounts)
	d[config.EnvOIDCLocalPasswords] = strconv.FormatBool(o.LocalPasswords == nil || *o.LocalPasswords)
	if o.ProviderName != "" {
		d[config.EnvOIDCProviderName] = o.ProviderName
	}
	if o.RedirectURL != "" {
		d[config.EnvOIDCRedirectURL] = o.RedirectURL
	}
}

// addSharing writes the share-link settings only where they differ from the app's
// defaults (sharing on, no lifetime cap, location stripped): the ConfigMap of a Gallery that does not use
// spec.auth.sharing stays byte for byte what operators before the field wrote, so
// upgrading the operator does not roll every Gallery's pods.
func addSharing(d map[string]string, s galleryv1alpha1.SharingSpec) {
	if s.Enabled != nil && !*s.Enabled {
		d[config.EnvSharingEnabled] = "false"
	}
	if s.MaxLinkLifetime != nil && s.MaxLinkLifetime.Duration > 0 {
		d[config.EnvShareMaxLifetime] = s.MaxLinkLifetime.Duration.String()
	}
	if s.StripLocation != nil && !*s.StripLocation {
		d[config.EnvShareStripLocation] = "false"
	}
}

// addSessionMaxLifetime writes spec.auth.sessionMaxLifetime only where it differs from
// the app's default, as addSharing does, so that the new field does not roll the pods
// of Galleries that keep the default.
func addSessionMaxLifetime(d map[string]string, a galleryv1alpha1.AuthSpec) {
	if l := a.SessionMaxLifetime.Duration; l > 0 && l != config.DefaultSessionMaxLifetime {
		d[config.EnvSessionMaxLifetime] = l.String()
	}
}

// addQuota writes the users' default quota, only when spec.auth.quota sets one (the
// app's default is unlimited), so a Gallery without it keeps its ConfigMap as it was.
func addQuota(d map[string]string, q *galleryv1alpha1.QuotaSpec) {
	if q == nil {
		return
	}
	if q.Storage != nil && q.Storage.Value() > 0 {
		d[config.EnvQuotaStorageBytes] = strconv.FormatInt(q.Storage.Value(), 10)
	}
	if q.Photos != nil && *q.Photos > 0 {
		d[config.EnvQuotaPhotos] = strconv.FormatInt(*q.Photos, 10)
	}
}

// addMetrics moves the app's metrics listener to spec.monitoring.metricsPort. Like the
// sharing settings, it is written only where it differs from the app's default (:9090,
// the API's default too), so the ConfigMap of a Gallery that keeps the default stays
// what operators before the field wrote.
// addSignInLimits passes the trusted proxies, when there are any, and the sign-in cap
// when it is not the app's default (the CRD's too): like every setting added after
// 0.1.0, written only when it differs, so an upgrade does not roll the pods.
func addSignInLimits(d map[string]string, s galleryv1alpha1.GallerySpec) {
	if len(s.Server.TrustedProxies) > 0 {
		d[config.EnvTrustedProxies] = strings.Join(s.Server.TrustedProxies, ",")
	}
	if n := s.Auth.SignInsPerSecond; n > 0 && n != config.DefaultSignInsPerSecond {
		d[config.EnvSignInsPerSecond] = strconv.Itoa(int(s.Auth.SignInsPerSecond))
	}
}

func addMetrics(d map[string]string, g *galleryv1alpha1.Gallery) {
	if addr := fmt.Sprintf(":%d", g.MetricsPort()); addr != config.DefaultMetricsAddr {
		d[config.EnvMetricsAddr] = addr
	}
}

func addClassifier(d map[string]string, c galleryv1alpha1.ClassifierSpec) {
	d[config.EnvClassifier] = string(c.Provider)
	d[config.EnvBuiltinMinScore] = strconv.Itoa(int(c.Builtin.MinScore))
	if c.Builtin.CustomModel != nil && c.Provider == galleryv1alpha1.ClassifierBuiltin {
		d[config.EnvModelDir] = ModelDir
	}
	if r := c.Rekognition; r != nil && c.Provider == galleryv1alpha1.ClassifierRekognition {
		d[config.EnvRekognitionRegion] = r.Region
		d[config.EnvRekognitionMinConfidence] = strconv.Itoa(int(r.MinConfidence))
		d[config.EnvRekognitionMaxLabels] = strconv.Itoa(int(r.MaxLabels))
		if r.Endpoint != "" {
			d[config.EnvRekognitionEndpoint] = r.Endpoint
		}
	}
}

// addText writes the text reader only where spec.workers.classifier.text sets it, and
// its confidence only where it differs from the app's default: unset, the app's own
// default (auto) reads text with the builtin provider and not with rekognition, as the
// API's default says, so the ConfigMap of a Gallery that leaves the field alone stays
// byte for byte what operators before it wrote, and upgrading the operator does not
// roll every Gallery's pods. Set, it names the reader, so that a worker that cannot
// start it fails instead of running without it.
func addText(d map[string]string, c galleryv1alpha1.ClassifierSpec) {
	if e := c.Text.Enabled; e != nil {
		switch {
		case !*e:
			d[config.EnvTextReader] = config.TextReaderNone
		case c.Provider == galleryv1alpha1.ClassifierRekognition:
			d[config.EnvTextReader] = config.TextReaderRekognition
		default:
			d[config.EnvTextReader] = config.TextReaderTesseract
		}
	}
	if m := c.Text.MinConfidence; m != 0 && m != config.DefaultTextMinConfidence {
		d[config.EnvTextMinConfidence] = strconv.Itoa(int(m))
	}
}

func addDatabase(d map[string]string, g *galleryv1alpha1.Gallery) {
	db := g.Spec.Database
	switch {
	case db.Embedded != nil:
		d[config.EnvDatabaseDriver] = config.DriverSQLite
		d[config.EnvSQLitePath] = SQLiteDir + "/sortographer.db"
	case db.Managed != nil:
		d[config.EnvDatabaseDriver] = config.DriverMySQL
		d[config.EnvDatabaseHost] = g.DatabaseName()
		d[config.EnvDatabasePort] = strconv.Itoa(MariaDBPort)
		d[config.EnvDatabaseName] = ManagedDatabaseName
		d[config.EnvDatabaseUser] = ManagedDatabaseUser
		d[config.EnvDatabaseTLSMode] = "disable"
	case db.External != nil:
		e := db.External
		d[config.EnvDatabaseDriver] = string(e.Engine)
		d[config.EnvDatabaseHost] = e.Host
		d[config.EnvDatabaseReaderHosts] = strings.Join(e.ReaderHosts, ",")
		d[config.EnvDatabasePort] = strconv.Itoa(int(g.DatabasePort()))
		d[config.EnvDatabaseName] = e.Name
		d[config.EnvDatabaseTLSMode] = string(e.TLSMode)
		if e.CASecretRef != nil {
			d[config.EnvDatabaseCAFile] = path.Join(DatabaseCADir, e.CASecretRef.Key)
		}
	}
}

func addRedis(d map[string]string, g *galleryv1alpha1.Gallery) {
	c := g.Spec.Cache
	switch {
	case c.Managed != nil:
		d[config.EnvRedisAddr] = fmt.Sprintf("%s:%d", g.RedisName(), galleryv1alpha1.RedisPort)
	case c.External != nil:
		e := c.External
		d[config.EnvRedisAddr] = e.Address
		d[config.EnvRedisDB] = strconv.Itoa(int(e.DB))
		if e.Username != "" {
			d[config.EnvRedisUsername] = e.Username
		}
		if e.TLS != nil && e.TLS.Enabled {
			d[config.EnvRedisTLS] = "true"
			if e.TLS.ServerName != "" {
				d[config.EnvRedisTLSServerName] = e.TLS.ServerName
			}
			if e.TLS.CASecretRef != nil {
				d[config.EnvRedisCAFile] = path.Join(RedisCADir, e.TLS.CASecretRef.Key)
			}
		}
	}
}

func addStorage(d map[string]string, s galleryv1alpha1.StorageSpec) {
	if s3 := s.S3; s3 != nil {
		d[config.EnvStorageBackend] = config.StorageS3
		d[config.EnvS3Bucket] = s3.Bucket
		d[config.EnvS3Prefix] = s3.Prefix
		if s3.Region != "" {
			d[config.EnvS3Region] = s3.Region
		}
		if s3.Endpoint != "" {
			d[config.EnvS3Endpoint] = s3.Endpoint
		}
		d[config.EnvS3ForcePathStyle] = strconv.FormatBool(s3.ForcePathStyle)
		if sse := s3.ServerSideEncryption; sse != nil {
			d[config.EnvS3SSE] = sse.Type
			if sse.KMSKeyID != "" {
				d[config.EnvS3SSEKMSKeyID] = sse.KMSKeyID
			}
		}
		return
	}
	d[config.EnvStorageBackend] = config.StorageFilesystem
	d[config.EnvStoragePath] = PhotosDir
}
