// Package config defines every setting of the gallery binary (`sortographer serve` and
// `sortographer work`): its environment variable name, its default, and its parsing.
//
// The operator builds pod environments from the same constants, so the two cannot drift
// apart. Every setting has a default, so `sortographer serve` with no configuration runs a
// working gallery on one machine: SQLite, images on local disk, the built-in classifier
// in-process, no Redis.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Environment variable names. The operator imports these; keep them in step with the
// struct tags below (TestEveryFieldHasAConstant checks).
const (
	EnvGalleryName = "SORTOGRAPHER_GALLERY_NAME"
	EnvListenAddr  = "SORTOGRAPHER_LISTEN_ADDR"
	EnvMetricsAddr = "SORTOGRAPHER_METRICS_ADDR"
	EnvDataDir     = "SORTOGRAPHER_DATA_DIR"
	EnvLogLevel    = "SORTOGRAPHER_LOG_LEVEL"
	EnvLogFormat   = "SORTOGRAPHER_LOG_FORMAT"

	EnvMaxUploadBytes = "SORTOGRAPHER_MAX_UPLOAD_BYTES"
	EnvDecodeMemory   = "SORTOGRAPHER_DECODE_MEMORY"
	EnvShutdownGrace  = "SORTOGRAPHER_SHUTDOWN_GRACE"

	EnvDatabaseDriver      = "SORTOGRAPHER_DATABASE_DRIVER"
	EnvDatabaseHost        = "SORTOGRAPHER_DATABASE_HOST"
	EnvDatabaseReaderHosts = "SORTOGRAPHER_DATABASE_READER_HOSTS"
	EnvDatabasePort        = "SORTOGRAPHER_DATABASE_PORT"
	EnvDatabaseName        = "SORTOGRAPHER_DATABASE_NAME"
	EnvDatabaseUser        = "SORTOGRAPHER_DATABASE_USER"
	EnvDatabasePassword    = "SORTOGRAPHER_DATABASE_PASSWORD"
	EnvDatabaseTLSMode     = "SORTOGRAPHER_DATABASE_TLS_MODE"
	EnvDatabaseCAFile      = "SORTOGRAPHER_DATABASE_CA_FILE"
	EnvSQLitePath          = "SORTOGRAPHER_SQLITE_PATH"

	EnvDatabaseReaderMaxLag         = "SORTOGRAPHER_DATABASE_READER_MAX_LAG"
	EnvDatabaseReadYourWritesWindow = "SORTOGRAPHER_DATABASE_READ_YOUR_WRITES_WINDOW"

	EnvRedisAddr          = "SORTOGRAPHER_REDIS_ADDR"
	EnvRedisUsername      = "SORTOGRAPHER_REDIS_USERNAME"
	EnvRedisPassword      = "SORTOGRAPHER_REDIS_PASSWORD"
	EnvRedisDB            = "SORTOGRAPHER_REDIS_DB"
	EnvRedisTLS           = "SORTOGRAPHER_REDIS_TLS"
	EnvRedisTLSServerName = "SORTOGRAPHER_REDIS_TLS_SERVER_NAME"
	EnvRedisCAFile        = "SORTOGRAPHER_REDIS_CA_FILE"

	EnvStorageBackend   = "SORTOGRAPHER_STORAGE_BACKEND"
	EnvStoragePath      = "SORTOGRAPHER_STORAGE_PATH"
	EnvS3Bucket         = "SORTOGRAPHER_S3_BUCKET"
	EnvS3Region         = "SORTOGRAPHER_S3_REGION"
	EnvS3Prefix         = "SORTOGRAPHER_S3_PREFIX"
	EnvS3Endpoint       = "SORTOGRAPHER_S3_ENDPOINT"
	EnvS3ForcePathStyle = "SORTOGRAPHER_S3_FORCE_PATH_STYLE"
	EnvS3SSE            = "SORTOGRAPHER_S3_SSE"
	EnvS3SSEKMSKeyID    = "SORTOGRAPHER_S3_SSE_KMS_KEY_ID"

	EnvJWTSecret          = "SORTOGRAPHER_JWT_SECRET"
	EnvTokenLifetime      = "SORTOGRAPHER_TOKEN_LIFETIME"
	EnvRememberMeLifetime = "SORTOGRAPHER_REMEMBER_ME_LIFETIME"
	EnvSessionMaxLifetime = "SORTOGRAPHER_SESSION_MAX_LIFETIME"
	EnvAllowSignUp        = "SORTOGRAPHER_ALLOW_SIGNUP"
	EnvAdmins             = "SORTOGRAPHER_ADMINS"
	EnvSharingEnabled     = "SORTOGRAPHER_SHARING_ENABLED"
	EnvShareMaxLifetime   = "SORTOGRAPHER_SHARE_MAX_LIFETIME"
	EnvShareStripLocation = "SORTOGRAPHER_SHARE_STRIP_LOCATION"
	EnvSignInsPerSecond   = "SORTOGRAPHER_SIGN_INS_PER_SECOND"
	EnvTrustedProxies     = "SORTOGRAPHER_TRUSTED_PROXIES"
	EnvQuotaStorageBytes  = "SORTOGRAPHER_QUOTA_STORAGE_BYTES"
	EnvQuotaPhotos        = "SORTOGRAPHER_QUOTA_PHOTOS"

	EnvClassifier                = "SORTOGRAPHER_CLASSIFIER"
	EnvInProcessWorkers          = "SORTOGRAPHER_IN_PROCESS_WORKERS"
	EnvRekognitionRegion         = "SORTOGRAPHER_REKOGNITION_REGION"
	EnvRekognitionMinConfidence  = "SORTOGRAPHER_REKOGNITION_MIN_CONFIDENCE"
	EnvRekognitionMaxLabels      = "SORTOGRAPHER_REKOGNITION_MAX_LABELS"
	EnvRekognitionEndpoint       = "SORTOGRAPHER_REKOGNITION_ENDPOINT"
	EnvBuiltinMinScore           = "SORTOGRAPHER_BUILTIN_MIN_SCORE"
	EnvModelDir                  = "SORTOGRAPHER_MODEL_DIR"
	EnvONNXRuntimeLib            = "SORTOGRAPHER_ONNXRUNTIME_LIB"
	EnvWorkerConcurrency         = "SORTOGRAPHER_WORKER_CONCURRENCY"
	EnvProviderRequestsPerSecond = "SORTOGRAPHER_PROVIDER_RPS"
	EnvIntakePerSecond           = "SORTOGRAPHER_INTAKE_PER_SECOND"
	EnvBatchSize                 = "SORTOGRAPHER_BATCH_SIZE"
	EnvMaxAttempts               = "SORTOGRAPHER_MAX_ATTEMPTS"
	EnvVisibilityTimeout         = "SORTOGRAPHER_VISIBILITY_TIMEOUT"
	EnvRequeueAfter              = "SORTOGRAPHER_REQUEUE_AFTER"
	EnvTextReader                = "SORTOGRAPHER_TEXT_READER"
	EnvTextMinConfidence         = "SORTOGRAPHER_TEXT_MIN_CONFIDENCE"
	EnvTextLanguages             = "SORTOGRAPHER_TEXT_LANGUAGES"
	EnvTesseractDataPath         = "SORTOGRAPHER_TESSERACT_DATA_PATH"

	EnvBackupPath              = "SORTOGRAPHER_BACKUP_PATH"
	EnvBackupS3Bucket          = "SORTOGRAPHER_BACKUP_S3_BUCKET"
	EnvBackupS3Region          = "SORTOGRAPHER_BACKUP_S3_REGION"
	EnvBackupS3Prefix          = "SORTOGRAPHER_BACKUP_S3_PREFIX"
	EnvBackupS3Endpoint        = "SORTOGRAPHER_BACKUP_S3_ENDPOINT"
	EnvBackupS3ForcePathStyle  = "SORTOGRAPHER_BACKUP_S3_FORCE_PATH_STYLE"
	EnvBackupS3AccessKeyID     = "SORTOGRAPHER_BACKUP_S3_ACCESS_KEY_ID"
	EnvBackupS3SecretAccessKey = "SORTOGRAPHER_BACKUP_S3_SECRET_ACCESS_KEY"
	EnvBackupGallery           = "SORTOGRAPHER_BACKUP_GALLERY"
	EnvBackupKeep              = "SORTOGRAPHER_BACKUP_KEEP"
	EnvBackupKeepFor           = "SORTOGRAPHER_BACKUP_KEEP_FOR"
	EnvBackupPhotos            = "SORTOGRAPHER_BACKUP_PHOTOS"
	EnvBackupReportPath        = "SORTOGRAPHER_BACKUP_REPORT_PATH"
	EnvRestoreBackup           = "SORTOGRAPHER_RESTORE_BACKUP"
	EnvRestoreBefore           = "SORTOGRAPHER_RESTORE_BEFORE"
	EnvRestoreVerifyPercent    = "SORTOGRAPHER_RESTORE_VERIFY_PERCENT"
)

