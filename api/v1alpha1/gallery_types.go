package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Gallery is one image-classification gallery: a web server that users sign in to and
// upload photos to, workers that label every photo, and everything behind them (cache,
// database, storage, ingress). The operator creates and keeps every child object.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gal,categories=sortographer
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.status.server.ready`
// +kubebuilder:printcolumn:name="Workers",type=string,JSONPath=`.status.workers.ready`
// +kubebuilder:printcolumn:name="Version",type=string,priority=1,JSONPath=`.status.appVersion`
// +kubebuilder:printcolumn:name="Last Backup",type=date,priority=1,JSONPath=`.status.backup.lastSuccessful.completedAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, and no dots: it names the Gallery's Services (DNS labels on every Kubernetes version) as well as its other children"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40",message="metadata.name must be at most 40 characters: child objects such as <name>-server-<hash> must fit Kubernetes' 63-character label limit"
type Gallery struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the gallery the admin wants.
	// +required
	Spec GallerySpec `json:"spec"`

	// status is what the operator last observed.
	// +optional
	Status GalleryStatus `json:"status,omitempty"`
}

// GalleryList is a list of Galleries.
//
// +kubebuilder:object:root=true
type GalleryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Gallery `json:"items"`
}

// GallerySpec is the whole installation, grouped by what an admin thinks about.
//
// +kubebuilder:validation:XValidation:rule="!has(self.database.embedded) || !has(self.server.replicas) || self.server.replicas == 1",fieldPath=".server.replicas",message="spec.server.replicas must be 1 with an embedded database (SQLite is a single file on one volume); use spec.database.managed or spec.database.external to run more replicas"
// +kubebuilder:validation:XValidation:rule="!has(self.database.embedded) || !has(self.autoscaling) || (!has(self.autoscaling.server) && !has(self.autoscaling.workers))",fieldPath=".autoscaling",message="spec.autoscaling cannot be set with an embedded database (one server pod classifies in-process); use spec.database.managed or spec.database.external to autoscale"
// +kubebuilder:validation:XValidation:rule="!has(self.database.embedded) || !has(self.workers) || !has(self.workers.replicas) || self.workers.replicas == 0",fieldPath=".workers.replicas",message="spec.workers.replicas must be 0 or unset with an embedded database: the server pod classifies in-process"
// +kubebuilder:validation:XValidation:rule="!has(self.storage.volume) || !has(self.storage.volume.accessMode) || self.storage.volume.accessMode == 'ReadWriteMany' || has(self.database.embedded)",fieldPath=".storage.volume.accessMode",message="spec.storage.volume.accessMode ReadWriteOnce works only with spec.database.embedded (a single pod); use ReadWriteMany or spec.storage.s3 when servers and workers run in several pods"
// +kubebuilder:validation:XValidation:rule="!has(self.ingress) || !has(self.ingress.maxBodySize) || !has(self.server.maxUploadSize) || quantity(self.ingress.maxBodySize).compareTo(quantity(self.server.maxUploadSize)) >= 0",fieldPath=".ingress.maxBodySize",message="spec.ingress.maxBodySize must be at least spec.server.maxUploadSize, or the ingress refuses uploads the server accepts"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.autoscaling.schedules) || self.autoscaling.schedules.all(s, !has(s.serverMinReplicas) || has(self.autoscaling.server))",fieldPath=".autoscaling.schedules",message="spec.autoscaling.schedules[].serverMinReplicas needs spec.autoscaling.server: a schedule raises the server HPA's minimum"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.autoscaling.schedules) || self.autoscaling.schedules.all(s, !has(s.workersMinReplicas) || has(self.autoscaling.workers))",fieldPath=".autoscaling.schedules",message="spec.autoscaling.schedules[].workersMinReplicas needs spec.autoscaling.workers: a schedule raises the workers' autoscaling minimum"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.autoscaling.schedules) || !has(self.autoscaling.server) || !has(self.autoscaling.server.maxReplicas) || self.autoscaling.schedules.all(s, !has(s.serverMinReplicas) || s.serverMinReplicas <= self.autoscaling.server.maxReplicas)",fieldPath=".autoscaling.schedules",message="spec.autoscaling.schedules[].serverMinReplicas must not exceed spec.autoscaling.server.maxReplicas: the HPA's minimum cannot be above its maximum; raise maxReplicas or lower the schedule's minimum"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.autoscaling.schedules) || !has(self.autoscaling.workers) || !has(self.autoscaling.workers.maxReplicas) || self.autoscaling.schedules.all(s, !has(s.workersMinReplicas) || s.workersMinReplicas <= self.autoscaling.workers.maxReplicas)",fieldPath=".autoscaling.schedules",message="spec.autoscaling.schedules[].workersMinReplicas must not exceed spec.autoscaling.workers.maxReplicas: the workers' minimum cannot be above their maximum; raise maxReplicas or lower the schedule's minimum"
// +kubebuilder:validation:XValidation:rule="!has(self.monitoring) || !has(self.monitoring.metricsPort) || !has(self.server) || !has(self.server.port) || self.monitoring.metricsPort != self.server.port",fieldPath=".monitoring.metricsPort",message="spec.monitoring.metricsPort must differ from spec.server.port: the metrics are served on a port of their own, which the Service and the Ingress do not route to"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.restoreFrom) || !has(self.restoreFrom)",fieldPath=".restoreFrom",message="spec.restoreFrom can only be set when the Gallery is created: the operator never restores over a Gallery that may already hold data; create a new Gallery with spec.restoreFrom"
type GallerySpec struct {
	// suspend stops the operator from changing anything this Gallery owns; status is
	// still reported. Set it back to false to resume. Default false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// imagePullSecrets are Secrets in the Gallery's namespace used to pull every image
	// the Gallery runs (server, workers, managed Redis and MariaDB).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// server is the gallery web server: the JSON API under /api and the web UI.
	// +optional
	// +kubebuilder:default={}
	Server ServerSpec `json:"server,omitzero"`

	// workers are the classification workers that label every uploaded photo.
	// +optional
	// +kubebuilder:default={}
	Workers WorkersSpec `json:"workers,omitzero"`

	// autoscaling turns on HorizontalPodAutoscalers for the server and the workers and
	// schedules that raise their minimums ahead of a known surge. Absent: fixed replicas.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`

	// cache is Redis: the job queue, short-lived caches and rate limits. Exactly one of
	// managed or external. Default: a managed in-cluster Redis.
	// +optional
	// +kubebuilder:default={managed:{}}
	Cache CacheSpec `json:"cache,omitzero"`

	// database holds users, images and labels. Exactly one of managed, external or
	// embedded. Default: a managed in-cluster MariaDB.
	// +optional
	// +kubebuilder:default={managed:{}}
	Database DatabaseSpec `json:"database,omitzero"`

	// storage holds the photos and thumbnails. Exactly one of s3 or volume. Default: a
	// ReadWriteMany volume of 20Gi.
	// +optional
	// +kubebuilder:default={volume:{}}
	Storage StorageSpec `json:"storage,omitzero"`

	// ingress exposes the gallery over HTTP(S). Absent: no Ingress, only a ClusterIP
	// Service.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`

	// auth configures sign-in: the JWT signing key, token lifetimes, sign-up and share
	// links.
	// +optional
	// +kubebuilder:default={}
	Auth AuthSpec `json:"auth,omitzero"`

	// placement says where the Gallery's pods run and how they survive disruption.
	// +optional
	// +kubebuilder:default={}
	Placement PlacementSpec `json:"placement,omitzero"`

	// monitoring is how the Gallery is watched: the port the server and workers serve
	// their metrics on, who may scrape it, a PodMonitor for the Prometheus Operator, and
	// OpenTelemetry tracing.
	// +optional
	// +kubebuilder:default={}
	Monitoring MonitoringSpec `json:"monitoring,omitzero"`

	// backup takes scheduled backups of the database (and, with volume storage, the
	// photos) with `sortographer backup` in a CronJob <gallery>-backup, keeps as many as
	// retention says, and optionally proves them with a scheduled restore drill. Absent:
	// no backups. An on-demand backup: annotate the Gallery with
	// sortographer.io/backup-now=<any new value>, or
	// `kubectl create job --from=cronjob/<gallery>-backup <name>`.
	// +optional
	Backup *BackupSpec `json:"backup,omitempty"`

	// restoreFrom starts a new Gallery from a backup instead of empty: the operator makes
	// the database and storage, runs `sortographer restore` in the Job <gallery>-restore,
	// and starts the server and workers only once it succeeded. Only when the Gallery is
	// created, and immutable; a restore never runs again after it succeeded. A failed
	// restore leaves its Job in place: fix the cause and delete the Job to retry.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.restoreFrom is immutable: the restore runs once, when the Gallery is created; to restore another backup, create a new Gallery"
	RestoreFrom *RestoreSpec `json:"restoreFrom,omitempty"`
}

// BackupSpec is scheduled backups of a Gallery.
type BackupSpec struct {
	// schedule is when backups run: a cron expression (minute hour day-of-month month
	// day-of-week), e.g. "0 3 * * *" for 03:00 every day, or @hourly, @daily, @weekly or
	// @monthly. BackupReady goes False when the newest good backup is older than twice
	// the schedule's longest interval.
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(@(hourly|daily|weekly|monthly)|([0-9*/,?A-Za-z-]+[ \t]+){4}[0-9*/,?A-Za-z-]+)$`
	Schedule string `json:"schedule"`

	// timeZone is the IANA time zone of schedule, e.g. Europe/London, as a CronJob's.
	// Default: the kube-controller-manager's (usually UTC).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`

	// destination is where backups are written: exactly one of s3 (a bucket and prefix)
	// or volume (a PersistentVolumeClaim the admin owns, so backups outlive the Gallery).
	// Each Gallery's backups live in a folder named after it.
	// +required
	Destination BackupLocation `json:"destination"`

	// retention decides which complete backups are kept after each new one: the newest
	// keep, and those younger than keepFor (both apply when both are set; the newest
	// backup is never removed). Default: keep 7.
	// +optional
	// +kubebuilder:default={keep:7}
	Retention BackupRetention `json:"retention,omitzero"`

	// photos copies the photos of volume storage into the backup, incrementally (only
	// what the previous backup lacks). With S3 storage a backup always lists the photos'
	// keys and checksums instead: the bucket's versioning and replication are the photo
	// backup. Default true.
	// +optional
	// +kubebuilder:default=true
	Photos *bool `json:"photos,omitempty"`

	// suspend stops scheduling backups (and drills); running ones finish, and on-demand
	// backups still run. Default false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// resources of the backup and drill containers. Default: requests 100m CPU and
	// 256Mi memory, limit 1Gi memory.
	// +optional
	// +kubebuilder:default={requests:{cpu:"100m",memory:"256Mi"},limits:{memory:"1Gi"}}
	// +kubebuilder:validation:XValidation:rule="!has(self.requests) || !has(self.limits) || ['cpu', 'memory', 'ephemeral-storage'].all(k, !(k in self.requests) || !(k in self.limits) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",message="spec.backup.resources: a cpu, memory or ephemeral-storage request above its limit (requests.memory 2Gi with limits.memory 1Gi, say) is refused for the pod: raise the limit or lower the request"
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// drill schedules a restore drill in the CronJob <gallery>-drill: the newest backup
	// is restored into a scratch database and its counts and checksums compared, and the
	// result goes to status.backup.lastDrill. Absent: no drills.
	// +optional
	Drill *BackupDrillSpec `json:"drill,omitempty"`
}

