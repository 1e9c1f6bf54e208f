package controllers

// Table tests of BackupReady, Restored and status.backup: pure functions of the Gallery,
// the Jobs observed and the clock.

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/backup/report"
)

func TestSetBackupCondition(t *testing.T) {
	day := 24 * time.Hour // the interval of withBackupToVolume's daily schedule
	backedUpAt := func(at time.Time) galleryOption {
		return func(g *galleryv1alpha1.Gallery) {
			if g.Status.Backup == nil {
				g.Status.Backup = &galleryv1alpha1.BackupStatus{}
			}
			g.Status.Backup.LastSuccessful = &galleryv1alpha1.BackupRecord{Name: "b1", CompletedAt: metav1.NewTime(at)}
		}
	}
	failedAt := func(at time.Time) galleryOption {
		return func(g *galleryv1alpha1.Gallery) {
			if g.Status.Backup == nil {
				g.Status.Backup = &galleryv1alpha1.BackupStatus{}
			}
			g.Status.Backup.LastFailure = &galleryv1alpha1.BackupFailure{Time: metav1.NewTime(at), Job: "photos-backup-1", Reason: "disk full"}
		}
	}
	drillFailedAt := func(at time.Time) galleryOption {
		return func(g *galleryv1alpha1.Gallery) {
			if g.Status.Backup == nil {
				g.Status.Backup = &galleryv1alpha1.BackupStatus{}
			}
			g.Status.Backup.LastDrill = &galleryv1alpha1.DrillRecord{Time: metav1.NewTime(at), Backup: "b1", Message: "checksum mismatch"}
		}
	}
	badSchedule := func(g *galleryv1alpha1.Gallery) { g.Spec.Backup.Schedule = "0 25 * * *" }
	backup := withBackupToVolume("backups")
	tests := []struct {
		name        string
		g           *galleryv1alpha1.Gallery
		now         time.Time
		destination string
		status      metav1.ConditionStatus // "" when the condition is absent
		reason      string
		msgPart     string
		requeue     time.Duration
	}{
		{"no spec.backup removes it", unsavedGallery(func(g *galleryv1alpha1.Gallery) {
			set(g, galleryv1alpha1.ConditionBackupReady, true, galleryv1alpha1.ReasonBackupSucceeded, "", 1)
		}), t0, "", "", "", "", 0},
		{"a schedule that does not parse", unsavedGallery(backup, badSchedule), t0, "",
			metav1.ConditionFalse, galleryv1alpha1.ReasonInvalidSpec, "spec.backup.schedule: ", 0},
		{"a missing destination wins", unsavedGallery(backup, backedUpAt(t0)), t0.Add(time.Hour), `PersistentVolumeClaim "backups" does not exist`,
			metav1.ConditionFalse, galleryv1alpha1.ReasonMissingReference, `backups cannot run: PersistentVolumeClaim "backups" does not exist`, 0},
		{"a failure after the last success", unsavedGallery(backup, backedUpAt(t0), failedAt(t0.Add(day))), t0.Add(day + time.Hour), "",
			metav1.ConditionFalse, galleryv1alpha1.ReasonBackupFailed, "backup Job photos-backup-1 failed at 2026-11-24T09:00:00Z: disk full", 0},
		{"a success after the last failure", unsavedGallery(backup, failedAt(t0), backedUpAt(t0.Add(day))), t0.Add(day + time.Hour), "",
			metav1.ConditionTrue, galleryv1alpha1.ReasonBackupSucceeded, "backup b1 completed at 2026-11-24T09:00:00Z", 2*day - time.Hour + time.Second},
		{"the drill of the newest backup failed", unsavedGallery(backup, backedUpAt(t0), drillFailedAt(t0.Add(time.Hour))), t0.Add(2 * time.Hour), "",
			metav1.ConditionFalse, galleryv1alpha1.ReasonDrillFailed, "the restore drill of backup b1 at 2026-11-23T10:00:00Z failed: checksum mismatch", 0},
		{"a drill that failed before the newest backup does not count", unsavedGallery(backup, drillFailedAt(t0), backedUpAt(t0.Add(time.Hour))), t0.Add(2 * time.Hour), "",
			metav1.ConditionTrue, galleryv1alpha1.ReasonBackupSucceeded, "backup b1", 2*day - time.Hour + time.Second},
		{"the newest backup is too old", unsavedGallery(backup, backedUpAt(t0)), t0.Add(2 * day), "",
			metav1.ConditionFalse, galleryv1alpha1.ReasonBackupTooOld, "more than 48h0m0s (twice the schedule's interval) ago", 0},
		{"no backup yet, a young Gallery", unsavedGallery(backup), t0.Add(time.Hour), "",
			metav1.ConditionUnknown, galleryv1alpha1.ReasonFirstBackupPending, "the first is due by 2026-11-25T09:00:00Z", 2*day - time.Hour + time.Second},
		{"no backup in twice the interval", unsavedGallery(backup), t0.Add(2 * day), "",
			metav1.ConditionFalse, galleryv1alpha1.ReasonNoBackupYet, "no backup has completed in the 48h0m0s", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &reconcileState{gallery: tt.g, now: tt.now, backupDestination: tt.destination}
			setBackupCondition(tt.g, st, tt.g.Generation)
			if tt.status == "" {
				if c := findCondition(tt.g, galleryv1alpha1.ConditionBackupReady); c != nil {
					t.Fatalf("BackupReady present: %+v", c)
				}
			} else {
				wantCondition(t, tt.g, galleryv1alpha1.ConditionBackupReady, tt.status, tt.reason, tt.msgPart)
			}
			if st.requeueAfter != tt.requeue {
				t.Errorf("requeue after %v, want %v (when the condition changes next)", st.requeueAfter, tt.requeue)
			}
		})
	}
}

