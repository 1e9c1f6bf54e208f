package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/backup/report"
	"github.com/sortographer/sortographer/internal/config"
)

func withBackupToVolume(claim string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Backup = &galleryv1alpha1.BackupSpec{
			Schedule:    "0 3 * * *",
			Destination: galleryv1alpha1.BackupLocation{Volume: &galleryv1alpha1.BackupVolumeLocation{ClaimName: claim}},
		}
	}
}

func withBackupToS3(bucket, secret string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Backup = &galleryv1alpha1.BackupSpec{
			Schedule: "@hourly",
			Destination: galleryv1alpha1.BackupLocation{S3: &galleryv1alpha1.BackupS3Location{
				Bucket: bucket, Endpoint: "http://versitygw.storage:7070", ForcePathStyle: true, CredentialsSecret: secret,
			}},
			Retention: galleryv1alpha1.BackupRetention{Keep: ptr.To[int32](3), KeepFor: &metav1.Duration{Duration: 168 * time.Hour}},
		}
	}
}

// backupClaim makes the admin's backup claim the volume destination names.
func backupClaim(t *testing.T, ns, name string) {
	t.Helper()
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func envValue(c corev1.Container, name string) (*corev1.EnvVar, bool) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i], true
		}
	}
	return nil, false
}

func backupCronJob(t *testing.T, g *galleryv1alpha1.Gallery) *batchv1.CronJob {
	t.Helper()
	cj := &batchv1.CronJob{}
	eventually(t, "backup cronjob", mustExist(g.Namespace, g.BackupName(), cj))
	return cj
}

func TestBackupCronJobToAVolume(t *testing.T) {
	ns := newNamespace(t)
	backupClaim(t, ns, "gallery-backups")
	g := newGallery(t, ns, withBackupToVolume("gallery-backups"))
	cj := backupCronJob(t, g)
	if !metav1IsControlledBy(cj, mustGet(t, g)) {
		t.Errorf("the CronJob is not the Gallery's: %v", cj.OwnerReferences)
	}
	if cj.Spec.Schedule != "0 3 * * *" || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || ptr.Deref(cj.Spec.Suspend, true) {
		t.Errorf("cronjob spec %+v", cj.Spec)
	}
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	for name, want := range map[string]string{
		config.EnvBackupPath: "/backup", config.EnvBackupKeep: "7", config.EnvBackupPhotos: "true", config.EnvBackupGallery: g.Name,
	} {
		if e, ok := envValue(c, name); !ok || e.Value != want {
			t.Errorf("%s = %+v, want %q (the CRD's defaults passed through)", name, e, want)
		}
	}
	var claim string
	for _, v := range cj.Spec.JobTemplate.Spec.Template.Spec.Volumes {
		if v.Name == "backup" && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != "gallery-backups" {
		t.Errorf("backup volume claim %q", claim)
	}
	// The live Gallery carries the defaults; BackupReady waits for the first backup.
	eventually(t, "BackupReady pending", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionBackupReady)
		if c == nil || c.Status != metav1.ConditionUnknown || c.Reason != galleryv1alpha1.ReasonFirstBackupPending {
			return fmt.Errorf("BackupReady = %+v", c)
		}
		return nil
	})

	// Suspended: the CronJob follows. Removed: it goes, and so does the condition.
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Backup.Suspend = true })
	eventually(t, "suspended", func() error {
		cj, err := get(t, ns, g.BackupName(), &batchv1.CronJob{})
		if err != nil || !ptr.Deref(cj.Spec.Suspend, false) {
			return fmt.Errorf("not suspended: %w", err)
		}
		return nil
	})
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Backup = nil })
	eventually(t, "cronjob removed", func() error {
		if _, err := get(t, ns, g.BackupName(), &batchv1.CronJob{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %w", err)
		}
		if c := condition(t, g, galleryv1alpha1.ConditionBackupReady); c != nil {
			return fmt.Errorf("BackupReady still %+v", c)
		}
		return nil
	})
}

