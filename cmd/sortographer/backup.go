package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/sortographer/sortographer/internal/backup"
	"github.com/sortographer/sortographer/internal/backup/report"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
)

func init() {
	commands["backup"] = backupCommand
	commands["restore"] = restoreCommand
	commands["restore-drill"] = drillCommand
}

// backupCommand makes one backup of the gallery to SORTOGRAPHER_BACKUP_PATH or
// SORTOGRAPHER_BACKUP_S3_BUCKET while the gallery keeps running, then applies
// retention. The operator runs it from a CronJob with the gallery's own image and
// credentials.
func backupCommand(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return reported(cfg, report.OperationBackup, func() (report.Report, error) {
		loc, st, photos, err := openForBackup(ctx, cfg)
		if err != nil {
			return report.Report{}, err
		}
		defer st.Close()
		b := backup.Backup{
			DB: st, Photos: photos, PhotoMode: backup.PhotoMode(cfg), To: loc, Gallery: cfg.BackupGallery(),
			Keep: cfg.Backup.Keep, KeepFor: cfg.Backup.KeepFor, TempDir: os.TempDir(), Log: log,
		}
		return b.Run(ctx)
	})
}

// restoreCommand fills an empty gallery (database and photo storage) from a backup,
// after checking the whole backup against its manifest. It refuses a gallery that
// has data, and does nothing when the gallery already holds exactly that backup.
func restoreCommand(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return reported(cfg, report.OperationRestore, func() (report.Report, error) {
		loc, st, photos, err := openForBackup(ctx, cfg)
		if err != nil {
			return report.Report{}, err
		}
		defer st.Close()
		var before time.Time
		if cfg.Backup.RestoreBefore != "" {
			before, _ = time.Parse(time.RFC3339, cfg.Backup.RestoreBefore) // ValidateBackup checked it
		}
		r := backup.Restore{
			From: loc, Gallery: cfg.BackupGallery(), Backup: cfg.Backup.RestoreBackup, Before: before,
			DB: st, Photos: photos, VerifyPercent: cfg.Backup.RestoreVerifyPercent, TempDir: os.TempDir(), Log: log,
		}
		return r.Run(ctx)
	})
}

// drillCommand restores the newest backup into a scratch SQLite database under the
// temporary folder and checks it, touching neither the gallery's database nor its
// storage: the proof, on a schedule, that the backups restore.
func drillCommand(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return reported(cfg, report.OperationDrill, func() (report.Report, error) {
		if err := cfg.ValidateBackup(); err != nil {
			return report.Report{}, err
		}
		loc, err := backup.OpenLocation(ctx, cfg.Backup)
		if err != nil {
			return report.Report{}, err
		}
		return backup.Drill(ctx, loc, cfg.BackupGallery(), os.TempDir(), cfg.Backup.RestoreVerifyPercent, log)
	})
}

func openForBackup(ctx context.Context, cfg config.Config) (backup.Location, store.Store, objects.Store, error) {
	if err := cfg.ValidateBackup(); err != nil {
		return nil, nil, nil, err
	}
	loc, err := backup.OpenLocation(ctx, cfg.Backup)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := store.Open(ctx, cfg.Database, cfg.SQLiteFile())
	if err != nil {
		return nil, nil, nil, err
	}
	photos, err := objects.Open(ctx, cfg)
	if err != nil {
		_ = st.Close()
		return nil, nil, nil, err
	}
	return loc, st, photos, nil
}

// reported runs an operation and writes its report (with the error, if any) to
// SORTOGRAPHER_BACKUP_REPORT_PATH, where the operator reads it.
func reported(cfg config.Config, operation string, run func() (report.Report, error)) error {
	start := time.Now().UTC()
	rep, err := run()
	rep.Operation = operation
	if rep.StartedAt.IsZero() {
		rep.StartedAt = start
	}
	if rep.CompletedAt.IsZero() {
		rep.CompletedAt = time.Now().UTC()
	}
	if err != nil {
		rep.Error = err.Error()
	}
	return errors.Join(err, report.Write(cfg.Backup.ReportPath, rep))
}