// findCondition finds a condition of g's status.
func findCondition(g *galleryv1alpha1.Gallery, typ string) *metav1.Condition {
	for i := range g.Status.Conditions {
		if g.Status.Conditions[i].Type == typ {
			return &g.Status.Conditions[i]
		}
	}
	return nil
}

func TestSetRestoredCondition(t *testing.T) {
	restoring := withRestoreFrom("b1")
	restore := func(phase galleryv1alpha1.RestorePhase, msg string) galleryOption {
		return func(g *galleryv1alpha1.Gallery) {
			g.Status.Restore = &galleryv1alpha1.RestoreStatus{Phase: phase, Message: msg}
		}
	}
	tests := []struct {
		name   string
		g      *galleryv1alpha1.Gallery
		status metav1.ConditionStatus // "" when absent
		reason string
		msg    string
	}{
		{"no spec.restoreFrom", unsavedGallery(func(g *galleryv1alpha1.Gallery) {
			set(g, galleryv1alpha1.ConditionRestored, true, galleryv1alpha1.ReasonRestoreSucceeded, "", 1)
		}), "", "", ""},
		{"not started", unsavedGallery(restoring), metav1.ConditionFalse, galleryv1alpha1.ReasonRestoreRunning, "the restore has not started yet"},
		{"pending", unsavedGallery(restoring, restore(galleryv1alpha1.RestorePending, "waiting for the managed database")),
			metav1.ConditionFalse, galleryv1alpha1.ReasonRestoreRunning, "waiting for the managed database"},
		{"running", unsavedGallery(restoring, restore(galleryv1alpha1.RestoreRunning, "Job photos-restore is restoring")),
			metav1.ConditionFalse, galleryv1alpha1.ReasonRestoreRunning, "Job photos-restore is restoring"},
		{"failed", unsavedGallery(restoring, restore(galleryv1alpha1.RestoreFailed, "Job photos-restore failed: no such backup")),
			metav1.ConditionFalse, galleryv1alpha1.ReasonRestoreFailed, "Job photos-restore failed: no such backup"},
		{"succeeded", unsavedGallery(restoring, restore(galleryv1alpha1.RestoreSucceeded, "restored backup b1")),
			metav1.ConditionTrue, galleryv1alpha1.ReasonRestoreSucceeded, "restored backup b1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setRestoredCondition(tt.g, tt.g.Generation)
			if tt.status == "" {
				if c := findCondition(tt.g, galleryv1alpha1.ConditionRestored); c != nil {
					t.Fatalf("Restored present: %+v", c)
				}
				return
			}
			wantCondition(t, tt.g, galleryv1alpha1.ConditionRestored, tt.status, tt.reason, tt.msg)
		})
	}
}

