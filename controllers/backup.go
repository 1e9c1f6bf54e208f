package controllers

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/backup/report"
)

// labelJobName is the label the Job controller puts on a Job's pods.
const labelJobName = batchv1.JobNameLabel

// reconcileBackup applies the backup and drill CronJobs (removing them when the spec no
// longer asks for them) and starts an on-demand backup when the backup-now annotation
// has a new value.
func (r *GalleryReconciler) reconcileBackup(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	backup, drill := specs.BackupCronJobs(g)
	b := g.Spec.Backup
	if b == nil {
		return r.reconcileChildren(ctx, st, backup, drill)
	}
	// The schema checks the shape; an hour or a zone that does not exist shows here, and
	// the CronJob is then neither applied nor deleted.
	if _, err := scheduleInterval(b.Schedule, b.TimeZone, st.now); err != nil {
		st.invalidSpec = append(st.invalidSpec, "spec.backup.schedule: "+err.Error())
		backup = specs.Child{}
	}
	if d := b.Drill; d != nil {
		if _, err := scheduleInterval(d.Schedule, d.TimeZone, st.now); err != nil {
			st.invalidSpec = append(st.invalidSpec, "spec.backup.drill.schedule: "+err.Error())
			drill = specs.Child{}
		}
	}
	if err := r.reconcileChildren(ctx, st, backup, drill); err != nil {
		return err
	}
	missing, err := r.missingDestination(ctx, g.Namespace, b.Destination)
	if err != nil {
		return err
	}
	st.backupDestination = missing
	return r.requestBackup(ctx, st)
}

// missingDestination names what a backup location refers to that does not exist: its
// claim, or the Secret holding its S3 credentials. A scheduled backup would otherwise
// wait out its deadline in a Pending pod, and BackupReady would only say it is late.
func (r *GalleryReconciler) missingDestination(ctx context.Context, ns string, loc galleryv1alpha1.BackupLocation) (string, error) {
	var obj client.Object
	var what string
	switch {
	case loc.Volume != nil:
		obj, what = &corev1.PersistentVolumeClaim{}, fmt.Sprintf("PersistentVolumeClaim %q (spec.backup.destination.volume.claimName)", loc.Volume.ClaimName)
		obj.SetName(loc.Volume.ClaimName)
	case loc.S3 != nil && loc.S3.CredentialsSecret != "":
		obj, what = &corev1.Secret{}, fmt.Sprintf("Secret %q (spec.backup.destination.s3.credentialsSecret)", loc.S3.CredentialsSecret)
		obj.SetName(loc.S3.CredentialsSecret)
	default:
		return "", nil
	}
	// The admin's claim carries no label of ours, so the cache cannot hold it.
	err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: ns, Name: obj.GetName()}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return what + " does not exist in namespace " + ns, nil
	case err != nil:
		return "", fmt.Errorf("read the backup destination's %s: %w", what, err)
	}
	return "", nil
}

// requestBackup starts one Job for each new value of the backup-now annotation. The Job's
// name comes from the value, so a pass that created it but failed to record the value
// finds it on the next pass instead of starting a second one.
func (r *GalleryReconciler) requestBackup(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	value := g.Annotations[galleryv1alpha1.AnnotationBackupNow]
	if value == "" || (g.Status.Backup != nil && g.Status.Backup.LastRequest == value) {
		return nil
	}
	job := specs.BackupJob(g, g.BackupRequestJobName(value))
	if err := r.createJob(ctx, g, job); err != nil {
		return fmt.Errorf("start on-demand backup: %w", err)
	}
	st.backupRequest = value
	return nil
}

// createJob creates a Job owned by the Gallery, once: a Job's pod template cannot change,
// and one that exists already is the one wanted (its name says so).
func (r *GalleryReconciler) createJob(ctx context.Context, g *galleryv1alpha1.Gallery, job *batchv1.Job) error {
	if err := controllerutil.SetControllerReference(g, job, r.Scheme); err != nil {
		return fmt.Errorf("own job %s: %w", job.Name, err)
	}
	err := r.Client.Create(ctx, job, client.FieldOwner(FieldOwner))
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create job %s: %w", job.Name, err)
	}
	logf.FromContext(ctx).Info("created child", "kind", "Job", "child", job.Name)
	r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, "Created", "Create", "created Job %s", job.Name)
	return nil
}

