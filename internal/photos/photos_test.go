package photos_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/photos"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// errCrashed is what every call answers once the process has "crashed".
var errCrashed = errors.New("crashed")

// crash counts the calls that reach the database, the storage and the queue, and
// fails the one numbered at and every one after it, as a process killed at that point
// makes no more calls: what a crash there leaves is what the real stores then hold.
type crash struct {
	mu    sync.Mutex
	at    int // 0: never
	calls int
	// steps names the calls made (before the crash), in order.
	steps []string
}

func (c *crash) call(step string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.at > 0 && c.calls >= c.at {
		return fmt.Errorf("%s: %w", step, errCrashed)
	}
	c.steps = append(c.steps, step)
	return nil
}

func (c *crash) crashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at > 0 && c.calls >= c.at
}

type crashingStore struct {
	photos.Store
	c *crash
}

func (s crashingStore) CreateImageWithinQuota(ctx context.Context, img store.Image, defaults store.Quota) (store.Image, error) {
	if err := s.c.call("record row"); err != nil {
		return store.Image{}, err
	}
	return s.Store.CreateImageWithinQuota(ctx, img, defaults)
}

func (s crashingStore) DeleteImage(ctx context.Context, ownerID int64, id string) (store.Image, error) {
	if err := s.c.call("delete rows"); err != nil {
		return store.Image{}, err
	}
	return s.Store.DeleteImage(ctx, ownerID, id)
}

type crashingObjects struct {
	objects.Store
	c *crash
}

func (o crashingObjects) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := o.c.call("put " + filepath.Base(key)); err != nil {
		return err
	}
	return o.Store.Put(ctx, key, r, size, contentType)
}

func (o crashingObjects) Delete(ctx context.Context, key string) error {
	if err := o.c.call("delete " + filepath.Base(key)); err != nil {
		return err
	}
	return o.Store.Delete(ctx, key)
}

type crashingQueue struct {
	photos.Queue
	c *crash
}

func (q crashingQueue) Enqueue(ctx context.Context, j queue.Job) error {
	if err := q.c.call("enqueue"); err != nil {
		return err
	}
	return q.Queue.Enqueue(ctx, j)
}

// backend is a real database and object store with one user.
type backend struct {
	t       *testing.T
	store   store.Store
	objects objects.Store
	queue   *queue.Memory
	owner   int64
}

func sqliteAndFilesystem(t *testing.T) *backend {
	t.Helper()
	objs, err := objects.NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newBackend(t, objs)
}

