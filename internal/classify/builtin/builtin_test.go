package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/imaging"
)

// Photos that Debian packages ship (hack/install-deps.sh installs them), and the classes
// each must get.
var photos = []struct {
	path string
	want []string
}{
	{"/usr/share/darknet/data/dog.jpg", []string{"dog", "bicycle"}},
	{"/usr/share/darknet/data/eagle.jpg", []string{"bird"}},
	{"/usr/share/darknet/data/horses.jpg", []string{"horse"}},
	{"/usr/share/darknet/data/person.jpg", []string{"person"}},
	{"/usr/lib/python3/dist-packages/skimage/data/coffee.png", []string{"cup"}},
}

var modelDir string

// TestMain fetches the model with hack/model.sh when it is missing (not in -short runs,
// which skip every test that needs it).
func TestMain(m *testing.M) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		panic(err)
	}
	modelDir = filepath.Join(root, DefaultModelDir)
	if dir := os.Getenv("SORTOGRAPHER_MODEL_DIR"); dir != "" {
		modelDir = dir
	}
	if !short() && !haveModel() {
		cmd := exec.Command(filepath.Join(root, "hack/model.sh"))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "builtin: hack/model.sh failed: %v\n", err)
		}
	}
	os.Exit(m.Run())
}

// short reads -test.short before flag parsing is done by m.Run.
func short() bool {
	return slices.ContainsFunc(os.Args, func(a string) bool {
		return a == "-test.short" || a == "-test.short=true"
	})
}

func haveModel() bool {
	for _, f := range []string{GraphFile, "centernet.bin", LabelsFile, LibraryFile} {
		if _, err := os.Stat(filepath.Join(modelDir, f)); err != nil {
			return false
		}
	}
	return true
}

// open opens the classifier on one engine, failing (skipping under -short) when the
// model or ONNX Runtime is missing.
func open(t testing.TB, engine string) *Classifier {
	t.Helper()
	if !haveModel() {
		if testing.Short() {
			t.Skip("model files missing; -short skips the built-in classifier")
		}
		t.Fatalf("model files missing from %s: run hack/model.sh", modelDir)
	}
	c, err := Open(Options{ModelDir: modelDir, MinScore: 30, Engine: engine})
	if err != nil {
		t.Fatalf("open %s engine (run hack/model.sh to fetch the model and ONNX Runtime): %v", engine, err)
	}
	if c.Engine() != engine {
		t.Fatalf("engine %s, want %s", c.Engine(), engine)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readPhoto(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if testing.Short() {
			t.Skipf("test photo missing: %v", err)
		}
		t.Fatalf("test photo missing (hack/install-deps.sh installs darknet and python3-skimage): %v", err)
	}
	return b
}

func names(labels []classify.Label) []string {
	var out []string
	for _, l := range labels {
		out = append(out, fmt.Sprintf("%s %.1f", l.Name, l.Confidence))
	}
	return out
}

func TestClassifiesRealPhotos(t *testing.T) {
	for _, engine := range []string{EngineORT, EngineGo} {
		t.Run(engine, func(t *testing.T) {
			c := open(t, engine)
			if c.Provider() != "builtin" || c.Model() != "centernet-coco80" {
				t.Errorf("provider %q model %q, want builtin centernet-coco80", c.Provider(), c.Model())
			}
			for _, p := range photos {
				t.Run(filepath.Base(p.path), func(t *testing.T) {
					labels, err := c.Classify(context.Background(), classify.Image{Bytes: readPhoto(t, p.path)})
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("labels: %s", strings.Join(names(labels), ", "))
					for _, w := range p.want {
						if !slices.ContainsFunc(labels, func(l classify.Label) bool { return l.Name == w }) {
							t.Errorf("no %q among %v", w, names(labels))
						}
					}
					if !sort.SliceIsSorted(labels, func(i, j int) bool { return labels[i].Confidence > labels[j].Confidence }) {
						t.Errorf("labels not best first: %v", names(labels))
					}
					for _, l := range labels {
						if l.Confidence < 30 || l.Confidence > 100 {
							t.Errorf("label %s confidence %.2f outside the threshold 30–100", l.Name, l.Confidence)
						}
					}
				})
			}
		})
	}
}

// The two engines compute the same graph in float32 with the same weights; their
// confidences (0–100) agree to two decimals on every class of every photo.
func TestEnginesAgree(t *testing.T) {
	ortC, goC := open(t, EngineORT), open(t, EngineGo)
	var worst float64
	for _, p := range photos {
		photo := readPhoto(t, p.path)
		a, err := ortC.Scores(context.Background(), photo)
		if err != nil {
			t.Fatal(err)
		}
		b, err := goC.Scores(context.Background(), photo)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			d := math.Abs(100 * float64(a[i]-b[i]))
			worst = max(worst, d)
			if d >= 0.005 {
				t.Errorf("%s %s: onnxruntime %.4f, go %.4f", filepath.Base(p.path), ortC.Labels()[i], 100*a[i], 100*b[i])
			}
		}
	}
	t.Logf("largest difference: %.6f percentage points", worst)
}

