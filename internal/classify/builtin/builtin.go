// Package builtin is the offline classifier: a COCO-80 CenterNet detector (MobileNetV3,
// from the npm package @vladmandic/human) run inside the worker on CPU, through ONNX
// Runtime when its shared library is present and through a pure-Go evaluator otherwise.
// A class's score is the maximum of its heatmap channel. An admin may supply another model
// instead (model.onnx and labels.txt in the model directory), run through ONNX Runtime.
// README.md says where the files come from and how they are licensed.
package builtin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/imaging"
)

// Recorded with every label.
const (
	Provider = "builtin"
	Model    = "centernet-coco80"
)

// Files in the model directory (hack/model.sh fetches the first four into bin/model/).
const (
	GraphFile   = "centernet.json" // TF.js graph model; its weights file sits beside it
	LabelsFile  = "labels.txt"     // one label per line, in output-channel order
	LibraryFile = "libonnxruntime.so.1"
	// CustomModelFile is an admin-supplied ONNX model; when present it replaces CenterNet.
	CustomModelFile = "model.onnx"
)

// The CenterNet graph's input placeholder and the output whose channels are class heatmaps.
const (
	graphInput  = "tower_0/images"
	graphOutput = "tower_0/keypoints"
)

// DefaultModelDir is used when SORTOGRAPHER_MODEL_DIR is empty: where hack/model.sh puts
// the files when run from the repository root.
const DefaultModelDir = "bin/model"

// Engines.
const (
	EngineAuto = ""            // ONNX Runtime when its library loads, else Go
	EngineORT  = "onnxruntime" // fail when the library does not load
	EngineGo   = "go"
)

// Options configure Open. New builds them from the worker configuration.
type Options struct {
	// ModelDir holds the files above. Empty: DefaultModelDir.
	ModelDir string
	// Library is the path of libonnxruntime.so. Empty: ModelDir/libonnxruntime.so.1.
	Library string
	// MinScore is the threshold on the 0–100 confidence.
	MinScore float64
	// Engine chooses the inference path.
	Engine string
}

// engine runs a model on one NHWC float input (raw RGB 0–255) and returns its output.
type engine interface {
	name() string
	inputShape() []int // 1×H×W×3
	outputShape() []int
	run(input []float32) (*tensor, error)
	close() error
}

// Classifier labels photos with the built-in model. Safe for concurrent use.
type Classifier struct {
	labels   []string
	minScore float64
	model    string
	engine   engine
	fallback error // why ONNX Runtime is not used, on the automatic choice
	// ONNX Runtime's session holds one input and one output tensor, so calls take turns;
	// each run already uses every core.
	mu sync.Mutex
}

var _ classify.Classifier = (*Classifier)(nil)

// New opens the built-in classifier the worker configuration describes: files from
// ModelDir, ONNX Runtime from ONNXRuntimeLib when it loads, pure Go otherwise.
func New(cfg config.Workers) (classify.Classifier, error) {
	return Open(Options{ModelDir: cfg.ModelDir, Library: cfg.ONNXRuntimeLib, MinScore: cfg.BuiltinMinScore})
}

// Open loads the model from disk; it never downloads anything.
func Open(o Options) (*Classifier, error) {
	if o.ModelDir == "" {
		o.ModelDir = DefaultModelDir
	}
	if o.Library == "" {
		o.Library = filepath.Join(o.ModelDir, LibraryFile)
	}
	labels, err := readLabels(filepath.Join(o.ModelDir, LabelsFile))
	if err != nil {
		return nil, err
	}
	c := &Classifier{labels: labels, minScore: o.MinScore, model: Model}

	custom := filepath.Join(o.ModelDir, CustomModelFile)
	if _, err := os.Stat(custom); err == nil {
		if o.Engine == EngineGo {
			return nil, fmt.Errorf("open builtin classifier: %s needs ONNX Runtime, not the Go engine", custom)
		}
		onnx, err := os.ReadFile(custom)
		if err != nil {
			return nil, fmt.Errorf("read custom model: %w", err)
		}
		c.engine, err = newORTEngine(o.Library, onnx)
		if err != nil {
			return nil, fmt.Errorf("open custom model %s: %w", custom, err)
		}
		c.model = "custom-" + strings.TrimSuffix(filepath.Base(custom), ".onnx")
		if _, err := classMax(&tensor{shape: c.engine.outputShape()}, len(labels)); err != nil {
			return nil, errors.Join(fmt.Errorf("open custom model %s with %d labels: %w", custom, len(labels), err), c.engine.close())
		}
		return c, nil
	}

	g, err := loadTFJS(filepath.Join(o.ModelDir, GraphFile), graphInput, graphOutput)
	if err != nil {
		return nil, fmt.Errorf("open builtin classifier (run hack/model.sh to fetch the model): %w", err)
	}
	if last := g.output.shape[len(g.output.shape)-1]; last != len(labels) {
		return nil, fmt.Errorf("open builtin classifier: model has %d classes, %s has %d labels", last, LabelsFile, len(labels))
	}
	switch o.Engine {
	case EngineGo:
		c.engine = newGoEngine(g)
	case EngineORT, EngineAuto:
		onnx, err := toONNX(g)
		if err != nil {
			return nil, fmt.Errorf("convert model to ONNX: %w", err)
		}
		c.engine, err = newORTEngine(o.Library, onnx)
		if err != nil {
			if o.Engine == EngineORT {
				return nil, fmt.Errorf("open builtin classifier on onnx runtime (hack/model.sh fetches the library; %s overrides its path): %w", config.EnvONNXRuntimeLib, err)
			}
			c.engine, c.fallback = newGoEngine(g), err
		}
	default:
		return nil, fmt.Errorf("open builtin classifier: unknown engine %q", o.Engine)
	}
	return c, nil
}

