package specs

import (
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/backup/report"
	"github.com/sortographer/sortographer/internal/config"
)

// BackupDir is where a volume backup location is mounted in the backup Jobs' pods.
const BackupDir = "/backup"

// The commands of the gallery binary the backup Jobs run, as the LabelBackupOperation
// values.
const (
	OperationBackup  = report.OperationBackup
	OperationRestore = report.OperationRestore
	OperationDrill   = report.OperationDrill
)

// Limits of the backup Jobs. A Job that fails is tried twice more (a database that
// restarted, a throttled bucket); each try is a new pod (restartPolicy Never), so every
// try leaves its own report. The deadlines are generous: a first backup copies every
// photo, and a restore copies them back.
const (
	backupBackoffLimit = 2
	// BackupRequestTTL keeps a finished on-demand backup Job (and its pod's report) a day,
	// long after the operator read it into status.
	BackupRequestTTL            = 24 * time.Hour
	backupDeadline              = 6 * time.Hour
	restoreDeadline             = 12 * time.Hour
	backupStartingDeadline      = 30 * time.Minute
	backupSuccessfulJobsHistory = 3
	backupFailedJobsHistory     = 3
)

// BackupCronJob runs `sortographer backup` on spec.backup.schedule. Nil without
// spec.backup. Only one runs at a time (Forbid): a backup that overruns its interval
// delays the next instead of competing with it.
func BackupCronJob(g *galleryv1alpha1.Gallery) *batchv1.CronJob {
	b := g.Spec.Backup
	if b == nil {
		return nil
	}
	return cronJob(g, g.BackupName(), b.Schedule, b.TimeZone, backupJobTemplate(g))
}

// BackupJob is an on-demand backup: the backup CronJob's Job under its own name, removed
// a day after it finished. Nil without spec.backup.
func BackupJob(g *galleryv1alpha1.Gallery, name string) *batchv1.Job {
	if g.Spec.Backup == nil {
		return nil
	}
	t := backupJobTemplate(g)
	t.Spec.TTLSecondsAfterFinished = ptr.To(int32(BackupRequestTTL.Seconds()))
	return &batchv1.Job{
		TypeMeta:   typeMeta("batch/v1", "Job"),
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: g.Namespace, Labels: t.Labels},
		Spec:       t.Spec,
	}
}

// RestoreDrillCronJob runs `sortographer restore-drill` on spec.backup.drill.schedule:
// the newest backup restored into a scratch SQLite database in the pod's own emptyDir
// and checked. It reads only the backup location: no database credentials, no photo
// storage. Nil without a drill.
func RestoreDrillCronJob(g *galleryv1alpha1.Gallery) *batchv1.CronJob {
	b := g.Spec.Backup
	if b == nil || b.Drill == nil {
		return nil
	}
	env := backupLocationEnv(b.Destination, g.Name)
	pod := backupPod(g, OperationDrill, b.Destination, true, b.Resources, env)
	// The scratch database; the drill removes it when it is done.
	scratch := corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	pod.Spec.Volumes = append(pod.Spec.Volumes, scratch)
	c := &pod.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: scratch.Name, MountPath: DataDir})
	return cronJob(g, g.DrillName(), b.Drill.Schedule, b.Drill.TimeZone, jobTemplate(g, OperationDrill, pod, backupDeadline))
}

// RestoreJob runs `sortographer restore` once for spec.restoreFrom, before the server
// and workers exist: so no affinity to a server pod, even on a ReadWriteOnce volume. It
// has the server's resources. Nil without spec.restoreFrom. The command refuses a
// database that holds data from anything but this same backup, and repeats harmlessly
// for the same backup.
func RestoreJob(g *galleryv1alpha1.Gallery) *batchv1.Job {
	r := g.Spec.RestoreFrom
	if r == nil {
		return nil
	}
	env := backupLocationEnv(r.Source, g.RestoreFolder())
	if r.Backup != "" {
		env = append(env, corev1.EnvVar{Name: config.EnvRestoreBackup, Value: r.Backup})
	}
	if r.Before != nil {
		env = append(env, corev1.EnvVar{Name: config.EnvRestoreBefore, Value: r.Before.UTC().Format(time.RFC3339)})
	}
	verify := int32(100)
	if r.VerifyPhotosPercent != nil {
		verify = *r.VerifyPhotosPercent
	}
	env = append(env, corev1.EnvVar{Name: config.EnvRestoreVerifyPercent, Value: strconv.Itoa(int(verify))})
	pod := galleryDataPod(g, OperationRestore, r.Source, true, g.Spec.Server.Resources, env)
	t := jobTemplate(g, OperationRestore, pod, restoreDeadline)
	return &batchv1.Job{
		TypeMeta:   typeMeta("batch/v1", "Job"),
		ObjectMeta: metav1.ObjectMeta{Name: g.RestoreJobName(), Namespace: g.Namespace, Labels: t.Labels},
		Spec:       t.Spec,
	}
}

