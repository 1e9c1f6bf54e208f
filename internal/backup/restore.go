package backup

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sortographer/sortographer/internal/backup/report"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
)

// List returns gallery's complete backups at loc, oldest first. Folders without a
// readable manifest (a backup still running, or one that crashed) are not backups.
func List(ctx context.Context, loc Location, gallery string) ([]Manifest, error) {
	var keys []string
	err := loc.List(ctx, backupsPrefix(gallery), func(i objects.Info) error {
		if strings.HasSuffix(i.Key, "/manifest.json") {
			keys = append(keys, i.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var out []Manifest
	for _, k := range keys {
		m, err := readManifest(ctx, loc, k)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// maxManifestBytes bounds a manifest read: one is a few kilobytes.
const maxManifestBytes = 1 << 20

func readManifest(ctx context.Context, loc Location, key string) (Manifest, error) {
	rc, _, err := loc.Get(ctx, key)
	if err != nil {
		return Manifest{}, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	var m Manifest
	dec := json.NewDecoder(io.LimitReader(rc, maxManifestBytes))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %s is not a manifest: %w", ErrDamaged, key, err)
	}
	if m.Format != manifestFormat {
		return Manifest{}, fmt.Errorf("%s: manifest format %d; this gallery reads format %d", key, m.Format, manifestFormat)
	}
	if want := len(store.BackupTablesAt(m.SchemaVersion)); len(m.Tables) != want || m.Name == "" {
		return Manifest{}, fmt.Errorf("%w: %s lists %d tables, want %d", ErrDamaged, key, len(m.Tables), want)
	}
	return m, nil
}

// Pick chooses a backup: the one named, or else the newest complete one, taken at or
// before before when that is not zero.
func Pick(ctx context.Context, loc Location, gallery, name string, before time.Time) (Manifest, error) {
	if name != "" {
		m, err := readManifest(ctx, loc, manifestKey(gallery, name))
		if errors.Is(err, objects.ErrNotFound) {
			return Manifest{}, fmt.Errorf("%w named %s for gallery %s", ErrNoBackup, name, gallery)
		}
		return m, err
	}
	list, err := List(ctx, loc, gallery)
	if err != nil {
		return Manifest{}, err
	}
	for i := len(list) - 1; i >= 0; i-- {
		if before.IsZero() || !list[i].StartedAt.After(before) {
			return list[i], nil
		}
	}
	if before.IsZero() {
		return Manifest{}, fmt.Errorf("%w for gallery %s at this location", ErrNoBackup, gallery)
	}
	return Manifest{}, fmt.Errorf("%w for gallery %s taken at or before %s", ErrNoBackup, gallery, before.Format(time.RFC3339))
}

// Restore loads one backup into an empty gallery.
type Restore struct {
	From    Location
	Gallery string
	// Backup names the backup; empty: the newest (at or before Before).
	Backup string
	Before time.Time
	// DB is the database to fill, which must hold no gallery rows.
	DB store.Store
	// Photos is the storage to copy photos into (PhotosCopied backups) or to check
	// them in (listed backups). Nil: photos are only checked inside the backup (the
	// drill).
	Photos objects.Store
	// VerifyPercent is the share of photos checked against their SHA-256 (0–100). A
	// copied photo is always checked: it is hashed on its way anyway.
	VerifyPercent int
	TempDir       string
	Log           *slog.Logger
	// Operation names the report's operation (default restore).
	Operation string
}

// Run checks the backup whole, then restores it: photos first, then the database in
// one transaction. Anything that fails before the database commit leaves the gallery
// as empty as it was (copied photos are removed again).
func (r *Restore) Run(ctx context.Context) (report.Report, error) {
	rep := report.Report{Operation: r.Operation, StartedAt: time.Now().UTC()}
	if rep.Operation == "" {
		rep.Operation = report.OperationRestore
	}
	m, err := Pick(ctx, r.From, r.Gallery, r.Backup, r.Before)
	if err != nil {
		return rep, err
	}
	rep.Backup = m.Name
	rep.SchemaVersion = m.SchemaVersion
	if m.SchemaVersion > store.LatestSchemaVersion {
		return rep, fmt.Errorf("backup %s holds schema version %d, newer than this gallery's %d: restore it with the gallery version that made it", m.Name, m.SchemaVersion, store.LatestSchemaVersion)
	}

	// 1. Every table file, whole, against the manifest: nothing is written before the
	// backup is known good.
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			closeRemove(f)
		}
	}()
	for _, t := range m.Tables {
		f, err := download(ctx, r.From, r.TempDir, t.Key, t.Size, t.SHA256)
		if err != nil {
			return rep, fmt.Errorf("backup %s: %w", m.Name, err)
		}
		files[t.Table] = f
		rows, err := readTable(f, func([]string, []any) error { return nil })
		if err != nil || rows != t.Rows {
			return rep, fmt.Errorf("%w: backup %s: %s holds %d readable rows, the manifest says %d: %w", ErrDamaged, m.Name, t.Key, rows, t.Rows, errors.Join(err))
		}
	}
	entries, err := readPhotos(ctx, r.From, r.TempDir, m)
	if err != nil {
		return rep, fmt.Errorf("backup %s: %w", m.Name, err)
	}
	if int64(len(entries)) != m.Photos.Objects {
		return rep, fmt.Errorf("%w: backup %s lists %d photos, the manifest says %d", ErrDamaged, m.Name, len(entries), m.Photos.Objects)
	}

	// 2. The target must be empty, or hold exactly this backup already (a restore Job
	// that ran to the end before and is run again).
	counts, err := store.TableCounts(ctx, r.DB)
	if err != nil {
		return rep, err
	}
	if sameCounts(counts, m.Counts()) {
		r.Log.Info("the database already holds this backup; nothing to do", "backup", m.Name)
		rep.Counts = counts
		rep.CompletedAt = time.Now().UTC()
		return rep, nil
	}
	if !empty(counts) {
		return rep, fmt.Errorf("restore %s: %w: it holds %s; a restore only fills an empty gallery", m.Name, store.ErrNotEmpty, describe(counts))
	}

	// 3. Photos, synced to disk once before the database says they are there.
	photos := r.Photos
	if fs, ok := photos.(*objects.Filesystem); ok {
		photos = fs.Batched()
	}
	written, verified, err := r.photos(ctx, m, photos, entries)
	if err == nil && photos != nil {
		err = objects.Sync(ctx, photos)
	}
	rep.Photos = report.Photos{Mode: m.Photos.Mode, Objects: m.Photos.Objects, Copied: int64(len(written)), Bytes: m.Photos.Bytes, Verified: verified}
	undo := func() {
		for _, k := range written {
			_ = r.Photos.Delete(context.WithoutCancel(ctx), k)
		}
	}
	if err != nil {
		undo()
		return rep, err
	}

	// 4. The database, in one transaction.
	src := fileSource{files: files}
	if err := store.Restore(ctx, r.DB, m.SchemaVersion, src); err != nil {
		undo()
		return rep, fmt.Errorf("restore %s: %w", m.Name, err)
	}
	after, err := store.TableCounts(ctx, r.DB)
	if err != nil {
		return rep, err
	}
	if !sameCounts(after, m.Counts()) {
		return rep, fmt.Errorf("restore %s: the database holds %s after the restore, the backup %s", m.Name, describe(after), describe(m.Counts()))
	}
	rep.Counts = after
	rep.SizeBytes = m.Size()
	rep.CompletedAt = time.Now().UTC()
	r.Log.Info("restored a backup", "backup", m.Name, "images", after["images"], "photosVerified", verified)
	return rep, nil
}

// photos copies a copied backup's photos into r.Photos (checking each one's SHA-256
// on the way), or checks a share of a listed backup's photos where they live. It
// returns the keys it wrote, to remove should the restore fail later.
func (r *Restore) photos(ctx context.Context, m Manifest, to objects.Store, entries []photoEntry) (written []string, verified int64, err error) {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(photoCopyWorkers)
	for _, e := range entries {
		copyIt := m.Photos.Mode == PhotosCopied && to != nil
		check := copyIt || sampled(e.Key, r.VerifyPercent)
		if !check || e.SHA256 == "" {
			continue
		}
		g.Go(func() error {
			var got photoEntry
			var err error
			switch {
			case copyIt:
				got, err = copyPhoto(gctx, r.From, to, photoPoolKey(m.Gallery, e.Key), e.Key)
				if err == nil {
					mu.Lock()
					written = append(written, e.Key)
					mu.Unlock()
				}
			case m.Photos.Mode == PhotosCopied:
				got, err = hashObject(gctx, r.From, photoPoolKey(m.Gallery, e.Key))
			case to != nil:
				got, err = hashObject(gctx, to, e.Key)
			default:
				return nil // listed photos, and nowhere to look: the drill checks the database only
			}
			if errors.Is(err, objects.ErrNotFound) {
				return fmt.Errorf("%w: photo %s is missing", ErrDamaged, e.Key)
			}
			if err != nil {
				return err
			}
			if got.SHA256 != e.SHA256 || got.Size != e.Size {
				return fmt.Errorf("%w: photo %s is %d bytes with SHA-256 %.12s…, the backup recorded %d bytes with %.12s…", ErrDamaged, e.Key, got.Size, got.SHA256, e.Size, e.SHA256)
			}
			mu.Lock()
			verified++
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	if err != nil {
		err = fmt.Errorf("backup %s: %w", m.Name, err)
	}
	return written, verified, err
}

func hashObject(ctx context.Context, s objects.Store, key string) (photoEntry, error) {
	rc, _, err := s.Get(ctx, key)
	if err != nil {
		return photoEntry{}, err
	}
	defer rc.Close()
	hr := newHashingReader(rc)
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return photoEntry{}, fmt.Errorf("read %s: %w", key, err)
	}
	return photoEntry{Key: key, Size: hr.n, SHA256: hr.sum()}, nil
}

// sampled picks percent of keys, the same ones every time.
func sampled(key string, percent int) bool {
	if percent >= 100 {
		return true
	}
	sum := sha256.Sum256([]byte(key))
	return int(binary.BigEndian.Uint16(sum[:2])%100) < percent
}

// fileSource reads table files that download checked.
type fileSource struct{ files map[string]*os.File }

func (s fileSource) Rows(ctx context.Context, table string, fn func([]string, []any) error) error {
	f, ok := s.files[table]
	if !ok {
		return fmt.Errorf("%w: no file for table %s", ErrDamaged, table)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := readTable(f, func(cols []string, vals []any) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(cols, vals)
	})
	return err
}

// sameCounts reports whether a database holds rows, exactly as many in every table as
// the backup counts.
func sameCounts(a, b map[string]int64) bool {
	for _, t := range store.BackupTables {
		if a[t.Name] != b[t.Name] {
			return false
		}
	}
	return !empty(a)
}

func empty(counts map[string]int64) bool {
	for _, n := range counts {
		if n != 0 {
			return false
		}
	}
	return true
}

func describe(counts map[string]int64) string {
	var parts []string
	for _, t := range store.BackupTables {
		parts = append(parts, fmt.Sprintf("%d %s", counts[t.Name], t.Name))
	}
	return strings.Join(parts, ", ")
}

// Drill restores a location's newest backup into a scratch SQLite database in dir
// and checks it: the proof that backups restore, without touching the gallery.
func Drill(ctx context.Context, from Location, gallery, dir string, verifyPercent int, log *slog.Logger) (report.Report, error) {
	scratch, err := os.MkdirTemp(dir, "drill-*")
	if err != nil {
		return report.Report{Operation: report.OperationDrill}, err
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	db, err := store.Open(ctx, storeSQLite(), scratch+"/drill.db")
	if err != nil {
		return report.Report{Operation: report.OperationDrill}, err
	}
	defer func() { _ = db.Close() }()
	r := Restore{From: from, Gallery: gallery, DB: db, VerifyPercent: verifyPercent, TempDir: scratch, Log: log, Operation: report.OperationDrill}
	return r.Run(ctx)
}

// Prune applies retention to gallery's backups at loc and returns the names it
// removed. A complete backup goes when it is beyond the newest keep (keep > 0) or
// older than keepFor (keepFor > 0); the newest complete backup always stays. An
// incomplete backup (no manifest) older than a day is a crashed run, and goes. Photo
// objects that no kept backup lists go too, unless another backup is running.
func Prune(ctx context.Context, loc Location, gallery string, keep int, keepFor time.Duration, now time.Time, log *slog.Logger) ([]string, error) {
	folders := map[string]bool{} // name → complete
	err := loc.List(ctx, backupsPrefix(gallery), func(i objects.Info) error {
		name, rest, ok := strings.Cut(strings.TrimPrefix(i.Key, backupsPrefix(gallery)), "/")
		if ok {
			folders[name] = folders[name] || rest == "manifest.json"
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	var complete []string
	running := false
	var remove []string
	for name, done := range folders {
		started, perr := time.Parse(nameLayout, name)
		switch {
		case done:
			complete = append(complete, name)
		case perr == nil && now.Sub(started) > 24*time.Hour:
			remove = append(remove, name)
		default:
			running = true
		}
	}
	slices.Sort(complete)
	for i, name := range complete {
		fromNewest := len(complete) - 1 - i
		if fromNewest == 0 {
			continue
		}
		started, perr := time.Parse(nameLayout, name)
		tooMany := keep > 0 && fromNewest >= keep
		tooOld := keepFor > 0 && perr == nil && now.Sub(started) > keepFor
		if tooMany || tooOld {
			remove = append(remove, name)
		}
	}
	slices.Sort(remove)
	for _, name := range remove {
		if err := deleteBackup(ctx, loc, gallery, name); err != nil {
			return nil, fmt.Errorf("retention: remove %s: %w", name, err)
		}
		log.Info("removed an old backup", "backup", name)
	}
	if running {
		return remove, nil
	}
	kept, err := List(ctx, loc, gallery)
	if err != nil {
		return remove, err
	}
	used := map[string]bool{}
	for _, m := range kept {
		if m.Photos.Mode != PhotosCopied {
			continue
		}
		entries, err := readPhotos(ctx, loc, os.TempDir(), m)
		if err != nil {
			return remove, fmt.Errorf("retention: %w", err)
		}
		for _, e := range entries {
			used[photoPoolKey(gallery, e.Key)] = true
		}
	}
	var unused []string
	err = loc.List(ctx, gallery+"/photos/", func(i objects.Info) error {
		if !used[i.Key] {
			unused = append(unused, i.Key)
		}
		return nil
	})
	if err != nil {
		return remove, fmt.Errorf("retention: %w", err)
	}
	for _, k := range unused {
		if err := loc.Delete(ctx, k); err != nil {
			return remove, fmt.Errorf("retention: %w", err)
		}
	}
	if len(unused) > 0 {
		log.Info("removed photos no kept backup holds", "photos", len(unused))
	}
	return remove, nil
}

// deleteBackup removes the manifest first, so a half-removed backup is never taken for
// a complete one.
func deleteBackup(ctx context.Context, loc Location, gallery, name string) error {
	if err := loc.Delete(ctx, manifestKey(gallery, name)); err != nil {
		return err
	}
	var keys []string
	if err := loc.List(ctx, backupPrefix(gallery, name), func(i objects.Info) error {
		keys = append(keys, i.Key)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := loc.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
