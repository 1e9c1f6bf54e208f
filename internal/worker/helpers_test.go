package worker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/worker"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(workerProcessMain())
	}
	testservers.Main(m)
}

// colours are what the test photos show, and the labels the colour classifier gives.
var colours = []struct {
	name string
	c    color.RGBA
}{
	{"red", color.RGBA{220, 20, 30, 255}},
	{"green", color.RGBA{20, 200, 40, 255}},
	{"blue", color.RGBA{10, 30, 210, 255}},
}

// colourClassifier is a real classifier, and a fast one: it decodes the photo and names
// its dominant channel, with "colour" as the parent.
type colourClassifier struct {
	delay time.Duration

	mu sync.Mutex
	// behave overrides the outcome per image: a function returning an error (or nil for
	// the normal answer).
	behave map[string]func(call int) error
	calls  map[string]int
}

func newColourClassifier(delay time.Duration) *colourClassifier {
	return &colourClassifier{delay: delay, behave: map[string]func(int) error{}, calls: map[string]int{}}
}

func (c *colourClassifier) Provider() string { return "test" }
func (c *colourClassifier) Model() string    { return "colour" }

func (c *colourClassifier) on(id string, f func(call int) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.behave[id] = f
}

func (c *colourClassifier) callsOf(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

func (c *colourClassifier) Classify(ctx context.Context, img classify.Image) ([]classify.Label, error) {
	c.mu.Lock()
	c.calls[img.ID]++
	call, f := c.calls[img.ID], c.behave[img.ID]
	c.mu.Unlock()
	if c.delay > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.delay):
		}
	}
	if f != nil {
		if err := f(call); err != nil {
			return nil, err
		}
	}
	return colourLabels(img.Bytes)
}

func colourLabels(b []byte) ([]classify.Label, error) {
	m, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", classify.ErrPermanent, err)
	}
	var r, g, bl uint64
	bounds := m.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			cr, cg, cb, _ := m.At(x, y).RGBA()
			r, g, bl = r+uint64(cr), g+uint64(cg), bl+uint64(cb)
		}
	}
	name := "red"
	switch {
	case g > r && g > bl:
		name = "green"
	case bl > r && bl > g:
		name = "blue"
	}
	return []classify.Label{{Name: name, Confidence: 90, Parents: []string{"colour"}}}, nil
}

// fixture is a gallery's database and storage with one user.
type fixture struct {
	t     testing.TB
	cfg   config.Config
	st    store.Store
	obj   objects.Store
	owner store.User
}

// newFixture opens db (SQLite in a temporary folder when db.Driver is empty).
func newFixture(t testing.TB, db config.Database) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cfg, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.GalleryName = "photos"
	cfg.DataDir = dir
	if db.Driver != "" {
		cfg.Database = db
	}
	st, err := store.Open(ctx, cfg.Database, cfg.SQLiteFile())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	obj, err := objects.NewFilesystem(cfg.StorageDir())
	if err != nil {
		t.Fatal(err)
	}
	owner, err := st.CreateUser(ctx, store.NewUser{Email: "ada@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, cfg: cfg, st: st, obj: obj, owner: owner}
}

// addImages uploads n photos, coloured in turn red, green, blue, queued for
// classification, and returns their ids.
func (f *fixture) addImages(n int) []string {
	f.t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range n {
		c := colours[i%len(colours)]
		m := image.NewRGBA(image.Rect(0, 0, 8, 8))
		for p := 0; p < len(m.Pix); p += 4 {
			m.Pix[p], m.Pix[p+1], m.Pix[p+2], m.Pix[p+3] = c.c.R, c.c.G, c.c.B, c.c.A
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			f.t.Fatal(err)
		}
		id := store.NewImageID()
		keys, err := objects.ImageKeys(strconv.FormatInt(f.owner.ID, 10), id)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.obj.Put(ctx, keys.Original, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "image/png"); err != nil {
			f.t.Fatal(err)
		}
		// The photos repeat every three colours; the id in the hash keeps each one's
		// content distinct, as one owner's images must be.
		sum := sha256.Sum256(append(buf.Bytes(), id...))
		if _, err := f.st.CreateImage(ctx, store.Image{
			ID: id, OwnerID: f.owner.ID, ObjectKey: keys.Original, ContentType: "image/png",
			SizeBytes: int64(buf.Len()), Width: 8, Height: 8, SHA256: hex.EncodeToString(sum[:]),
		}); err != nil {
			f.t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// wantColour is the label image i of addImages must get.
func wantColour(i int) string { return colours[i%len(colours)].name }

// waitSettled waits until no image of ids is queued, and returns them.
func (f *fixture) waitSettled(ids []string, timeout time.Duration) map[string]store.Image {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		imgs := map[string]store.Image{}
		queued := 0
		for _, id := range ids {
			img, err := f.st.ImageForJob(context.Background(), id)
			if err != nil {
				f.t.Fatal(err)
			}
			imgs[id] = img
			if img.Status == store.StatusQueued {
				queued++
			}
		}
		if queued == 0 {
			return imgs
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d images still queued after %s", queued, len(ids), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkLabelled fails unless every image is labelled with exactly its colour.
func (f *fixture) checkLabelled(ids []string) {
	f.t.Helper()
	ctx := context.Background()
	for i, id := range ids {
		img, err := f.st.Image(ctx, f.owner.ID, id)
		if err != nil {
			f.t.Fatal(err)
		}
		labels, err := f.st.ImageLabels(ctx, f.owner.ID, id)
		if err != nil {
			f.t.Fatal(err)
		}
		// The colour, and its parent "colour" derived from it.
		if img.Status != store.StatusLabelled || len(labels) != 2 || labels[0].Name != wantColour(i) ||
			len(labels[0].Categories) != 1 || labels[0].Categories[0] != "colour" || img.Provider != "test" ||
			labels[1].Name != "colour" || labels[1].DerivedFrom != wantColour(i) {
			f.t.Errorf("image %d (%s): status %s (%s), labels %+v; want labelled %s (and colour from it)", i, id, img.Status, img.FailureReason, labels, wantColour(i))
		}
	}
}

// commitLog records every SetLabels that committed, one image id a line, appended by
// any process.
type commitLog struct {
	worker.Store
	path string
}

func (c commitLog) SetLabels(ctx context.Context, id string, cl store.Classification) error {
	if err := c.Store.SetLabels(ctx, id, cl); err != nil {
		return err
	}
	f, err := os.OpenFile(c.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(id + "\n")
	return err
}

// commits counts the lines of a commit log per image.
func commits(t testing.TB, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 0 {
			out[string(l)]++
		}
	}
	return out
}

func commitPath(t testing.TB) string { return filepath.Join(t.TempDir(), "commits.log") }
