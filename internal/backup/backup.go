// Package backup makes and restores a gallery's backups: a consistent logical dump of
// the database, the photos (copied incrementally from filesystem storage, or listed
// with their checksums for S3 storage, whose versioning and replication are the photo
// backup), and a manifest that lets a restore check every byte before it writes one.
//
// A location (a directory or an S3 bucket, as an objects.Store) holds, per gallery:
//
//	<gallery>/backups/<name>/db/<table>.jsonl.gz   one file per table
//	<gallery>/backups/<name>/photos.jsonl.gz       every photo object: key, size, SHA-256
//	<gallery>/backups/<name>/manifest.json         written last: a backup without it is
//	                                               incomplete and never restored
//	<gallery>/photos/<key>                         photo objects, shared by all backups
//
// A backup's name is its start time in UTC (20261205T031500Z), so names sort by age.
//
// The dump is the same on every database, so a backup restores into any of them: the
// restore drill loads it into a scratch SQLite file, which needs no privileges on the
// production database server, and an embedded install can move to PostgreSQL.
package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sortographer/sortographer/internal/backup/report"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
)

// ErrDamaged is returned (wrapped) when a backup's files do not match its manifest:
// corrupted, truncated or missing.
var ErrDamaged = errors.New("backup is damaged")

// ErrNoBackup is returned (wrapped) when no complete backup matches.
var ErrNoBackup = errors.New("no complete backup")

// manifestFormat is the version of the layout above.
const manifestFormat = 1

// nameLayout is a backup's name: its start time in UTC.
const nameLayout = "20060102T150405Z"

// Photo modes, report.Photos.Mode.
const (
	// PhotosCopied: the photo objects are in the backup (filesystem storage).
	PhotosCopied = "copied"
	// PhotosListed: keys and checksums only (S3 storage).
	PhotosListed = "listed"
	// PhotosExcluded: keys and checksums only, by the admin's choice.
	PhotosExcluded = "excluded"
)

// Location is where backups are kept: a directory or an S3 bucket.
type Location interface {
	objects.Store
	objects.Lister
}

// Manifest describes one complete backup.
type Manifest struct {
	Format      int       `json:"format"`
	Gallery     string    `json:"gallery"`
	Name        string    `json:"name"`
	StartedAt   time.Time `json:"startedAt"`
	CompletedAt time.Time `json:"completedAt"`
	// SchemaVersion is the database schema the rows belong to.
	SchemaVersion int `json:"schemaVersion"`
	// Database is the driver the rows came from (they load into any).
	Database string      `json:"database"`
	Tables   []FileEntry `json:"tables"`
	Photos   PhotoSet    `json:"photos"`
	// Excluded are images left out because their photo was deleted while the backup
	// ran (the database snapshot still held them).
	Excluded []string `json:"excluded,omitempty"`
}