// Single sign-on (Auth.OIDC).
const (
	EnvOIDCIssuer         = "SORTOGRAPHER_OIDC_ISSUER"
	EnvOIDCClientID       = "SORTOGRAPHER_OIDC_CLIENT_ID"
	EnvOIDCClientSecret   = "SORTOGRAPHER_OIDC_CLIENT_SECRET"
	EnvOIDCScopes         = "SORTOGRAPHER_OIDC_SCOPES"
	EnvOIDCEmailClaim     = "SORTOGRAPHER_OIDC_EMAIL_CLAIM"
	EnvOIDCNameClaim      = "SORTOGRAPHER_OIDC_NAME_CLAIM"
	EnvOIDCAdminClaim     = "SORTOGRAPHER_OIDC_ADMIN_CLAIM"
	EnvOIDCAdminValues    = "SORTOGRAPHER_OIDC_ADMIN_VALUES"
	EnvOIDCQuotaClaim     = "SORTOGRAPHER_OIDC_QUOTA_CLAIM"
	EnvOIDCCreateAccounts = "SORTOGRAPHER_OIDC_CREATE_ACCOUNTS"
	EnvOIDCLocalPasswords = "SORTOGRAPHER_OIDC_LOCAL_PASSWORDS"
	EnvOIDCProviderName   = "SORTOGRAPHER_OIDC_PROVIDER_NAME"
	EnvOIDCRedirectURL    = "SORTOGRAPHER_OIDC_REDIRECT_URL"
)