// An admin-supplied ONNX model with its own labels replaces CenterNet. Here it is
// CenterNet itself, converted (with an NHWC input, then an NCHW one), so its labels must
// match the built-in ones exactly.
func TestCustomModel(t *testing.T) {
	ref := open(t, EngineORT)
	g, err := loadTFJS(filepath.Join(modelDir, GraphFile), graphInput, graphOutput)
	if err != nil {
		t.Fatal(err)
	}
	photo := readPhoto(t, photos[0].path)
	want, err := ref.Classify(context.Background(), classify.Image{Bytes: photo})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if want[i].Name == "dog" {
			// A name outside COCO has no parents.
			want[i].Name, want[i].Parents = "good dog", nil
		}
	}
	for _, nchw := range []bool{false, true} {
		t.Run(fmt.Sprintf("nchw=%v", nchw), func(t *testing.T) {
			onnx, err := convertONNX(g, nchw)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			labels := strings.Join(ref.Labels(), "\n")
			labels = strings.Replace(labels, "dog", "  Good DOG ", 1) // normalised on load
			if err := os.WriteFile(filepath.Join(dir, CustomModelFile), onnx, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, LabelsFile), []byte(labels+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			lib := filepath.Join(modelDir, LibraryFile)
			if _, err := Open(Options{ModelDir: dir, Library: lib, Engine: EngineGo}); err == nil {
				t.Error("custom model opened on the Go engine, want an error")
			}
			c, err := Open(Options{ModelDir: dir, Library: lib, MinScore: 30})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Model() != "custom-model" || c.Engine() != EngineORT {
				t.Errorf("model %q engine %q, want custom-model onnxruntime", c.Model(), c.Engine())
			}
			got, err := c.Classify(context.Background(), classify.Image{Bytes: photo})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("custom model labels %v, want %v", got, want)
			}
			// Labels that do not match the output are refused at start-up.
			if err := os.WriteFile(filepath.Join(dir, LabelsFile), []byte("cat\ndog\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(Options{ModelDir: dir, Library: lib}); err == nil {
				t.Error("custom model opened with 2 labels for 80 outputs")
			}
		})
	}
}

// A class's score is its maximum over every other axis, wherever the class axis is.
func TestClassMax(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    tensor
		want []float32
	}{
		{"vector", tensor{shape: []int{1, 3}, data: []float32{0.1, 0.7, 0.2}}, []float32{0.1, 0.7, 0.2}},
		{"NHWC heatmap", tensor{shape: []int{1, 2, 1, 3}, data: []float32{0.1, 0.9, 0, 0.5, 0.2, 0.3}}, []float32{0.5, 0.9, 0.3}},
		{"NCHW heatmap", tensor{shape: []int{1, 3, 1, 2}, data: []float32{0.1, 0.5, 0.9, 0.2, 0, 0.3}}, []float32{0.5, 0.9, 0.3}},
	} {
		got, err := classMax(&tc.t, 3)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: classMax = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := classMax(&tensor{shape: []int{1, 4}, data: make([]float32, 4)}, 3); err == nil {
		t.Error("classMax found 3 classes in a 1×4 output")
	}
}

func TestUndecodableImageIsPermanent(t *testing.T) {
	c := open(t, EngineGo)
	_, err := c.Classify(context.Background(), classify.Image{Bytes: []byte("not an image")})
	if !errors.Is(err, classify.ErrPermanent) {
		t.Errorf("error %v, want ErrPermanent", err)
	}
}

func TestMissingModelNamesTheScript(t *testing.T) {
	_, err := Open(Options{ModelDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "hack/model.sh") {
		t.Errorf("error %v, want one naming hack/model.sh", err)
	}
}

func TestHalfToFloat(t *testing.T) {
	for h, want := range map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x3555: 0.333251953125, 0x7bff: 65504,
		0x0001: 5.960464477539063e-08, 0x7c00: float32(math.Inf(1)),
	} {
		if got := halfToFloat(h); got != want {
			t.Errorf("halfToFloat(%#04x) = %g, want %g", h, got, want)
		}
	}
}

