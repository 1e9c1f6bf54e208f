package specs

import (
	"maps"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

// envOf is a container's environment: name to value, or to "secret:<name>/<key>" for a
// Secret reference.
func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom != nil:
			env[e.Name] = "ref"
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}

func mountOf(c corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func TestBackupCronJob(t *testing.T) {
	tests := []struct {
		name string
		g    *galleryv1alpha1.Gallery
		// env must hold these values exactly; absent must not be set.
		env    map[string]string
		absent []string
		// mounts are the paths that must be mounted, with their claim.
		claims        map[string]string
		serverNode    bool
		zone, suspend bool
	}{{
		name: "volume destination, managed database",
		g:    gallery(withBackupToVolume("gallery-backups", "prod")),
		env: map[string]string{
			config.EnvBackupPath: BackupDir, config.EnvBackupGallery: "demo", config.EnvBackupKeep: "7",
			config.EnvBackupPhotos: "true", config.EnvBackupReportPath: "/dev/termination-log",
			config.EnvDatabasePassword: "secret:demo-database/" + SecretKeyDatabasePassword,
		},
		absent: []string{config.EnvBackupS3Bucket, config.EnvBackupKeepFor, config.EnvBackupS3AccessKeyID},
		claims: map[string]string{BackupDir: "gallery-backups", PhotosDir: "demo-photos"},
	}, {
		name: "S3 destination with credentials by reference, retention by age, no photos",
		g: gallery(withBackupToS3("backups", "http://minio.storage:9000", "backup-creds"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Backup.Retention = galleryv1alpha1.BackupRetention{KeepFor: &metav1.Duration{Duration: 720 * time.Hour}}
			g.Spec.Backup.Photos = ptr.To(false)
			g.Spec.Backup.Suspend = true
			g.Spec.Backup.TimeZone = "Europe/London"
		}),
		env: map[string]string{
			config.EnvBackupS3Bucket: "backups", config.EnvBackupS3Region: "eu-west-1", config.EnvBackupS3Prefix: "backups/",
			config.EnvBackupS3Endpoint: "http://minio.storage:9000", config.EnvBackupS3ForcePathStyle: "true",
			config.EnvBackupS3AccessKeyID:     "secret:backup-creds/accessKeyId",
			config.EnvBackupS3SecretAccessKey: "secret:backup-creds/secretAccessKey",
			config.EnvBackupKeepFor:           "720h0m0s", config.EnvBackupPhotos: "false",
		},
		absent:  []string{config.EnvBackupPath, config.EnvBackupKeep},
		claims:  map[string]string{PhotosDir: "demo-photos"},
		zone:    true,
		suspend: true,
	}, {
		name: "embedded database: the SQLite volume, on the server's node",
		g:    gallery(withEmbeddedDatabase(), withBackupToVolume("gallery-backups", "")),
		env:  map[string]string{config.EnvBackupPath: BackupDir},
		claims: map[string]string{
			BackupDir: "gallery-backups", PhotosDir: "demo-photos", SQLiteDir: "demo-sqlite",
		},
		serverNode: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := BackupCronJob(tt.g)
			if cj.Name != "demo-backup" || cj.Spec.Schedule != "0 3 * * *" {
				t.Fatalf("cronjob %s on %q", cj.Name, cj.Spec.Schedule)
			}
			s := cj.Spec
			if s.ConcurrencyPolicy != batchv1.ForbidConcurrent || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 3 || s.StartingDeadlineSeconds == nil {
				t.Errorf("cronjob policy %+v", s)
			}
			if *s.Suspend != tt.suspend || (s.TimeZone != nil) != tt.zone {
				t.Errorf("suspend %v timeZone %v", *s.Suspend, s.TimeZone)
			}
			job := s.JobTemplate.Spec
			if *job.BackoffLimit != 2 || job.ActiveDeadlineSeconds == nil || job.TTLSecondsAfterFinished != nil {
				t.Errorf("job limits: backoff %d deadline %v ttl %v", *job.BackoffLimit, job.ActiveDeadlineSeconds, job.TTLSecondsAfterFinished)
			}
			pod := job.Template.Spec
			c := pod.Containers[0]
			if !slices.Equal(c.Args, []string{"backup"}) || c.Image != tt.g.Spec.Server.Image {
				t.Errorf("container runs %s %v", c.Image, c.Args)
			}
			if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || pod.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("termination message policy %q restart %q", c.TerminationMessagePolicy, pod.RestartPolicy)
			}
			sc := c.SecurityContext
			if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*pod.SecurityContext.RunAsNonRoot || *pod.AutomountServiceAccountToken {
				t.Errorf("not locked down: %+v %+v", sc, pod.SecurityContext)
			}
			if mountOf(c, "/tmp") == nil {
				t.Error("no /tmp")
			}
			env := envOf(c)
			for k, v := range tt.env {
				if env[k] != v {
					t.Errorf("env %s = %q, want %q", k, env[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := env[k]; ok {
					t.Errorf("env %s set: %q", k, env[k])
				}
			}
			for path, claim := range tt.claims {
				m := mountOf(c, path)
				if m == nil {
					t.Errorf("nothing mounted at %s", path)
					continue
				}
				for _, v := range pod.Volumes {
					if v.Name == m.Name && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claim) {
						t.Errorf("%s mounts %+v, want claim %s", path, v.VolumeSource, claim)
					}
				}
			}
			hasAffinity := pod.Affinity != nil && pod.Affinity.PodAffinity != nil && len(pod.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 1
			if hasAffinity != tt.serverNode {
				t.Errorf("server-node affinity %v, want %v", hasAffinity, tt.serverNode)
			}
			if hasAffinity {
				term := pod.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
				if term.TopologyKey != corev1.LabelHostname || term.LabelSelector.MatchLabels[galleryv1alpha1.LabelComponent] != galleryv1alpha1.ComponentServer {
					t.Errorf("affinity term %+v", term)
				}
			}
			if l := job.Template.Labels; l[galleryv1alpha1.LabelBackupOperation] != OperationBackup || l[galleryv1alpha1.LabelGallery] != "demo" {
				t.Errorf("pod labels %v", job.Template.Labels)
			}
		})
	}
	if BackupCronJob(gallery()) != nil || RestoreDrillCronJob(gallery(withBackupToVolume("b", ""))) != nil || RestoreJob(gallery()) != nil {
		t.Error("a builder made an object the spec does not ask for")
	}
}

func TestBackupJobIsTheCronJobsJob(t *testing.T) {
	g := gallery(withBackupToS3("backups", "", ""), withImagePullSecret("registry"))
	j := BackupJob(g, g.BackupRequestJobName("2026-12-05"))
	if len(j.Name) > 63 || j.Name[:len("demo-backup-")] != "demo-backup-" {
		t.Errorf("name %q", j.Name)
	}
	if j.Spec.TTLSecondsAfterFinished == nil || *j.Spec.TTLSecondsAfterFinished != int32(BackupRequestTTL.Seconds()) {
		t.Errorf("ttl %v", j.Spec.TTLSecondsAfterFinished)
	}
	want := BackupCronJob(g).Spec.JobTemplate.Spec.Template
	if !equality.Semantic.DeepEqual(j.Spec.Template, want) {
		t.Error("the on-demand Job's pod differs from the CronJob's")
	}
	if j.Spec.Template.Spec.ImagePullSecrets[0].Name != "registry" {
		t.Error("no image pull secret")
	}
	if first, again := g.BackupRequestJobName("a"), g.BackupRequestJobName("a"); first == g.BackupRequestJobName("b") || first != again {
		t.Error("request job names are not one per value")
	}
}

func TestRestoreDrillCronJob(t *testing.T) {
	g := gallery(withBackupToS3("backups", "", "backup-creds"), withDrill("0 5 * * 0", "UTC"))
	cj := RestoreDrillCronJob(g)
	if cj.Name != "demo-drill" || cj.Spec.Schedule != "0 5 * * 0" || *cj.Spec.TimeZone != "UTC" {
		t.Fatalf("drill cronjob %s %q", cj.Name, cj.Spec.Schedule)
	}
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	env := envOf(c)
	if c.Args[0] != "restore-drill" || env[config.EnvBackupS3AccessKeyID] != "secret:backup-creds/accessKeyId" {
		t.Errorf("args %v env %v", c.Args, env)
	}
	for _, k := range []string{config.EnvDatabasePassword, config.EnvJWTSecret} {
		if _, ok := env[k]; ok {
			t.Errorf("the drill reads %s; it needs no gallery secret", k)
		}
	}
	if mountOf(c, PhotosDir) != nil || mountOf(c, DataDir) == nil {
		t.Errorf("mounts %v: want a scratch data dir and no photos", c.VolumeMounts)
	}
}

func TestRestoreJob(t *testing.T) {
	g := gallery(withEmbeddedDatabase(), withRestoreFrom("old-photos", "20261205T031500Z"))
	j := RestoreJob(g)
	if j.Name != "demo-restore" || j.Spec.TTLSecondsAfterFinished != nil {
		t.Fatalf("restore job %s ttl %v", j.Name, j.Spec.TTLSecondsAfterFinished)
	}
	pod := j.Spec.Template.Spec
	c := pod.Containers[0]
	env := envOf(c)
	for k, v := range map[string]string{
		config.EnvBackupGallery: "old-photos", config.EnvRestoreBackup: "20261205T031500Z", config.EnvRestoreVerifyPercent: "10",
		config.EnvBackupS3Bucket: "old-backups", config.EnvBackupS3SecretAccessKey: "secret:backup-creds/secretAccessKey",
	} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env[config.EnvRestoreBefore]; ok {
		t.Error("before set without spec.restoreFrom.before")
	}
	if c.Args[0] != "restore" || mountOf(c, SQLiteDir) == nil {
		t.Errorf("args %v mounts %v", c.Args, c.VolumeMounts)
	}
	if pod.Affinity != nil && pod.Affinity.PodAffinity != nil {
		t.Error("the restore waits for a server pod that is not started before it succeeds")
	}

	before := metav1.NewTime(time.Date(2026, 12, 5, 4, 0, 0, 0, time.FixedZone("CET", 3600)))
	g = gallery(withRestoreFrom("", ""), func(g *galleryv1alpha1.Gallery) { g.Spec.RestoreFrom.Before = &before })
	env = envOf(RestoreJob(g).Spec.Template.Spec.Containers[0])
	if env[config.EnvRestoreBefore] != "2026-12-05T03:00:00Z" || env[config.EnvBackupGallery] != "demo" {
		t.Errorf("before %q folder %q", env[config.EnvRestoreBefore], env[config.EnvBackupGallery])
	}
}

func TestBackupPodsNetworkPolicy(t *testing.T) {
	tests := []struct {
		name        string
		g           *galleryv1alpha1.Gallery
		toAnywhere  []int32
		podIdentity bool
	}{
		{"volume location: only what the app reaches", gallery(withBackupToVolume("backups", "")), nil, false},
		{"S3-compatible location: its port", gallery(withBackupToS3("backups", "http://minio.storage:9000", "creds")), []int32{9000}, false},
		{"AWS location: HTTPS and the Pod Identity agent", gallery(withBackupToS3("backups", "", "")), []int32{443}, true},
		{"photos and backups on AWS: opened once", gallery(withS3(), withBackupToS3("backups", "", ""), withRestoreFrom("old", "")), []int32{443}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			byName := map[string]*networkingv1.NetworkPolicy{}
			for _, p := range NetworkPolicies(tt.g, ScaleWorkersFixed) {
				byName[p.Name] = p
			}
			p, ok := byName["demo-backup"]
			if !ok {
				t.Fatalf("no backup policy among %v", slices.Collect(maps.Keys(byName)))
			}
			assertSelectsComponent(t, p, tt.g, galleryv1alpha1.ComponentBackup)
			if len(p.Spec.Ingress) != 0 {
				t.Errorf("backup pods admit %+v; they serve nothing", p.Spec.Ingress)
			}
			assertEgress(t, p, tt.g, map[string]int32{galleryv1alpha1.ComponentRedis: 6379, galleryv1alpha1.ComponentDatabase: 3306}, tt.toAnywhere, tt.podIdentity)
			var from []string
			for _, peer := range byName["demo-mariadb"].Spec.Ingress[0].From {
				from = append(from, componentOf(t, tt.g, peer.PodSelector.MatchLabels))
			}
			if !slices.Contains(from, galleryv1alpha1.ComponentBackup) {
				t.Errorf("MariaDB admits %v, not the backup pods", from)
			}
		})
	}
	if p := NetworkPolicies(gallery(), ScaleWorkersFixed); slices.ContainsFunc(p, func(p *networkingv1.NetworkPolicy) bool { return p.Name == "demo-backup" }) {
		t.Error("a backup policy without spec.backup")
	}
}