func readLabels(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read labels (run hack/model.sh to fetch the model): %w", err)
	}
	defer f.Close()
	var labels []string
	s := bufio.NewScanner(f)
	// Line i names output channel i, so blank lines count (a class never reported); only
	// blank lines at the end are dropped.
	for s.Scan() {
		labels = append(labels, normalise(s.Text()))
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read labels %s: %w", path, err)
	}
	for len(labels) > 0 && labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("labels %s: empty", path)
	}
	return labels, nil
}

// normalise makes a label lower case with single spaces, as every provider stores them.
func normalise(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// Provider is "builtin".
func (c *Classifier) Provider() string { return Provider }

// Model is "centernet-coco80", or "custom-<file>" for an admin-supplied model.
func (c *Classifier) Model() string { return c.model }

// Engine says which inference path runs: "onnxruntime" or "go".
func (c *Classifier) Engine() string { return c.engine.name() }

// Fallback is why the automatic choice fell back to the Go engine (nil when it did not),
// for the worker to log: the Go engine is several times slower.
func (c *Classifier) Fallback() error { return c.fallback }

// Labels are the names the model can give, in output order.
func (c *Classifier) Labels() []string { return c.labels }

// Close releases ONNX Runtime's session.
func (c *Classifier) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.engine.close()
}

// Classify returns the classes whose score reaches the threshold, best first. Each call
// is reported to the context's classify.CallCounter: one call of the provider "builtin".
func (c *Classifier) Classify(ctx context.Context, img classify.Image) ([]classify.Label, error) {
	scores, err := c.Scores(ctx, img.Bytes)
	if err != nil {
		classify.CountCall(ctx, Provider, classify.CallError)
		return nil, err
	}
	classify.CountCall(ctx, Provider, classify.CallOK)
	var labels []classify.Label
	for i, s := range scores {
		if conf := 100 * float64(s); conf >= c.minScore && c.labels[i] != "" {
			labels = append(labels, classify.Label{Name: c.labels[i], Confidence: conf, Parents: Parents(c.labels[i])})
		}
	}
	sort.SliceStable(labels, func(i, j int) bool { return labels[i].Confidence > labels[j].Confidence })
	return labels, nil
}

// Scores are every class's score, 0–1, in label order. photo is any image the gallery
// accepts (HEIC and the RAWs included): the model reads imaging.ClassifierJPEG of it,
// the JPEG every classifier gets, made within the process's decode budget: upright,
// sRGB, transparency on white, at most imaging.ClassifierSide pixels a side.
func (c *Classifier) Scores(ctx context.Context, photo []byte) ([]float32, error) {
	jpg, err := imaging.ClassifierJPEG(ctx, photo)
	if err != nil {
		if ctx.Err() != nil || imaging.HTTPStatus(err) >= 500 {
			return nil, fmt.Errorf("prepare image: %w", err) // not the photo's fault: retried
		}
		return nil, fmt.Errorf("prepare image: %w: %w", err, classify.ErrPermanent)
	}
	src, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	shape := c.engine.inputShape()
	input := pixels(src, 1, shape[1], shape[2])
	c.mu.Lock()
	defer c.mu.Unlock() // ONNX Runtime's output tensor is reused by the next run
	out, err := c.engine.run(input)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", c.engine.name(), err)
	}
	return classMax(out, len(c.labels))
}