func TestBackupCronJobToS3ReadsCredentialsByReference(t *testing.T) {
	ns := newNamespace(t)
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "backup-s3", Namespace: ns},
		Data:       map[string][]byte{"accessKeyId": []byte("AKIDEXAMPLE"), "secretAccessKey": []byte("wJalrXUtnFEMI-example-secret")},
	}
	if err := k8s.Create(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	g := newGallery(t, ns, withBackupToS3("gallery-backups", "backup-s3"), func(g *galleryv1alpha1.Gallery) {
		g.Spec.Backup.Drill = &galleryv1alpha1.BackupDrillSpec{Schedule: "0 5 * * 0"}
	})
	cj := backupCronJob(t, g)
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	for name, key := range map[string]string{config.EnvBackupS3AccessKeyID: "accessKeyId", config.EnvBackupS3SecretAccessKey: "secretAccessKey"} {
		e, ok := envValue(c, name)
		if !ok || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "backup-s3" || e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("%s = %+v, want a secretKeyRef to backup-s3/%s", name, e, key)
		}
	}
	for name, want := range map[string]string{
		config.EnvBackupS3Bucket: "gallery-backups", config.EnvBackupS3Endpoint: "http://versitygw.storage:7070",
		config.EnvBackupS3ForcePathStyle: "true", config.EnvBackupKeep: "3", config.EnvBackupKeepFor: "168h0m0s",
	} {
		if e, ok := envValue(c, name); !ok || e.Value != want {
			t.Errorf("%s = %+v, want %q", name, e, want)
		}
	}
	raw, _ := json.Marshal(cj)
	if strings.Contains(string(raw), "wJalrXUtnFEMI") || strings.Contains(string(raw), "AKIDEXAMPLE") {
		t.Error("a credential's value is in the CronJob")
	}
	eventually(t, "drill cronjob", mustExist(ns, g.DrillName(), &batchv1.CronJob{}))
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Backup.Drill = nil })
	eventually(t, "drill cronjob removed", func() error {
		if _, err := get(t, ns, g.DrillName(), &batchv1.CronJob{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %w", err)
		}
		return nil
	})
}

// finishJob does what the Job controller and the kubelet would: a pod of the Job that
// ended with report as its termination message, and the Job's final condition.
func finishJob(t *testing.T, ns, job string, succeeded bool, rep report.Report, at time.Time) {
	t.Helper()
	msg, _ := json.Marshal(rep)
	endJob(t, ns, job, succeeded, galleryv1alpha1.ComponentBackup, string(msg), at)
}

// endJob ends Job job as finishJob does, its pod's container leaving message.
func endJob(t *testing.T, ns, job string, succeeded bool, container, msg string, at time.Time) {
	t.Helper()
	j := &batchv1.Job{}
	eventually(t, "job "+job, mustExist(ns, job, j))
	tmpl := j.Spec.Template
	labels := map[string]string{batchv1.JobNameLabel: job}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	phase, code := corev1.PodSucceeded, int32(0)
	if !succeeded {
		phase, code = corev1.PodFailed, 1
	}
	createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job + "-" + string(j.UID)[:5], Labels: labels},
		Spec:       tmpl.Spec,
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			Name: container, Image: tmpl.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Message: msg, FinishedAt: metav1.NewTime(at), StartedAt: metav1.NewTime(at.Add(-time.Minute)),
			}},
		}}},
	})
	eventually(t, "finish job "+job, func() error {
		live := &batchv1.Job{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: job}, live); err != nil {
			return err
		}
		start := metav1.NewTime(at.Add(-time.Minute))
		live.Status.StartTime = &start
		end := metav1.NewTime(at)
		if succeeded {
			live.Status.Succeeded = 1
			live.Status.CompletionTime = &end
			live.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end}}
			if serverMinor >= 31 {
				// From 1.31 the API wants the job controller's SuccessCriteriaMet before
				// Complete; 1.30 refuses it on a Job that is not Indexed.
				live.Status.Conditions = append([]batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: end}}, live.Status.Conditions...)
			}
		} else {
			live.Status.Failed = 3
			live.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: end},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: end},
			}
		}
		return k8s.Status().Update(context.Background(), live)
	})
}

func annotate(t *testing.T, g *galleryv1alpha1.Gallery, key, value string) {
	t.Helper()
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		if live.Annotations == nil {
			live.Annotations = map[string]string{}
		}
		live.Annotations[key] = value
	})
}