// Database drivers.
const (
	DriverSQLite   = "sqlite"
	DriverMySQL    = "mysql"
	DriverPostgres = "postgres"
)

// Storage backends.
const (
	StorageFilesystem = "filesystem"
	StorageS3         = "s3"
)

// Classifiers.
const (
	ClassifierBuiltin     = "builtin"
	ClassifierRekognition = "rekognition"
)

// Text readers (SORTOGRAPHER_TEXT_READER): what reads the words in photos after
// labelling.
const (
	// TextReaderAuto is Tesseract with the built-in classifier (offline, as it is) and
	// none with Rekognition (DetectText is billed per image, like DetectLabels).
	TextReaderAuto        = "auto"
	TextReaderNone        = "none"
	TextReaderTesseract   = "tesseract"
	TextReaderRekognition = "rekognition"
)

// DefaultTextMinConfidence is SORTOGRAPHER_TEXT_MIN_CONFIDENCE's default, which the
// operator leaves unset.
const DefaultTextMinConfidence = 80

// DefaultSignInsPerSecond is SORTOGRAPHER_SIGN_INS_PER_SECOND's default (the envDefault
// of Auth.SignInsPerSecond; TestDefaultSignInsPerSecond keeps them equal), which the
// operator leaves out of the ConfigMap.
const DefaultSignInsPerSecond = 20

// DefaultMetricsAddr is where /metrics is served when SORTOGRAPHER_METRICS_ADDR is
// not set.
const DefaultMetricsAddr = ":9090"

// Config is every setting of the gallery binary.
type Config struct {
	GalleryName string `env:"SORTOGRAPHER_GALLERY_NAME" envDefault:"sortographer"`
	// ListenAddr serves the web app, the API and the probes (LivenessPath,
	// ReadinessPath): the port a Service and an Ingress route to.
	ListenAddr string `env:"SORTOGRAPHER_LISTEN_ADDR" envDefault:":8080"`
	// TrustedProxies are the CIDRs of the proxies in front of the server (ingress
	// controller, load balancer): from them, X-Forwarded-For names the client whose
	// address rate limits count. Empty: every request's TCP peer is its client.
	TrustedProxies []netip.Prefix `env:"SORTOGRAPHER_TRUSTED_PROXIES" envSeparator:","`
	// MetricsAddr serves /metrics, and nothing else, on a port of its own that no
	// Ingress routes to, so the metrics are not public on the gallery's host name.
	// Default DefaultMetricsAddr when unset; set and empty: no metrics server. (Load
	// applies the default: the env library's envDefault would replace an empty value
	// too.)
	MetricsAddr string `env:"SORTOGRAPHER_METRICS_ADDR"`
	// DataDir holds the SQLite file and the filesystem storage when their own paths are
	// not set.
	DataDir   string `env:"SORTOGRAPHER_DATA_DIR" envDefault:"./data"`
	LogLevel  string `env:"SORTOGRAPHER_LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"SORTOGRAPHER_LOG_FORMAT" envDefault:"json"`

	MaxUploadBytes int64 `env:"SORTOGRAPHER_MAX_UPLOAD_BYTES" envDefault:"26214400"`
	// DecodeMemory is the bytes every image decode of the process (thumbnails, the
	// classifiers' JPEGs) may hold at once; an image that needs more than all of it is
	// refused (413), others wait. Default when unset: DefaultDecodeMemory of the Go
	// runtime's memory limit (GOMEMLIMIT). (Load applies it: it depends on the process,
	// which envDefault cannot express.)
	DecodeMemory  int64         `env:"SORTOGRAPHER_DECODE_MEMORY"`
	ShutdownGrace time.Duration `env:"SORTOGRAPHER_SHUTDOWN_GRACE" envDefault:"30s"`

	Database Database
	Redis    Redis
	Storage  Storage
	Auth     Auth
	Workers  Workers
	Backup   Backup
}

// Database is where users, images and labels live.
type Database struct {
	Driver string `env:"SORTOGRAPHER_DATABASE_DRIVER" envDefault:"sqlite"`
	Host   string `env:"SORTOGRAPHER_DATABASE_HOST"`
	// ReaderHosts are read replicas (host or host:port, port defaulting to Port) that
	// serve lag-tolerant reads: listings, search, label counts, stats. Empty: the writer
	// serves every read.
	ReaderHosts []string `env:"SORTOGRAPHER_DATABASE_READER_HOSTS" envSeparator:","`
	Port        int      `env:"SORTOGRAPHER_DATABASE_PORT"`
	Name        string   `env:"SORTOGRAPHER_DATABASE_NAME" envDefault:"sortographer"`
	User        string   `env:"SORTOGRAPHER_DATABASE_USER"`
	Password    string   `env:"SORTOGRAPHER_DATABASE_PASSWORD"`
	// TLSMode is disable, require or verify-full.
	TLSMode    string `env:"SORTOGRAPHER_DATABASE_TLS_MODE" envDefault:"disable"`
	CAFile     string `env:"SORTOGRAPHER_DATABASE_CA_FILE"`
	SQLitePath string `env:"SORTOGRAPHER_SQLITE_PATH"`
	// ReaderMaxLag skips a reader whose replay lag is larger (measured on PostgreSQL
	// only: a MySQL/MariaDB reader's lag is not visible to an unprivileged user). Zero:
	// no limit.
	ReaderMaxLag time.Duration `env:"SORTOGRAPHER_DATABASE_READER_MAX_LAG" envDefault:"30s"`
	// ReadYourWritesWindow is how long after a user's write (upload, delete, any change)
	// that user's reads all go to the writer, so they see their own writes however far
	// the readers lag. Every server replica sees it through Redis. Zero: off.
	ReadYourWritesWindow time.Duration `env:"SORTOGRAPHER_DATABASE_READ_YOUR_WRITES_WINDOW" envDefault:"5s"`
}