// pixels turns an image upright by its EXIF orientation, stretches it to w×h as Human's
// CenterNet code does with tf.image.resizeBilinear (no align-corners, no half-pixel
// centres, no antialiasing: four source pixels per output pixel, so a 12-megapixel photo
// costs no more than a small one) and lays it out NHWC as float RGB 0–255. Transparent
// pixels come out over black (Scores gives it ClassifierJPEG's, flattened on white).
func pixels(src image.Image, o imaging.Orientation, w, h int) []float32 {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	// stored maps a pixel of the upright image to the stored one, of size W×H.
	W, H := sw, sh
	stored := func(x, y int) (int, int) { return x, y }
	switch o {
	case 2: // mirrored
		stored = func(x, y int) (int, int) { return W - 1 - x, y }
	case 3: // turned 180°
		stored = func(x, y int) (int, int) { return W - 1 - x, H - 1 - y }
	case 4: // flipped
		stored = func(x, y int) (int, int) { return x, H - 1 - y }
	case 5: // transposed
		stored = func(x, y int) (int, int) { return y, x }
	case 6: // to turn 90° clockwise
		stored = func(x, y int) (int, int) { return y, H - 1 - x }
	case 7: // transversed
		stored = func(x, y int) (int, int) { return W - 1 - y, H - 1 - x }
	case 8: // to turn 90° anticlockwise
		stored = func(x, y int) (int, int) { return W - 1 - y, x }
	}
	if o >= 5 && o <= 8 {
		sw, sh = sh, sw // the upright size
	}
	at := func(x, y int) (r, g, bl float32) {
		x, y = stored(x, y)
		c := color.RGBA64Model.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA64)
		return float32(c.R) / 257, float32(c.G) / 257, float32(c.B) / 257
	}
	if img, ok := src.(image.RGBA64Image); ok { // the standard decoders' types: no allocation
		at = func(x, y int) (r, g, bl float32) {
			x, y = stored(x, y)
			c := img.RGBA64At(b.Min.X+x, b.Min.Y+y)
			return float32(c.R) / 257, float32(c.G) / 257, float32(c.B) / 257
		}
	}
	type tap struct {
		lo, hi int
		frac   float32
	}
	taps := func(out, in int) []tap {
		t := make([]tap, out)
		scale := float32(in) / float32(out)
		for i := range t {
			f := float32(i) * scale
			lo := min(int(f), in-1)
			t[i] = tap{lo: lo, hi: min(lo+1, in-1), frac: f - float32(lo)}
		}
		return t
	}
	xs, ys := taps(w, sw), taps(h, sh)
	out := make([]float32, w*h*3)
	parallel(h, runtime.GOMAXPROCS(0), func(lo, hi int) {
		for oy := lo; oy < hi; oy++ {
			ty := ys[oy]
			for ox, tx := range xs {
				r00, g00, b00 := at(tx.lo, ty.lo)
				r01, g01, b01 := at(tx.hi, ty.lo)
				r10, g10, b10 := at(tx.lo, ty.hi)
				r11, g11, b11 := at(tx.hi, ty.hi)
				o := out[3*(oy*w+ox):][:3]
				o[0] = lerp2(r00, r01, r10, r11, tx.frac, ty.frac)
				o[1] = lerp2(g00, g01, g10, g11, tx.frac, ty.frac)
				o[2] = lerp2(b00, b01, b10, b11, tx.frac, ty.frac)
			}
		}
	})
	return out
}

// lerp2 interpolates as TensorFlow does: along x on both rows, then along y.
func lerp2(p00, p01, p10, p11, dx, dy float32) float32 {
	top := p00 + (p01-p00)*dx
	bottom := p10 + (p11-p10)*dx
	return top + (bottom-top)*dy
}

// classMax is each class's maximum over every other axis: the heatmap peak of a
// detector, or the score itself of a classifier with a 1×N output. The class axis is the
// last one of length classes.
func classMax(t *tensor, classes int) ([]float32, error) {
	axis := -1
	for d := len(t.shape) - 1; d >= 0; d-- {
		if t.shape[d] == classes {
			axis = d
			break
		}
	}
	if axis < 0 {
		return nil, fmt.Errorf("model output %v has no axis for %d labels: %w", t.shape, classes, errors.ErrUnsupported)
	}
	inner := 1
	for _, d := range t.shape[axis+1:] {
		inner *= d
	}
	scores := make([]float32, classes)
	for i := range scores {
		scores[i] = float32(-1e30)
	}
	for i, v := range t.data {
		k := (i / inner) % classes
		scores[k] = max(scores[k], v)
	}
	return scores, nil
}