func backupJobs(t *testing.T, ns string) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{galleryv1alpha1.LabelBackupOperation: "backup"}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestOnDemandBackupRunsOncePerValueAndFillsStatus(t *testing.T) {
	ns := newNamespace(t)
	backupClaim(t, ns, "gallery-backups")
	g := newGallery(t, ns, withBackupToVolume("gallery-backups"))
	backupCronJob(t, g)

	annotate(t, g, galleryv1alpha1.AnnotationBackupNow, "first")
	job := g.BackupRequestJobName("first")
	eventually(t, "request recorded", func() error {
		if b := mustGet(t, g).Status.Backup; b == nil || b.LastRequest != "first" {
			return fmt.Errorf("status.backup = %+v", b)
		}
		return nil
	})
	j, err := get(t, ns, job, &batchv1.Job{})
	if err != nil {
		t.Fatal(err)
	}
	if !metav1IsControlledBy(j, mustGet(t, g)) || j.Spec.TTLSecondsAfterFinished == nil {
		t.Errorf("on-demand job owners %v ttl %v", j.OwnerReferences, j.Spec.TTLSecondsAfterFinished)
	}
	// Other changes reconcile again; still one Job for the value.
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Backup.Retention.Keep = ptr.To[int32](9) })
	eventually(t, "keep 9 applied", func() error {
		cj, _ := get(t, ns, g.BackupName(), &batchv1.CronJob{})
		if e, ok := envValue(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0], config.EnvBackupKeep); !ok || e.Value != "9" {
			return fmt.Errorf("keep = %+v", e)
		}
		return nil
	})
	if n := len(backupJobs(t, ns)); n != 1 {
		t.Fatalf("%d backup jobs for one annotation value, want 1", n)
	}

	done := time.Now().UTC().Truncate(time.Second)
	finishJob(t, ns, job, true, report.Report{
		Operation: report.OperationBackup, Backup: "20261205T031500Z", StartedAt: done.Add(-time.Minute), CompletedAt: done,
		SchemaVersion: 7, SizeBytes: 123456, Counts: map[string]int64{"users": 3, "images": 40, "labels": 95, "albums": 2, "shares": 1},
		Photos: report.Photos{Mode: "copied", Objects: 40, Copied: 40},
	}, done)
	eventually(t, "lastSuccessful and BackupReady", func() error {
		live := mustGet(t, g)
		s := live.Status.Backup.LastSuccessful
		if s == nil || s.Name != "20261205T031500Z" || s.Images != 40 || s.Users != 3 || s.SchemaVersion != 7 || s.Photos.Copied != 40 || !s.CompletedAt.Time.Equal(done) {
			return fmt.Errorf("lastSuccessful = %+v", s)
		}
		c := condition(t, g, galleryv1alpha1.ConditionBackupReady)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != galleryv1alpha1.ReasonBackupSucceeded {
			return fmt.Errorf("BackupReady = %+v", c)
		}
		return nil
	})

	// A second value: a second Job, which fails with the report's reason.
	annotate(t, g, galleryv1alpha1.AnnotationBackupNow, "second")
	second := g.BackupRequestJobName("second")
	eventually(t, "second job", mustExist(ns, second, &batchv1.Job{}))
	finishJob(t, ns, second, false, report.Report{
		Operation: report.OperationBackup, StartedAt: done, CompletedAt: done.Add(time.Minute),
		Error: "dump database: dial tcp 10.0.0.7:3306: connection refused",
	}, done.Add(time.Minute))
	eventually(t, "BackupFailed with the reason", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionBackupReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != galleryv1alpha1.ReasonBackupFailed || !strings.Contains(c.Message, "connection refused") {
			return fmt.Errorf("BackupReady = %+v", c)
		}
		f := mustGet(t, g).Status.Backup.LastFailure
		if f == nil || f.Job != second || !strings.Contains(f.Reason, "connection refused") {
			return fmt.Errorf("lastFailure = %+v", f)
		}
		return nil
	})
	if n := len(backupJobs(t, ns)); n != 2 {
		t.Errorf("%d backup jobs for two values, want 2", n)
	}
	// The Gallery's own readiness does not follow its backups.
	if c := condition(t, g, galleryv1alpha1.ConditionReady); c != nil && c.Reason == galleryv1alpha1.ReasonBackupFailed {
		t.Errorf("Ready = %+v", c)
	}
}