func TestSetBackupStatus(t *testing.T) {
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	good := func(job string, h int) jobRun {
		return jobRun{job: job, operation: specs.OperationBackup, created: at(h - 1), finished: true, succeeded: true, finishedAt: at(h)}
	}
	bad := func(job string, h int, why string) jobRun {
		return jobRun{job: job, operation: specs.OperationBackup, created: at(h - 1), finished: true, finishedAt: at(h), why: why}
	}
	drill := func(h int, ok bool) jobRun {
		return jobRun{job: "photos-drill-1", operation: specs.OperationDrill, finished: true, succeeded: ok, finishedAt: at(h), why: "BackoffLimitExceeded"}
	}
	running := jobRun{job: "photos-backup-9", operation: specs.OperationBackup, created: at(9)}
	tests := []struct {
		name        string
		before      *galleryv1alpha1.BackupStatus
		runs        []jobRun
		request     string
		lastGood    string // "" when none
		lastFailure string
		drillOK     *bool
		lastRequest string
		empty       bool
	}{
		{"nothing ran", nil, nil, "", "", "", nil, "", true},
		{"an unfinished Job counts for nothing", nil, []jobRun{running}, "", "", "", nil, "", true},
		{"the newest success and failure", nil, []jobRun{good("photos-backup-3", 3), bad("photos-backup-2", 2, "DeadlineExceeded"), good("photos-backup-1", 1)}, "",
			"photos-backup-3", "DeadlineExceeded", nil, "", false},
		{"what the Jobs reported outlives them", &galleryv1alpha1.BackupStatus{
			LastSuccessful: &galleryv1alpha1.BackupRecord{Name: "kept", CompletedAt: statusTime(at(5))},
		}, []jobRun{good("photos-backup-1", 1)}, "", "kept", "", nil, "", false},
		{"a failed drill", nil, []jobRun{drill(4, false)}, "", "", "", new(bool), "", false},
		{"an on-demand request is recorded", nil, nil, "now-1", "", "", nil, "now-1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := unsavedGallery()
			g.Status.Backup = tt.before
			setBackupStatus(g, tt.runs, tt.request)
			s := g.Status.Backup
			if tt.empty {
				if s != nil {
					t.Fatalf("status.backup = %+v, want none", s)
				}
				return
			}
			if s == nil {
				t.Fatal("no status.backup")
			}
			if got := nameOf(s.LastSuccessful); got != tt.lastGood {
				t.Errorf("lastSuccessful %q, want %q", got, tt.lastGood)
			}
			if got := reasonOf(s.LastFailure); got != tt.lastFailure {
				t.Errorf("lastFailure %q, want %q", got, tt.lastFailure)
			}
			if (s.LastDrill == nil) != (tt.drillOK == nil) || (s.LastDrill != nil && s.LastDrill.Succeeded != *tt.drillOK) {
				t.Errorf("lastDrill %+v, want succeeded %v", s.LastDrill, tt.drillOK)
			}
			if s.LastRequest != tt.lastRequest {
				t.Errorf("lastRequest %q, want %q", s.LastRequest, tt.lastRequest)
			}
		})
	}
}

func nameOf(r *galleryv1alpha1.BackupRecord) string {
	if r == nil {
		return ""
	}
	return r.Name
}

func reasonOf(f *galleryv1alpha1.BackupFailure) string {
	if f == nil {
		return ""
	}
	return f.Reason
}

func TestRestoreStatusOf(t *testing.T) {
	end := t0.Add(time.Hour)
	rep := &report.Report{Backup: "b1", Counts: map[string]int64{"users": 2, "images": 30}}
	rep.Photos.Verified = 30
	tests := []struct {
		name    string
		run     jobRun
		phase   galleryv1alpha1.RestorePhase
		msgPart string
	}{
		{"running", jobRun{job: "photos-restore"}, galleryv1alpha1.RestoreRunning, "Job photos-restore is restoring"},
		{"failed with a report", jobRun{job: "photos-restore", finished: true, finishedAt: end, report: &report.Report{Error: "no such backup"}},
			galleryv1alpha1.RestoreFailed, "Job photos-restore failed: no such backup; fix the cause and delete the Job to retry"},
		{"failed without one", jobRun{job: "photos-restore", finished: true, finishedAt: end, why: "DeadlineExceeded: too slow"},
			galleryv1alpha1.RestoreFailed, "failed: DeadlineExceeded: too slow"},
		{"succeeded with a report", jobRun{job: "photos-restore", finished: true, succeeded: true, finishedAt: end, report: rep},
			galleryv1alpha1.RestoreSucceeded, "restored backup b1: 2 users, 30 images; 30 photos verified"},
		{"succeeded without one", jobRun{job: "photos-restore", finished: true, succeeded: true, finishedAt: end},
			galleryv1alpha1.RestoreSucceeded, "Job photos-restore completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := restoreStatusOf(tt.run)
			if s.Phase != tt.phase || !strings.Contains(s.Message, tt.msgPart) {
				t.Errorf("restoreStatusOf = %s %q, want %s containing %q", s.Phase, s.Message, tt.phase, tt.msgPart)
			}
			if tt.run.finished && (s.CompletedAt == nil || !s.CompletedAt.Equal(ptrTime(statusTime(end)))) {
				t.Errorf("completedAt %v, want %v", s.CompletedAt, end)
			}
		})
	}
}

func TestScheduleIntervalErrorsNameTheCause(t *testing.T) {
	tests := []struct {
		name, schedule, zone, want string
	}{
		{"an hour past 23", "0 25 * * *", "", `"0 25 * * *"`},
		{"an unknown zone", "@daily", "Mars/Olympus", `time zone "Mars/Olympus"`},
		{"not cron at all", "whenever", "UTC", `"whenever"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scheduleInterval(tt.schedule, tt.zone, t0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("scheduleInterval(%q, %q) error %v, want one naming %s", tt.schedule, tt.zone, err, tt.want)
			}
		})
	}
}