// Redis is the queue, cache and rate limiter. An empty Addr runs all three in-process
// (one replica only).
type Redis struct {
	Addr          string `env:"SORTOGRAPHER_REDIS_ADDR"`
	Username      string `env:"SORTOGRAPHER_REDIS_USERNAME"`
	Password      string `env:"SORTOGRAPHER_REDIS_PASSWORD"`
	DB            int    `env:"SORTOGRAPHER_REDIS_DB" envDefault:"0"`
	TLS           bool   `env:"SORTOGRAPHER_REDIS_TLS" envDefault:"false"`
	TLSServerName string `env:"SORTOGRAPHER_REDIS_TLS_SERVER_NAME"`
	CAFile        string `env:"SORTOGRAPHER_REDIS_CA_FILE"`
}

// Storage is where photos and thumbnails live.
type Storage struct {
	Backend       string `env:"SORTOGRAPHER_STORAGE_BACKEND" envDefault:"filesystem"`
	Path          string `env:"SORTOGRAPHER_STORAGE_PATH"`
	S3Bucket      string `env:"SORTOGRAPHER_S3_BUCKET"`
	S3Region      string `env:"SORTOGRAPHER_S3_REGION"`
	S3Prefix      string `env:"SORTOGRAPHER_S3_PREFIX"`
	S3Endpoint    string `env:"SORTOGRAPHER_S3_ENDPOINT"`
	S3PathStyle   bool   `env:"SORTOGRAPHER_S3_FORCE_PATH_STYLE" envDefault:"false"`
	S3SSE         string `env:"SORTOGRAPHER_S3_SSE"`
	S3SSEKMSKeyID string `env:"SORTOGRAPHER_S3_SSE_KMS_KEY_ID"`
}

// DefaultSessionMaxLifetime is SORTOGRAPHER_SESSION_MAX_LIFETIME's default (and
// spec.auth.sessionMaxLifetime's): 30 days.
const DefaultSessionMaxLifetime = 720 * time.Hour

// Auth is sign-in.
type Auth struct {
	// JWTSecret is the session key: session tokens are stored as HMAC-SHA256 under it
	// (internal/sessions). Empty: a key is generated and kept in DataDir, which suits one
	// machine only. (The name is from when tokens were JWTs.)
	JWTSecret string `env:"SORTOGRAPHER_JWT_SECRET"`
	// TokenLifetime ends a session left unused this long; RememberMeLifetime, a
	// "remember me" one. Both are renewed while the session is used.
	TokenLifetime      time.Duration `env:"SORTOGRAPHER_TOKEN_LIFETIME" envDefault:"24h"`
	RememberMeLifetime time.Duration `env:"SORTOGRAPHER_REMEMBER_ME_LIFETIME" envDefault:"720h"`
	// SessionMaxLifetime ends any session this long after its sign-in, however much it
	// is used (the absolute lifetime).
	SessionMaxLifetime time.Duration `env:"SORTOGRAPHER_SESSION_MAX_LIFETIME" envDefault:"720h"`
	AllowSignUp        bool          `env:"SORTOGRAPHER_ALLOW_SIGNUP" envDefault:"true"`
	Admins             []string      `env:"SORTOGRAPHER_ADMINS" envSeparator:","`
	// OIDC is single sign-on through an OpenID provider (spec.auth.oidc).
	OIDC OIDC
	// SharingEnabled lets users make share links for images and albums; false refuses
	// new links and stops serving existing ones.
	SharingEnabled bool `env:"SORTOGRAPHER_SHARING_ENABLED" envDefault:"true"`
	// ShareMaxLifetime caps a share link's lifetime: links asked for without an expiry,
	// or with a longer one, expire after it. Zero: links may live until revoked.
	ShareMaxLifetime time.Duration `env:"SORTOGRAPHER_SHARE_MAX_LIFETIME" envDefault:"0s"`
	// ShareStripLocation removes location metadata (EXIF GPS, XMP, IPTC) from the
	// pictures share links serve; the owner's own downloads keep it.
	ShareStripLocation bool `env:"SORTOGRAPHER_SHARE_STRIP_LOCATION" envDefault:"true"`
	// SignInsPerSecond caps sign-in and sign-up attempts per second across the Gallery
	// (each costs a bcrypt hash), from browsers without a device cookie; as many again
	// are kept for browsers with one.
	SignInsPerSecond int `env:"SORTOGRAPHER_SIGN_INS_PER_SECOND" envDefault:"20"`
	// QuotaStorageBytes and QuotaPhotos are every user's default quota
	// (spec.auth.quota): the bytes of their originals and how many photos. Zero:
	// unlimited. An admin's override per user applies on top.
	QuotaStorageBytes int64 `env:"SORTOGRAPHER_QUOTA_STORAGE_BYTES" envDefault:"0"`
	QuotaPhotos       int64 `env:"SORTOGRAPHER_QUOTA_PHOTOS" envDefault:"0"`
}