// backupJobTemplate is the Job of one backup, scheduled or on demand.
func backupJobTemplate(g *galleryv1alpha1.Gallery) batchv1.JobTemplateSpec {
	b := g.Spec.Backup
	env := backupLocationEnv(b.Destination, g.Name)
	if k := b.Retention.Keep; k != nil {
		env = append(env, corev1.EnvVar{Name: config.EnvBackupKeep, Value: strconv.Itoa(int(*k))})
	}
	if k := b.Retention.KeepFor; k != nil {
		env = append(env, corev1.EnvVar{Name: config.EnvBackupKeepFor, Value: k.Duration.String()})
	}
	env = append(env, corev1.EnvVar{Name: config.EnvBackupPhotos, Value: strconv.FormatBool(b.Photos == nil || *b.Photos)})
	pod := galleryDataPod(g, OperationBackup, b.Destination, false, b.Resources, env)
	if BackupNeedsServerNode(g) {
		// A ReadWriteOnce volume is usable only on the node that mounted it: the server's.
		pod.Spec.Affinity = withServerAffinity(g, pod.Spec.Affinity)
	}
	return jobTemplate(g, OperationBackup, pod, backupDeadline)
}

// BackupNeedsServerNode reports whether a backup must run on the server pod's node: its
// SQLite or photo volume is ReadWriteOnce.
func BackupNeedsServerNode(g *galleryv1alpha1.Gallery) bool {
	v := g.Spec.Storage.Volume
	return g.Embedded() || (v != nil && v.AccessMode == corev1.ReadWriteOnce)
}

// withServerAffinity adds a required affinity to the server pods' node to the
// placement's own affinity (copied, never changed).
func withServerAffinity(g *galleryv1alpha1.Gallery, a *corev1.Affinity) *corev1.Affinity {
	out := &corev1.Affinity{}
	if a != nil {
		out = a.DeepCopy()
	}
	if out.PodAffinity == nil {
		out.PodAffinity = &corev1.PodAffinity{}
	}
	out.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(out.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
		corev1.PodAffinityTerm{
			LabelSelector: &metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentServer)},
			TopologyKey:   corev1.LabelHostname,
		})
	return out
}

// galleryDataPod is a backup pod that reads or writes the gallery's own data: the
// ConfigMap and every Secret the workers read (database, S3 credentials), the photo and
// SQLite volumes at the server's paths, and the CA bundles.
func galleryDataPod(g *galleryv1alpha1.Gallery, operation string, loc galleryv1alpha1.BackupLocation, readOnly bool,
	resources corev1.ResourceRequirements, env []corev1.EnvVar) corev1.PodTemplateSpec {
	pod := backupPod(g, operation, loc, readOnly, resources, append(envFromSecrets(SecretEnv(g)), env...))
	c := &pod.Spec.Containers[0]
	if g.Spec.Storage.Volume != nil {
		pod.Spec.Volumes = append(pod.Spec.Volumes, pvcVolume("photos", g.PhotosClaimName()))
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "photos", MountPath: PhotosDir})
	}
	if g.Embedded() {
		pod.Spec.Volumes = append(pod.Spec.Volumes, pvcVolume("sqlite", g.SQLiteClaimName()))
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "sqlite", MountPath: SQLiteDir})
	}
	for _, s := range SecretFiles(g) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: s.Volume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: s.Secret, Items: []corev1.KeyToPath{{Key: s.Key, Path: s.Key}}, DefaultMode: ptr.To[int32](0o440),
		}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: s.Volume, MountPath: s.Dir, ReadOnly: true})
	}
	return pod
}

