package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
)

// Components of a Gallery, as in the app.kubernetes.io/component label.
const (
	ComponentServer   = "server"
	ComponentWorkers  = "workers"
	ComponentRedis    = "redis"
	ComponentDatabase = "database"
	// ComponentBackup is the pods of backup, restore and restore-drill Jobs.
	ComponentBackup = "backup"
	// ComponentMigrate is the pod of an upgrade's migration Job.
	ComponentMigrate = "migrate"
)

// Well-known labels on every child object.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPartOf    = "app.kubernetes.io/part-of"
	// LabelGallery marks every child (and the operator's label-filtered cache) with the
	// Gallery's name.
	LabelGallery = "sortographer.io/gallery"
	// LabelBackupOperation on backup Jobs and their pods says which command they run:
	// backup, restore or restore-drill.
	LabelBackupOperation = "sortographer.io/backup-operation"

	// ManagedBy is the value of app.kubernetes.io/managed-by.
	ManagedBy = "sortographer-operator"
	// AppName is the value of app.kubernetes.io/name.
	AppName = "sortographer"
	// OperatorName is app.kubernetes.io/name on the operator's own pods; the managed
	// Redis admits them so the backlog scaler can read the queue length.
	OperatorName = "sortographer-operator"
)

// AnnotationBackupNow asks for an on-demand backup: whenever its value differs from
// status.backup.lastRequest, the operator starts one Job <gallery>-backup-<hash of the
// value> from the backup CronJob's template and records the value. An annotation, not a
// GalleryBackup resource: no extra CRD or RBAC to install, `kubectl annotate gallery
// photos sortographer.io/backup-now=$(date +%s)` is the whole command, and a GitOps tool
// asks for a backup by changing the value in the manifest.
const AnnotationBackupNow = "sortographer.io/backup-now"

// ServerName names the server's Deployment, Service, ServiceAccount, HPA and PDB.
func (g *Gallery) ServerName() string { return g.Name + "-server" }

// WorkersName names the workers' Deployment, ServiceAccount, HPA and PDB.
func (g *Gallery) WorkersName() string { return g.Name + "-workers" }

// RedisName names the managed Redis StatefulSet and Service.
func (g *Gallery) RedisName() string { return g.Name + "-redis" }

// DatabaseName names the managed MariaDB StatefulSet and Service.
func (g *Gallery) DatabaseName() string { return g.Name + "-mariadb" }

// ConfigMapName names the app's configuration ConfigMap.
func (g *Gallery) ConfigMapName() string { return g.Name + "-config" }

// GeneratedSecretName names the Secret holding what the operator generates (JWT key,
// Redis password, database passwords).
func (g *Gallery) GeneratedSecretName() string { return g.Name + "-generated" }

// DatabaseSecretName names the Secret holding the managed MariaDB's passwords. It has
// no owner: like the database's volume, it outlives the Gallery, so a Gallery created
// again under the same name opens the same data.
func (g *Gallery) DatabaseSecretName() string { return g.Name + "-database" }

// PhotosClaimName names the PVC of volume storage.
func (g *Gallery) PhotosClaimName() string { return g.Name + "-photos" }

// SQLiteClaimName names the PVC of the embedded database.
func (g *Gallery) SQLiteClaimName() string { return g.Name + "-sqlite" }

// IngressName names the Ingress.
func (g *Gallery) IngressName() string { return g.Name }

// PodMonitorName names the PodMonitor of the server and workers.
func (g *Gallery) PodMonitorName() string { return g.Name }

// PodMonitorEnabled reports whether the spec asks for a PodMonitor (made only where the
// kind is served).
func (g *Gallery) PodMonitorEnabled() bool {
	e := g.Spec.Monitoring.PodMonitor.Enabled
	return e == nil || *e
}

// MetricsPort is the port server and workers serve /metrics on: spec.monitoring.metricsPort,
// else 9090.
func (g *Gallery) MetricsPort() int32 {
	if p := g.Spec.Monitoring.MetricsPort; p != 0 {
		return p
	}
	return DefaultMetricsPort
}

// DefaultMetricsPort is spec.monitoring.metricsPort's default.
const DefaultMetricsPort = 9090

// TLSSecretName is the certificate Secret of the Ingress.
func (g *Gallery) TLSSecretName() string {
	if g.Spec.Ingress != nil && g.Spec.Ingress.TLS != nil && g.Spec.Ingress.TLS.SecretName != "" {
		return g.Spec.Ingress.TLS.SecretName
	}
	return g.Name + "-tls"
}

// ChildLabels are the labels of every child object of one component.
func (g *Gallery) ChildLabels(component string) map[string]string {
	return map[string]string{
		LabelName:      AppName,
		LabelInstance:  g.Name,
		LabelComponent: component,
		LabelManagedBy: ManagedBy,
		LabelPartOf:    AppName,
		LabelGallery:   g.Name,
	}
}

// SelectorLabels select one component's pods. They never change, because a Deployment's
// selector is immutable.
func (g *Gallery) SelectorLabels(component string) map[string]string {
	return map[string]string{
		LabelName:      AppName,
		LabelInstance:  g.Name,
		LabelComponent: component,
	}
}