// OIDC is single sign-on through an OpenID provider; an empty Issuer turns it off.
type OIDC struct {
	Issuer   string `env:"SORTOGRAPHER_OIDC_ISSUER"`
	ClientID string `env:"SORTOGRAPHER_OIDC_CLIENT_ID"`
	// ClientSecret comes from a Secret (spec.auth.oidc.clientSecretRef); never logged.
	ClientSecret string   `env:"SORTOGRAPHER_OIDC_CLIENT_SECRET"`
	Scopes       []string `env:"SORTOGRAPHER_OIDC_SCOPES" envSeparator:"," envDefault:"openid,email,profile"`
	EmailClaim   string   `env:"SORTOGRAPHER_OIDC_EMAIL_CLAIM" envDefault:"email"`
	NameClaim    string   `env:"SORTOGRAPHER_OIDC_NAME_CLAIM" envDefault:"name"`
	// AdminClaim and AdminValues: the claim (e.g. groups) and the values of it that
	// grant the admin role. Empty claim: none.
	AdminClaim  string   `env:"SORTOGRAPHER_OIDC_ADMIN_CLAIM"`
	AdminValues []string `env:"SORTOGRAPHER_OIDC_ADMIN_VALUES" envSeparator:","`
	// QuotaClaim holds a user's storage quota (bytes or a quantity like 10Gi).
	QuotaClaim     string `env:"SORTOGRAPHER_OIDC_QUOTA_CLAIM"`
	CreateAccounts bool   `env:"SORTOGRAPHER_OIDC_CREATE_ACCOUNTS" envDefault:"true"`
	// LocalPasswords false turns password sign-in and sign-up off (single sign-on only).
	LocalPasswords bool `env:"SORTOGRAPHER_OIDC_LOCAL_PASSWORDS" envDefault:"true"`
	// ProviderName names the provider on the sign-in button.
	ProviderName string `env:"SORTOGRAPHER_OIDC_PROVIDER_NAME"`
	// RedirectURL is the callback URL registered at the provider. Empty: made from each
	// request's host.
	RedirectURL string `env:"SORTOGRAPHER_OIDC_REDIRECT_URL"`
}

// Enabled reports whether single sign-on is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// Workers is classification.
type Workers struct {
	Classifier string `env:"SORTOGRAPHER_CLASSIFIER" envDefault:"builtin"`
	// InProcess runs workers inside `serve` (the embedded default).
	InProcess                 bool          `env:"SORTOGRAPHER_IN_PROCESS_WORKERS" envDefault:"true"`
	RekognitionRegion         string        `env:"SORTOGRAPHER_REKOGNITION_REGION"`
	RekognitionMinConfidence  float64       `env:"SORTOGRAPHER_REKOGNITION_MIN_CONFIDENCE" envDefault:"70"`
	RekognitionMaxLabels      int           `env:"SORTOGRAPHER_REKOGNITION_MAX_LABELS" envDefault:"20"`
	RekognitionEndpoint       string        `env:"SORTOGRAPHER_REKOGNITION_ENDPOINT"`
	BuiltinMinScore           float64       `env:"SORTOGRAPHER_BUILTIN_MIN_SCORE" envDefault:"30"`
	ModelDir                  string        `env:"SORTOGRAPHER_MODEL_DIR"`
	ONNXRuntimeLib            string        `env:"SORTOGRAPHER_ONNXRUNTIME_LIB"`
	Concurrency               int           `env:"SORTOGRAPHER_WORKER_CONCURRENCY" envDefault:"4"`
	ProviderRequestsPerSecond float64       `env:"SORTOGRAPHER_PROVIDER_RPS" envDefault:"5"`
	IntakePerSecond           float64       `env:"SORTOGRAPHER_INTAKE_PER_SECOND" envDefault:"10"`
	BatchSize                 int           `env:"SORTOGRAPHER_BATCH_SIZE" envDefault:"10"`
	MaxAttempts               int           `env:"SORTOGRAPHER_MAX_ATTEMPTS" envDefault:"5"`
	VisibilityTimeout         time.Duration `env:"SORTOGRAPHER_VISIBILITY_TIMEOUT" envDefault:"2m"`
	RequeueAfter              time.Duration `env:"SORTOGRAPHER_REQUEUE_AFTER" envDefault:"10m"`

	// TextReader reads the words in each photo after labelling, searchable with its
	// labels: tesseract (offline, in the worker), rekognition (DetectText), none, or
	// auto (TextReaderAuto; TextReaderName resolves it).
	TextReader string `env:"SORTOGRAPHER_TEXT_READER" envDefault:"auto"`
	// TextMinConfidence is the lowest confidence, 0–100, of a word the reader keeps.
	TextMinConfidence float64 `env:"SORTOGRAPHER_TEXT_MIN_CONFIDENCE" envDefault:"80"`
	// TextLanguages are Tesseract's languages, by their traineddata names.
	TextLanguages []string `env:"SORTOGRAPHER_TEXT_LANGUAGES" envSeparator:"," envDefault:"eng,kor"`
	// TesseractDataPath is the folder of Tesseract's traineddata files; empty: the
	// library's own (Debian's tesseract-ocr-eng and -kor install there).
	TesseractDataPath string `env:"SORTOGRAPHER_TESSERACT_DATA_PATH"`
}