// backupPod is the pod every backup Job runs: the gallery image with args operation,
// non-root on a read-only root, /tmp an emptyDir, the backup location mounted (volume)
// or named (S3), and the report written to the termination message, where the operator
// reads it. It uses the server's ServiceAccount (its IRSA role reaches the photo
// bucket) without an API token: the Job calls no Kubernetes API.
func backupPod(g *galleryv1alpha1.Gallery, operation string, loc galleryv1alpha1.BackupLocation, readOnly bool,
	resources corev1.ResourceRequirements, env []corev1.EnvVar) corev1.PodTemplateSpec {
	tmp, tmpMount := TmpVolume()
	volumes := []corev1.Volume{tmp}
	mounts := []corev1.VolumeMount{tmpMount}
	if v := loc.Volume; v != nil {
		volumes = append(volumes, corev1.Volume{Name: "backup", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.ClaimName, ReadOnly: readOnly},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: "backup", MountPath: BackupDir, SubPath: v.SubPath, ReadOnly: readOnly})
	}
	env = append(env, corev1.EnvVar{Name: config.EnvBackupReportPath, Value: corev1.TerminationMessagePathDefault})
	env = append(env, goMemLimitEnv(resources)...)
	labels := backupLabels(g, operation)
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			ServiceAccountName:           g.ServerName(),
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              PodSecurityContext(GalleryUID),
			EnableServiceLinks:           ptr.To(false),
			Containers: []corev1.Container{{
				Name:                     galleryv1alpha1.ComponentBackup,
				Image:                    g.Spec.Server.Image,
				ImagePullPolicy:          g.Spec.Server.ImagePullPolicy,
				Args:                     []string{operation},
				EnvFrom:                  []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: g.ConfigMapName()}}}},
				Env:                      env,
				Resources:                resources,
				VolumeMounts:             mounts,
				SecurityContext:          ContainerSecurityContext(),
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
			Volumes: volumes,
		},
	}
	ApplyPlacement(g, galleryv1alpha1.ComponentBackup, &pod.Spec)
	// One pod at a time: spreading it over zones means nothing.
	pod.Spec.TopologySpreadConstraints = nil
	return pod
}

// backupLabels are the labels of a backup Job and its pods: the component's, and the
// command they run.
func backupLabels(g *galleryv1alpha1.Gallery, operation string) map[string]string {
	l := g.ChildLabels(galleryv1alpha1.ComponentBackup)
	l[galleryv1alpha1.LabelBackupOperation] = operation
	return l
}

// backupLocationEnv names the backup location and folder to the gallery binary. S3
// credentials come from the Secret by reference, never as values.
func backupLocationEnv(loc galleryv1alpha1.BackupLocation, folder string) []corev1.EnvVar {
	env := []corev1.EnvVar{{Name: config.EnvBackupGallery, Value: folder}}
	if loc.Volume != nil {
		return append(env, corev1.EnvVar{Name: config.EnvBackupPath, Value: BackupDir})
	}
	s3 := loc.S3
	if s3 == nil {
		return env
	}
	env = append(env, corev1.EnvVar{Name: config.EnvBackupS3Bucket, Value: s3.Bucket})
	for _, kv := range []struct{ name, value string }{
		{config.EnvBackupS3Region, s3.Region}, {config.EnvBackupS3Prefix, s3.Prefix}, {config.EnvBackupS3Endpoint, s3.Endpoint},
	} {
		if kv.value != "" {
			env = append(env, corev1.EnvVar{Name: kv.name, Value: kv.value})
		}
	}
	env = append(env, corev1.EnvVar{Name: config.EnvBackupS3ForcePathStyle, Value: strconv.FormatBool(s3.ForcePathStyle)})
	if s3.CredentialsSecret != "" {
		env = append(env, envFromSecrets(BackupCredentialRefs(loc))...)
	}
	return env
}

// BackupCredentialRefs are the Secret keys a backup location's pods read: the S3
// credentials, when a Secret is named.
func BackupCredentialRefs(loc galleryv1alpha1.BackupLocation) []SecretRef {
	s3 := loc.S3
	if s3 == nil || s3.CredentialsSecret == "" {
		return nil
	}
	return []SecretRef{
		{config.EnvBackupS3AccessKeyID, s3.CredentialsSecret, "accessKeyId"},
		{config.EnvBackupS3SecretAccessKey, s3.CredentialsSecret, "secretAccessKey"},
	}
}

// jobTemplate wraps a backup pod in a Job that retries twice and gives up after deadline.
func jobTemplate(g *galleryv1alpha1.Gallery, operation string, pod corev1.PodTemplateSpec, deadline time.Duration) batchv1.JobTemplateSpec {
	return batchv1.JobTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: backupLabels(g, operation)},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](backupBackoffLimit),
			ActiveDeadlineSeconds: ptr.To(int64(deadline.Seconds())),
			Template:              pod,
		},
	}
}

func cronJob(g *galleryv1alpha1.Gallery, name, schedule, timeZone string, job batchv1.JobTemplateSpec) *batchv1.CronJob {
	c := &batchv1.CronJob{
		TypeMeta:   typeMeta("batch/v1", "CronJob"),
		ObjectMeta: ObjectMeta(g, name, galleryv1alpha1.ComponentBackup),
		Spec: batchv1.CronJobSpec{
			Schedule:                   schedule,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr.To(int64(backupStartingDeadline.Seconds())),
			SuccessfulJobsHistoryLimit: ptr.To[int32](backupSuccessfulJobsHistory),
			FailedJobsHistoryLimit:     ptr.To[int32](backupFailedJobsHistory),
			Suspend:                    ptr.To(g.Spec.Backup.Suspend),
			JobTemplate:                job,
		},
	}
	if timeZone != "" {
		c.Spec.TimeZone = ptr.To(timeZone)
	}
	return c
}