// FileEntry is one of a backup's own files.
type FileEntry struct {
	// Table is the database table a table file holds; empty for other files.
	Table  string `json:"table,omitempty"`
	Key    string `json:"key"`
	Rows   int64  `json:"rows"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// PhotoSet is the backup's photo list.
type PhotoSet struct {
	Mode    string    `json:"mode"`
	List    FileEntry `json:"list"`
	Objects int64     `json:"objects"`
	Bytes   int64     `json:"bytes"`
}

// Counts are the rows of each table, by name.
func (m Manifest) Counts() map[string]int64 {
	c := make(map[string]int64, len(m.Tables))
	for _, t := range m.Tables {
		c[t.Table] = t.Rows
	}
	return c
}

// Size is the bytes of the backup's own files (without the shared photo objects).
func (m Manifest) Size() int64 {
	n := m.Photos.List.Size
	for _, t := range m.Tables {
		n += t.Size
	}
	return n
}

func backupsPrefix(gallery string) string          { return gallery + "/backups/" }
func backupPrefix(gallery, name string) string     { return backupsPrefix(gallery) + name + "/" }
func manifestKey(gallery, name string) string      { return backupPrefix(gallery, name) + "manifest.json" }
func photoPoolKey(gallery, photoKey string) string { return gallery + "/photos/" + photoKey }

// Backup makes one backup.
type Backup struct {
	// DB is the gallery's database; Photos its photo storage.
	DB     store.Store
	Photos objects.Store
	// PhotoMode is PhotosCopied (filesystem storage), PhotosListed (S3) or
	// PhotosExcluded.
	PhotoMode string
	// To is where the backup goes, under Gallery's folder.
	To      Location
	Gallery string
	// Retention: see Prune.
	Keep    int
	KeepFor time.Duration
	// TempDir holds the table files while they are written.
	TempDir string
	Now     func() time.Time
	Log     *slog.Logger
}

// photoCopyWorkers copy photos at once: enough to hide S3's latency, few enough for a
// small Job.
const photoCopyWorkers = 8

// Run makes the backup, then applies retention. The report says what it did.
func (b *Backup) Run(ctx context.Context) (report.Report, error) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	to := b.To
	if fs, ok := to.(*objects.Filesystem); ok {
		// One sync before the manifest instead of two per object.
		to = fs.Batched()
	}
	started := now().UTC().Truncate(time.Second)
	m := Manifest{Format: manifestFormat, Gallery: b.Gallery, Name: started.Format(nameLayout), StartedAt: started}
	rep := report.Report{Operation: report.OperationBackup, Backup: m.Name, StartedAt: started}
	if exists, err := objects.Exists(ctx, to, manifestKey(b.Gallery, m.Name)); err != nil {
		return rep, fmt.Errorf("check the backup location: %w", err)
	} else if exists {
		return rep, fmt.Errorf("a backup named %s already exists; wait a second and run again", m.Name)
	}

	tables, refs, version, err := b.dump(ctx)
	defer func() {
		for _, t := range tables {
			t.remove()
		}
	}()
	if err != nil {
		return rep, err
	}
	m.SchemaVersion = version
	m.Database = fmt.Sprintf("%T", b.DB)

	entries, excluded, copied, copiedBytes, err := b.photos(ctx, to, refs)
	if err != nil {
		return rep, err
	}
	if len(excluded) > 0 {
		b.Log.Info("left out images deleted while the backup ran", "images", len(excluded))
		if tables, err = dropImages(b.TempDir, tables, excluded); err != nil {
			return rep, err
		}
		for id := range excluded {
			m.Excluded = append(m.Excluded, id)
		}
		slices.Sort(m.Excluded)
	}

	prefix := backupPrefix(b.Gallery, m.Name)
	for _, tb := range store.BackupTablesAt(m.SchemaVersion) {
		t := tables[tb.Name]
		size, sum, err := t.finish()
		if err != nil {
			return rep, fmt.Errorf("write %s: %w", tb.Name, err)
		}
		key := prefix + "db/" + tb.Name + ".jsonl.gz"
		if err := putFile(ctx, to, key, t.f, size); err != nil {
			return rep, err
		}
		m.Tables = append(m.Tables, FileEntry{Table: tb.Name, Key: key, Rows: t.rows, Size: size, SHA256: sum})
	}
	f, size, sum, err := writePhotoList(b.TempDir, entries)
	if err != nil {
		return rep, fmt.Errorf("write the photo list: %w", err)
	}
	defer closeRemove(f)
	key := prefix + "photos.jsonl.gz"
	if err := putFile(ctx, to, key, f, size); err != nil {
		return rep, err
	}
	m.Photos = PhotoSet{Mode: b.PhotoMode, List: FileEntry{Key: key, Rows: int64(len(entries)), Size: size, SHA256: sum}, Objects: int64(len(entries))}
	for _, e := range entries {
		m.Photos.Bytes += e.Size
	}
	if err := objects.Sync(ctx, to); err != nil {
		return rep, err
	}
	m.CompletedAt = now().UTC()
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return rep, err
	}
	if err := b.To.Put(ctx, manifestKey(b.Gallery, m.Name), strings.NewReader(string(body)), int64(len(body)), "application/json"); err != nil {
		return rep, fmt.Errorf("write the manifest: %w", err)
	}

	rep.CompletedAt = m.CompletedAt
	rep.SchemaVersion = m.SchemaVersion
	rep.Counts = m.Counts()
	rep.SizeBytes = m.Size() + int64(len(body)) + copiedBytes
	rep.Photos = report.Photos{Mode: b.PhotoMode, Objects: m.Photos.Objects, Copied: copied, Bytes: m.Photos.Bytes}
	b.Log.Info("made a backup", "backup", m.Name, "images", rep.Counts["images"], "photosCopied", copied, "bytes", rep.SizeBytes)

	removed, err := Prune(ctx, b.To, b.Gallery, b.Keep, b.KeepFor, now(), b.Log)
	rep.Removed = removed
	if err != nil {
		// The backup itself is complete; retention runs again next time.
		return rep, fmt.Errorf("backup %s is complete, but retention failed: %w", m.Name, err)
	}
	return rep, nil
}

// imageRef is what the backup needs of an image row to find its photos.
type imageRef struct {
	id, original, thumbnail, sha256 string
	size                            int64
}

// dump writes every table of one snapshot to temporary files and returns the images'
// photo references.
func (b *Backup) dump(ctx context.Context) (map[string]*tempFile, []imageRef, int, error) {
	sn, err := store.OpenSnapshot(ctx, b.DB)
	if err != nil {
		return nil, nil, 0, err
	}
	defer func() { _ = sn.Close() }()
	if sn.SchemaVersion() == 0 {
		return nil, nil, 0, errors.New("the database has no schema yet: nothing to back up (has the gallery ever started?)")
	}
	tables := map[string]*tempFile{}
	var refs []imageRef
	for _, tb := range store.BackupTablesAt(sn.SchemaVersion()) {
		var t *tempFile
		err := sn.Rows(ctx, tb.Name, func(columns []string, values []any) error {
			if t == nil {
				var err error
				if t, err = newTableFile(b.TempDir, columns); err != nil {
					return err
				}
				tables[tb.Name] = t
			}
			if tb.Name == "images" {
				refs = append(refs, imageRefOf(columns, values))
			}
			return t.writeRow(values)
		})
		if err != nil {
			return tables, nil, 0, fmt.Errorf("dump %s: %w", tb.Name, err)
		}
		if t == nil {
			// An empty table still records its columns, so a restore can tell
			// "empty" from "missing".
			cols, err := tableColumns(ctx, sn, tb.Name)
			if err != nil {
				return tables, nil, 0, err
			}
			if t, err = newTableFile(b.TempDir, cols); err != nil {
				return tables, nil, 0, err
			}
			tables[tb.Name] = t
		}
	}
	return tables, refs, sn.SchemaVersion(), nil
}

// tableColumns names an empty table's columns.
func tableColumns(ctx context.Context, sn *store.Snapshot, table string) ([]string, error) {
	cols, err := sn.Columns(ctx, table)
	if err != nil {
		return nil, fmt.Errorf("dump %s: %w", table, err)
	}
	return cols, nil
}

func imageRefOf(columns []string, values []any) imageRef {
	var r imageRef
	for i, c := range columns {
		switch c {
		case "id":
			r.id, _ = values[i].(string)
		case "object_key":
			r.original, _ = values[i].(string)
		case "thumbnail_key":
			r.thumbnail, _ = values[i].(string)
		case "sha256":
			r.sha256, _ = values[i].(string)
		case "size_bytes":
			r.size, _ = values[i].(int64)
		}
	}
	return r
}

// photos lists, and in PhotosCopied mode copies, every image's original and thumbnail.
// Objects the newest earlier backup already holds with the same size and checksum are
// not copied again. An image whose original is gone (deleted after the snapshot) is
// returned in excluded.
func (b *Backup) photos(ctx context.Context, to objects.Store, refs []imageRef) (entries []photoEntry, excluded map[string]bool, copied, copiedBytes int64, err error) {
	excluded = map[string]bool{}
	if b.PhotoMode != PhotosCopied {
		for _, r := range refs {
			entries = append(entries, photoEntry{Key: r.original, Size: r.size, SHA256: r.sha256})
		}
		return entries, excluded, 0, 0, nil
	}
	previous, err := b.previousPhotos(ctx)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	type job struct {
		key, imageID string
		original     bool
	}
	var jobs []job
	for _, r := range refs {
		jobs = append(jobs, job{key: r.original, imageID: r.id, original: true})
		if r.thumbnail != "" {
			jobs = append(jobs, job{key: r.thumbnail, imageID: r.id})
		}
	}
	var mu sync.Mutex
	results := make([]*photoEntry, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(photoCopyWorkers)
	for i, j := range jobs {
		g.Go(func() error {
			if prev, ok := previous[j.key]; ok {
				if info, err := b.Photos.Head(gctx, j.key); err == nil && info.Size == prev.Size {
					e := prev
					results[i] = &e
					return nil
				}
			}
			e, err := copyPhoto(gctx, b.Photos, to, j.key, photoPoolKey(b.Gallery, j.key))
			switch {
			case errors.Is(err, objects.ErrNotFound):
				if j.original {
					mu.Lock()
					excluded[j.imageID] = true
					mu.Unlock()
				}
				return nil
			case err != nil:
				return err
			}
			results[i] = &e
			mu.Lock()
			copied++
			copiedBytes += e.Size
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, 0, 0, err
	}
	for i, e := range results {
		if e != nil && !excluded[jobs[i].imageID] {
			entries = append(entries, *e)
		}
	}
	return entries, excluded, copied, copiedBytes, nil
}

// copyPhoto copies one object, hashing it on the way.
func copyPhoto(ctx context.Context, from, to objects.Store, fromKey, toKey string) (photoEntry, error) {
	rc, info, err := from.Get(ctx, fromKey)
	if err != nil {
		return photoEntry{}, fmt.Errorf("read photo %s: %w", fromKey, err)
	}
	defer rc.Close()
	hr := newHashingReader(rc)
	if err := to.Put(ctx, toKey, hr, info.Size, info.ContentType); err != nil {
		return photoEntry{}, fmt.Errorf("copy photo %s: %w", fromKey, err)
	}
	return photoEntry{Key: fromKey, Size: hr.n, SHA256: hr.sum()}, nil
}

// previousPhotos is the photo list of the newest complete backup, by key: what the
// shared photo folder already holds.
func (b *Backup) previousPhotos(ctx context.Context) (map[string]photoEntry, error) {
	list, err := List(ctx, b.To, b.Gallery)
	if err != nil {
		return nil, err
	}
	prev := map[string]photoEntry{}
	if len(list) == 0 {
		return prev, nil
	}
	newest := list[len(list)-1]
	if newest.Photos.Mode != PhotosCopied {
		return prev, nil
	}
	entries, err := readPhotos(ctx, b.To, b.TempDir, newest)
	if err != nil {
		return nil, fmt.Errorf("read the previous backup's photo list: %w", err)
	}
	for _, e := range entries {
		prev[e.Key] = e
	}
	return prev, nil
}

func readPhotos(ctx context.Context, loc Location, dir string, m Manifest) ([]photoEntry, error) {
	f, err := download(ctx, loc, dir, m.Photos.List.Key, m.Photos.List.Size, m.Photos.List.SHA256)
	if err != nil {
		return nil, err
	}
	defer closeRemove(f)
	entries, err := readPhotoList(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDamaged, m.Photos.List.Key, err)
	}
	return entries, nil
}

// dropImages rewrites the table files without the excluded images and the rows that
// point at them (labels, texts, album entries, share links).
func dropImages(dir string, tables map[string]*tempFile, excluded map[string]bool) (map[string]*tempFile, error) {
	column := map[string]string{"images": "id", "labels": "image_id", "image_texts": "image_id", "album_images": "image_id", "shares": "image_id"}
	for table, col := range column {
		old := tables[table]
		if old == nil {
			continue // not at the backup's schema version
		}
		if _, _, err := old.finish(); err != nil {
			return tables, err
		}
		if _, err := old.f.Seek(0, io.SeekStart); err != nil {
			return tables, err
		}
		var t *tempFile
		_, err := readTable(old.f, func(columns []string, values []any) error {
			if t == nil {
				var err error
				if t, err = newTableFile(dir, columns); err != nil {
					return err
				}
			}
			i := slices.Index(columns, col)
			if id, _ := values[i].(string); i >= 0 && excluded[id] {
				return nil
			}
			return t.writeRow(values)
		})
		if err != nil {
			return tables, fmt.Errorf("leave out deleted images from %s: %w", table, err)
		}
		if t == nil {
			continue // the table was empty
		}
		old.remove()
		tables[table] = t
	}
	return tables, nil
}

func putFile(ctx context.Context, to objects.Store, key string, f *os.File, size int64) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := to.Put(ctx, key, f, size, "application/gzip"); err != nil {
		return fmt.Errorf("write %s: %w", path.Base(key), err)
	}
	return nil
}