// BackupDrillSpec schedules restore drills.
type BackupDrillSpec struct {
	// schedule is when drills run, a cron expression or @hourly, @daily, @weekly or
	// @monthly, e.g. "0 5 * * 0" for 05:00 on Sundays.
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(@(hourly|daily|weekly|monthly)|([0-9*/,?A-Za-z-]+[ \t]+){4}[0-9*/,?A-Za-z-]+)$`
	Schedule string `json:"schedule"`

	// timeZone is the IANA time zone of schedule. Default: the kube-controller-manager's.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`
}

// BackupLocation is where backups live: exactly one of s3 or volume.
//
// +kubebuilder:validation:XValidation:rule="has(self.s3) != has(self.volume)",message="a backup location needs exactly one of s3 or volume"
type BackupLocation struct {
	// s3 keeps backups in an S3 bucket (or an S3-compatible store through endpoint).
	// +optional
	S3 *BackupS3Location `json:"s3,omitempty"`

	// volume keeps backups on an existing PersistentVolumeClaim.
	// +optional
	Volume *BackupVolumeLocation `json:"volume,omitempty"`
}

// BackupS3Location is an S3 bucket for backups: spec.storage.s3's settings without
// encryption (use the bucket's default encryption). Credentials come from the pod's
// standard chain (IRSA, Pod Identity) unless credentialsSecret is set.
type BackupS3Location struct {
	// bucket name.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	Bucket string `json:"bucket"`

	// region of the bucket, e.g. eu-west-1. Default: the pod's AWS_REGION.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]+$`
	Region string `json:"region,omitempty"`

	// prefix under which the backups are stored, e.g. backups/. Default: none.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9!_.*'()-]+/)*$`
	Prefix string `json:"prefix,omitempty"`

	// endpoint is the URL of an S3-compatible store (MinIO, versitygw, Ceph). Default:
	// AWS.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	Endpoint string `json:"endpoint,omitempty"`

	// forcePathStyle addresses buckets as <endpoint>/<bucket>, as most S3-compatible
	// stores need. Default false.
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`

	// credentialsSecret holds accessKeyId and secretAccessKey for the backup bucket (a
	// store outside AWS, or another account's bucket). Absent: the pod's credential
	// chain.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	CredentialsSecret string `json:"credentialsSecret,omitempty"`
}

// BackupVolumeLocation is an existing PersistentVolumeClaim for backups. The admin makes
// and owns it, so backups outlive the Gallery. With ReadWriteOnce, backups run on the
// server pod's node.
type BackupVolumeLocation struct {
	// claimName of the PersistentVolumeClaim, in the Gallery's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ClaimName string `json:"claimName"`

	// subPath is a folder inside the volume to use instead of its root, e.g. galleries.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$`
	SubPath string `json:"subPath,omitempty"`
}

// BackupRetention decides which backups are kept.
//
// +kubebuilder:validation:XValidation:rule="has(self.keep) || has(self.keepFor)",message="spec.backup.retention needs keep, keepFor or both; without either, backups would pile up forever"
type BackupRetention struct {
	// keep is how many complete backups to keep, newest first.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Keep *int32 `json:"keep,omitempty"`

	// keepFor keeps complete backups younger than this, e.g. 720h (30 days).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('87600h')",message="spec.backup.retention.keepFor must be a duration between 1h and 87600h"
	KeepFor *metav1.Duration `json:"keepFor,omitempty"`
}

// RestoreSpec names the backup a new Gallery starts from.
//
// +kubebuilder:validation:XValidation:rule="!has(self.backup) || !has(self.before)",message="spec.restoreFrom.backup and spec.restoreFrom.before are mutually exclusive: name one backup, or the newest one before a time"
type RestoreSpec struct {
	// source is where the backups are: the same shape as spec.backup.destination.
	// +required
	Source BackupLocation `json:"source"`

	// gallery is the name of the Gallery the backups were taken from (their folder).
	// Default: this Gallery's name.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Gallery string `json:"gallery,omitempty"`

	// backup is the name of the backup to restore, e.g. 20261205T031500Z. Default: the
	// newest complete one (before the time in before, when set).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	Backup string `json:"backup,omitempty"`

	// before restores the newest complete backup taken at or before this time (RFC 3339),
	// e.g. the moment before a bad import.
	// +optional
	Before *metav1.Time `json:"before,omitempty"`

	// verifyPhotosPercent is the share of photos whose checksum the restore checks after
	// copying them back, 0 to 100; every database table is always checked. Default 100.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	VerifyPhotosPercent *int32 `json:"verifyPhotosPercent,omitempty"`
}

// ServerSpec is the gallery web server.
//
// +kubebuilder:validation:XValidation:rule="!has(self.preStopDelaySeconds) || !has(self.terminationGracePeriodSeconds) || self.preStopDelaySeconds < self.terminationGracePeriodSeconds",fieldPath=".preStopDelaySeconds",message="spec.server.preStopDelaySeconds must be less than spec.server.terminationGracePeriodSeconds, or the pod is killed before it stops serving"
// +kubebuilder:validation:XValidation:rule="!has(self.maxUploadSize) || (quantity(self.maxUploadSize).compareTo(quantity('1Gi')) <= 0 && quantity(self.maxUploadSize).compareTo(quantity('1Ki')) >= 0)",fieldPath=".maxUploadSize",message="spec.server.maxUploadSize must be between 1Ki and 1Gi"
type ServerSpec struct {
	// image pins the gallery image (server and, unless spec.workers.image is set,
	// workers). Empty (the default) runs the operator's own default gallery image, the
	// one its release was built with (the chart sets it from image.registry and its
	// appVersion): upgrading the operator then upgrades this Gallery, migrations first.
	// status.images.gallery shows the image in use. The default of v0.2.0 CRDs,
	// ghcr.io/sortographer/sortographer:v0.2.0, written into every Gallery created
	// then, counts as empty; pin that release by digest.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^(?:(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?[.])+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?::[0-9]+)?/|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?:[0-9]+/|[a-zA-Z0-9-]*[A-Z][a-zA-Z0-9-]*/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$')",message="spec.server.image is not an image reference a container runtime can pull: no spaces, the repository path in lower case (a first part with capitals, a dot or a port is a registry host), then an optional :tag and @sha256:digest; e.g. registry.example.com/team/sortographer:v0.3.0"
	Image string `json:"image,omitempty"`

	// imagePullPolicy for the gallery image. Default IfNotPresent.
	// +optional
	// +kubebuilder:default=IfNotPresent
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// replicas is the fixed number of server pods when spec.autoscaling.server is absent.
	// Unset means 2, or 1 with an embedded database. Ignored while an HPA owns the count.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the server container. Default: requests 500m CPU and 512Mi memory,
	// limit 1Gi memory (the ECS task size this replaces).
	// +optional
	// +kubebuilder:default={requests:{cpu:"500m",memory:"512Mi"},limits:{memory:"1Gi"}}
	// +kubebuilder:validation:XValidation:rule="!has(self.requests) || !has(self.limits) || ['cpu', 'memory', 'ephemeral-storage'].all(k, !(k in self.requests) || !(k in self.limits) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",message="spec.server.resources: a cpu, memory or ephemeral-storage request above its limit (requests.memory 2Gi with limits.memory 1Gi, say) is refused for the pod: raise the limit or lower the request"
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// port the server listens on inside the pod (non-root, so 1024 or above). Default 8080.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// maxUploadSize is the largest photo the server accepts, per file. Default 25Mi.
	// +optional
	// +kubebuilder:default="25Mi"
	MaxUploadSize resource.Quantity `json:"maxUploadSize,omitzero"`

	// probes tunes the liveness, readiness and startup probes. The paths are the
	// server's own (/livez, /readyz); readiness checks the database and Redis, never the
	// classifier.
	// +optional
	// +kubebuilder:default={}
	Probes ProbesSpec `json:"probes,omitzero"`

	// maxSurge is how many extra pods a rolling update may start. maxUnavailable is always
	// 0: an update never removes a serving pod before its replacement is ready. Default 25%.
	// +optional
	// +kubebuilder:default="25%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^[1-9][0-9]?%$|^100%$')",message="spec.server.maxSurge must be a positive number or a percentage from 1% to 100%"
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// terminationGracePeriodSeconds is how long a stopping pod may take to finish
	// in-flight requests and uploads. Default 60.
	// +optional
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	TerminationGracePeriodSeconds int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// preStopDelaySeconds keeps a stopping pod serving while the load balancer
	// deregisters it (match the target group's deregistration delay). Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=600
	PreStopDelaySeconds int64 `json:"preStopDelaySeconds,omitempty"`

	// trustedProxies are the CIDRs of the proxies in front of the server pods: the
	// ingress controller's pods, the load balancer (e.g. ["10.0.0.0/8"]). A request from
	// one of them is counted, for sign-in and share-link rate limits and in logs, under
	// the client address its X-Forwarded-For names (read right to left, skipping trusted
	// hops); from anywhere else the header is ignored, so clients cannot choose their
	// address. Empty (the default): every request counts under its TCP peer, which behind
	// an ingress is the ingress itself, so all clients share one address's limits: set
	// this when the gallery is behind a proxy.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=43
	// The rule matches CIDRs by pattern (CEL's isCIDR needs Kubernetes 1.31; 1.30 is
	// supported); the app parses each one again, exactly, at start.
	// +kubebuilder:validation:XValidation:rule="self.all(c, c.matches('^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/([0-9]|[12][0-9]|3[0-2])$') || c.matches('^[0-9a-fA-F:]*:[0-9a-fA-F:.]*/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$'))",message="spec.server.trustedProxies entries must be CIDRs such as 10.0.0.0/8 or fd00::/8 (a single address is 10.1.2.3/32)"
	TrustedProxies []string `json:"trustedProxies,omitempty"`

	// env is extra environment for the server container, after the operator's own. The
	// operator's own settings (SORTOGRAPHER_*, made from the spec) cannot be set here,
	// but for the tuning the spec does not cover: SORTOGRAPHER_DECODE_MEMORY,
	// SORTOGRAPHER_DATABASE_READER_MAX_LAG, SORTOGRAPHER_DATABASE_READ_YOUR_WRITES_WINDOW
	// and SORTOGRAPHER_ONNXRUNTIME_LIB.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(e, !e.name.startsWith('SORTOGRAPHER_') || e.name in ['SORTOGRAPHER_DECODE_MEMORY', 'SORTOGRAPHER_DATABASE_READER_MAX_LAG', 'SORTOGRAPHER_DATABASE_READ_YOUR_WRITES_WINDOW', 'SORTOGRAPHER_ONNXRUNTIME_LIB'])",message="spec.server.env: a SORTOGRAPHER_* variable is a setting the operator makes from the spec, and would replace it: set the spec field instead. Of them only SORTOGRAPHER_DECODE_MEMORY, SORTOGRAPHER_DATABASE_READER_MAX_LAG, SORTOGRAPHER_DATABASE_READ_YOUR_WRITES_WINDOW and SORTOGRAPHER_ONNXRUNTIME_LIB may be set here",reason=FieldValueForbidden
	Env []EnvVar `json:"env,omitempty"`
}

