//go:build cgo

package tesseract_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/tesseract"
	"github.com/sortographer/sortographer/internal/testservers"
)

// What the tests read, all from Debian packages that hack/install-deps.sh installs.
const (
	// A photo without writing (darknet), and a photograph of a printed page, unevenly lit
	// (python3-skimage).
	eaglePhoto = "/usr/share/darknet/data/eagle.jpg"
	pagePhoto  = "/usr/lib/python3/dist-packages/skimage/data/page.png"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (hack/install-deps.sh installs it)", err)
	}
	return b
}

// testPhotos are the photos the tests read.
func testPhotos(t testing.TB) map[string][]byte {
	t.Helper()
	return map[string][]byte{
		// A receipt-like card held over the porch, dark on off-white.
		"english": readFile(t, testservers.ReceiptPhoto(t)),
		// A subway sign over the field, white on blue.
		"korean": readFile(t, testservers.SubwayPhoto(t)),
		"page":   readFile(t, pagePhoto),
		"none":   readFile(t, eaglePhoto),
	}
}

func newReader(t testing.TB, opts tesseract.Options) *tesseract.Reader {
	t.Helper()
	r, err := tesseract.New(opts)
	if err != nil {
		t.Fatalf("%v (hack/install-deps.sh installs libtesseract-dev, tesseract-ocr-eng and tesseract-ocr-kor)", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// want is what a photo must read as: each word present (case aside), or nothing at all.
var want = map[string][]string{
	"english": {"sortographer", "receipt", "total", "42"},
	"korean":  {"서울", "지하철", "안내"},
	"page":    {"segmentation", "markers", "coins", "background", "pixels"},
	"none":    nil,
}

func checkText(t *testing.T, name string, got classify.Text) {
	t.Helper()
	words := strings.Fields(strings.ToLower(got.Content))
	if want[name] == nil {
		if got.Content != "" || got.Confidence != 0 {
			t.Errorf("%s: read %q (confidence %.1f), want nothing", name, got.Content, got.Confidence)
		}
		return
	}
	for _, w := range want[name] {
		found := false
		for _, g := range words {
			found = found || strings.Trim(g, ".,:;'\"‘’“”()") == w
		}
		if !found {
			t.Errorf("%s: %q not read in %q", name, w, got.Content)
		}
	}
	if got.Confidence < tesseract.DefaultMinConfidence || got.Confidence > 100 {
		t.Errorf("%s: confidence %.1f, want the mean of words kept (%v to 100)", name, got.Confidence, tesseract.DefaultMinConfidence)
	}
	for _, line := range strings.Split(got.Content, "\n") {
		if line == "" || line != strings.Join(strings.Fields(line), " ") {
			t.Errorf("%s: line %q is empty or has spaces to collapse", name, line)
		}
	}
}

// TestReadsEnglishAndKorean: an English card and a Korean sign rendered on real photos,
// a photographed page, and a photo with no writing, read with the default languages
// (eng+kor).
func TestReadsEnglishAndKorean(t *testing.T) {
	r := newReader(t, tesseract.Options{})
	if r.Provider() != "tesseract" || r.Model() != "eng+kor" {
		t.Errorf("provider/model = %s/%s, want tesseract/eng+kor", r.Provider(), r.Model())
	}
	photos := testPhotos(t)
	for _, name := range []string{"english", "korean", "page", "none"} {
		t.Run(name, func(t *testing.T) {
			got, err := r.ReadText(context.Background(), classify.Image{ID: name, Bytes: photos[name]})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("read %q (confidence %.1f)", got.Content, got.Confidence)
			checkText(t, name, got)
		})
	}
}

// TestConcurrentReads: workers share one Reader; each of its two Tesseract instances
// reads one photo at a time and every result is its own photo's (run with -race).
func TestConcurrentReads(t *testing.T) {
	if testing.Short() {
		t.Skip("reads four photos")
	}
	r := newReader(t, tesseract.Options{Clients: 2})
	names := []string{"english", "korean", "none"}
	photos := testPhotos(t)
	var wg sync.WaitGroup
	for i := range 4 {
		name := names[i%len(names)]
		wg.Go(func() {
			got, err := r.ReadText(context.Background(), classify.Image{ID: name, Bytes: photos[name]})
			if err != nil {
				t.Error(err)
				return
			}
			checkText(t, name, got)
		})
	}
	wg.Wait()
}

// A file that is no image is refused for good; a caller's cancelled context is not the
// photo's fault.
func TestFailures(t *testing.T) {
	r := newReader(t, tesseract.Options{Languages: []string{"eng"}})
	photos := testPhotos(t)
	for name, b := range map[string][]byte{"empty": nil, "text file": []byte("not a photo at all, just words"), "cut short": photos["none"][:2000]} {
		if _, err := r.ReadText(context.Background(), classify.Image{ID: name, Bytes: b}); !errors.Is(err, classify.ErrPermanent) {
			t.Errorf("%s: err = %v, want classify.ErrPermanent", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.ReadText(ctx, classify.Image{ID: "x", Bytes: photos["english"]})
	if err == nil || errors.Is(err, classify.ErrPermanent) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled, not permanent", err)
	}
	// The instance the cancelled read took comes back: the next read succeeds.
	got, err := r.ReadText(context.Background(), classify.Image{ID: "english", Bytes: photos["english"]})
	if err != nil || !strings.Contains(strings.ToLower(got.Content), "receipt") {
		t.Errorf("after a cancelled read: %q, %v", got.Content, err)
	}
}

// New fails at once, naming the file and the package, when language data is missing.
func TestMissingLanguageData(t *testing.T) {
	_, err := tesseract.New(tesseract.Options{DataPath: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "eng.traineddata") || !strings.Contains(err.Error(), "tesseract-ocr-kor") {
		t.Errorf("empty data folder: err = %v, want eng's and kor's files and packages named", err)
	}
	_, err = tesseract.New(tesseract.Options{Languages: []string{"eng", "xyz"}})
	if err == nil || !strings.Contains(err.Error(), "xyz.traineddata") {
		t.Errorf("unknown language: err = %v", err)
	}
	if _, err := tesseract.New(tesseract.Options{MaxSide: 20_000}); err == nil {
		t.Error("MaxSide 20000 accepted")
	}
}

// BenchmarkReadText reads each test photo with one instance, reporting the process's CPU
// time per photo beside the wall time (other work on the machine stretches the latter).
// Run it with and without OMP_THREAD_LIMIT=1 (the Makefile and the gallery image set it).
func BenchmarkReadText(b *testing.B) {
	r := newReader(b, tesseract.Options{Clients: 1})
	photos := testPhotos(b)
	for _, name := range []string{"english", "korean", "page", "none"} {
		b.Run(name, func(b *testing.B) {
			var before, after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			for b.Loop() {
				if _, err := r.ReadText(context.Background(), classify.Image{ID: name, Bytes: photos[name]}); err != nil {
					b.Fatal(err)
				}
			}
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano()
			b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}