// TextReaderName is the text reader the workers run: TextReaderTesseract,
// TextReaderRekognition, or "" for none (TextReaderAuto resolved by the classifier).
func (w Workers) TextReaderName() string {
	switch w.TextReader {
	case TextReaderNone:
		return ""
	case TextReaderAuto:
		if w.Classifier == ClassifierBuiltin {
			return TextReaderTesseract
		}
		return ""
	}
	return w.TextReader
}

// Backup is where `sortographer backup` writes backups and `sortographer restore` and
// `sortographer restore-drill` read them: a directory (a mounted volume) or an S3
// bucket, exactly one. Only those commands read these settings.
type Backup struct {
	// Path is a directory holding backups, e.g. a mounted PersistentVolumeClaim.
	Path     string `env:"SORTOGRAPHER_BACKUP_PATH"`
	S3Bucket string `env:"SORTOGRAPHER_BACKUP_S3_BUCKET"`
	S3Region string `env:"SORTOGRAPHER_BACKUP_S3_REGION"`
	// S3Prefix is prepended to every key (e.g. "backups/"); empty: the bucket's root.
	S3Prefix    string `env:"SORTOGRAPHER_BACKUP_S3_PREFIX"`
	S3Endpoint  string `env:"SORTOGRAPHER_BACKUP_S3_ENDPOINT"`
	S3PathStyle bool   `env:"SORTOGRAPHER_BACKUP_S3_FORCE_PATH_STYLE" envDefault:"false"`
	// S3AccessKeyID and S3SecretAccessKey are static credentials for the backup bucket
	// (a store outside AWS, or another account's bucket). Empty: the pod's standard
	// credential chain, as for photo storage.
	S3AccessKeyID     string `env:"SORTOGRAPHER_BACKUP_S3_ACCESS_KEY_ID"`
	S3SecretAccessKey string `env:"SORTOGRAPHER_BACKUP_S3_SECRET_ACCESS_KEY"`
	// Gallery names the folder the backups live in, <gallery>/ under the location.
	// Default: GalleryName. A restore into a new Gallery names the old one here.
	Gallery string `env:"SORTOGRAPHER_BACKUP_GALLERY"`
	// Keep is how many complete backups to keep, newest first; 0: no limit by count.
	Keep int `env:"SORTOGRAPHER_BACKUP_KEEP" envDefault:"0"`
	// KeepFor removes complete backups older than this; 0: no limit by age. The newest
	// complete backup is never removed.
	KeepFor time.Duration `env:"SORTOGRAPHER_BACKUP_KEEP_FOR" envDefault:"0s"`
	// Photos copies the photos of filesystem storage into the backup (incrementally); with
	// S3 storage a backup always lists the photos' keys and checksums instead.
	Photos bool `env:"SORTOGRAPHER_BACKUP_PHOTOS" envDefault:"true"`
	// ReportPath receives the outcome as one line of JSON (internal/backup/report), for
	// the operator to read: a container's terminationMessagePath. Empty: no report file.
	ReportPath string `env:"SORTOGRAPHER_BACKUP_REPORT_PATH"`

	// RestoreBackup is the backup a restore reads; empty: the newest complete one (at or
	// before RestoreBefore when that is set).
	RestoreBackup string `env:"SORTOGRAPHER_RESTORE_BACKUP"`
	// RestoreBefore picks the newest complete backup taken at or before this time
	// (RFC 3339), when RestoreBackup is empty.
	RestoreBefore string `env:"SORTOGRAPHER_RESTORE_BEFORE"`
	// RestoreVerifyPercent is the share of photos whose checksum a restore checks after
	// copying them back (0–100); every database table is always checked.
	RestoreVerifyPercent int `env:"SORTOGRAPHER_RESTORE_VERIFY_PERCENT" envDefault:"100"`
}

// BackupGallery is the folder name a backup or restore uses.
func (c Config) BackupGallery() string {
	if c.Backup.Gallery != "" {
		return c.Backup.Gallery
	}
	return c.GalleryName
}

// ValidateBackup reports every backup setting that cannot work, all at once; only the
// backup and restore commands call it.
func (c Config) ValidateBackup() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	b := c.Backup
	if (b.Path == "") == (b.S3Bucket == "") {
		bad(EnvBackupPath+"/"+EnvBackupS3Bucket, "set exactly one: a directory or an S3 bucket")
	}
	if (b.S3AccessKeyID == "") != (b.S3SecretAccessKey == "") {
		bad(EnvBackupS3AccessKeyID+"/"+EnvBackupS3SecretAccessKey, "set both or neither")
	}
	if b.Keep < 0 {
		bad(EnvBackupKeep, "must not be negative")
	}
	if b.KeepFor < 0 {
		bad(EnvBackupKeepFor, "must not be negative")
	}
	if b.RestoreVerifyPercent < 0 || b.RestoreVerifyPercent > 100 {
		bad(EnvRestoreVerifyPercent, "must be 0 to 100, not %d", b.RestoreVerifyPercent)
	}
	if b.RestoreBefore != "" {
		if _, err := time.Parse(time.RFC3339, b.RestoreBefore); err != nil {
			bad(EnvRestoreBefore, "must be an RFC 3339 time such as 2026-12-05T03:00:00Z: %v", err)
		}
	}
	return errors.Join(errs...)
}