// ProbesSpec tunes the server's probes.
type ProbesSpec struct {
	// liveness restarts a server that stopped answering. Default: every 10s, timeout 2s,
	// 3 failures.
	// +optional
	// +kubebuilder:default={periodSeconds:10,timeoutSeconds:2,failureThreshold:3}
	Liveness ProbeTiming `json:"liveness,omitzero"`

	// readiness takes a server out of the Service while its database or Redis is
	// unreachable. Default: every 5s, timeout 2s, 2 failures.
	// +optional
	// +kubebuilder:default={periodSeconds:5,timeoutSeconds:2,failureThreshold:2}
	Readiness ProbeTiming `json:"readiness,omitzero"`

	// startup gives a new pod time to run migrations before liveness applies. Default:
	// every 2s, timeout 2s, 60 failures (two minutes).
	// +optional
	// +kubebuilder:default={periodSeconds:2,timeoutSeconds:2,failureThreshold:60}
	Startup ProbeTiming `json:"startup,omitzero"`
}

// ProbeTiming is the timing of one probe.
//
// +kubebuilder:validation:XValidation:rule="!has(self.timeoutSeconds) || !has(self.periodSeconds) || self.timeoutSeconds <= self.periodSeconds",fieldPath=".timeoutSeconds",message="probe timeoutSeconds must not exceed periodSeconds"
type ProbeTiming struct {
	// periodSeconds between probes.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=300
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`

	// timeoutSeconds for one probe.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`

	// failureThreshold is how many failures in a row count as failed.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=600
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// WorkersSpec is the classification workers.
type WorkersSpec struct {
	// image overrides spec.server.image for the workers. Default: the server's image.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^(?:(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?[.])+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?::[0-9]+)?/|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?:[0-9]+/|[a-zA-Z0-9-]*[A-Z][a-zA-Z0-9-]*/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$')",message="spec.workers.image is not an image reference a container runtime can pull: no spaces, the repository path in lower case (a first part with capitals, a dot or a port is a registry host), then an optional :tag and @sha256:digest; e.g. registry.example.com/team/sortographer:v0.3.0"
	Image string `json:"image,omitempty"`

	// replicas is the fixed number of worker pods when spec.autoscaling.workers is
	// absent. Unset means 1, or 0 with an embedded database (the server classifies
	// in-process).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=500
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the worker container. Default: requests 250m CPU and 512Mi memory,
	// limit 1Gi memory.
	// +optional
	// +kubebuilder:default={requests:{cpu:"250m",memory:"512Mi"},limits:{memory:"1Gi"}}
	// +kubebuilder:validation:XValidation:rule="!has(self.requests) || !has(self.limits) || ['cpu', 'memory', 'ephemeral-storage'].all(k, !(k in self.requests) || !(k in self.limits) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",message="spec.workers.resources: a cpu, memory or ephemeral-storage request above its limit (requests.memory 2Gi with limits.memory 1Gi, say) is refused for the pod: raise the limit or lower the request"
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// concurrency is how many jobs one worker pod handles at once. Default 4.
	// +optional
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Concurrency int32 `json:"concurrency,omitempty"`

	// classifier chooses and configures what labels the photos.
	// +optional
	// +kubebuilder:default={}
	Classifier ClassifierSpec `json:"classifier,omitzero"`

	// pacing protects the database and the provider's quota.
	// +optional
	// +kubebuilder:default={}
	Pacing PacingSpec `json:"pacing,omitzero"`

	// jobs sets retries and timeouts of classification jobs.
	// +optional
	// +kubebuilder:default={}
	Jobs JobsSpec `json:"jobs,omitzero"`

	// terminationGracePeriodSeconds is how long a stopping worker may take to finish or
	// release the jobs in hand. Default 60.
	// +optional
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	TerminationGracePeriodSeconds int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// env is extra environment for the worker container, after the operator's own, with
	// the same rule as spec.server.env for SORTOGRAPHER_* names.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(e, !e.name.startsWith('SORTOGRAPHER_') || e.name in ['SORTOGRAPHER_DECODE_MEMORY', 'SORTOGRAPHER_DATABASE_READER_MAX_LAG', 'SORTOGRAPHER_DATABASE_READ_YOUR_WRITES_WINDOW', 'SORTOGRAPHER_ONNXRUNTIME_LIB'])",message="spec.workers.env: a SORTOGRAPHER_* variable is a setting the operator makes from the spec, and would replace it: set the spec field instead. Of them only SORTOGRAPHER_DECODE_MEMORY, SORTOGRAPHER_DATABASE_READER_MAX_LAG, SORTOGRAPHER_DATABASE_READ_YOUR_WRITES_WINDOW and SORTOGRAPHER_ONNXRUNTIME_LIB may be set here",reason=FieldValueForbidden
	Env []EnvVar `json:"env,omitempty"`
}

// ClassifierProvider names what labels the photos.
//
// +kubebuilder:validation:Enum=builtin;rekognition
type ClassifierProvider string

const (
	// ClassifierBuiltin runs a pretrained COCO-80 detector inside the worker, offline.
	ClassifierBuiltin ClassifierProvider = "builtin"
	// ClassifierRekognition calls AWS Rekognition DetectLabels.
	ClassifierRekognition ClassifierProvider = "rekognition"
)

// ClassifierSpec chooses and configures the classifier.
//
// +kubebuilder:validation:XValidation:rule="!has(self.provider) || self.provider != 'rekognition' || has(self.rekognition)",fieldPath=".rekognition",message="spec.workers.classifier.rekognition is required when provider is rekognition (at least its region)"
type ClassifierSpec struct {
	// provider is builtin (a model inside the worker, no network) or rekognition (AWS).
	// Default builtin.
	// +optional
	// +kubebuilder:default=builtin
	Provider ClassifierProvider `json:"provider,omitempty"`

	// rekognition configures AWS Rekognition DetectLabels.
	// +optional
	Rekognition *RekognitionSpec `json:"rekognition,omitempty"`

	// builtin configures the built-in model.
	// +optional
	// +kubebuilder:default={}
	Builtin BuiltinClassifierSpec `json:"builtin,omitzero"`

	// text reads the words in photos (signs, posters, receipts, slides) after labelling,
	// so that a search finds a photo by them too. Default: on with the builtin provider
	// (Tesseract, offline, in the worker), off with rekognition (DetectText is billed per
	// image, like DetectLabels).
	// +optional
	// +kubebuilder:default={}
	Text TextSpec `json:"text,omitzero"`
}

// TextSpec configures reading the words in photos: Tesseract, English and Korean, in
// the worker with the builtin provider; Rekognition DetectText with rekognition. The
// workers read a photo's text after its labels, in the same job, paced by
// spec.workers.pacing.providerRequestsPerSecond like the labels (a photo is two calls).
type TextSpec struct {
	// enabled turns reading text on or off. Unset: on with the builtin provider, off
	// with rekognition. Set to true, a worker whose reader cannot start (no language
	// data in a custom image) fails rather than run without it; unset, it runs without
	// text and logs why.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// minConfidence is the lowest confidence, in percent, of a word that is kept.
	// Default 80 (Tesseract keeps little but noise below it; internal/classify/tesseract/README.md).
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MinConfidence int32 `json:"minConfidence,omitempty"`
}

// RekognitionSpec configures AWS Rekognition. Credentials come from the pod's standard
// chain: IRSA or EKS Pod Identity through spec.placement.serviceAccountAnnotations.
type RekognitionSpec struct {
	// region of the Rekognition endpoint, e.g. eu-west-1.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`
	// +kubebuilder:validation:MaxLength=32
	Region string `json:"region"`

	// minConfidence is the lowest confidence, in percent, of a label that is kept.
	// Default 70.
	// +optional
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MinConfidence int32 `json:"minConfidence,omitempty"`

	// maxLabels is the most labels kept per photo. Default 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxLabels int32 `json:"maxLabels,omitempty"`

	// endpoint overrides the Rekognition endpoint URL (VPC endpoints, tests).
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=512
	Endpoint string `json:"endpoint,omitempty"`
}

// BuiltinClassifierSpec configures the built-in model.
type BuiltinClassifierSpec struct {
	// minScore is the lowest score, in percent, of a label that is kept. Default 30.
	// +optional
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MinScore int32 `json:"minScore,omitempty"`

	// customModel mounts a model of the admin's own (an ONNX file and a labels file, one
	// label a line) from a ConfigMap or PVC instead of the bundled COCO-80 detector.
	// +optional
	CustomModel *CustomModelSpec `json:"customModel,omitempty"`
}

// CustomModelSpec points at an admin-supplied ONNX model.
//
// +kubebuilder:validation:XValidation:rule="has(self.configMapName) != has(self.persistentVolumeClaimName)",message="spec.workers.classifier.builtin.customModel needs exactly one of configMapName or persistentVolumeClaimName"
type CustomModelSpec struct {
	// configMapName holds model.onnx (binaryData) and labels.txt.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ConfigMapName string `json:"configMapName,omitempty"`

	// persistentVolumeClaimName holds model.onnx and labels.txt at its root.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PersistentVolumeClaimName string `json:"persistentVolumeClaimName,omitempty"`
}

// PacingSpec protects the database and the provider's quota.
type PacingSpec struct {
	// providerRequestsPerSecond caps classifier calls across all workers of this Gallery
	// together (Rekognition's DetectLabels quota is per account and region). Default 5.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	ProviderRequestsPerSecond int32 `json:"providerRequestsPerSecond,omitempty"`

	// intakePerSecond is how many jobs all workers together admit per second, to protect
	// the database. Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	IntakePerSecond int32 `json:"intakePerSecond,omitempty"`

	// batchSize is how many jobs one worker takes from the queue at a time. Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	BatchSize int32 `json:"batchSize,omitempty"`
}

// JobsSpec sets retries and timeouts of classification jobs.
type JobsSpec struct {
	// maxAttempts before a job goes to the dead-letter list and its photo shows failed.
	// Default 5.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// visibilityTimeout is how long a job may stay unacknowledged before another worker
	// claims it (its worker is presumed dead). Default 2m.
	// +optional
	// +kubebuilder:default="2m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="spec.workers.jobs.visibilityTimeout must be a duration between 10s and 24h"
	VisibilityTimeout metav1.Duration `json:"visibilityTimeout,omitzero"`

	// requeueAfter re-enqueues a photo still queued after this long (a lost job). The
	// database is the source of truth. Default 10m.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('168h')",message="spec.workers.jobs.requeueAfter must be a duration between 1m and 168h"
	RequeueAfter metav1.Duration `json:"requeueAfter,omitzero"`
}

// AutoscalingSpec turns on autoscaling.
type AutoscalingSpec struct {
	// server autoscales the server Deployment with an HPA on CPU and memory.
	// +optional
	Server *ScalingPolicy `json:"server,omitempty"`

	// workers autoscales the workers on CPU and memory and, when backlog is set, on
	// the queue's backlog.
	// +optional
	Workers *WorkerScalingPolicy `json:"workers,omitempty"`

	// schedules raise minimum replicas during known surges (a semester-start sign-up
	// rush, a flash sale) ahead of the load. The highest active minimum wins.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Schedules []ScheduleSpec `json:"schedules,omitempty"`
}

// ScalingPolicy is an HPA's range, targets and behaviour.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",fieldPath=".minReplicas",message="autoscaling minReplicas must be less than or equal to maxReplicas"
// +kubebuilder:validation:XValidation:rule="has(self.cpu) || has(self.memory)",message="autoscaling needs at least one of cpu or memory"
type ScalingPolicy struct {
	// minReplicas is the fewest pods. Default 2.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the most pods. Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	MaxReplicas int32 `json:"maxReplicas,omitempty"`

	// cpu scales on average CPU use, as a percentage of requests.
	// +optional
	CPU *UtilizationTarget `json:"cpu,omitempty"`

	// memory scales on average memory use, as a percentage of requests. Default: out at
	// 70%, in below 40% (the ECS service's thresholds).
	// +optional
	// +kubebuilder:default={targetUtilization:70,scaleInUtilization:40}
	Memory *UtilizationTarget `json:"memory,omitempty"`

	// scaleUpStabilizationSeconds is how long the HPA looks back before scaling out.
	// Default 0 (react at once).
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	ScaleUpStabilizationSeconds int32 `json:"scaleUpStabilizationSeconds,omitempty"`

	// scaleDownStabilizationSeconds is how long use must stay low before scaling in.
	// Default 300.
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	ScaleDownStabilizationSeconds int32 `json:"scaleDownStabilizationSeconds,omitempty"`

	// scaleDownMaxPodsPerMinute caps how many pods one minute of scale-in removes.
	// Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	ScaleDownMaxPodsPerMinute int32 `json:"scaleDownMaxPodsPerMinute,omitempty"`
}

// UtilizationTarget is where a resource's use scales out and in.
//
// +kubebuilder:validation:XValidation:rule="!has(self.scaleInUtilization) || self.scaleInUtilization < self.targetUtilization",fieldPath=".scaleInUtilization",message="scaleInUtilization must be below targetUtilization, or the HPA would scale in and out in turn"
type UtilizationTarget struct {
	// targetUtilization is the percentage of requests at which pods are added.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	TargetUtilization int32 `json:"targetUtilization"`

	// scaleInUtilization is the percentage below which pods are removed; between the two
	// nothing changes. Expressed as the HPA's scale-down tolerance. Default: the HPA's
	// own 10% tolerance.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=499
	ScaleInUtilization *int32 `json:"scaleInUtilization,omitempty"`
}

// WorkerScalingPolicy adds queue-backlog scaling to a ScalingPolicy.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",fieldPath=".minReplicas",message="spec.autoscaling.workers.minReplicas must be less than or equal to maxReplicas"
// +kubebuilder:validation:XValidation:rule="has(self.cpu) || has(self.memory) || has(self.backlog)",message="spec.autoscaling.workers needs at least one of cpu, memory or backlog"
type WorkerScalingPolicy struct {
	// minReplicas is the fewest worker pods. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=500
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the most worker pods. Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	MaxReplicas int32 `json:"maxReplicas,omitempty"`

	// cpu scales on average CPU use, as a percentage of requests.
	// +optional
	CPU *UtilizationTarget `json:"cpu,omitempty"`

	// memory scales on average memory use, as a percentage of requests.
	// +optional
	Memory *UtilizationTarget `json:"memory,omitempty"`

	// backlog scales on the number of queued jobs per worker. With KEDA installed the
	// operator makes a ScaledObject; otherwise its own backlog scaler raises the HPA's
	// minimum. Default: 20 jobs per worker.
	// +optional
	// +kubebuilder:default={targetJobsPerWorker:20}
	Backlog *BacklogTarget `json:"backlog,omitempty"`

	// scaleDownStabilizationSeconds is how long load must stay low before scaling in.
	// Default 300.
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	ScaleDownStabilizationSeconds int32 `json:"scaleDownStabilizationSeconds,omitempty"`
}

// BacklogTarget is the queue length each worker should carry.
type BacklogTarget struct {
	// targetJobsPerWorker is the queued jobs per worker pod at which workers are added.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	TargetJobsPerWorker int32 `json:"targetJobsPerWorker"`
}

// ScheduleSpec raises minimum replicas during a recurring window.
//
// +kubebuilder:validation:XValidation:rule="has(self.serverMinReplicas) || has(self.workersMinReplicas)",message="spec.autoscaling.schedules[] needs serverMinReplicas or workersMinReplicas (or both)"
type ScheduleSpec struct {
	// name identifies the schedule, e.g. semester-start.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// start is a cron expression (minute hour day-of-month month day-of-week) for when
	// the window opens, e.g. "0 7 1 9 *" for 07:00 on 1 September.
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(@(yearly|annually|monthly|weekly|daily|hourly)|([0-9*/,?A-Za-z-]+[ \t]+){4}[0-9*/,?A-Za-z-]+)$`
	Start string `json:"start"`

	// duration is how long the window stays open, e.g. 72h.
	// +required
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('8760h')",message="spec.autoscaling.schedules[].duration must be a duration between 1m and 8760h"
	Duration metav1.Duration `json:"duration"`

	// timeZone is the IANA time zone of start, e.g. Europe/London. Default UTC.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`

	// serverMinReplicas is the server HPA's minimum while the window is open.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	ServerMinReplicas *int32 `json:"serverMinReplicas,omitempty"`

	// workersMinReplicas is the workers' minimum while the window is open.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	WorkersMinReplicas *int32 `json:"workersMinReplicas,omitempty"`
}

// CacheSpec is Redis.
//
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="spec.cache needs exactly one of managed or external"
type CacheSpec struct {
	// managed runs Redis in the cluster for this Gallery.
	// +optional
	Managed *ManagedRedisSpec `json:"managed,omitempty"`

	// external uses a Redis the admin runs, such as ElastiCache.
	// +optional
	External *ExternalRedisSpec `json:"external,omitempty"`
}

// RedisEvictionPolicy is a Redis maxmemory-policy that never evicts the job queue: the
// queue's keys carry no TTL, so only volatile-* policies (which evict keys with a TTL)
// and noeviction are allowed. allkeys-* would silently drop jobs.
//
// +kubebuilder:validation:Enum=volatile-lru;volatile-lfu;volatile-ttl;volatile-random;noeviction
type RedisEvictionPolicy string

// ManagedRedisSpec is an in-cluster Redis.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.version) || !has(self.version) || int(self.version.split('.')[0]) > int(oldSelf.version.split('.')[0]) || (int(self.version.split('.')[0]) == int(oldSelf.version.split('.')[0]) && int(self.version.split('.')[1]) >= int(oldSelf.version.split('.')[1]))",fieldPath=".version",message="spec.cache.managed.version cannot go down: a Redis cannot load the data files a newer one wrote; set the version back only on a new Gallery"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.version) || !has(self.version) || int(self.version.split('.')[0]) - int(oldSelf.version.split('.')[0]) <= 1",fieldPath=".version",message="spec.cache.managed.version moves one major version at a time (each reads the data files of the one before): upgrade to the next major first, let it start, then to the one after"
type ManagedRedisSpec struct {
	// version of Redis, used to pick the image tag. Default 7.4.
	// +optional
	// +kubebuilder:default="7.4"
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+(\.[0-9]+)?$`
	// +kubebuilder:validation:MaxLength=16
	Version string `json:"version,omitempty"`

	// image overrides the Redis image (a mirror, for instance). Default
	// docker.io/library/redis:<version>-alpine.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^(?:(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?[.])+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?::[0-9]+)?/|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?:[0-9]+/|[a-zA-Z0-9-]*[A-Z][a-zA-Z0-9-]*/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$')",message="spec.cache.managed.image is not an image reference a container runtime can pull: no spaces, the repository path in lower case (a first part with capitals, a dot or a port is a registry host), then an optional :tag and @sha256:digest; e.g. registry.example.com/team/sortographer:v0.3.0"
	Image string `json:"image,omitempty"`

	// memory is the container's memory limit; Redis' maxmemory is set to 80% of it.
	// Default 256Mi.
	// +optional
	// +kubebuilder:default="256Mi"
	// +kubebuilder:validation:XValidation:rule="quantity(self).compareTo(quantity('32Mi')) >= 0",message="spec.cache.managed.memory must be at least 32Mi"
	Memory resource.Quantity `json:"memory,omitzero"`

	// evictionPolicy is Redis' maxmemory-policy. Default volatile-lru.
	// +optional
	// +kubebuilder:default=volatile-lru
	EvictionPolicy RedisEvictionPolicy `json:"evictionPolicy,omitempty"`

	// persistence keeps Redis' data (the queue) across restarts on a PVC. Without it the
	// database sweep re-enqueues lost jobs. Absent: no PVC.
	// +optional
	Persistence *PersistenceSpec `json:"persistence,omitempty"`
}

// PersistenceSpec is a PVC for a managed component.
type PersistenceSpec struct {
	// size of the volume. Default 1Gi. It can grow, never shrink.
	// +optional
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(self).isGreaterThan(quantity('0'))",message="persistence size must be positive"
	Size resource.Quantity `json:"size,omitzero"`

	// storageClassName of the volume. Default: the cluster's default class. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="storageClassName is immutable: a new class means a new volume and the data on the old one"
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// ExternalRedisSpec is a Redis the admin runs.
type ExternalRedisSpec struct {
	// address is host:port, e.g. my-cache.abc123.euw1.cache.amazonaws.com:6379.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:]+\]:[0-9]{1,5}$`
	Address string `json:"address"`

	// tls turns on TLS (ElastiCache in-transit encryption). Default off.
	// +optional
	TLS *ClientTLSSpec `json:"tls,omitempty"`

	// passwordSecretRef is the key of a Secret holding Redis' AUTH password or token.
	// +optional
	PasswordSecretRef *SecretKeyRef `json:"passwordSecretRef,omitempty"`

	// username for Redis ACLs (ElastiCache RBAC). Default: none.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Username string `json:"username,omitempty"`

	// db is the Redis logical database number. Default 0.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=15
	DB int32 `json:"db,omitempty"`
}

// ClientTLSSpec is TLS from the gallery to a server.
type ClientTLSSpec struct {
	// enabled turns TLS on.
	// +optional
	// +kubebuilder:default=true
	Enabled bool `json:"enabled,omitempty"`

	// caSecretRef is the key of a Secret holding the CA bundle (PEM) to trust. Default:
	// the image's system roots (which include Amazon's).
	// +optional
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`

	// serverName overrides the name checked in the server's certificate.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServerName string `json:"serverName,omitempty"`
}

// SecretKeyRef is one key of a Secret in the Gallery's namespace.
type SecretKeyRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// key within the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// DatabaseSpec holds users, images and labels.
//
// +kubebuilder:validation:XValidation:rule="(has(self.managed) ? 1 : 0) + (has(self.external) ? 1 : 0) + (has(self.embedded) ? 1 : 0) == 1",message="spec.database needs exactly one of managed, external or embedded"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.managed) == has(self.managed) && has(oldSelf.external) == has(self.external) && has(oldSelf.embedded) == has(self.embedded)",message="spec.database's kind (managed, external or embedded) is immutable: switching would start from an empty database; migrate the data and create a new Gallery"
type DatabaseSpec struct {
	// managed runs MariaDB in the cluster, for small installs.
	// +optional
	Managed *ManagedDatabaseSpec `json:"managed,omitempty"`

	// external uses a MySQL/MariaDB or PostgreSQL server the admin runs, such as RDS,
	// with optional read replicas.
	// +optional
	External *ExternalDatabaseSpec `json:"external,omitempty"`

	// embedded keeps a SQLite file on a volume of the (single) server pod.
	// +optional
	Embedded *EmbeddedDatabaseSpec `json:"embedded,omitempty"`
}

// AdminSettingsEnv are the SORTOGRAPHER_* settings spec.server.env and spec.workers.env
// may carry: tuning the operator never sets. The schema refuses every other
// SORTOGRAPHER_* name (the rule on those fields lists the same names).
var AdminSettingsEnv = []string{
	"SORTOGRAPHER_DECODE_MEMORY", "SORTOGRAPHER_DATABASE_READER_MAX_LAG",
	"SORTOGRAPHER_DATABASE_READ_YOUR_WRITES_WINDOW", "SORTOGRAPHER_ONNXRUNTIME_LIB",
}

// ManagedDatabaseSpec is an in-cluster MariaDB.
//
// +kubebuilder:validation:XValidation:rule="!has(self.storageSize) || !has(oldSelf.storageSize) || quantity(self.storageSize).compareTo(quantity(oldSelf.storageSize)) >= 0",fieldPath=".storageSize",message="spec.database.managed.storageSize can grow but never shrink"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.version) || !has(self.version) || int(self.version.split('.')[0]) > int(oldSelf.version.split('.')[0]) || (int(self.version.split('.')[0]) == int(oldSelf.version.split('.')[0]) && int(self.version.split('.')[1]) >= int(oldSelf.version.split('.')[1]))",fieldPath=".version",message="spec.database.managed.version cannot go down: MariaDB does not support downgrading its data files; restore a backup into a new Gallery instead"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.version) || !has(self.version) || int(self.version.split('.')[0]) - int(oldSelf.version.split('.')[0]) <= 1",fieldPath=".version",message="spec.database.managed.version moves one major version at a time (10.11 to 11.4, say: mariadb-upgrade runs at each step): upgrade to the next major first, let it start, then to the one after"
type ManagedDatabaseSpec struct {
	// version of MariaDB, used to pick the image tag. Default 11.4 (LTS).
	// +optional
	// +kubebuilder:default="11.4"
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+(\.[0-9]+)?$`
	// +kubebuilder:validation:MaxLength=16
	Version string `json:"version,omitempty"`

	// image overrides the MariaDB image. Default docker.io/library/mariadb:<version>.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^(?:(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?[.])+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?::[0-9]+)?/|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?:[0-9]+/|[a-zA-Z0-9-]*[A-Z][a-zA-Z0-9-]*/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$')",message="spec.database.managed.image is not an image reference a container runtime can pull: no spaces, the repository path in lower case (a first part with capitals, a dot or a port is a registry host), then an optional :tag and @sha256:digest; e.g. registry.example.com/team/sortographer:v0.3.0"
	Image string `json:"image,omitempty"`

	// storageSize of the data volume. Default 10Gi. It can grow, never shrink.
	// +optional
	// +kubebuilder:default="10Gi"
	StorageSize resource.Quantity `json:"storageSize,omitzero"`

	// storageClassName of the data volume. Default: the cluster's default. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.database.managed.storageClassName is immutable: a new class means a new volume and the data on the old one"
	StorageClassName *string `json:"storageClassName,omitempty"`

	// resources of the MariaDB container. Default: requests 250m CPU and 512Mi memory,
	// limit 1Gi memory.
	// +optional
	// +kubebuilder:default={requests:{cpu:"250m",memory:"512Mi"},limits:{memory:"1Gi"}}
	// +kubebuilder:validation:XValidation:rule="!has(self.requests) || !has(self.limits) || ['cpu', 'memory', 'ephemeral-storage'].all(k, !(k in self.requests) || !(k in self.limits) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",message="spec.database.managed.resources: a cpu, memory or ephemeral-storage request above its limit (requests.memory 2Gi with limits.memory 1Gi, say) is refused for the pod: raise the limit or lower the request"
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`
}

// DatabaseEngine is the SQL dialect of an external database.
//
// +kubebuilder:validation:Enum=mysql;postgres
type DatabaseEngine string

const (
	// DatabaseMySQL is MySQL or MariaDB (RDS MySQL, Aurora MySQL).
	DatabaseMySQL DatabaseEngine = "mysql"
	// DatabasePostgres is PostgreSQL (RDS PostgreSQL, Aurora PostgreSQL).
	DatabasePostgres DatabaseEngine = "postgres"
)

// DatabaseTLSMode is how the gallery checks its database's TLS.
//
// +kubebuilder:validation:Enum=disable;require;verify-full
type DatabaseTLSMode string

// ExternalDatabaseSpec is a database the admin runs.
type ExternalDatabaseSpec struct {
	// engine is mysql (MySQL, MariaDB, Aurora MySQL) or postgres. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.database.external.engine is immutable: the data lives in the old engine"
	Engine DatabaseEngine `json:"engine"`

	// host is the writer endpoint, e.g. mydb.cluster-abc.eu-west-1.rds.amazonaws.com.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$`
	Host string `json:"host"`

	// readerHosts are read-replica endpoints. Reads that tolerate lag go to a reader;
	// a reader that is down is skipped.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=15
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$`
	ReaderHosts []string `json:"readerHosts,omitempty"`

	// port of the writer and readers. Default: 3306 for mysql, 5432 for postgres.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port *int32 `json:"port,omitempty"`

	// name of the database. Default sortographer.
	// +optional
	// +kubebuilder:default=sortographer
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name,omitempty"`

	// credentialsSecret holds the user name and password.
	// +required
	CredentialsSecret CredentialsSecretRef `json:"credentialsSecret"`

	// tlsMode is disable, require (encrypt) or verify-full (encrypt and check the
	// certificate and host name). Default require.
	// +optional
	// +kubebuilder:default=require
	TLSMode DatabaseTLSMode `json:"tlsMode,omitempty"`

	// caSecretRef is the key of a Secret holding the CA bundle (PEM), e.g. the RDS
	// global bundle. Default: the image's system roots.
	// +optional
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`
}

// CredentialsSecretRef is a Secret with a user name and a password.
type CredentialsSecretRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// usernameKey is the key holding the user name. Default username.
	// +optional
	// +kubebuilder:default=username
	// +kubebuilder:validation:MaxLength=253
	UsernameKey string `json:"usernameKey,omitempty"`

	// passwordKey is the key holding the password. Default password.
	// +optional
	// +kubebuilder:default=password
	// +kubebuilder:validation:MaxLength=253
	PasswordKey string `json:"passwordKey,omitempty"`
}

// EmbeddedDatabaseSpec is SQLite on the server pod's volume.
//
// +kubebuilder:validation:XValidation:rule="!has(self.storageSize) || !has(oldSelf.storageSize) || quantity(self.storageSize).compareTo(quantity(oldSelf.storageSize)) >= 0",fieldPath=".storageSize",message="spec.database.embedded.storageSize can grow but never shrink"
type EmbeddedDatabaseSpec struct {
	// storageSize of the volume holding the SQLite file. Default 5Gi.
	// +optional
	// +kubebuilder:default="5Gi"
	StorageSize resource.Quantity `json:"storageSize,omitzero"`

	// storageClassName of the volume. Default: the cluster's default. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.database.embedded.storageClassName is immutable: a new class means a new volume and the data on the old one"
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// StorageSpec holds photos and thumbnails.
//
// +kubebuilder:validation:XValidation:rule="has(self.s3) != has(self.volume)",message="spec.storage needs exactly one of s3 or volume"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.s3) == has(self.s3)",message="spec.storage's kind (s3 or volume) is immutable: the photos live in the old one; copy them and create a new Gallery"
type StorageSpec struct {
	// s3 stores photos in an S3 bucket (or an S3-compatible store through endpoint).
	// +optional
	S3 *S3StorageSpec `json:"s3,omitempty"`

	// volume stores photos on a PersistentVolumeClaim.
	// +optional
	Volume *VolumeStorageSpec `json:"volume,omitempty"`
}

// S3StorageSpec is an S3 bucket. Credentials come from the pod's standard chain (IRSA,
// Pod Identity) unless credentialsSecret is set.
//
// +kubebuilder:validation:XValidation:rule="self.bucket == oldSelf.bucket",fieldPath=".bucket",message="spec.storage.s3.bucket is immutable: the photos are in the old bucket; copy them first and create a new Gallery"
// +kubebuilder:validation:XValidation:rule="has(self.prefix) == has(oldSelf.prefix) && (!has(self.prefix) || self.prefix == oldSelf.prefix)",fieldPath=".prefix",message="spec.storage.s3.prefix is immutable: the photos are under the old prefix"
// +kubebuilder:validation:XValidation:rule="!has(self.serverSideEncryption) || self.serverSideEncryption.type == 'aws:kms' || !has(self.serverSideEncryption.kmsKeyId)",fieldPath=".serverSideEncryption.kmsKeyId",message="spec.storage.s3.serverSideEncryption.kmsKeyId is only valid with type aws:kms"
type S3StorageSpec struct {
	// bucket name. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	Bucket string `json:"bucket"`

	// region of the bucket, e.g. eu-west-1. Default: the pod's AWS_REGION.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]+$`
	Region string `json:"region,omitempty"`

	// prefix under which every object is stored, e.g. galleries/prod/. Immutable.
	// Default: none.
	// +optional
	// +kubebuilder:default=""
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9!_.*'()-]+/)*$`
	Prefix string `json:"prefix"`

	// endpoint is the URL of an S3-compatible store (MinIO, versitygw, Ceph). Default:
	// AWS.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	Endpoint string `json:"endpoint,omitempty"`

	// forcePathStyle addresses buckets as <endpoint>/<bucket>, as most S3-compatible
	// stores need. Default false.
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`

	// serverSideEncryption asks S3 to encrypt every object. Default: the bucket's
	// default encryption.
	// +optional
	ServerSideEncryption *ServerSideEncryptionSpec `json:"serverSideEncryption,omitempty"`

	// credentialsSecret holds accessKeyId and secretAccessKey, for stores outside AWS.
	// Absent: the pod's credential chain.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecret string `json:"credentialsSecret,omitempty"`
}

// ServerSideEncryptionSpec is S3 server-side encryption.
type ServerSideEncryptionSpec struct {
	// type is AES256 (S3-managed keys) or aws:kms.
	// +required
	// +kubebuilder:validation:Enum=AES256;aws:kms
	Type string `json:"type"`

	// kmsKeyId is the KMS key (id, ARN or alias) for aws:kms. Default: the AWS-managed
	// key.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	KMSKeyID string `json:"kmsKeyId,omitempty"`
}

// VolumeStorageSpec is a PVC.
//
// +kubebuilder:validation:XValidation:rule="!has(self.size) || !has(oldSelf.size) || quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0",fieldPath=".size",message="spec.storage.volume.size can grow but never shrink"
// +kubebuilder:validation:XValidation:rule="!has(self.accessMode) || !has(oldSelf.accessMode) || self.accessMode == oldSelf.accessMode",fieldPath=".accessMode",message="spec.storage.volume.accessMode is immutable"
type VolumeStorageSpec struct {
	// size of the volume. Default 20Gi. It can grow, never shrink.
	// +optional
	// +kubebuilder:default="20Gi"
	Size resource.Quantity `json:"size,omitzero"`

	// storageClassName of the volume. Default: the cluster's default. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.storage.volume.storageClassName is immutable: a new class means a new volume and the photos on the old one"
	StorageClassName *string `json:"storageClassName,omitempty"`

	// accessMode is ReadWriteMany (EFS and the like, for several pods) or ReadWriteOnce
	// (only with an embedded database). Default ReadWriteMany.
	// +optional
	// +kubebuilder:default=ReadWriteMany
	// +kubebuilder:validation:Enum=ReadWriteMany;ReadWriteOnce
	AccessMode corev1.PersistentVolumeAccessMode `json:"accessMode,omitempty"`
}

// IngressSpec exposes the gallery.
type IngressSpec struct {
	// className is the IngressClass, e.g. alb or nginx. Default: the cluster's default.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ClassName *string `json:"className,omitempty"`

	// hosts the gallery answers on, e.g. photos.example.com. /api goes to the API and
	// everything else to the web UI.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Hosts []string `json:"hosts"`

	// tls serves the hosts over HTTPS. Absent: plain HTTP (or TLS at the load balancer).
	// +optional
	TLS *IngressTLSSpec `json:"tls,omitempty"`

	// maxBodySize is the largest request body the ingress lets through (a multi-photo
	// upload). Default 100Mi.
	// +optional
	// +kubebuilder:default="100Mi"
	MaxBodySize resource.Quantity `json:"maxBodySize,omitzero"`

	// annotations are copied to the Ingress as they are, e.g. AWS Load Balancer
	// Controller settings (alb.ingress.kubernetes.io/wafv2-acl-arn, target group
	// attributes such as deregistration_delay).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// IngressTLSSpec is HTTPS at the ingress.
//
// +kubebuilder:validation:XValidation:rule="has(self.secretName) || has(self.issuer)",message="spec.ingress.tls needs secretName (an existing certificate) or issuer (cert-manager makes one)"
type IngressTLSSpec struct {
	// secretName of a kubernetes.io/tls Secret. With issuer, the Secret cert-manager
	// writes; default <gallery>-tls.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	SecretName string `json:"secretName,omitempty"`

	// issuer is a cert-manager Issuer or ClusterIssuer that issues the certificate.
	// +optional
	Issuer *IssuerRef `json:"issuer,omitempty"`
}

// IssuerRef names a cert-manager issuer.
type IssuerRef struct {
	// name of the issuer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// kind is Issuer (namespaced) or ClusterIssuer. Default ClusterIssuer.
	// +optional
	// +kubebuilder:default=ClusterIssuer
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	Kind string `json:"kind,omitempty"`
}

// AuthSpec configures sign-in.
//
// +kubebuilder:validation:XValidation:rule="!has(self.rememberMeLifetime) || !has(self.tokenLifetime) || duration(self.rememberMeLifetime) >= duration(self.tokenLifetime)",fieldPath=".rememberMeLifetime",message="spec.auth.rememberMeLifetime must be at least spec.auth.tokenLifetime"
type AuthSpec struct {
	// jwtSecretRef is the key of a Secret holding the session key (at least 32 bytes):
	// the gallery stores its session tokens as HMAC-SHA256 under it, never the tokens
	// themselves. (The name is from when tokens were JWTs.) Absent: the operator
	// generates one, once, and keeps it.
	// +optional
	JWTSecretRef *SecretKeyRef `json:"jwtSecretRef,omitempty"`

	// tokenLifetime is how long a sign-in lasts unused: each use renews it, up to
	// sessionMaxLifetime. Default 24h.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5m') && duration(self) <= duration('8760h')",message="spec.auth.tokenLifetime must be a duration between 5m and 8760h"
	TokenLifetime metav1.Duration `json:"tokenLifetime,omitzero"`

	// rememberMeLifetime is how long a "remember me" sign-in lasts unused; each use
	// renews it, up to sessionMaxLifetime. Default 720h (30 days).
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5m') && duration(self) <= duration('8760h')",message="spec.auth.rememberMeLifetime must be a duration between 5m and 8760h"
	RememberMeLifetime metav1.Duration `json:"rememberMeLifetime,omitzero"`

	// sessionMaxLifetime ends every session this long after its sign-in, however much
	// it is used (the absolute session lifetime): the user then signs in again. It caps
	// tokenLifetime and rememberMeLifetime, which may be longer. Sign-out, "sign out
	// everywhere" and a password change end sessions sooner. Default 720h (30 days,
	// OWASP ASVS L1); ASVS L2 asks for 12h (docs/security.md).
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('8760h')",message="spec.auth.sessionMaxLifetime must be a duration between 1h and 8760h"
	SessionMaxLifetime metav1.Duration `json:"sessionMaxLifetime,omitzero"`

	// allowSignUp lets anyone create an account. Default true.
	// +optional
	// +kubebuilder:default=true
	AllowSignUp *bool `json:"allowSignUp,omitempty"`

	// admins are e-mail addresses granted the admin role. With oidc, a person gets it by
	// signing in through the provider with that address verified, and loses it when the
	// address leaves this list (at their next sign-in). Without oidc, a first-run
	// bootstrap: a listed address signing up with a password gets it only while the
	// gallery has no admin.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=254
	Admins []string `json:"admins,omitempty"`

	// signInsPerSecond caps sign-in and sign-up attempts per second across the Gallery,
	// unknown emails included: each costs a bcrypt hash (about 50 ms of a core), so the
	// cap keeps a flood from taking the servers' CPU. Browsers that signed in to the
	// account before have a cap of the same size of their own. Default 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	SignInsPerSecond int32 `json:"signInsPerSecond,omitempty"`

	// sharing decides whether users may share images and albums by link. Default:
	// enabled, and links live until revoked.
	// +optional
	// +kubebuilder:default={}
	Sharing SharingSpec `json:"sharing,omitzero"`

	// oidc turns on single sign-on through an OpenID Connect provider (Keycloak, Entra
	// ID, Google, Dex...): the authorization code flow with PKCE. Accounts are linked to
	// the provider's identity (issuer and subject); the admin role then comes only from
	// a verified identity: the provider's admin claim, or an address of admins that the
	// person proved by signing in with the provider saying email_verified. It is decided
	// again at every sign-in. Without oidc, admins is a first-run bootstrap: a listed
	// address signing up with a password gets the role only while there is no admin.
	// Absent: password sign-in only.
	// +optional
	OIDC *OIDCSpec `json:"oidc,omitempty"`

	// quota is every user's default storage quota: the bytes of their photos as
	// uploaded, and how many photos. An admin may override it per user in the admin
	// view. An upload past it is refused (507, or 413 for one photo larger than the
	// whole storage quota). Absent: unlimited.
	// +optional
	Quota *QuotaSpec `json:"quota,omitempty"`
}

// OIDCSpec is single sign-on through an OpenID Connect provider. Register the gallery
// at the provider as a confidential client with the redirect URI
// https://<host>/api/auth/oidc/callback.
type OIDCSpec struct {
	// issuer is the provider's issuer URL (https), where
	// /.well-known/openid-configuration is found.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="isURL(self) && self.startsWith('https://') && url(self).getHostname() != ''",message="spec.auth.oidc.issuer must be an https URL"
	Issuer string `json:"issuer"`

	// clientID is the gallery's client id at the provider.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	ClientID string `json:"clientID"`

	// clientSecretRef is the key of a Secret holding the client secret. The pods read
	// it from the Secret; it never appears in the ConfigMap, status, events or logs.
	// +required
	ClientSecretRef SecretKeyRef `json:"clientSecretRef"`

	// scopes are asked for at sign-in; they must include openid. Add the scope that
	// carries the admin claim if the provider needs one (e.g. groups). Default openid,
	// email, profile.
	// +optional
	// +listType=set
	// +kubebuilder:default={"openid","email","profile"}
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[^\s,"\\]+$`
	// +kubebuilder:validation:XValidation:rule="self.exists(s, s == 'openid')",message="spec.auth.oidc.scopes must include openid"
	Scopes []string `json:"scopes,omitempty"`

	// claims name the ID token claims the gallery reads. Default: email and name.
	// +optional
	// +kubebuilder:default={}
	Claims OIDCClaimsSpec `json:"claims,omitzero"`

	// createAccounts creates an account at a person's first sign-in. false admits only
	// people who already have an account with the email the provider verified. Default
	// true.
	// +optional
	// +kubebuilder:default=true
	CreateAccounts *bool `json:"createAccounts,omitempty"`

	// localPasswords keeps password sign-in and sign-up beside single sign-on. false
	// turns them off: everyone signs in through the provider. Default true.
	// +optional
	// +kubebuilder:default=true
	LocalPasswords *bool `json:"localPasswords,omitempty"`

	// providerName names the provider on the sign-in button ("Sign in with
	// <providerName>"). Absent: "single sign-on".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ProviderName string `json:"providerName,omitempty"`

	// redirectURL is the callback URL registered at the provider,
	// https://<host>/api/auth/oidc/callback. Absent: made from the host each request
	// came to.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && self.startsWith('https://') && self.endsWith('/api/auth/oidc/callback')",message="spec.auth.oidc.redirectURL must be an https URL ending in /api/auth/oidc/callback"
	RedirectURL string `json:"redirectURL,omitempty"`
}

// OIDCClaimsSpec names the ID token claims the gallery reads.
type OIDCClaimsSpec struct {
	// email is the claim holding the email address. It names an account only when the
	// provider says email_verified true. Default "email".
	// +optional
	// +kubebuilder:default="email"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Email string `json:"email,omitempty"`

	// name is the claim holding the display name. Default "name".
	// +optional
	// +kubebuilder:default="name"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`

	// admin grants the admin role to people whose claim holds one of the values (e.g.
	// groups containing gallery-admins). Absent: only the addresses in
	// spec.auth.admins, verified by the provider, are admins.
	// +optional
	Admin *OIDCAdminClaimSpec `json:"admin,omitempty"`

	// quota is the claim holding a person's storage quota: a byte count or a quantity
	// such as "10Gi". Absent: the gallery's default quota.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Quota string `json:"quota,omitempty"`
}

// OIDCAdminClaimSpec is the claim and values that grant the admin role.
type OIDCAdminClaimSpec struct {
	// claim is the claim's name: a string or a list of strings, such as groups or roles,
	// or a boolean (then values: ["true"]).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Claim string `json:"claim"`

	// values grant the admin role when the claim is, or contains, one of them.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.all(v, !v.contains(','))",message="spec.auth.oidc.claims.admin.values must not contain commas"
	Values []string `json:"values"`
}

// QuotaSpec is a per-user storage quota. An absent field is unlimited.
//
// +kubebuilder:validation:XValidation:rule="has(self.storage) || has(self.photos)",message="spec.auth.quota must set storage, photos or both (leave spec.auth.quota out for unlimited)"
type QuotaSpec struct {
	// storage is how many bytes of photos (the originals as uploaded) each user may
	// store, such as 10Gi. Absent: unlimited.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(self).compareTo(quantity('1Mi')) >= 0 && quantity(self).compareTo(quantity('1Pi')) <= 0",message="spec.auth.quota.storage must be between 1Mi and 1Pi"
	Storage *resource.Quantity `json:"storage,omitempty"`

	// photos is how many photos each user may store. Absent: unlimited.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	Photos *int64 `json:"photos,omitempty"`
}

// SharingSpec configures share links for images and albums.
type SharingSpec struct {
	// enabled lets users create share links for images and albums. false refuses new
	// links and stops serving existing ones. Default true.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// maxLinkLifetime caps a share link's lifetime: a link asked for without an expiry,
	// or with a longer one, expires after it. Absent: links live until revoked.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="spec.auth.sharing.maxLinkLifetime must be a positive duration such as 720h; remove it to let links live until revoked"
	MaxLinkLifetime *metav1.Duration `json:"maxLinkLifetime,omitempty"`

	// stripLocation keeps where a photo was taken from whoever opens a share link: every
	// picture a link serves (original, display image, thumbnail) carries no metadata at
	// all (no EXIF GPS, XMP or IPTC location), its original being a copy re-encoded
	// upright. false serves originals byte for byte. The owner's own downloads and data
	// export keep their metadata either way. Default true.
	// +optional
	// +kubebuilder:default=true
	StripLocation *bool `json:"stripLocation,omitempty"`
}

// WhenUnsatisfiable is what the scheduler does when zone spread cannot be met.
//
// +kubebuilder:validation:Enum=ScheduleAnyway;DoNotSchedule
type WhenUnsatisfiable string

// LabelValue is a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.',
// starting and ending with a letter or digit, or empty.
//
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`
type LabelValue string

// PlacementSpec says where pods run and how they survive disruption.
type PlacementSpec struct {
	// nodeSelector applies to every pod of the Gallery.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="spec.placement.nodeSelector: every key must be a label key (an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit), e.g. kubernetes.io/arch"
	NodeSelector map[string]LabelValue `json:"nodeSelector,omitempty"`

	// tolerations apply to every pod of the Gallery.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []Toleration `json:"tolerations,omitempty"`

	// affinity applies to every pod of the Gallery.
	// +optional
	Affinity *Affinity `json:"affinity,omitempty"`

	// zoneSpread spreads server and worker pods across topology.kubernetes.io/zone.
	// +optional
	// +kubebuilder:default={}
	ZoneSpread ZoneSpreadSpec `json:"zoneSpread,omitzero"`

	// podDisruptionBudget keeps pods serving through node drains.
	// +optional
	// +kubebuilder:default={}
	PodDisruptionBudget PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitzero"`

	// priorityClassName of every pod of the Gallery.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// serviceAccountAnnotations go on the server's and workers' ServiceAccounts, e.g.
	// eks.amazonaws.com/role-arn for IRSA.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	ServiceAccountAnnotations map[string]string `json:"serviceAccountAnnotations,omitempty"`
}