// reconcileRestore runs spec.restoreFrom's restore before the server and workers exist:
// it waits for the database, creates the Job <gallery>-restore once, and reads its
// outcome. A failed Job stays (with its pods and their report) until the admin deletes
// it; the next pass then starts a new one. Once the restore succeeded (status.restore),
// it never runs again.
func (r *GalleryReconciler) reconcileRestore(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	if !g.Restoring() {
		return nil
	}
	if ok, err := r.hashSecretValues(ctx, st, io.Discard, specs.BackupCredentialRefs(g.Spec.RestoreFrom.Source)); !ok || err != nil {
		return err
	}
	var job batchv1.Job
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: g.RestoreJobName()}, &job)
	switch {
	case apierrors.IsNotFound(err):
		if ok, why := r.databaseReadyForRestore(ctx, g); !ok {
			st.restore = &galleryv1alpha1.RestoreStatus{Phase: galleryv1alpha1.RestorePending, Message: why}
			return nil
		}
		// Created once: the cached Gallery may lag its own last status write (the
		// restore's success, then the Job deleted), so the API server has the last word.
		fresh := &galleryv1alpha1.Gallery{}
		if err := r.apiReader().Get(ctx, client.ObjectKeyFromObject(g), fresh); err != nil {
			return fmt.Errorf("read the gallery before starting its restore: %w", err)
		}
		if !fresh.Restoring() {
			st.requeueSoon(time.Second) // the status write below conflicts; the next pass reads the fresh Gallery
			return nil
		}
		if err := r.createJob(ctx, g, specs.RestoreJob(g)); err != nil {
			return fmt.Errorf("start restore: %w", err)
		}
		st.restore = &galleryv1alpha1.RestoreStatus{Phase: galleryv1alpha1.RestoreRunning, Message: "Job " + g.RestoreJobName() + " is restoring"}
		return nil
	case err != nil:
		return fmt.Errorf("get restore job: %w", err)
	}
	run, err := r.readRun(ctx, g, &job)
	if err != nil {
		return err
	}
	st.restore = restoreStatusOf(run)
	return nil
}

// databaseReadyForRestore reports whether the restore can start: the managed MariaDB
// answers (an external database is the admin's, and the embedded one is a file on a
// volume that exists by now).
func (r *GalleryReconciler) databaseReadyForRestore(ctx context.Context, g *galleryv1alpha1.Gallery) (bool, string) {
	if g.Spec.Database.Managed == nil {
		return true, ""
	}
	var s appsv1.StatefulSet
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: g.DatabaseName()}, &s); err != nil {
		return false, "waiting for the managed database to be created"
	}
	if ok, _, msg := statefulSetReady(&s); !ok {
		return false, "waiting for the managed database: " + msg
	}
	return true, ""
}

// holdForRestore says whether the server and workers wait: spec.restoreFrom's restore
// has not succeeded, neither before this pass nor in it.
func (st *reconcileState) holdForRestore() bool {
	if !st.gallery.Restoring() {
		return false
	}
	return st.restore == nil || st.restore.Phase != galleryv1alpha1.RestoreSucceeded
}

// jobRun is one backup, restore or drill Job as status reads it.
type jobRun struct {
	job       string
	operation string
	created   time.Time
	finished  bool
	succeeded bool
	// finishedAt is when the Job completed or failed.
	finishedAt time.Time
	// report is what the newest finished pod wrote; nil when none did (its image could
	// not be pulled, the deadline passed first).
	report *report.Report
	// why is the Job's own reason for failing, for when there is no report.
	why string
}

// observeBackupJobs reads the Gallery's backup, restore and drill Jobs and the reports
// their pods left, newest first.
func (r *GalleryReconciler) observeBackupJobs(ctx context.Context, g *galleryv1alpha1.Gallery) ([]jobRun, error) {
	if !specs.RunsBackupJobs(g) && g.Annotations[galleryv1alpha1.AnnotationBackupNow] == "" {
		return nil, nil
	}
	var jobs batchv1.JobList
	if err := r.Client.List(ctx, &jobs, client.InNamespace(g.Namespace), client.MatchingLabels(backupJobLabels(g))); err != nil {
		return nil, fmt.Errorf("list backup jobs for status: %w", err)
	}
	runs := make([]jobRun, 0, len(jobs.Items))
	for i := range jobs.Items {
		run, err := r.readRun(ctx, g, &jobs.Items[i])
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].created.After(runs[j].created) })
	return runs, nil
}

