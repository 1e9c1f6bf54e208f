package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

var (
	benchPhotos     = flag.Int("backup.photos", 10000, "photos in the gallery BenchmarkBackupAndRestore backs up")
	benchPhotoBytes = flag.Int("backup.photo-bytes", 64<<10, "bytes of each photo (its thumbnail is 4 KiB)")
)

// BenchmarkBackupAndRestore: a gallery of 10,000 photos (64 KiB originals, 4 KiB
// thumbnails, 5 labels each, on a volume) backed up to a directory and restored into a
// new database and volume, against the reference in the same run: the database
// server's own dump tool (mariadb-dump --single-transaction or pg_dump) and `cp -r` of
// the photo folder, then loading that dump with the server's client and copying the
// photos back. Also the incremental backup after 100 more uploads.
func BenchmarkBackupAndRestore(b *testing.B) {
	for _, engine := range []string{"mariadb", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			ctx := context.Background()
			srcDB := testservers.MariaDB
			if engine == "postgres" {
				srcDB = testservers.Postgres
			}
			source := srcDB(b)
			db := openBenchDB(b, source)
			photosDir := b.TempDir()
			photos, err := objects.NewFilesystem(photosDir)
			if err != nil {
				b.Fatal(err)
			}
			g := gallery{db: db, photos: photos}
			if err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			fillBench(b, g, *benchPhotos)

			for b.Loop() {
				// Ours.
				loc, err := objects.NewFilesystem(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				bk := Backup{DB: db, Photos: photos, PhotoMode: PhotosCopied, To: loc, Gallery: "photos", TempDir: b.TempDir(), Log: quiet}
				rep, err := bk.Run(ctx)
				if err != nil {
					b.Fatal(err)
				}
				backupTime := time.Since(start)

				target := srcDB(b)
				targetPhotos, err := objects.NewFilesystem(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				r := Restore{From: loc, Gallery: "photos", DB: openBenchDB(b, target), Photos: targetPhotos, VerifyPercent: 100, TempDir: b.TempDir(), Log: quiet}
				if _, err := r.Run(ctx); err != nil {
					b.Fatal(err)
				}
				restoreTime := time.Since(start)

				// Incremental: 100 more photos.
				owner := g.user(b, false)
				for range 100 {
					benchUpload(b, g, owner, *benchPhotoBytes)
				}
				start = time.Now()
				bk.Now = func() time.Time { return time.Now().Add(time.Hour) }
				inc, err := bk.Run(ctx)
				if err != nil {
					b.Fatal(err)
				}
				incrementalTime := time.Since(start)
				if inc.Photos.Copied != 200 {
					b.Fatalf("the incremental backup copied %d photos, want the 200 new objects", inc.Photos.Copied)
				}

				// The reference.
				refDir := b.TempDir()
				start = time.Now()
				dumpFile := filepath.Join(refDir, "dump.sql")
				runBenchTool(b, engine, source, "dump", dumpFile)
				runCmd(b, "cp", "-r", photosDir, filepath.Join(refDir, "photos"))
				runCmd(b, "sync", "-f", refDir) // ours syncs every object before it counts it stored
				refBackup := time.Since(start)
				refTarget := srcDB(b)
				start = time.Now()
				runBenchTool(b, engine, refTarget, "load", dumpFile)
				restoredDir := filepath.Join(b.TempDir(), "restored")
				runCmd(b, "cp", "-r", filepath.Join(refDir, "photos"), restoredDir)
				runCmd(b, "sync", "-f", restoredDir)
				refRestore := time.Since(start)

				b.ReportMetric(backupTime.Seconds(), "backup-s")
				b.ReportMetric(restoreTime.Seconds(), "restore-s")
				b.ReportMetric(incrementalTime.Seconds(), "incremental-s")
				b.ReportMetric(refBackup.Seconds(), "ref-backup-s")
				b.ReportMetric(refRestore.Seconds(), "ref-restore-s")
				b.ReportMetric(backupTime.Seconds()/refBackup.Seconds(), "backup/ref")
				b.ReportMetric(restoreTime.Seconds()/refRestore.Seconds(), "restore/ref")
				b.ReportMetric(float64(rep.SizeBytes)/(1<<20), "backup-MiB")
			}
		})
	}
}

func openBenchDB(b *testing.B, d testservers.Database) store.Store {
	b.Helper()
	s, err := store.Open(context.Background(), d.Config(), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// fillBench uploads n photos with five labels each, from 4 goroutines, for 10 users.
func fillBench(b *testing.B, g gallery, n int) {
	b.Helper()
	var users []store.User
	for range 10 {
		users = append(users, g.user(b, false))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				img := benchUpload(b, g, users[i%len(users)], *benchPhotoBytes)
				c := store.Classification{Provider: "builtin", Model: "m"}
				for l := range 5 {
					c.Labels = append(c.Labels, store.Label{Name: "label" + strconv.Itoa((i+l*7)%60), Confidence: 50 + float64(l)})
				}
				if err := g.db.SetLabels(context.Background(), img.ID, c); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func benchUpload(b *testing.B, g gallery, owner store.User, size int) store.Image {
	b.Helper()
	ctx := context.Background()
	id := store.NewImageID()
	keys, err := objects.ImageKeys(strconv.FormatInt(owner.ID, 10), id)
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte(id), size/len(id)+1)[:size]
	sum := sha256.Sum256(body)
	if err := g.photos.Put(ctx, keys.Original, bytes.NewReader(body), int64(len(body)), "image/jpeg"); err != nil {
		b.Fatal(err)
	}
	thumb := body[:4<<10]
	if err := g.photos.Put(ctx, keys.Thumbnail, bytes.NewReader(thumb), int64(len(thumb)), "image/jpeg"); err != nil {
		b.Fatal(err)
	}
	img, err := g.db.CreateImage(ctx, store.Image{ID: id, OwnerID: owner.ID, ObjectKey: keys.Original, ThumbnailKey: keys.Thumbnail,
		ContentType: "image/jpeg", SizeBytes: int64(size), Width: 1600, Height: 1200, SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		b.Fatal(err)
	}
	return img
}

// runBenchTool dumps a database to file, or loads file into one, with the server's own
// client tools.
func runBenchTool(b *testing.B, engine string, d testservers.Database, op, file string) {
	b.Helper()
	var cmd *exec.Cmd
	switch engine + " " + op {
	case "mariadb dump":
		cmd = exec.Command("mariadb-dump", "--single-transaction", "-h", d.Host, "-P", strconv.Itoa(d.Port), "-u", d.User, "--result-file="+file, d.Name)
	case "mariadb load":
		cmd = exec.Command("sh", "-c", fmt.Sprintf("mariadb -h %s -P %d -u %s %s < %s", d.Host, d.Port, d.User, d.Name, file))
	case "postgres dump":
		cmd = exec.Command(postgresTool(b, "pg_dump"), "-h", d.Host, "-p", strconv.Itoa(d.Port), "-U", d.User, "-f", file, d.Name)
	case "postgres load":
		cmd = exec.Command(postgresTool(b, "psql"), "-q", "-h", d.Host, "-p", strconv.Itoa(d.Port), "-U", d.User, "-f", file, d.Name)
	}
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+d.Password, "PGPASSWORD="+d.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %s: %v\n%s", engine, op, err, out)
	}
}

func postgresTool(b *testing.B, name string) string {
	b.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		b.Fatalf("%s not found (postgresql from hack/install-deps.sh)", name)
	}
	return matches[len(matches)-1]
}

func runCmd(b *testing.B, name string, args ...string) {
	b.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, out)
	}
}