// ZoneSpreadSpec is a topology spread constraint over zones.
type ZoneSpreadSpec struct {
	// enabled spreads pods over zones. Default true.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// maxSkew is the largest difference in pods between two zones. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxSkew int32 `json:"maxSkew,omitempty"`

	// whenUnsatisfiable is ScheduleAnyway (prefer) or DoNotSchedule (require). Default
	// ScheduleAnyway.
	// +optional
	// +kubebuilder:default=ScheduleAnyway
	WhenUnsatisfiable WhenUnsatisfiable `json:"whenUnsatisfiable,omitempty"`
}

// PodDisruptionBudgetSpec configures the server's and workers' PDBs.
type PodDisruptionBudgetSpec struct {
	// enabled creates PDBs. Default true.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// maxUnavailable pods of each Deployment during a voluntary disruption. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^[1-9][0-9]?%$|^100%$')",message="spec.placement.podDisruptionBudget.maxUnavailable must be at least 1 or a percentage from 1% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// MonitoringSpec is how the Gallery is watched.
type MonitoringSpec struct {
	// metricsPort is the port the server and workers serve /metrics on. It is a port of
	// its own, which no Service of the Gallery exposes, so the metrics are never public on
	// the gallery's host name. Must differ from spec.server.port. Default 9090.
	// +optional
	// +kubebuilder:default=9090
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	MetricsPort int32 `json:"metricsPort,omitempty"`

	// metricsFrom are the sources the NetworkPolicies let reach the metrics port, e.g.
	// the namespace Prometheus runs in. Empty: any source.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	MetricsFrom []networkingv1.NetworkPolicyPeer `json:"metricsFrom,omitempty"`

	// podMonitor has the operator make a Prometheus Operator PodMonitor that scrapes the
	// server and workers. Default: enabled when the PodMonitor kind is served.
	// +optional
	// +kubebuilder:default={}
	PodMonitor PodMonitorSpec `json:"podMonitor,omitzero"`

	// tracing sends OpenTelemetry traces of uploads and classification jobs to an OTLP
	// collector. Absent: no traces are recorded or sent.
	// +optional
	Tracing *TracingSpec `json:"tracing,omitempty"`
}

// PodMonitorSpec configures the PodMonitor of the server and workers.
type PodMonitorSpec struct {
	// enabled makes a monitoring.coreos.com/v1 PodMonitor named after the Gallery when
	// that kind is served (the operator looks once, at start-up: restart it after
	// installing the Prometheus Operator). false: none, and an existing one is deleted.
	// Default true.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// interval between scrapes, e.g. 30s or 1m. Default 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^[0-9]+(ms|s|m)$`
	Interval string `json:"interval,omitempty"`

	// labels are added to the PodMonitor, for the podMonitorSelector of the Prometheus
	// that should scrape it (e.g. release: prometheus). The operator's own labels
	// (app.kubernetes.io/*, sortographer.io/gallery) win over these.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Labels map[string]string `json:"labels,omitempty"`
}

// TracingSpec sends OpenTelemetry traces over OTLP.
type TracingSpec struct {
	// endpoint is the OTLP/HTTP base URL of the collector, e.g.
	// http://otel-collector.monitoring:4318 (OTEL_EXPORTER_OTLP_ENDPOINT). The
	// NetworkPolicies let the server and workers reach its port.
	// +required
	// +kubebuilder:validation:MinLength=8
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	Endpoint string `json:"endpoint"`

	// samplingPercent is the share of new traces recorded, 0 to 100; a request that
	// arrives with a sampled trace context is always recorded (parentbased_traceidratio).
	// Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SamplingPercent *int32 `json:"samplingPercent,omitempty"`
}

// GalleryPhase is a one-word summary of the Gallery.
//
// +kubebuilder:validation:Enum=Pending;Progressing;Ready;Degraded;Suspended;Failed
type GalleryPhase string

// Phases.
const (
	PhasePending     GalleryPhase = "Pending"
	PhaseProgressing GalleryPhase = "Progressing"
	PhaseReady       GalleryPhase = "Ready"
	PhaseDegraded    GalleryPhase = "Degraded"
	PhaseSuspended   GalleryPhase = "Suspended"
	PhaseFailed      GalleryPhase = "Failed"
)

// GalleryStatus is what the operator last observed.
type GalleryStatus struct {
	// observedGeneration is the spec generation the last successful pass applied.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, and ServerReady, WorkersReady, CacheReady, DatabaseReady,
	// StorageReady, IngressReady; MemoryPressure is True (reason OOMKilled) while a
	// container of the Gallery's pods was OOM-killed in the last 10 minutes; BackupReady
	// with spec.backup (reasons BackupSucceeded, FirstBackupPending, NoBackupYet,
	// BackupTooOld, BackupFailed, DrillFailed, MissingReference); Restored with spec.restoreFrom (RestoreRunning,
	// RestoreFailed, RestoreSucceeded); Upgraded (UpToDate, Migrating, RollingOut,
	// MigrationFailed).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// phase is a one-word summary.
	// +optional
	Phase GalleryPhase `json:"phase,omitempty"`

	// url where users reach the gallery (the first ingress host, or the Service's
	// in-cluster address).
	// +optional
	URL string `json:"url,omitempty"`

	// server replica counts.
	// +optional
	Server *ReplicaStatus `json:"server,omitempty"`

	// workers replica counts.
	// +optional
	Workers *ReplicaStatus `json:"workers,omitempty"`

	// queueBacklog is the number of classification jobs waiting or in a worker's hands,
	// as the operator's backlog scaler last read it (absent when it does not scale on
	// the backlog, or KEDA does).
	// +optional
	QueueBacklog *int64 `json:"queueBacklog,omitempty"`

	// backup is what the backup Jobs last reported (absent before the first one).
	// +optional
	Backup *BackupStatus `json:"backup,omitempty"`

	// restore is the progress of spec.restoreFrom's restore.
	// +optional
	Restore *RestoreStatus `json:"restore,omitempty"`

	// appVersion is the version of the gallery app the server runs: its image's tag, or
	// its digest when pinned by one.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`

	// images are the images the Gallery's pods run now (the pod templates applied).
	// +optional
	Images *ImagesStatus `json:"images,omitempty"`

	// upgrade is the app upgrade under way, or the last one that failed: the new
	// version's migrations run in a Job before its pods replace the old ones. Absent
	// when the server runs the image the Gallery asks for.
	// +optional
	Upgrade *UpgradeStatus `json:"upgrade,omitempty"`
}

// ImagesStatus names the images in use.
type ImagesStatus struct {
	// gallery is the server's image.
	// +optional
	Gallery string `json:"gallery,omitempty"`
	// workers is the workers' image (absent without workers).
	// +optional
	Workers string `json:"workers,omitempty"`
	// redis is the managed Redis image.
	// +optional
	Redis string `json:"redis,omitempty"`
	// database is the managed MariaDB image.
	// +optional
	Database string `json:"database,omitempty"`
}

// UpgradePhase is where an app upgrade is.
// +kubebuilder:validation:Enum=Migrating;RollingOut;Failed
type UpgradePhase string

// The phases of an app upgrade.
const (
	// UpgradeMigrating: the new image's migration Job runs; the old pods serve.
	UpgradeMigrating UpgradePhase = "Migrating"
	// UpgradeRollingOut: the schema is migrated and the Deployments roll.
	UpgradeRollingOut UpgradePhase = "RollingOut"
	// UpgradeFailed: the migration failed; the old pods keep serving, nothing rolls.
	UpgradeFailed UpgradePhase = "Failed"
)

// UpgradeStatus is an app upgrade: from the image the server runs to the one asked for.
type UpgradeStatus struct {
	// from is the image the server ran when the upgrade started.
	From string `json:"from"`
	// to is the image being rolled out.
	To string `json:"to"`
	// phase is Migrating, RollingOut or Failed.
	Phase UpgradePhase `json:"phase"`
	// job is the migration Job.
	// +optional
	Job string `json:"job,omitempty"`
	// message says what the migration did, or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// BackupStatus is what the backup and drill Jobs reported, read from their pods'
// termination messages.
type BackupStatus struct {
	// lastSuccessful is the newest backup that completed.
	// +optional
	LastSuccessful *BackupRecord `json:"lastSuccessful,omitempty"`

	// lastFailure is the newest backup Job that failed.
	// +optional
	LastFailure *BackupFailure `json:"lastFailure,omitempty"`

	// lastRequest is the value of the sortographer.io/backup-now annotation the
	// operator last started an on-demand backup for.
	// +optional
	LastRequest string `json:"lastRequest,omitempty"`

	// lastDrill is the newest restore drill's result.
	// +optional
	LastDrill *DrillRecord `json:"lastDrill,omitempty"`
}

// BackupRecord describes one complete backup.
type BackupRecord struct {
	// name of the backup (its folder), a UTC time such as 20261205T031500Z.
	Name string `json:"name"`
	// startedAt is when the backup began.
	StartedAt metav1.Time `json:"startedAt"`
	// completedAt is when it completed.
	CompletedAt metav1.Time `json:"completedAt"`
	// sizeBytes is the size of the backup's own files plus the photo bytes it copied.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// schemaVersion is the database schema version the backup holds.
	// +optional
	SchemaVersion int64 `json:"schemaVersion,omitempty"`
	// users in the backup.
	// +optional
	Users int64 `json:"users,omitempty"`
	// images in the backup.
	// +optional
	Images int64 `json:"images,omitempty"`
	// labels in the backup.
	// +optional
	Labels int64 `json:"labels,omitempty"`
	// albums in the backup.
	// +optional
	Albums int64 `json:"albums,omitempty"`
	// shares (share links) in the backup.
	// +optional
	Shares int64 `json:"shares,omitempty"`
	// photos says what the backup holds of the photo objects.
	// +optional
	Photos BackupPhotos `json:"photos,omitzero"`
}

// BackupPhotos counts the photo objects of a backup.
type BackupPhotos struct {
	// mode is copied (volume storage: the objects are in the backup), listed (S3
	// storage: keys and checksums only) or excluded (spec.backup.photos false).
	// +optional
	Mode string `json:"mode,omitempty"`
	// objects the backup holds or lists.
	// +optional
	Objects int64 `json:"objects,omitempty"`
	// copied of them by this backup (the rest were in an earlier one).
	// +optional
	Copied int64 `json:"copied,omitempty"`
}

// BackupFailure is a backup Job that failed.
type BackupFailure struct {
	// time the Job failed.
	Time metav1.Time `json:"time"`
	// job is the failed Job's name.
	Job string `json:"job"`
	// reason is the error the backup reported (or the Job's own reason when it left no
	// report, such as a deadline or an image that could not be pulled).
	Reason string `json:"reason"`
}

// DrillRecord is the result of one restore drill.
type DrillRecord struct {
	// time the drill finished.
	Time metav1.Time `json:"time"`
	// backup is the backup the drill restored.
	// +optional
	Backup string `json:"backup,omitempty"`
	// succeeded is whether the backup restored and verified.
	Succeeded bool `json:"succeeded"`
	// message says what was checked, or why the drill failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// RestorePhase is where a restore stands.
//
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type RestorePhase string

// Restore phases.
const (
	RestorePending   RestorePhase = "Pending"
	RestoreRunning   RestorePhase = "Running"
	RestoreSucceeded RestorePhase = "Succeeded"
	RestoreFailed    RestorePhase = "Failed"
)

// RestoreStatus is the progress of spec.restoreFrom's restore.
type RestoreStatus struct {
	// phase is Pending (waiting for the database), Running, Succeeded or Failed.
	Phase RestorePhase `json:"phase"`
	// backup is the name of the backup restored.
	// +optional
	Backup string `json:"backup,omitempty"`
	// completedAt is when the restore finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// message says what the restore did, or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
	// users restored.
	// +optional
	Users int64 `json:"users,omitempty"`
	// images restored.
	// +optional
	Images int64 `json:"images,omitempty"`
	// photosVerified is how many photos' checksums the restore checked.
	// +optional
	PhotosVerified int64 `json:"photosVerified,omitempty"`
}

// ReplicaStatus counts a Deployment's pods.
type ReplicaStatus struct {
	// replicas wanted now (by the spec, or by the HPA).
	Replicas int32 `json:"replicas"`
	// readyReplicas serving now.
	ReadyReplicas int32 `json:"readyReplicas"`
	// ready is readyReplicas/replicas, for printing.
	Ready string `json:"ready"`
}