func sqliteAndS3(t *testing.T) *backend {
	t.Helper()
	srv := testservers.S3(t)
	client := s3.New(s3.Options{
		Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	objs, err := objects.NewS3(client, objects.S3Options{Bucket: srv.Bucket(t), Prefix: "gallery"})
	if err != nil {
		t.Fatal(err)
	}
	return newBackend(t, objs)
}

func newBackend(t *testing.T, objs objects.Store) *backend {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, config.Database{Driver: config.DriverSQLite}, filepath.Join(t.TempDir(), "gallery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: "alice@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &backend{t: t, store: st, objects: objs, queue: queue.NewMemory(queue.Options{}), owner: u.ID}
}

func quiet(context.Context) *slog.Logger { return slog.New(slog.DiscardHandler) }

// photos is the lifecycle on the real backends; with c, through ones that crash.
func (b *backend) photos(c *crash) *photos.Photos {
	if c == nil {
		return photos.New(b.store, b.objects, b.queue, quiet)
	}
	return photos.New(crashingStore{b.store, c}, crashingObjects{b.objects, c}, crashingQueue{b.queue, c}, quiet)
}

// row is a new photo's row as the API prepares it from the bytes.
func (b *backend) row(data []byte) store.Image {
	sum := sha256.Sum256(data)
	return store.Image{OwnerID: b.owner, ContentType: "image/jpeg", SizeBytes: int64(len(data)), Width: 4, Height: 3,
		SHA256: hex.EncodeToString(sum[:])}
}

// upload runs an upload of one photo: Stage, Record, Enqueue.
func (b *backend) upload(p *photos.Photos, data []byte) (photos.Photo, error) {
	ctx := context.Background()
	ph, err := p.Stage(ctx, b.row(data), data, []byte("thumb of "+string(data)))
	if err != nil {
		return ph, err
	}
	batch := []photos.Photo{ph}
	if err := p.Record(ctx, b.owner, batch); err != nil {
		return batch[0], err
	}
	p.Enqueue(ctx, batch[0].Image, "req-1")
	return batch[0], nil
}

// keys lists the objects stored under images/.
func (b *backend) keys() []string {
	b.t.Helper()
	var out []string
	if err := b.objects.(objects.Lister).List(context.Background(), "images/", func(i objects.Info) error {
		out = append(out, i.Key)
		return nil
	}); err != nil {
		b.t.Fatal(err)
	}
	return out
}

// rows lists the owner's image ids.
func (b *backend) rows() []string {
	b.t.Helper()
	page, err := b.store.ListImages(store.WithPrimaryReads(context.Background()), b.owner, store.PageRequest{Limit: store.MaxPageSize})
	if err != nil {
		b.t.Fatal(err)
	}
	var ids []string
	for _, img := range page.Images {
		ids = append(ids, img.ID)
	}
	return ids
}

// checkNoRowWithoutObjects: every row's original and thumbnail are stored.
func (b *backend) checkNoRowWithoutObjects() {
	b.t.Helper()
	for _, id := range b.rows() {
		img, err := b.store.Image(context.Background(), b.owner, id)
		if err != nil {
			b.t.Fatal(err)
		}
		for _, k := range []string{img.ObjectKey, img.ThumbnailKey} {
			if ok, err := objects.Exists(context.Background(), b.objects, k); !ok || err != nil {
				b.t.Errorf("image %s has a row but no %s (%v)", id, k, err)
			}
		}
	}
}

// orphanedKeys are the stored objects whose image has no row.
func (b *backend) orphanedKeys() []string {
	b.t.Helper()
	rows := b.rows()
	var out []string
	for _, k := range b.keys() {
		if !slices.Contains(rows, strings.Split(k, "/")[2]) {
			out = append(out, k)
		}
	}
	return out
}

// sweepFindsEveryOrphan checks that the sweep leaves young orphans alone, then that,
// once they are old enough, it finds exactly the objects without a row and removes
// them, leaving every image with a row as it was.
func (b *backend) sweepFindsEveryOrphan(want []string) {
	b.t.Helper()
	ctx := context.Background()
	if got := b.orphanedKeys(); !slices.Equal(got, want) {
		b.t.Errorf("objects without a row: %v, want %v", got, want)
	}
	p := b.photos(nil)
	if n, err := p.SweepOrphans(ctx, time.Hour); err != nil || n != 0 {
		b.t.Errorf("a sweep with an hour's grace removed %d images' objects (%v); want none, they are seconds old", n, err)
	}
	var found []string
	if err := p.Orphans(ctx, time.Now().Add(time.Second), func(o photos.Orphan) error {
		found = append(found, o.Keys...)
		return nil
	}); err != nil {
		b.t.Fatal(err)
	}
	if !slices.Equal(found, want) {
		b.t.Errorf("Orphans found %v, want %v", found, want)
	}
	before := b.keys()
	n, err := p.SweepOrphans(ctx, -time.Second) // as if a grace period had passed
	if err != nil {
		b.t.Fatal(err)
	}
	images := map[string]bool{}
	for _, k := range want {
		images[strings.Split(k, "/")[2]] = true
	}
	if n != len(images) {
		b.t.Errorf("the sweep removed %d images' objects, want %d", n, len(images))
	}
	kept := slices.DeleteFunc(before, func(k string) bool { return slices.Contains(want, k) })
	if got := b.keys(); !slices.Equal(got, kept) {
		b.t.Errorf("after the sweep storage holds %v, want %v", got, kept)
	}
	b.checkNoRowWithoutObjects()
}

// TestUploadCrash crashes an upload before each of its calls in turn (storing the
// original, the thumbnail, recording the row, enqueuing): no crash leaves a row without
// its objects, every object left without a row is one the orphan sweep removes, and a
// row whose job was lost is one the workers' sweep of stale queued images finds.
func TestUploadCrash(t *testing.T) {
	want := []string{"put original", "put thumb.jpg", "record row", "enqueue"}
	for at := 1; at <= len(want)+1; at++ {
		name := "no crash"
		if at <= len(want) {
			name = "crash at " + want[at-1]
		}
		t.Run(name, func(t *testing.T) {
			b := sqliteAndFilesystem(t)
			other, err := b.upload(b.photos(nil), []byte("another photo"))
			if err != nil {
				t.Fatal(err)
			}
			c := &crash{at: at}
			ph, err := b.upload(b.photos(c), []byte("photo"))
			if at <= len(want) && !c.crashed() || at > len(want) && (err != nil || c.crashed()) {
				t.Fatalf("upload: %v after %v", err, c.steps)
			}
			if !slices.Equal(c.steps, want[:min(at-1, len(want))]) {
				t.Errorf("steps = %v, want %v", c.steps, want[:at-1])
			}
			b.checkNoRowWithoutObjects()
			// What each crash point leaves without a row.
			var orphans []string
			dir := "images/" + fmt.Sprint(b.owner) + "/"
			switch at {
			case 2:
				orphans = b.keysOf(dir, "original")
			case 3:
				orphans = b.keysOf(dir, "original", "thumb.jpg")
			}
			orphans = slices.DeleteFunc(orphans, func(k string) bool { return strings.Contains(k, "/"+other.Image.ID+"/") })
			if at == 1 && len(b.keys()) != 2 {
				t.Errorf("a crash before storing anything left %v", b.keys())
			}
			b.sweepFindsEveryOrphan(orphans)

			// A crash after the row: the image is listed, queued, and the workers' sweep
			// finds it since its job never reached the queue.
			if at == 4 {
				stale, err := b.store.StaleQueued(context.Background(), 0, 10)
				if err != nil || !slices.Contains(stale, ph.Image.ID) {
					t.Errorf("stale queued = %v, %v; want the recorded image %s, whose job was lost", stale, err, ph.Image.ID)
				}
				if _, err := b.queue.Position(context.Background(), ph.Image.ID); !errors.Is(err, queue.ErrNotQueued) {
					t.Errorf("the lost job is queued: %v", err)
				}
			}
			if at > len(want) {
				if _, err := b.queue.Position(context.Background(), ph.Image.ID); err != nil {
					t.Errorf("the uploaded image is not queued: %v", err)
				}
			}
		})
	}
}

// keysOf are the stored keys under dir whose last segment is one of names.
func (b *backend) keysOf(dir string, names ...string) []string {
	var out []string
	for _, k := range b.keys() {
		if strings.HasPrefix(k, dir) && slices.Contains(names, filepath.Base(k)) {
			out = append(out, k)
		}
	}
	return out
}

// TestDeleteCrash crashes a delete before each of its calls in turn (deleting the rows,
// then the original, the thumbnail and the display JPEG): the rows go first, so no
// crash leaves a row without its objects, and what a crash after the rows leaves is
// found and removed by the orphan sweep. On S3 too, whose listing reports times to the
// second.
func TestDeleteCrash(t *testing.T) {
	want := []string{"delete rows", "delete original", "delete thumb.jpg", "delete display.jpg", "delete shared"}
	for _, backend := range []struct {
		name string
		new  func(*testing.T) *backend
	}{{"filesystem", sqliteAndFilesystem}, {"s3", sqliteAndS3}} {
		for at := 1; at <= len(want)+1; at++ {
			name := "no crash"
			if at <= len(want) {
				name = "crash at " + want[at-1]
			}
			t.Run(backend.name+"/"+name, func(t *testing.T) {
				b := backend.new(t)
				ctx := context.Background()
				kept, err := b.upload(b.photos(nil), []byte("kept"))
				if err != nil {
					t.Fatal(err)
				}
				gone, err := b.upload(b.photos(nil), []byte("deleted"))
				if err != nil {
					t.Fatal(err)
				}
				// It was viewed: a display JPEG is stored beside the thumbnail.
				if err := b.objects.Put(ctx, gone.Keys.Display, strings.NewReader("jpg"), 3, "image/jpeg"); err != nil {
					t.Fatal(err)
				}
				// And shared with location stripped: its shared copy is stored too.
				if err := b.objects.Put(ctx, gone.Keys.Shared, strings.NewReader("jpg"), 3, "image/jpeg"); err != nil {
					t.Fatal(err)
				}

				c := &crash{at: at}
				_, err = b.photos(c).Delete(ctx, b.owner, gone.Image.ID)
				if at == 1 {
					if !errors.Is(err, errCrashed) {
						t.Fatalf("delete with the database gone = %v, want the crash", err)
					}
				} else if err != nil {
					t.Fatalf("delete once the rows are gone = %v, want nil: the image is deleted", err)
				}
				if !slices.Equal(c.steps, want[:min(at-1, len(want))]) {
					t.Errorf("steps = %v, want %v", c.steps, want[:min(at-1, len(want))])
				}
				b.checkNoRowWithoutObjects()
				var orphans []string
				if at > 1 {
					all := []string{gone.Keys.Display, gone.Keys.Original, gone.Keys.Shared, gone.Keys.Thumbnail} // key order
					names := []string{"original", "thumb.jpg", "display.jpg", "shared"}[min(at-2, 4):]
					orphans = slices.DeleteFunc(all, func(k string) bool { return !slices.Contains(names, filepath.Base(k)) })
				}
				rows := b.rows()
				if stillThere := slices.Contains(rows, gone.Image.ID); stillThere != (at == 1) || !slices.Contains(rows, kept.Image.ID) {
					t.Errorf("rows after the crash: %v; the deleted image %s is there only if the crash came before its rows went", rows, gone.Image.ID)
				}
				b.sweepFindsEveryOrphan(orphans)
			})
		}
	}
}

// TestRecordDuplicates: a photo repeated in one request takes its first copy's row; one
// that a concurrent upload recorded first meets it at the unique index, becomes a
// duplicate of it and has its own objects removed.
func TestRecordDuplicates(t *testing.T) {
	b := sqliteAndFilesystem(t)
	ctx := context.Background()
	p := b.photos(nil)
	stage := func(data string) photos.Photo {
		ph, err := p.Stage(ctx, b.row([]byte(data)), []byte(data), []byte("thumb"))
		if err != nil {
			t.Fatal(err)
		}
		return ph
	}
	// Both requests passed the duplicate check before either recorded.
	first := []photos.Photo{stage("same"), {State: photos.Repeat, First: 0}}
	second := []photos.Photo{stage("same"), stage("new")}
	if err := p.Record(ctx, b.owner, first); err != nil {
		t.Fatal(err)
	}
	if err := p.Record(ctx, b.owner, second); err != nil {
		t.Fatal(err)
	}
	if first[0].State != photos.Recorded || first[1].Image.ID != first[0].Image.ID {
		t.Errorf("first request: %+v", first)
	}
	if second[0].State != photos.Duplicate || second[0].Image.ID != first[0].Image.ID || second[1].State != photos.Recorded {
		t.Errorf("second request: %+v; want a duplicate of %s, then a new photo", second, first[0].Image.ID)
	}
	if got := len(b.keys()); got != 4 {
		t.Errorf("storage holds %v; want the two recorded photos' originals and thumbnails", b.keys())
	}
	b.sweepFindsEveryOrphan(nil)
}

// TestRecordMayHaveCommitted: when the connection breaks after the INSERT was sent, the
// row may exist, so the photo keeps its objects; the photos after it in the request,
// surely unrecorded, do not. If the row was not written after all, the kept objects
// are an orphan that the sweep removes.
func TestRecordMayHaveCommitted(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			b := sqliteAndFilesystem(t)
			ctx := context.Background()
			p := b.photos(nil)
			var batch []photos.Photo
			for _, data := range []string{"a", "b"} {
				ph, err := p.Stage(ctx, b.row([]byte(data)), []byte(data), []byte("thumb"))
				if err != nil {
					t.Fatal(err)
				}
				batch = append(batch, ph)
			}
			broken := photos.New(brokenAfterSend{b.store, committed}, b.objects, b.queue, quiet)
			if err := broken.Record(ctx, b.owner, batch); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("record = %v, want the broken connection", err)
			}
			b.checkNoRowWithoutObjects()
			wantKeys := []string{batch[0].Keys.Original, batch[0].Keys.Thumbnail}
			slices.Sort(wantKeys)
			if got := b.keys(); !slices.Equal(got, wantKeys) {
				t.Errorf("storage holds %v, want the first photo's objects only", got)
			}
			var orphans []string
			if !committed {
				orphans = wantKeys
			}
			b.sweepFindsEveryOrphan(orphans)
		})
	}
}