func TestBackupReadyGoesFalseWhenTheNewestBackupIsTooOld(t *testing.T) {
	ns := newNamespace(t)
	backupClaim(t, ns, "gallery-backups")
	g := newGallery(t, ns, ownReconciled, withBackupToVolume("gallery-backups"))
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}}
	reconcileTimes(t, r, g, 1)
	annotate(t, g, galleryv1alpha1.AnnotationBackupNow, "now")
	reconcileTimes(t, r, g, 1)
	old := time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Second) // the schedule is daily: 48h is too old
	finishJob(t, ns, g.BackupRequestJobName("now"), true, report.Report{
		Operation: report.OperationBackup, Backup: "20261202T031500Z", StartedAt: old.Add(-time.Minute), CompletedAt: old,
	}, old)
	reconcileTimes(t, r, g, 1)
	c := condition(t, g, galleryv1alpha1.ConditionBackupReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != galleryv1alpha1.ReasonBackupTooOld || !strings.Contains(c.Message, "20261202T031500Z") {
		t.Fatalf("BackupReady = %+v", c)
	}
}

func TestScheduleInterval(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for schedule, want := range map[string]time.Duration{
		"@hourly": time.Hour, "0 3 * * *": 24 * time.Hour, "0 3 * * 1-5": 72 * time.Hour, "@monthly": 31 * 24 * time.Hour, "*/15 * * * *": 15 * time.Minute,
	} {
		got, err := scheduleInterval(schedule, "UTC", now)
		if err != nil || got != want {
			t.Errorf("scheduleInterval(%q) = %v, %v; want %v", schedule, got, err, want)
		}
	}
	// A zone's clock change makes that gap an hour longer.
	if got, _ := scheduleInterval("@monthly", "Europe/London", now); got != 31*24*time.Hour+time.Hour {
		t.Errorf("monthly in London = %v, want 745h (October's last hour)", got)
	}
	if _, err := scheduleInterval("0 25 * * *", "", now); err == nil {
		t.Error("hour 25 accepted")
	}
	if _, err := scheduleInterval("@daily", "Mars/Olympus", now); err == nil {
		t.Error("unknown zone accepted")
	}
}

func withRestoreFrom(backup string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.RestoreFrom = &galleryv1alpha1.RestoreSpec{
			Source:  galleryv1alpha1.BackupLocation{Volume: &galleryv1alpha1.BackupVolumeLocation{ClaimName: "gallery-backups"}},
			Gallery: "old-photos", Backup: backup,
		}
	}
}

func TestRestoreGatesTheServerUntilItSucceeds(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, withRestoreFrom("20261205T031500Z"))
	eventually(t, "restore waits for the database", func() error {
		r := mustGet(t, g).Status.Restore
		if r == nil || r.Phase != galleryv1alpha1.RestorePending {
			return fmt.Errorf("status.restore = %+v", r)
		}
		return nil
	})
	if _, err := get(t, ns, g.RestoreJobName(), &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Fatalf("restore job before the database is ready (err=%v)", err)
	}
	markStatefulSetReady(t, ns, g.DatabaseName())
	job := &batchv1.Job{}
	eventually(t, "restore job", mustExist(ns, g.RestoreJobName(), job))
	if e, ok := envValue(job.Spec.Template.Spec.Containers[0], config.EnvBackupGallery); !ok || e.Value != "old-photos" {
		t.Errorf("restore reads folder %+v, want old-photos", e)
	}
	eventually(t, "Restored running, Ready false", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionRestored)
		if c == nil || c.Reason != galleryv1alpha1.ReasonRestoreRunning {
			return fmt.Errorf("Restored = %+v", c)
		}
		if r := condition(t, g, galleryv1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse || r.Reason != galleryv1alpha1.ReasonRestoreRunning {
			return fmt.Errorf("Ready = %+v", r)
		}
		return nil
	})
	for _, name := range []string{g.ServerName(), g.WorkersName()} {
		if _, err := get(t, ns, name, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Fatalf("deployment %s exists while restoring (err=%v)", name, err)
		}
	}

	done := time.Now().UTC().Truncate(time.Second)
	finishJob(t, ns, g.RestoreJobName(), true, report.Report{
		Operation: report.OperationRestore, Backup: "20261205T031500Z", StartedAt: done.Add(-time.Minute), CompletedAt: done,
		Counts: map[string]int64{"users": 3, "images": 40}, Photos: report.Photos{Verified: 40},
	}, done)
	eventually(t, "server and workers after the restore", func() error {
		for _, name := range []string{g.ServerName(), g.WorkersName()} {
			if _, err := get(t, ns, name, &appsv1.Deployment{}); err != nil {
				return err
			}
		}
		r := mustGet(t, g).Status.Restore
		if r == nil || r.Phase != galleryv1alpha1.RestoreSucceeded || r.Images != 40 || r.PhotosVerified != 40 || r.Backup != "20261205T031500Z" {
			return fmt.Errorf("status.restore = %+v", r)
		}
		if c := condition(t, g, galleryv1alpha1.ConditionRestored); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Restored = %+v", c)
		}
		return nil
	})

	// Never again: the Job may go, the restore stays done.
	if err := k8s.Delete(context.Background(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: g.RestoreJobName()}},
		client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Server.Replicas = ptr.To[int32](3) })
	eventually(t, "next pass applied", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil || ptr.Deref(d.Spec.Replicas, 0) != 3 {
			return fmt.Errorf("replicas not 3 yet: %w", err)
		}
		return nil
	})
	time.Sleep(time.Second)
	if j, err := get(t, ns, g.RestoreJobName(), &batchv1.Job{}); err == nil && j.DeletionTimestamp == nil {
		t.Fatal("the restore ran again after it succeeded")
	}
}