func backupJobLabels(g *galleryv1alpha1.Gallery) map[string]string {
	return map[string]string{
		galleryv1alpha1.LabelManagedBy: galleryv1alpha1.ManagedBy, galleryv1alpha1.LabelGallery: g.Name,
		galleryv1alpha1.LabelComponent: galleryv1alpha1.ComponentBackup,
	}
}

// readRun reads a Job and, once it finished, the report of its newest finished pod.
func (r *GalleryReconciler) readRun(ctx context.Context, g *galleryv1alpha1.Gallery, job *batchv1.Job) (jobRun, error) {
	run := runOf(job)
	if !run.finished {
		return run, nil
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(g.Namespace),
		client.MatchingLabels{labelJobName: job.Name, galleryv1alpha1.LabelGallery: g.Name}); err != nil {
		return run, fmt.Errorf("list pods of job %s: %w", job.Name, err)
	}
	run.report = newestReport(pods.Items, run.succeeded)
	return run, nil
}

// runOf is what a Job's own status says.
func runOf(job *batchv1.Job) jobRun {
	run := jobRun{job: job.Name, operation: job.Labels[galleryv1alpha1.LabelBackupOperation], created: job.CreationTimestamp.Time}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			run.finished, run.succeeded, run.finishedAt = true, true, c.LastTransitionTime.Time
		case batchv1.JobFailed:
			run.finished, run.finishedAt = true, c.LastTransitionTime.Time
			run.why = c.Reason
			if c.Message != "" {
				run.why += ": " + c.Message
			}
		}
	}
	if run.succeeded && job.Status.CompletionTime != nil {
		run.finishedAt = job.Status.CompletionTime.Time
	}
	return run
}

// newestReport is the report of the newest pod that ended as the Job did (succeeded or
// failed); nil when none left one that parses.
func newestReport(pods []corev1.Pod, succeeded bool) *report.Report {
	var best *report.Report
	var bestAt time.Time
	for _, p := range pods {
		if (p.Status.Phase == corev1.PodSucceeded) != succeeded {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			t := cs.State.Terminated
			if cs.Name != galleryv1alpha1.ComponentBackup || t == nil || t.Message == "" {
				continue
			}
			rep, err := report.Parse(t.Message)
			if err != nil {
				continue // FallbackToLogsOnError: the log's tail, not a report
			}
			if best == nil || t.FinishedAt.After(bestAt) {
				best, bestAt = &rep, t.FinishedAt.Time
			}
		}
	}
	return best
}

// scheduleInterval is the longest gap between consecutive runs of a cron schedule over
// its next runs from now (a weekday schedule's weekend, a monthly one's longest month).
func scheduleInterval(schedule, timeZone string, now time.Time) (time.Duration, error) {
	loc := time.UTC
	if timeZone != "" {
		l, err := time.LoadLocation(timeZone)
		if err != nil {
			return 0, fmt.Errorf("time zone %q: %w", timeZone, err)
		}
		loc = l
	}
	sched, err := cronParser.Parse(schedule)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", schedule, err)
	}
	// 13 runs span a year of a monthly schedule and two weekends of a weekday one.
	const runs = 13
	var longest time.Duration
	prev := sched.Next(now.In(loc))
	if prev.IsZero() {
		return 0, fmt.Errorf("%q never runs", schedule)
	}
	for range runs {
		next := sched.Next(prev)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	if longest == 0 {
		return 0, fmt.Errorf("%q runs only once", schedule)
	}
	return longest, nil
}

// statusTime is a time as status keeps it: whole seconds in UTC, so that a time read back
// from the API server equals the one computed, and a steady state writes nothing.
func statusTime(t time.Time) metav1.Time { return metav1.NewTime(t.UTC().Truncate(time.Second)) }