// Embedded reports whether the database is SQLite inside the single server pod.
func (g *Gallery) Embedded() bool { return g.Spec.Database.Embedded != nil }

// ServerReplicas is the server's fixed replica count: spec.server.replicas, else 2, or
// 1 with an embedded database.
func (g *Gallery) ServerReplicas() int32 {
	if g.Spec.Server.Replicas != nil {
		return *g.Spec.Server.Replicas
	}
	if g.Embedded() {
		return 1
	}
	return 2
}

// WorkerReplicas is the workers' fixed replica count: spec.workers.replicas, else 1, or
// 0 with an embedded database.
func (g *Gallery) WorkerReplicas() int32 {
	if g.Embedded() {
		return 0
	}
	if g.Spec.Workers.Replicas != nil {
		return *g.Spec.Workers.Replicas
	}
	return 1
}

// RunsWorkers reports whether the Gallery has a worker Deployment (not with an embedded
// database, where the server classifies in-process).
func (g *Gallery) RunsWorkers() bool { return !g.Embedded() }

// ServerAutoscaled reports whether an HPA owns the server's replica count.
func (g *Gallery) ServerAutoscaled() bool {
	return g.Spec.Autoscaling != nil && g.Spec.Autoscaling.Server != nil
}

// WorkersAutoscaled reports whether an autoscaler owns the workers' replica count.
func (g *Gallery) WorkersAutoscaled() bool {
	return g.RunsWorkers() && g.Spec.Autoscaling != nil && g.Spec.Autoscaling.Workers != nil
}

// WorkersImage is the workers' image: spec.workers.image, else the server's.
func (g *Gallery) WorkersImage() string {
	if g.Spec.Workers.Image != "" {
		return g.Spec.Workers.Image
	}
	return g.Spec.Server.Image
}

// RedisImage is the managed Redis image: spec.cache.managed.image, once
// WithDefaultImages filled it.
func (g *Gallery) RedisImage() string {
	if m := g.Spec.Cache.Managed; m != nil {
		return m.Image
	}
	return ""
}

// MariaDBImage is the managed MariaDB image: spec.database.managed.image, once
// WithDefaultImages filled it.
func (g *Gallery) MariaDBImage() string {
	if m := g.Spec.Database.Managed; m != nil {
		return m.Image
	}
	return ""
}

// DatabasePort is the port of the database the app connects to.
func (g *Gallery) DatabasePort() int32 {
	if e := g.Spec.Database.External; e != nil {
		if e.Port != nil {
			return *e.Port
		}
		if e.Engine == DatabasePostgres {
			return 5432
		}
	}
	return 3306
}

// RedisPort is the port of the managed Redis.
const RedisPort = 6379

// ServicePort is the port of the server's Service (the Ingress backend).
const ServicePort = 80

// BackupName names the backup CronJob and the NetworkPolicy of the backup Jobs' pods.
func (g *Gallery) BackupName() string { return g.Name + "-backup" }

// DrillName names the restore-drill CronJob. CronJob names may have at most 52
// characters; a Gallery's at most 40.
func (g *Gallery) DrillName() string { return g.Name + "-drill" }

// RestoreJobName names the Job that restores spec.restoreFrom.
func (g *Gallery) RestoreJobName() string { return g.Name + "-restore" }

// BackupRequestJobName names the on-demand backup Job for one value of the
// sortographer.io/backup-now annotation: the same value always gives the same Job.
func (g *Gallery) BackupRequestJobName(value string) string {
	sum := sha256.Sum256([]byte(value))
	return g.BackupName() + "-" + hex.EncodeToString(sum[:4])
}

// RestoreFolder is the folder a restore reads: spec.restoreFrom.gallery, else the
// Gallery's own name.
func (g *Gallery) RestoreFolder() string {
	if r := g.Spec.RestoreFrom; r != nil && r.Gallery != "" {
		return r.Gallery
	}
	return g.Name
}

// Restoring reports whether spec.restoreFrom's restore has not succeeded yet: the
// server and workers wait for it.
func (g *Gallery) Restoring() bool {
	if g.Spec.RestoreFrom == nil {
		return false
	}
	return g.Status.Restore == nil || g.Status.Restore.Phase != RestoreSucceeded
}

// NodeSelectorLabels is spec.placement.nodeSelector as a pod's nodeSelector; nil when
// empty.
func (p PlacementSpec) NodeSelectorLabels() map[string]string {
	if len(p.NodeSelector) == 0 {
		return nil
	}
	out := make(map[string]string, len(p.NodeSelector))
	for k, v := range p.NodeSelector {
		out[k] = string(v)
	}
	return out
}

// ReadsText reports whether the workers read the words in photos:
// spec.workers.classifier.text.enabled, or when unset, whether the provider is builtin
// (offline; Rekognition's DetectText is billed per image).
func (g *Gallery) ReadsText() bool {
	c := g.Spec.Workers.Classifier
	if c.Text.Enabled != nil {
		return *c.Text.Enabled
	}
	return c.Provider != ClassifierRekognition
}