func TestFailedRestoreShowsTheReasonAndKeepsTheServerDown(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{Embedded: &galleryv1alpha1.EmbeddedDatabaseSpec{}}
		g.Spec.Storage = galleryv1alpha1.StorageSpec{Volume: &galleryv1alpha1.VolumeStorageSpec{AccessMode: corev1.ReadWriteOnce}}
	}, withRestoreFrom(""))
	eventually(t, "restore job at once (no database to wait for)", mustExist(ns, g.RestoreJobName(), &batchv1.Job{}))
	at := time.Now().UTC().Truncate(time.Second)
	finishJob(t, ns, g.RestoreJobName(), false, report.Report{
		Operation: report.OperationRestore, StartedAt: at, CompletedAt: at,
		Error: "the database already holds 3 users that are not from backup 20261205T031500Z: refusing to restore over them",
	}, at)
	eventually(t, "RestoreFailed everywhere", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionRestored)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != galleryv1alpha1.ReasonRestoreFailed || !strings.Contains(c.Message, "refusing to restore") {
			return fmt.Errorf("Restored = %+v", c)
		}
		live := mustGet(t, g)
		r := condition(t, g, galleryv1alpha1.ConditionReady)
		if r == nil || r.Reason != galleryv1alpha1.ReasonRestoreFailed || !strings.Contains(r.Message, "Restored") || live.Status.Phase != galleryv1alpha1.PhaseFailed {
			return fmt.Errorf("Ready = %+v, phase %s", r, live.Status.Phase)
		}
		return nil
	})
	if _, err := get(t, ns, g.ServerName(), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Fatalf("server deployment after a failed restore (err=%v)", err)
	}
}

// A Gallery with backups, a drill and a finished backup makes no write in a steady state:
// the CronJobs are applied once, the report read into status once.
func TestSteadyStateWithBackupsMakesZeroWrites(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, withBackupToS3("gallery-backups", ""), func(g *galleryv1alpha1.Gallery) {
		g.Spec.Backup.Drill = &galleryv1alpha1.BackupDrillSpec{Schedule: "@weekly", TimeZone: "Europe/London"}
	})
	markDeploymentAvailable(t, ns, g.ServerName())
	markDeploymentAvailable(t, ns, g.WorkersName())
	markStatefulSetReady(t, ns, g.RedisName())
	markStatefulSetReady(t, ns, g.DatabaseName())
	markClaimBound(t, ns, g.PhotosClaimName())
	annotate(t, g, galleryv1alpha1.AnnotationBackupNow, "steady")
	done := time.Now().UTC().Truncate(time.Second)
	finishJob(t, ns, g.BackupRequestJobName("steady"), true, report.Report{
		Operation: report.OperationBackup, Backup: "20261205T031500Z", StartedAt: done.Add(-time.Minute), CompletedAt: done,
	}, done)
	eventually(t, "ready and backed up", func() error {
		if c := condition(t, g, galleryv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready = %+v", c)
		}
		if c := condition(t, g, galleryv1alpha1.ConditionBackupReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("BackupReady = %+v", c)
		}
		return nil
	})
	time.Sleep(time.Second)
	recorder := &countingRecorder{}
	counted := &GalleryReconciler{Client: countingClient(t), Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: recorder}
	before, _ := counted.Client.(*countedClient).counter.snapshot()
	reconcileTimes(t, counted, g, 10)
	after, byPath := counted.Client.(*countedClient).counter.snapshot()
	if after != before || recorder.n.Load() != 0 {
		t.Fatalf("10 reconciles of an unchanged backed-up gallery made %d writes (%v) and %d events", after-before, byPath, recorder.n.Load())
	}
}