// brokenAfterSend answers CreateImage as a connection that broke after the statement
// was sent: the row is written or not, and the answer is lost.
type brokenAfterSend struct {
	photos.Store
	commit bool
}

func (s brokenAfterSend) CreateImageWithinQuota(ctx context.Context, img store.Image, defaults store.Quota) (store.Image, error) {
	if s.commit {
		if _, err := s.Store.CreateImageWithinQuota(ctx, img, defaults); err != nil {
			return store.Image{}, err
		}
	}
	return store.Image{}, fmt.Errorf("create image: %w", io.ErrUnexpectedEOF)
}

// TestOrphansLeavesOthersAlone: the sweep touches only the keys objects.ImageKeys makes,
// and never removes an image whose row it cannot read.
func TestOrphansLeavesOthersAlone(t *testing.T) {
	b := sqliteAndFilesystem(t)
	ctx := context.Background()
	foreign := []string{"images/notes.txt", "images/1/x/notes.txt", "images/abc/x/original", "images/007/x/original",
		"images/1/x/y/original", "backups/g/images/1/x/original"}
	for _, k := range foreign {
		if err := b.objects.Put(ctx, k, bytes.NewReader([]byte("x")), 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	orphan, err := b.photos(nil).Stage(ctx, b.row([]byte("p")), []byte("p"), []byte("t"))
	if err != nil {
		t.Fatal(err)
	}
	unreadable := photos.New(failingReads{b.store}, b.objects, b.queue, quiet)
	if _, err := unreadable.SweepOrphans(ctx, -time.Second); err == nil || !strings.Contains(err.Error(), orphan.Image.ID) {
		t.Errorf("sweep with the database failing = %v, want its error naming the image", err)
	}
	if ok, _ := objects.Exists(ctx, b.objects, orphan.Keys.Original); !ok {
		t.Error("an image whose row could not be read was removed")
	}
	n, err := b.photos(nil).SweepOrphans(ctx, -time.Second)
	if err != nil || n != 1 {
		t.Errorf("sweep = %d, %v; want the one orphan", n, err)
	}
	for _, k := range foreign {
		if ok, err := objects.Exists(ctx, b.objects, k); !ok || err != nil {
			t.Errorf("the sweep removed %s, which no image key names (%v)", k, err)
		}
	}
}

type failingReads struct{ photos.Store }

func (failingReads) Image(context.Context, int64, string) (store.Image, error) {
	return store.Image{}, errors.New("database unreachable")
}

// TestEnqueueFailureLosesNothing: an enqueue that fails is logged, not returned; the
// image stays recorded as queued for the workers' sweep.
func TestEnqueueFailureLosesNothing(t *testing.T) {
	b := sqliteAndFilesystem(t)
	c := &crash{at: 4} // the enqueue, after the objects and the row
	ph, err := b.upload(b.photos(c), []byte("p"))
	if err != nil || ph.State != photos.Recorded || ph.Image.Status != store.StatusQueued {
		t.Fatalf("upload with the queue down = %+v, %v; want it recorded as queued", ph, err)
	}
}
