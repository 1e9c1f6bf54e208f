package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/backup/report"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var quiet = slog.New(slog.DiscardHandler)

// databases make a fresh, empty database of each kind.
var databases = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		return openDB(t, config.Database{Driver: config.DriverSQLite}, filepath.Join(t.TempDir(), "g.db"))
	}},
	{"mariadb", func(t *testing.T) store.Store { return openDB(t, testservers.MariaDB(t).Config(), "") }},
	{"postgres", func(t *testing.T) store.Store { return openDB(t, testservers.Postgres(t).Config(), "") }},
}

func openDB(t *testing.T, db config.Database, file string) store.Store {
	t.Helper()
	s, err := store.Open(ctxFor(t), db, file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// locations make a fresh, empty backup location of each kind: a directory (a mounted
// volume) and a bucket on a real S3-compatible server.
var locations = []struct {
	name string
	open func(t *testing.T) Location
}{
	{"volume", func(t *testing.T) Location { return filesystem(t) }},
	{"s3", func(t *testing.T) Location {
		srv := testservers.S3(t)
		s, err := objects.NewS3(srv.Client(), objects.S3Options{Bucket: srv.Bucket(t), Prefix: "backups"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

func filesystem(t *testing.T) *objects.Filesystem {
	t.Helper()
	fs, err := objects.NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// gallery is a database and photo storage filled through the store API, as uploads
// and workers fill them.
type gallery struct {
	db     store.Store
	photos objects.Store
}

func newGallery(t *testing.T, db store.Store, photos objects.Store) gallery {
	t.Helper()
	if err := db.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	return gallery{db: db, photos: photos}
}

var userSeq atomic.Int64

func (g gallery) user(t testing.TB, admin bool) store.User {
	t.Helper()
	u, err := g.db.CreateUser(ctxFor(t), store.NewUser{Email: fmt.Sprintf("user%d@example.com", userSeq.Add(1)), PasswordHash: "$2a$10$x", IsAdmin: admin})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// upload stores a photo's original and thumbnail and records the image, as the upload
// path does; labels, when given, as a worker would, with the text it read.
func (g gallery) upload(t testing.TB, owner store.User, labels ...string) store.Image {
	t.Helper()
	ctx := ctxFor(t)
	id := store.NewImageID()
	keys, err := objects.ImageKeys(fmt.Sprint(owner.ID), id)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("photo " + id + strings.Repeat("x", int(userSeq.Add(1)%500)))
	sum := sha256.Sum256(body)
	if err := g.photos.Put(ctx, keys.Original, bytes.NewReader(body), int64(len(body)), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	thumb := []byte("thumb " + id)
	if err := g.photos.Put(ctx, keys.Thumbnail, bytes.NewReader(thumb), int64(len(thumb)), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	img, err := g.db.CreateImage(ctx, store.Image{ID: id, OwnerID: owner.ID, ObjectKey: keys.Original, ThumbnailKey: keys.Thumbnail,
		ContentType: "image/jpeg", SizeBytes: int64(len(body)), Width: 10, Height: 10, SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) > 0 {
		c := store.Classification{Provider: "builtin", Model: "m",
			Text: &store.Text{Content: "A " + strings.ToUpper(labels[0]) + "\n사진 " + id[:6], Confidence: 77.5, Provider: "tesseract", Model: "eng+kor"}}
		for i, l := range labels {
			c.Labels = append(c.Labels, store.Label{Name: l, Confidence: 90.5 - float64(i)})
		}
		if err := g.db.SetLabels(ctx, img.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// fill makes two users with labelled photos, an album and share links.
func (g gallery) fill(t *testing.T, photos int) {
	t.Helper()
	ctx := ctxFor(t)
	admin := g.user(t, true)
	ann := g.user(t, false)
	var imgs []string
	for i := range photos {
		owner := ann
		if i%3 == 0 {
			owner = admin
		}
		img := g.upload(t, owner, "dog", fmt.Sprintf("label%d", i%4))
		if owner.ID == ann.ID {
			imgs = append(imgs, img.ID)
		}
	}
	album, err := g.db.CreateAlbum(ctx, ann.ID, "Holidays ☀")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.db.AddToAlbum(ctx, ann.ID, album.ID, imgs[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := g.db.CreateShare(ctx, store.NewShare{OwnerID: ann.ID, AlbumID: album.ID, TokenHash: strings.Repeat("c", 64)}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.db.CreateShare(ctx, store.NewShare{OwnerID: ann.ID, ImageID: imgs[0], TokenHash: strings.Repeat("d", 64), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// rows reads every table, as text.
func rows(t *testing.T, db store.Store) map[string][]string {
	t.Helper()
	sn, err := store.OpenSnapshot(ctxFor(t), db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sn.Close() }()
	out := map[string][]string{}
	for _, tb := range store.BackupTables {
		if err := sn.Rows(ctxFor(t), tb.Name, func(cols []string, vals []any) error {
			var b strings.Builder
			for i, c := range cols {
				v := vals[i]
				if bv, ok := v.(bool); ok { // PostgreSQL's booleans are MySQL's and SQLite's integers
					v = map[bool]int64{false: 0, true: 1}[bv]
				}
				fmt.Fprintf(&b, "%s=%v ", c, v)
			}
			out[tb.Name] = append(out[tb.Name], b.String())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// photoBytes reads every object an image row names.
func photoBytes(t *testing.T, g gallery) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, row := range rows(t, g.db)["images"] {
		for _, f := range strings.Fields(row) {
			k, v, _ := strings.Cut(f, "=")
			if (k == "object_key" || k == "thumbnail_key") && v != "" {
				rc, _, err := g.photos.Get(ctxFor(t), v)
				if err != nil {
					t.Fatalf("photo %s of a restored image: %v", v, err)
				}
				b, _ := io.ReadAll(rc)
				_ = rc.Close()
				out[v] = string(b)
			}
		}
	}
	return out
}

func (g gallery) backup(t *testing.T, to Location, mode string, now time.Time) report.Report {
	t.Helper()
	b := Backup{DB: g.db, Photos: g.photos, PhotoMode: mode, To: to, Gallery: "photos", TempDir: t.TempDir(), Log: quiet,
		Now: func() time.Time { return now }}
	rep, err := b.Run(ctxFor(t))
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return rep
}

func restore(t *testing.T, from Location, into gallery, name string) (report.Report, error) {
	t.Helper()
	r := Restore{From: from, Gallery: "photos", Backup: name, DB: into.db, Photos: into.photos, VerifyPercent: 100, TempDir: t.TempDir(), Log: quiet}
	return r.Run(ctxFor(t))
}

// A backup of each database to each kind of location restores into a new gallery with
// every row and every photo as they were.
func TestBackupAndRestoreRoundTrip(t *testing.T) {
	for _, db := range databases {
		for _, loc := range locations {
			t.Run(db.name+" to "+loc.name, func(t *testing.T) {
				t.Parallel()
				src := newGallery(t, db.open(t), filesystem(t))
				src.fill(t, 9)
				to := loc.open(t)
				rep := src.backup(t, to, PhotosCopied, time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC))
				if rep.Backup != "20261205T030000Z" || rep.Counts["images"] != 9 || rep.Counts["users"] != 2 || rep.Counts["album_images"] != 2 || rep.Counts["shares"] != 2 ||
					rep.Counts["image_texts"] != 9 {
					t.Fatalf("report = %+v", rep)
				}
				if rep.Photos.Objects != 18 || rep.Photos.Copied != 18 || rep.SizeBytes <= rep.Photos.Bytes {
					t.Errorf("photos %+v, size %d: want 18 objects copied", rep.Photos, rep.SizeBytes)
				}

				dst := gallery{db: db.open(t), photos: filesystem(t)}
				got, err := restore(t, to, dst, "")
				if err != nil {
					t.Fatalf("restore: %v", err)
				}
				if got.Backup != rep.Backup || !reflect.DeepEqual(got.Counts, rep.Counts) || got.Photos.Verified != 18 {
					t.Errorf("restore report %+v, want the backup's counts and 18 photos verified", got)
				}
				if want, have := rows(t, src.db), rows(t, dst.db); !reflect.DeepEqual(want, have) {
					t.Errorf("restored rows differ\nwant %v\nhave %v", want, have)
				}
				if want, have := photoBytes(t, src), photoBytes(t, dst); !reflect.DeepEqual(want, have) || len(have) != 18 {
					t.Errorf("restored photos differ: %d of %d", len(have), len(want))
				}
				// Running the same restore again (a Job retried after it finished) is a
				// no-op, not a refusal.
				if _, err := restore(t, to, dst, ""); err != nil {
					t.Errorf("restoring the same backup again: %v", err)
				}
			})
		}
	}
}

// The second backup copies only the photos the first lacks; both restore.
func TestBackupsAreIncremental(t *testing.T) {
	src := newGallery(t, databases[0].open(t), filesystem(t))
	src.fill(t, 6)
	to := filesystem(t)
	first := src.backup(t, to, PhotosCopied, time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC))
	u := src.user(t, false)
	src.upload(t, u, "cat")
	second := src.backup(t, to, PhotosCopied, time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	if first.Photos.Copied != 12 || second.Photos.Copied != 2 || second.Photos.Objects != 14 {
		t.Fatalf("copied %d then %d of %d photos; want 12, then only the 2 new ones of 14", first.Photos.Copied, second.Photos.Copied, second.Photos.Objects)
	}
	for _, name := range []string{first.Backup, second.Backup} {
		dst := gallery{db: databases[0].open(t), photos: filesystem(t)}
		rep, err := restore(t, to, dst, name)
		if err != nil {
			t.Fatalf("restore %s: %v", name, err)
		}
		if want := map[string]int64{first.Backup: 6, second.Backup: 7}[name]; rep.Counts["images"] != want {
			t.Errorf("backup %s restored %d images, want %d", name, rep.Counts["images"], want)
		}
	}
}

// A damaged backup is refused before anything is written, with a reason naming what
// is wrong; the gallery stays empty, and the next good backup restores into it.
func TestDamagedBackupIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, root string)
		want   string
	}{
		{"a flipped byte in a table", func(t *testing.T, root string) {
			p := filepath.Join(root, "photos/backups/20261205T030000Z/db/labels.jsonl.gz")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			writeFile(t, p, b)
		}, "db/labels.jsonl.gz is"},
		{"a truncated table", func(t *testing.T, root string) {
			p := filepath.Join(root, "photos/backups/20261205T030000Z/db/images.jsonl.gz")
			b, _ := os.ReadFile(p)
			writeFile(t, p, b[:len(b)-20])
		}, "db/images.jsonl.gz is"},
		{"a photo changed", func(t *testing.T, root string) {
			matches, _ := filepath.Glob(filepath.Join(root, "photos/photos/images/*/*/original"))
			writeFile(t, matches[0], []byte("not the photo"))
		}, "/original is 13 bytes"},
		{"a photo missing", func(t *testing.T, root string) {
			matches, _ := filepath.Glob(filepath.Join(root, "photos/photos/images/*/*/thumb.jpg"))
			if err := os.Remove(matches[len(matches)-1]); err != nil {
				t.Fatal(err)
			}
		}, "thumb.jpg is missing"},
		{"a truncated manifest", func(t *testing.T, root string) {
			p := filepath.Join(root, "photos/backups/20261205T030000Z/manifest.json")
			b, _ := os.ReadFile(p)
			writeFile(t, p, b[:len(b)/2])
		}, "manifest.json is not a manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newGallery(t, databases[0].open(t), filesystem(t))
			src.fill(t, 5)
			to := filesystem(t)
			src.backup(t, to, PhotosCopied, time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC))
			tc.damage(t, to.Root())

			dst := gallery{db: databases[0].open(t), photos: filesystem(t)}
			_, err := restore(t, to, dst, "20261205T030000Z")
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore of a damaged backup = %v; want ErrDamaged mentioning %q", err, tc.want)
			}
			counts, err := store.TableCounts(ctxFor(t), dst.db)
			if err != nil || !empty(counts) {
				t.Errorf("after a refused restore the database holds %v (%v)", counts, err)
			}
			var left []string
			_ = dst.photos.(Location).List(ctxFor(t), "", func(i objects.Info) error { left = append(left, i.Key); return nil })
			if len(left) != 0 {
				t.Errorf("after a refused restore the storage holds %v", left)
			}
		})
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A restore never writes over a gallery that has data.
func TestRestoreRefusesAGalleryWithData(t *testing.T) {
	src := newGallery(t, databases[0].open(t), filesystem(t))
	src.fill(t, 3)
	to := filesystem(t)
	src.backup(t, to, PhotosCopied, time.Now())
	dst := newGallery(t, databases[0].open(t), filesystem(t))
	dst.upload(t, dst.user(t, false), "cat")
	before := rows(t, dst.db)
	_, err := restore(t, to, dst, "")
	if !errors.Is(err, store.ErrNotEmpty) || !strings.Contains(err.Error(), "1 users, 1 images") {
		t.Fatalf("restore over data = %v, want ErrNotEmpty naming what the gallery holds", err)
	}
	if !reflect.DeepEqual(before, rows(t, dst.db)) {
		t.Error("the refused restore changed the gallery")
	}
}

// Retention keeps the newest N, removes photos only the removed backups held, and
// leaves every kept backup restorable.
func TestRetention(t *testing.T) {
	src := newGallery(t, databases[0].open(t), filesystem(t))
	u := src.user(t, false)
	to := filesystem(t)
	day := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	var deleted store.Image
	for i := range 4 {
		img := src.upload(t, u, "dog")
		if i == 0 {
			deleted = img
		}
		if i == 1 { // the first photo goes: only the first two backups hold it
			if _, err := src.db.DeleteImage(ctxFor(t), u.ID, deleted.ID); err != nil {
				t.Fatal(err)
			}
		}
		b := Backup{DB: src.db, Photos: src.photos, PhotoMode: PhotosCopied, To: to, Gallery: "photos", Keep: 2, TempDir: t.TempDir(), Log: quiet,
			Now: func() time.Time { return day.Add(time.Duration(i) * 24 * time.Hour) }}
		if _, err := b.Run(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := List(ctxFor(t), to, "photos")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
	}
	if strings.Join(names, " ") != "20261203T030000Z 20261204T030000Z" {
		t.Fatalf("kept %v, want the newest two", names)
	}
	if _, err := os.Stat(filepath.Join(to.Root(), "photos/photos", deleted.ObjectKey)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the photo only removed backups held is still there: %v", err)
	}
	for _, name := range names {
		if _, err := restore(t, to, gallery{db: databases[0].open(t), photos: filesystem(t)}, name); err != nil {
			t.Errorf("kept backup %s does not restore: %v", name, err)
		}
	}
	// By age: with keepFor 36h on the 5th day, only the newest stays.
	removed, err := Prune(ctxFor(t), to, "photos", 0, 36*time.Hour, day.Add(4*24*time.Hour), quiet)
	if err != nil || strings.Join(removed, " ") != "20261203T030000Z" {
		t.Errorf("Prune by age removed %v (%v), want 20261203T030000Z", removed, err)
	}
}

// A backup taken while photos are uploaded and labelled restores to a consistent
// gallery: every image has its photos, every label its image, and the counts match.
// A photo deleted while the backup ran leaves its image out, rows and all.
func TestBackupDuringABurstOfUploads(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			src := newGallery(t, db.open(t), filesystem(t))
			src.fill(t, 4)
			u := src.user(t, false)
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					for !stop.Load() {
						src.upload(t, u, "burst", "dog")
					}
				})
			}
			time.Sleep(200 * time.Millisecond)
			rep := src.backup(t, filesystem(t), PhotosCopied, time.Now())
			stop.Store(true)
			wg.Wait()
			_ = rep

			// A photo removed from storage behind the database's back stands for one
			// deleted after the snapshot.
			victim := src.upload(t, u, "victim")
			if err := src.photos.Delete(ctxFor(t), victim.ObjectKey); err != nil {
				t.Fatal(err)
			}
			to := filesystem(t)
			rep = src.backup(t, to, PhotosCopied, time.Now().Add(time.Hour))
			dst := gallery{db: db.open(t), photos: filesystem(t)}
			if _, err := restore(t, to, dst, rep.Backup); err != nil {
				t.Fatalf("restore of a backup taken during uploads: %v", err)
			}
			restored := rows(t, dst.db)
			if int64(len(restored["images"])) != rep.Counts["images"] || len(restored["images"]) < 5 {
				t.Errorf("restored %d images, the report says %d", len(restored["images"]), rep.Counts["images"])
			}
			photos := photoBytes(t, dst) // fails on any image without its photos
			if len(photos) != 2*len(restored["images"]) {
				t.Errorf("%d photos for %d images", len(photos), len(restored["images"]))
			}
			for _, table := range []string{"images", "labels"} {
				for _, r := range restored[table] {
					if strings.Contains(r, victim.ID) {
						t.Errorf("the image whose photo was gone is in %s: %s", table, r)
					}
				}
			}
		})
	}
}

// The drill restores the newest backup into a scratch database and checks every
// photo, without touching any gallery; a damaged photo fails it.
func TestDrill(t *testing.T) {
	src := newGallery(t, databases[1].open(t), filesystem(t))
	src.fill(t, 4)
	to := filesystem(t)
	rep := src.backup(t, to, PhotosCopied, time.Now())
	got, err := Drill(ctxFor(t), to, "photos", t.TempDir(), 100, quiet)
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	if got.Operation != report.OperationDrill || got.Backup != rep.Backup || !reflect.DeepEqual(got.Counts, rep.Counts) || got.Photos.Verified != 8 {
		t.Errorf("drill report %+v, want backup %s with its counts and 8 photos verified", got, rep.Backup)
	}
	matches, _ := filepath.Glob(filepath.Join(to.Root(), "photos/photos/images/*/*/original"))
	writeFile(t, matches[0], []byte("bit rot"))
	if _, err := Drill(ctxFor(t), to, "photos", t.TempDir(), 100, quiet); !errors.Is(err, ErrDamaged) {
		t.Errorf("drill over a damaged photo = %v, want ErrDamaged", err)
	}
}

// With S3 storage a backup lists the photos with their checksums; a restore into a
// gallery on the same (or a replicated) bucket checks them there, and refuses when
// one is missing.
func TestListedPhotosAreCheckedWhereTheyLive(t *testing.T) {
	srv := testservers.S3(t)
	bucket, err := objects.NewS3(srv.Client(), objects.S3Options{Bucket: srv.Bucket(t)})
	if err != nil {
		t.Fatal(err)
	}
	src := newGallery(t, databases[0].open(t), bucket)
	src.fill(t, 4)
	to := filesystem(t)
	rep := src.backup(t, to, PhotosListed, time.Now())
	if rep.Photos.Mode != PhotosListed || rep.Photos.Objects != 4 || rep.Photos.Copied != 0 {
		t.Fatalf("photos %+v, want 4 originals listed, none copied", rep.Photos)
	}
	got, err := restore(t, to, gallery{db: databases[0].open(t), photos: bucket}, "")
	if err != nil || got.Photos.Verified != 4 {
		t.Fatalf("restore against the same bucket: %+v, %v", got.Photos, err)
	}
	var keys []string
	_ = bucket.List(ctxFor(t), "images/", func(i objects.Info) error { keys = append(keys, i.Key); return nil })
	sort.Strings(keys)
	if err := bucket.Delete(ctxFor(t), keys[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := restore(t, to, gallery{db: databases[0].open(t), photos: bucket}, ""); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("restore with a photo missing from the bucket = %v, want a refusal naming it", err)
	}
}