// A destination that names a claim or Secret that does not exist shows in BackupReady
// at once, naming the field, instead of as a backup pod Pending until its deadline.
func TestBackupReadyNamesAMissingDestination(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, withBackupToVolume("not-made-yet"))
	eventually(t, "BackupReady names the missing claim", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionBackupReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != galleryv1alpha1.ReasonMissingReference ||
			!strings.Contains(c.Message, `"not-made-yet" (spec.backup.destination.volume.claimName)`) {
			return fmt.Errorf("BackupReady = %+v", c)
		}
		return nil
	})
	backupClaim(t, ns, "not-made-yet")
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Backup.Retention.Keep = ptr.To[int32](5) })
	eventually(t, "BackupReady once the claim exists", func() error {
		if c := condition(t, g, galleryv1alpha1.ConditionBackupReady); c == nil || c.Reason != galleryv1alpha1.ReasonFirstBackupPending {
			return fmt.Errorf("BackupReady = %+v", c)
		}
		return nil
	})
}

// A drill that fails to restore the newest backup makes BackupReady False with its
// reason: a backup that does not restore is no backup. The next good backup clears it.
func TestFailedDrillMakesBackupReadyFalse(t *testing.T) {
	ns := newNamespace(t)
	backupClaim(t, ns, "gallery-backups")
	g := newGallery(t, ns, ownReconciled, withBackupToVolume("gallery-backups"), func(g *galleryv1alpha1.Gallery) {
		g.Spec.Backup.Drill = &galleryv1alpha1.BackupDrillSpec{Schedule: "0 5 * * 0"}
	})
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}}
	reconcileTimes(t, r, g, 1)
	annotate(t, g, galleryv1alpha1.AnnotationBackupNow, "one")
	reconcileTimes(t, r, g, 1)
	done := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	finishJob(t, ns, g.BackupRequestJobName("one"), true, report.Report{
		Operation: report.OperationBackup, Backup: "20261205T010000Z", StartedAt: done.Add(-time.Minute), CompletedAt: done,
	}, done)
	reconcileTimes(t, r, g, 1)
	if c := condition(t, g, galleryv1alpha1.ConditionBackupReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("BackupReady after a good backup = %+v", c)
	}

	// `kubectl create job --from=cronjob/<g>-drill`: the CronJob's template, as is.
	cj, err := get(t, ns, g.DrillName(), &batchv1.CronJob{})
	if err != nil {
		t.Fatal(err)
	}
	drill := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "drill-now", Namespace: ns, Labels: cj.Spec.JobTemplate.Labels}, Spec: cj.Spec.JobTemplate.Spec}
	if err := k8s.Create(context.Background(), drill); err != nil {
		t.Fatal(err)
	}
	at := done.Add(30 * time.Minute)
	finishJob(t, ns, "drill-now", false, report.Report{
		Operation: report.OperationDrill, Backup: "20261205T010000Z", StartedAt: at.Add(-time.Minute), CompletedAt: at,
		Error: "backup is damaged: photo images/1/x/original is missing",
	}, at)
	reconcileTimes(t, r, g, 1)
	c := condition(t, g, galleryv1alpha1.ConditionBackupReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != galleryv1alpha1.ReasonDrillFailed || !strings.Contains(c.Message, "original is missing") {
		t.Fatalf("BackupReady after a failed drill = %+v", c)
	}
	if ready := condition(t, g, galleryv1alpha1.ConditionReady); ready != nil && ready.Reason == galleryv1alpha1.ReasonDrillFailed {
		t.Errorf("a failed drill reached Ready: %+v", ready)
	}
}