// Benchmarks: images per second per core, p50 latency, and memory: the process's
// resident set once the engine is loaded and warm, and how much of it opening and running
// the classifier added (run each sub-benchmark alone for clean memory figures).
func BenchmarkClassify(b *testing.B) {
	for _, engine := range []string{EngineORT, EngineGo} {
		b.Run(engine, func(b *testing.B) {
			runtime.GC()
			rss0 := rssMiB()
			c := open(b, engine)
			img := classify.Image{Bytes: readPhoto(b, photos[0].path)}
			if _, err := c.Classify(context.Background(), img); err != nil { // warm up
				b.Fatal(err)
			}
			var lat []time.Duration
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if _, err := c.Classify(context.Background(), img); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			slices.Sort(lat)
			var total time.Duration
			for _, d := range lat {
				total += d
			}
			// Per core from the CPU time the process spent, which stays true when other
			// work shares the machine; wall-clock throughput per core beside it.
			b.ReportMetric(float64(len(lat))/cpu.Seconds(), "images/cpu-s")
			b.ReportMetric(float64(len(lat))/total.Seconds()/float64(runtime.GOMAXPROCS(0)), "images/s/core")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(rssMiB(), "rss-MiB")
			b.ReportMetric(rssMiB()-rss0, "classifier-MiB") // what opening and running it added
		})
	}
}