// setBackupStatus folds the finished Jobs into status.backup: the newest successful
// backup, the newest failure and the newest drill. Jobs go (history limits, the
// on-demand Jobs' TTL) but what they reported stays until something newer replaces it.
func setBackupStatus(g *galleryv1alpha1.Gallery, runs []jobRun, request string) {
	s := g.Status.Backup
	if s == nil {
		s = &galleryv1alpha1.BackupStatus{}
	}
	for _, run := range runs {
		if !run.finished {
			continue
		}
		switch run.operation {
		case specs.OperationBackup:
			if run.succeeded {
				if rec := backupRecordOf(run); s.LastSuccessful == nil || rec.CompletedAt.After(s.LastSuccessful.CompletedAt.Time) {
					s.LastSuccessful = rec
				}
			} else if at := statusTime(run.finishedAt); s.LastFailure == nil || at.After(s.LastFailure.Time.Time) {
				s.LastFailure = &galleryv1alpha1.BackupFailure{Time: at, Job: run.job, Reason: failureReason(run)}
			}
		case specs.OperationDrill:
			if d := drillRecordOf(run); s.LastDrill == nil || d.Time.After(s.LastDrill.Time.Time) {
				s.LastDrill = d
			}
		}
	}
	if request != "" {
		s.LastRequest = request
	}
	if *s == (galleryv1alpha1.BackupStatus{}) {
		s = nil
	}
	g.Status.Backup = s
}

func failureReason(run jobRun) string {
	if run.report != nil && run.report.Error != "" {
		return run.report.Error
	}
	if run.why != "" {
		return run.why
	}
	return "the Job failed without a report; see its pods' logs"
}

func backupRecordOf(run jobRun) *galleryv1alpha1.BackupRecord {
	rep := run.report
	if rep == nil {
		// Finished without a report (an older image): what the Job itself knows.
		return &galleryv1alpha1.BackupRecord{Name: run.job, StartedAt: statusTime(run.created), CompletedAt: statusTime(run.finishedAt)}
	}
	return &galleryv1alpha1.BackupRecord{
		Name:          rep.Backup,
		StartedAt:     statusTime(rep.StartedAt),
		CompletedAt:   statusTime(rep.CompletedAt),
		SizeBytes:     rep.SizeBytes,
		SchemaVersion: int64(rep.SchemaVersion),
		Users:         rep.Counts["users"],
		Images:        rep.Counts["images"],
		Labels:        rep.Counts["labels"],
		Albums:        rep.Counts["albums"],
		Shares:        rep.Counts["shares"],
		Photos:        galleryv1alpha1.BackupPhotos{Mode: rep.Photos.Mode, Objects: rep.Photos.Objects, Copied: rep.Photos.Copied},
	}
}

func drillRecordOf(run jobRun) *galleryv1alpha1.DrillRecord {
	d := &galleryv1alpha1.DrillRecord{Time: statusTime(run.finishedAt), Succeeded: run.succeeded}
	if rep := run.report; rep != nil {
		d.Backup = rep.Backup
		if run.succeeded {
			d.Message = fmt.Sprintf("restored and verified %d users, %d images, %d labels, %d albums; %d photos checked",
				rep.Counts["users"], rep.Counts["images"], rep.Counts["labels"], rep.Counts["albums"], rep.Photos.Verified)
			return d
		}
	}
	if !run.succeeded {
		d.Message = failureReason(run)
	}
	return d
}

// restoreStatusOf is status.restore from the restore Job.
func restoreStatusOf(run jobRun) *galleryv1alpha1.RestoreStatus {
	switch {
	case !run.finished:
		return &galleryv1alpha1.RestoreStatus{Phase: galleryv1alpha1.RestoreRunning, Message: "Job " + run.job + " is restoring"}
	case !run.succeeded:
		return &galleryv1alpha1.RestoreStatus{
			Phase: galleryv1alpha1.RestoreFailed, CompletedAt: ptrTime(statusTime(run.finishedAt)),
			Message: fmt.Sprintf("Job %s failed: %s; fix the cause and delete the Job to retry", run.job, failureReason(run)),
		}
	}
	s := &galleryv1alpha1.RestoreStatus{Phase: galleryv1alpha1.RestoreSucceeded, CompletedAt: ptrTime(statusTime(run.finishedAt))}
	if rep := run.report; rep != nil {
		s.Backup = rep.Backup
		s.Users, s.Images, s.PhotosVerified = rep.Counts["users"], rep.Counts["images"], rep.Photos.Verified
		s.Message = fmt.Sprintf("restored backup %s: %d users, %d images; %d photos verified", rep.Backup, s.Users, s.Images, s.PhotosVerified)
	} else {
		s.Message = "Job " + run.job + " completed"
	}
	return s
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }

// setBackupCondition reports whether a recent enough backup exists: True while the
// newest good one is younger than twice the schedule's interval. It asks for a pass at
// the moment that stops being so. Absent without spec.backup.
func setBackupCondition(g *galleryv1alpha1.Gallery, st *reconcileState, gen int64) {
	b := g.Spec.Backup
	if b == nil {
		removeCondition(g, galleryv1alpha1.ConditionBackupReady)
		return
	}
	typ := galleryv1alpha1.ConditionBackupReady
	interval, err := scheduleInterval(b.Schedule, b.TimeZone, st.now)
	if err != nil {
		set(g, typ, false, galleryv1alpha1.ReasonInvalidSpec, "spec.backup.schedule: "+err.Error(), gen)
		return
	}
	grace := 2 * interval
	var last *galleryv1alpha1.BackupRecord
	var failure *galleryv1alpha1.BackupFailure
	if s := g.Status.Backup; s != nil {
		last, failure = s.LastSuccessful, s.LastFailure
	}
	var drill *galleryv1alpha1.DrillRecord
	if s := g.Status.Backup; s != nil {
		drill = s.LastDrill
	}
	switch {
	case st.backupDestination != "":
		set(g, typ, false, galleryv1alpha1.ReasonMissingReference, "backups cannot run: "+st.backupDestination, gen)
	case failure != nil && (last == nil || failure.Time.After(last.CompletedAt.Time)):
		set(g, typ, false, galleryv1alpha1.ReasonBackupFailed, fmt.Sprintf("backup Job %s failed at %s: %s", failure.Job, failure.Time.UTC().Format(time.RFC3339), failure.Reason), gen)
	case drill != nil && !drill.Succeeded && (last == nil || !drill.Time.Time.Before(last.CompletedAt.Time)):
		// The newest backup did not restore: it is no backup at all.
		set(g, typ, false, galleryv1alpha1.ReasonDrillFailed, fmt.Sprintf("the restore drill of backup %s at %s failed: %s", drill.Backup, drill.Time.UTC().Format(time.RFC3339), drill.Message), gen)
	case last != nil:
		due := last.CompletedAt.Add(grace)
		if st.now.Before(due) {
			set(g, typ, true, galleryv1alpha1.ReasonBackupSucceeded, fmt.Sprintf("backup %s completed at %s", last.Name, last.CompletedAt.UTC().Format(time.RFC3339)), gen)
			st.requeueSoon(due.Sub(st.now) + time.Second)
			return
		}
		set(g, typ, false, galleryv1alpha1.ReasonBackupTooOld, fmt.Sprintf("the newest backup, %s, completed at %s: more than %s (twice the schedule's interval) ago",
			last.Name, last.CompletedAt.UTC().Format(time.RFC3339), grace), gen)
	default:
		due := g.CreationTimestamp.Add(grace)
		if st.now.Before(due) {
			setCondition(g, typ, metav1.ConditionUnknown, galleryv1alpha1.ReasonFirstBackupPending, "no backup has completed yet; the first is due by "+due.UTC().Format(time.RFC3339), gen)
			st.requeueSoon(due.Sub(st.now) + time.Second)
			return
		}
		set(g, typ, false, galleryv1alpha1.ReasonNoBackupYet, fmt.Sprintf("no backup has completed in the %s (twice the schedule's interval) since the Gallery was created", grace), gen)
	}
}

// setRestoredCondition reports spec.restoreFrom's restore; absent without it.
func setRestoredCondition(g *galleryv1alpha1.Gallery, gen int64) {
	typ := galleryv1alpha1.ConditionRestored
	s := g.Status.Restore
	switch {
	case g.Spec.RestoreFrom == nil:
		removeCondition(g, typ)
	case s == nil:
		set(g, typ, false, galleryv1alpha1.ReasonRestoreRunning, "the restore has not started yet", gen)
	case s.Phase == galleryv1alpha1.RestoreSucceeded:
		set(g, typ, true, galleryv1alpha1.ReasonRestoreSucceeded, s.Message, gen)
	case s.Phase == galleryv1alpha1.RestoreFailed:
		set(g, typ, false, galleryv1alpha1.ReasonRestoreFailed, s.Message, gen)
	default:
		set(g, typ, false, galleryv1alpha1.ReasonRestoreRunning, s.Message, gen)
	}
}