// Load reads the configuration from an environment (os.Environ's form, "KEY=value"),
// applies defaults and checks it.
func Load(environ []string) (Config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", nameVariables(err))
	}
	if _, set := vars[EnvMetricsAddr]; !set {
		c.MetricsAddr = DefaultMetricsAddr
	}
	if _, set := vars[EnvDecodeMemory]; !set {
		c.DecodeMemory = DefaultDecodeMemory(debug.SetMemoryLimit(-1))
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// nameVariables rewrites the library's parse errors, which name Go fields, to name the
// environment variable an operator or admin actually set.
func nameVariables(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	vars := map[string]string{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if name := f.Tag.Get("env"); name != "" {
				vars[f.Name] = name
			} else if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && vars[pe.Name] != "" {
			errs = append(errs, fmt.Errorf("%s: %w", vars[pe.Name], pe.Err))
			continue
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// Validate reports every setting that cannot work, all at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	switch c.Database.Driver {
	case DriverSQLite:
	case DriverMySQL, DriverPostgres:
		if c.Database.Host == "" {
			bad(EnvDatabaseHost, "required with driver %s", c.Database.Driver)
		}
	default:
		bad(EnvDatabaseDriver, "must be sqlite, mysql or postgres, not %q", c.Database.Driver)
	}
	if c.Database.ReaderMaxLag < 0 {
		bad(EnvDatabaseReaderMaxLag, "must not be negative")
	}
	if c.Database.ReadYourWritesWindow < 0 {
		bad(EnvDatabaseReadYourWritesWindow, "must not be negative")
	}
	switch c.Database.TLSMode {
	case "disable", "require", "verify-full":
	default:
		bad(EnvDatabaseTLSMode, "must be disable, require or verify-full, not %q", c.Database.TLSMode)
	}
	switch c.Storage.Backend {
	case StorageFilesystem:
	case StorageS3:
		if c.Storage.S3Bucket == "" {
			bad(EnvS3Bucket, "required with storage backend s3")
		}
	default:
		bad(EnvStorageBackend, "must be filesystem or s3, not %q", c.Storage.Backend)
	}
	switch c.Workers.Classifier {
	case ClassifierBuiltin, ClassifierRekognition:
	default:
		bad(EnvClassifier, "must be builtin or rekognition, not %q", c.Workers.Classifier)
	}
	switch c.Workers.TextReader {
	case TextReaderAuto, TextReaderNone, TextReaderRekognition:
	case TextReaderTesseract:
		if len(c.Workers.TextLanguages) == 0 || slices.Contains(c.Workers.TextLanguages, "") {
			bad(EnvTextLanguages, "must name Tesseract's languages with text reader tesseract, e.g. eng,kor, not %q", strings.Join(c.Workers.TextLanguages, ","))
		}
	default:
		bad(EnvTextReader, "must be auto, none, tesseract or rekognition, not %q", c.Workers.TextReader)
	}
	if m := c.Workers.TextMinConfidence; m < 0 || m > 100 {
		bad(EnvTextMinConfidence, "must be 0 to 100, not %v", m)
	}
	if c.Auth.JWTSecret != "" && len(c.Auth.JWTSecret) < 32 {
		bad(EnvJWTSecret, "must be at least 32 bytes (256 bits)")
	}
	c.Auth.OIDC.validate(bad)
	if c.MetricsAddr != "" && c.MetricsAddr == c.ListenAddr {
		bad(EnvMetricsAddr, "must differ from %s (%q): metrics are not served on the public port", EnvListenAddr, c.ListenAddr)
	}
	if c.Auth.SignInsPerSecond < 1 {
		bad(EnvSignInsPerSecond, "must be at least 1")
	}
	if c.MaxUploadBytes <= 0 {
		bad(EnvMaxUploadBytes, "must be positive")
	}
	if c.Auth.QuotaStorageBytes < 0 {
		bad(EnvQuotaStorageBytes, "must not be negative (bytes; 0 or unset: unlimited)")
	}
	if c.Auth.QuotaPhotos < 0 {
		bad(EnvQuotaPhotos, "must not be negative (0 or unset: unlimited)")
	}
	if c.DecodeMemory <= 0 {
		bad(EnvDecodeMemory, "must be positive (bytes); unset, it is a third of GOMEMLIMIT, or %d without one", FallbackDecodeMemory)
	}
	if c.Workers.Concurrency < 1 {
		bad(EnvWorkerConcurrency, "must be at least 1")
	}
	if c.Workers.MaxAttempts < 1 {
		bad(EnvMaxAttempts, "must be at least 1")
	}
	if c.Workers.ProviderRequestsPerSecond <= 0 || c.Workers.IntakePerSecond <= 0 {
		bad(EnvProviderRequestsPerSecond+"/"+EnvIntakePerSecond, "must be positive")
	}
	return errors.Join(errs...)
}

// validate checks single sign-on: an https issuer (http only on a loopback host, for
// development), a client, and password sign-in off only when single sign-on is on.
func (o OIDC) validate(bad func(name, format string, args ...any)) {
	if !o.Enabled() {
		if !o.LocalPasswords {
			bad(EnvOIDCLocalPasswords, "may be false only with single sign-on (%s): nobody could sign in", EnvOIDCIssuer)
		}
		return
	}
	u, err := url.Parse(o.Issuer)
	loopback := err == nil && (u.Hostname() == "localhost" || net.ParseIP(u.Hostname()).IsLoopback())
	if err != nil || u.Host == "" || (u.Scheme != "https" && (u.Scheme != "http" || !loopback)) {
		bad(EnvOIDCIssuer, "must be an https URL, not %q", o.Issuer)
	}
	if o.ClientID == "" {
		bad(EnvOIDCClientID, "must be set with %s", EnvOIDCIssuer)
	}
	if o.ClientSecret == "" {
		bad(EnvOIDCClientSecret, "must be set with %s", EnvOIDCIssuer)
	}
	if o.AdminClaim != "" && len(o.AdminValues) == 0 {
		bad(EnvOIDCAdminValues, "must name the values of %s that grant the admin role", o.AdminClaim)
	}
	if o.RedirectURL != "" {
		if r, err := url.Parse(o.RedirectURL); err != nil || r.Host == "" || (r.Scheme != "https" && r.Scheme != "http") {
			bad(EnvOIDCRedirectURL, "must be an http(s) URL, not %q", o.RedirectURL)
		}
	}
}

// FallbackDecodeMemory is the decode budget of a process without a memory limit: 512
// MiB, what one 100-megapixel photo needs decoded as 16-bit RGB, leaving the rest of the
// 1 GiB a server pod gets by default to Go.
const FallbackDecodeMemory = 512 << 20

// DefaultDecodeMemory is the decode budget when SORTOGRAPHER_DECODE_MEMORY is unset,
// given the Go runtime's memory limit (debug.SetMemoryLimit(-1), which GOMEMLIMIT sets;
// math.MaxInt64 when there is none): a third of the limit, FallbackDecodeMemory without
// one. Decodes are allocated by libvips outside Go's heap, beside ONNX Runtime's
// sessions (150–175 MiB), the libraries and the Go heap; a third is what a 512 MiB
// container survives with its worst uploads (cmd/sortographer
// TestServeSurvivesTheWorstUploadsInAMemoryLimit).
func DefaultDecodeMemory(memoryLimit int64) int64 {
	if memoryLimit <= 0 || memoryLimit == math.MaxInt64 {
		return FallbackDecodeMemory
	}
	return max(memoryLimit/3, 1)
}

// SQLiteFile is where the SQLite database lives.
func (c Config) SQLiteFile() string {
	if c.Database.SQLitePath != "" {
		return c.Database.SQLitePath
	}
	return strings.TrimRight(c.DataDir, "/") + "/sortographer.db"
}

// StorageDir is where filesystem storage keeps objects.
func (c Config) StorageDir() string {
	if c.Storage.Path != "" {
		return c.Storage.Path
	}
	return strings.TrimRight(c.DataDir, "/") + "/objects"
}

// Secret reports whether a setting holds a secret, so that it is never logged.
func Secret(name string) bool {
	switch name {
	case EnvDatabasePassword, EnvRedisPassword, EnvJWTSecret, EnvBackupS3SecretAccessKey, EnvOIDCClientSecret:
		return true
	}
	return false
}

// Queue names shared by the workers and the operator's backlog scaler (and KEDA's
// redis-streams triggers): two Redis streams per Gallery, read by one consumer group.
const (
	// QueueGroup is the consumer group every worker of a Gallery joins.
	QueueGroup = "workers"
)

// QueueStream is the Redis stream holding a Gallery's classification jobs. The Gallery's
// name is in the key so several Galleries can share one external Redis.
func QueueStream(gallery string) string { return RedisKey(gallery, "jobs") }

// RedisKey is the Redis key of one of a Gallery's records: sortographer:<gallery>:<parts
// joined by colons>. Every key the gallery and the operator use comes from here, so
// several Galleries share one Redis without meeting.
func RedisKey(gallery string, parts ...string) string {
	return strings.Join(append([]string{"sortographer", gallery}, parts...), ":")
}

// RedisPrefix is RedisKey with a trailing colon: the start of a family of keys.
func RedisPrefix(gallery string, parts ...string) string { return RedisKey(gallery, parts...) + ":" }

// QueueLowStream is the Redis stream holding a Gallery's low-priority jobs
// (reclassification), read by the same consumer group only when no upload waits. The
// workers' autoscaling counts it too, so a large reclassification scales them out.
func QueueLowStream(gallery string) string { return QueueStream(gallery) + ":low" }

// Health endpoints of `serve` and `work`. The operator's probes use the same constants.
const (
	// LivenessPath answers while the process serves HTTP at all.
	LivenessPath = "/livez"
	// ReadinessPath checks the database and Redis (never the classifier provider).
	ReadinessPath = "/readyz"
)