// cpuTime is the user and system time this process has used, every thread included
// (ONNX Runtime's own threads too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMiB is this process's resident memory.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func TestFallsBackToGoWithoutTheLibrary(t *testing.T) {
	open(t, EngineGo) // fails or skips when the model is missing
	c, err := Open(Options{ModelDir: modelDir, Library: filepath.Join(t.TempDir(), "libonnxruntime.so.1")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Engine() != EngineGo || c.Fallback() == nil {
		t.Errorf("engine %s, fallback %v; want go and a reason", c.Engine(), c.Fallback())
	}
}

// pixels turns the image upright first: stored 3×2 [a b c / d e f], shown by each EXIF
// orientation.
func TestPixelsOrientation(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(src.Pix, []uint8{'a', 'b', 'c', 'd', 'e', 'f'})
	for o, want := range map[imaging.Orientation]string{
		1: "abc/def", 2: "cba/fed", 3: "fed/cba", 4: "def/abc",
		5: "ad/be/cf", 6: "da/eb/fc", 7: "fc/eb/da", 8: "cf/be/ad",
	} {
		rows := strings.Split(want, "/")
		w, h := len(rows[0]), len(rows)
		px := pixels(src, o, w, h)
		var got []string
		for y := range h {
			var row []byte
			for x := range w {
				row = append(row, byte(px[3*(y*w+x)]))
			}
			got = append(got, string(row))
		}
		if g := strings.Join(got, "/"); g != want {
			t.Errorf("orientation %d: %s, want %s", o, g, want)
		}
	}
}

// Workers share one classifier: concurrent calls give what a lone call gives.
func TestConcurrentCalls(t *testing.T) {
	for _, engine := range []string{EngineORT, EngineGo} {
		t.Run(engine, func(t *testing.T) {
			c := open(t, engine)
			var want [][]float32
			var inputs [][]byte
			for _, p := range photos[:3] {
				photo := readPhoto(t, p.path)
				s, err := c.Scores(context.Background(), photo)
				if err != nil {
					t.Fatal(err)
				}
				inputs, want = append(inputs, photo), append(want, s)
			}
			errs := make(chan error, 6)
			for i := range 6 {
				go func() {
					got, err := c.Scores(context.Background(), inputs[i%3])
					if err == nil && !slices.Equal(got, want[i%3]) {
						err = fmt.Errorf("photo %d: scores differ when called concurrently", i%3)
					}
					errs <- err
				}()
			}
			for range 6 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// pixels samples as tf.image.resizeBilinear does: output x reads source x×in/out.
func TestPixelsResizeLikeTensorFlow(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	src.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 255})
	src.SetNRGBA(1, 0, color.NRGBA{255, 100, 10, 255})
	got := pixels(src, 1, 4, 1)
	want := []float32{0, 0, 0, 127.5, 50, 5, 255, 100, 10, 255, 100, 10}
	if !slices.Equal(got, want) {
		t.Errorf("pixels = %v, want %v", got, want)
	}
	gray := image.NewGray(image.Rect(5, 5, 6, 6)) // one pixel, bounds off the origin
	gray.SetGray(5, 5, color.Gray{Y: 40})
	if got := pixels(gray, 1, 2, 2); !slices.Equal(got, slices.Repeat([]float32{40, 40, 40}, 4)) {
		t.Errorf("grey pixel stretched = %v, want 40s", got)
	}
	clear := image.NewNRGBA(image.Rect(0, 0, 1, 1)) // transparent: over black
	clear.SetNRGBA(0, 0, color.NRGBA{200, 200, 200, 0})
	if got := pixels(clear, 1, 1, 1); !slices.Equal(got, []float32{0, 0, 0}) {
		t.Errorf("transparent pixel = %v, want black", got)
	}
}

// The Go engine folds MobileNetV3's hard-swish chains into single steps; TestEnginesAgree
// checks their values, this that the folding happens at all.
func TestGoEngineFoldsHardSwish(t *testing.T) {
	open(t, EngineGo)
	g, err := loadTFJS(filepath.Join(modelDir, GraphFile), graphInput, graphOutput)
	if err != nil {
		t.Fatal(err)
	}
	e := newGoEngine(g)
	folded := 0
	for _, st := range e.steps {
		if st.hswish != nil {
			folded++
		}
	}
	t.Logf("%d nodes in %d steps, %d hard-swish steps", len(g.nodes), len(e.steps), folded)
	if folded == 0 || len(e.steps) != len(g.nodes)-3*folded {
		t.Errorf("%d hard-swish steps and %d steps for %d nodes", folded, len(e.steps), len(g.nodes))
	}
}

// A photo stored sideways with EXIF orientation 6 ("turn 90° clockwise to show") is
// classified as the upright photo is.
func TestExifOrientationEndToEnd(t *testing.T) {
	c := open(t, EngineORT)
	src, _, err := image.Decode(bytes.NewReader(readPhoto(t, photos[2].path))) // horses
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	upright := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	sideways := image.NewRGBA(image.Rect(0, 0, b.Dy(), b.Dx())) // turned 90° anticlockwise
	for y := range b.Dy() {
		for x := range b.Dx() {
			px := src.At(b.Min.X+x, b.Min.Y+y)
			upright.Set(x, y, px)
			sideways.Set(y, b.Dx()-1-x, px)
		}
	}
	scores := func(img image.Image, orientation uint16) []float32 {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		if orientation != 0 {
			data = withOrientation(data, orientation)
		}
		s, err := c.Scores(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want, got := scores(upright, 0), scores(sideways, 6)
	horse := slices.Index(c.Labels(), "horse")
	if got[horse] < 0.3 {
		t.Errorf("horse %.2f on the turned photo, want at least 0.30", got[horse])
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 0.03 {
			t.Errorf("%s: %.3f turned, %.3f upright", c.Labels()[i], got[i], want[i])
		}
	}
}

// withOrientation puts an EXIF segment holding only the orientation tag after a JPEG's
// start-of-image marker.
func withOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte{'I', 'I', 42, 0, 8, 0, 0, 0, // little-endian header, IFD at 8
		1, 0, // one entry
		0x12, 0x01, 3, 0, 1, 0, 0, 0, byte(o), byte(o >> 8), 0, 0, // Orientation, SHORT, 1
		0, 0, 0, 0} // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xff, 0xe1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// A phone's HEIC is scored as its JPEG is: the model reads imaging.ClassifierJPEG of
// whatever format was uploaded. The HEIC is made by Debian's heif-enc
// (libheif-examples, which hack/install-deps.sh installs).
func TestClassifiesHEIC(t *testing.T) {
	c := open(t, EngineORT)
	enc, err := exec.LookPath("heif-enc")
	if err != nil {
		t.Fatalf("heif-enc not found: run hack/install-deps.sh: %v", err)
	}
	out := filepath.Join(t.TempDir(), "dog.heic")
	if b, err := exec.Command(enc, "-q", "90", "-o", out, photos[0].path).CombinedOutput(); err != nil {
		t.Fatalf("heif-enc: %v\n%s", err, b)
	}
	heic, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fromJPEG, err := c.Scores(context.Background(), readPhoto(t, photos[0].path))
	if err != nil {
		t.Fatal(err)
	}
	fromHEIC, err := c.Scores(context.Background(), heic)
	if err != nil {
		t.Fatalf("scoring a HEIC: %v", err)
	}
	for _, want := range photos[0].want {
		i := slices.Index(c.Labels(), want)
		if fromHEIC[i] < 0.3 || math.Abs(float64(fromHEIC[i]-fromJPEG[i])) > 0.1 {
			t.Errorf("%s: %.2f from the HEIC, %.2f from the JPEG; want at least 0.30 and within 0.10", want, fromHEIC[i], fromJPEG[i])
		}
	}
}
