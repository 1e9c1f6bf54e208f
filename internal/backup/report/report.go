// Package report is the outcome of `sortographer backup`, `restore` and `restore-drill`,
// written as one line of JSON to the container's terminationMessagePath, where the
// operator reads it from the finished pod's status to fill in the Gallery's status.
//
// It is a leaf package so that the operator can read reports without importing the
// backup code and its database drivers. The kubelet keeps at most 4096 bytes of a
// termination message; a report stays far below that (Error is shortened by Write).
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Operations.
const (
	OperationBackup  = "backup"
	OperationRestore = "restore"
	OperationDrill   = "restore-drill"
)

// maxErrorLen keeps a report well inside the kubelet's 4096-byte termination message.
const maxErrorLen = 1024

// Report is what one run did.
type Report struct {
	// Operation is backup, restore or restore-drill.
	Operation string `json:"operation"`
	// Backup is the backup written or read: its name, a UTC time such as
	// 20261205T031500Z.
	Backup string `json:"backup,omitempty"`
	// StartedAt and CompletedAt bound the run.
	StartedAt   time.Time `json:"startedAt"`
	CompletedAt time.Time `json:"completedAt"`
	// SchemaVersion is the database schema version the backup holds.
	SchemaVersion int `json:"schemaVersion,omitempty"`
	// SizeBytes is the size of the backup's own files (database tables, photo list,
	// manifest) plus the photo bytes this run copied.
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// Counts are the rows of each table the backup holds, by table name (users, images,
	// labels, albums, album_images, shares).
	Counts map[string]int64 `json:"counts,omitempty"`
	// Photos is what happened to photo objects.
	Photos Photos `json:"photos,omitzero"`
	// Removed names the old backups that retention deleted.
	Removed []string `json:"removed,omitempty"`
	// Error is why the run failed; empty on success.
	Error string `json:"error,omitempty"`
}

// Photos counts photo objects.
type Photos struct {
	// Mode is "copied" (filesystem storage: the objects are in the backup), "listed"
	// (S3 storage: keys and checksums only; the bucket's versioning is the photo
	// backup) or "excluded" (photos not backed up).
	Mode string `json:"mode,omitempty"`
	// Objects the backup holds or lists; Copied of them this run copied (the rest were
	// already in an earlier backup); Verified of them a restore checked.
	Objects  int64 `json:"objects,omitempty"`
	Copied   int64 `json:"copied,omitempty"`
	Bytes    int64 `json:"bytes,omitempty"`
	Verified int64 `json:"verified,omitempty"`
}

// Succeeded reports whether the run succeeded.
func (r Report) Succeeded() bool { return r.Error == "" }

// Write writes r as one line of JSON to path (nothing when path is empty), shortening
// Error to fit a termination message.
func Write(path string, r Report) error {
	if path == "" {
		return nil
	}
	if len(r.Error) > maxErrorLen {
		r.Error = r.Error[:maxErrorLen] + "…"
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil { //nolint:gosec // the kubelet reads it; it holds no secret
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Parse reads a report from a termination message.
func Parse(message string) (Report, error) {
	var r Report
	if err := json.Unmarshal([]byte(message), &r); err != nil {
		return Report{}, fmt.Errorf("read backup report: %w", err)
	}
	if r.Operation == "" {
		return Report{}, fmt.Errorf("read backup report: no operation in %.80q", message)
	}
	return r, nil
}
