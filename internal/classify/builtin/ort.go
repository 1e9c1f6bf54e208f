//go:build cgo

package builtin

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ONNX Runtime's environment is process-wide and binds one library path.
var (
	ortOnce    sync.Once
	ortLibrary string
	ortErr     error
)

func initORT(library string) error {
	// A missing file is checked first so that it does not use up the one initialisation.
	if _, err := os.Stat(library); err != nil {
		return fmt.Errorf("onnx runtime library: %w", err)
	}
	ortOnce.Do(func() {
		ortLibrary = library
		ort.SetSharedLibraryPath(library)
		ortErr = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if ortErr == nil && library != ortLibrary {
		return fmt.Errorf("onnx runtime already loaded from %s, not %s", ortLibrary, library)
	}
	return ortErr
}

// ortEngine runs an ONNX model with ONNX Runtime. The session writes into tensors made
// once here; they stay referenced from the engine for the session's whole life, because
// ONNX Runtime keeps raw pointers to them.
type ortEngine struct {
	session *ort.AdvancedSession
	in      *ort.Tensor[float32]
	out     *ort.Tensor[float32]
	shape   []int // NHWC input the classifier feeds
	nchw    bool  // the model's own input is NCHW: transpose before each run
	scratch []float32
	outDims []int
}

func (e *ortEngine) name() string { return EngineORT }

func (e *ortEngine) inputShape() []int { return e.shape }

func (e *ortEngine) outputShape() []int { return e.outDims }

func newORTEngine(library string, onnx []byte) (engine, error) {
	if err := initORT(library); err != nil {
		return nil, err
	}
	inputs, outputs, err := ort.GetInputOutputInfoWithONNXData(onnx)
	if err != nil {
		return nil, fmt.Errorf("read model inputs and outputs: %w", err)
	}
	if len(inputs) != 1 || len(outputs) < 1 {
		return nil, fmt.Errorf("model has %d inputs and %d outputs, want one image input", len(inputs), len(outputs))
	}
	in, out := inputs[0], outputs[0]
	if in.DataType != ort.TensorElementDataTypeFloat || out.DataType != ort.TensorElementDataTypeFloat {
		return nil, errors.New("model input and output must be float32 tensors")
	}
	inDims := fixed(in.Dimensions)
	if len(inDims) != 4 {
		return nil, fmt.Errorf("model input %s is %v, want 1×H×W×3 or 1×3×H×W", in.Name, in.Dimensions)
	}
	e := &ortEngine{}
	switch {
	case inDims[3] == 3:
		e.shape = []int{1, inDims[1], inDims[2], 3}
	case inDims[1] == 3:
		e.nchw = true
		e.shape = []int{1, inDims[2], inDims[3], 3}
		e.scratch = make([]float32, numel(e.shape))
	default:
		return nil, fmt.Errorf("model input %s is %v: no axis of 3 colour channels", in.Name, in.Dimensions)
	}
	e.outDims = fixed(out.Dimensions)
	if e.in, err = ort.NewEmptyTensor[float32](ort.NewShape(toInt64(inDims)...)); err != nil {
		return nil, fmt.Errorf("make input tensor: %w", err)
	}
	if e.out, err = ort.NewEmptyTensor[float32](ort.NewShape(toInt64(e.outDims)...)); err != nil {
		return nil, errors.Join(fmt.Errorf("make output tensor: %w", err), e.close())
	}
	if err := e.startSession(onnx, in.Name, out.Name); err != nil {
		return nil, errors.Join(err, e.close())
	}
	return e, nil
}

func (e *ortEngine) startSession(onnx []byte, input, output string) (err error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return fmt.Errorf("make session options: %w", err)
	}
	defer func() { err = errors.Join(err, opts.Destroy()) }()
	if err := opts.SetIntraOpNumThreads(runtime.GOMAXPROCS(0)); err != nil {
		return fmt.Errorf("set threads: %w", err)
	}
	// Idle threads sleep instead of spinning: a worker runs one image at a time between
	// queue and database calls, and spinning would take those cores from its neighbours.
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return fmt.Errorf("disable spinning: %w", err)
	}
	e.session, err = ort.NewAdvancedSessionWithONNXData(onnx, []string{input}, []string{output},
		[]ort.Value{e.in}, []ort.Value{e.out}, opts)
	if err != nil {
		return fmt.Errorf("make session: %w", err)
	}
	return nil
}

// fixed turns unknown (batch) dimensions into 1.
func fixed(dims ort.Shape) []int {
	out := make([]int, len(dims))
	for i, d := range dims {
		out[i] = max(int(d), 1)
	}
	return out
}

func toInt64(dims []int) []int64 {
	out := make([]int64, len(dims))
	for i, d := range dims {
		out[i] = int64(d)
	}
	return out
}

func (e *ortEngine) run(input []float32) (*tensor, error) {
	dst := e.in.GetData()
	if len(input) != len(dst) {
		return nil, fmt.Errorf("input has %d values, model wants %d", len(input), len(dst))
	}
	if e.nchw {
		h, w := e.shape[1], e.shape[2]
		for p := range h * w {
			for c := range 3 {
				dst[c*h*w+p] = input[3*p+c]
			}
		}
	} else {
		copy(dst, input)
	}
	if err := e.session.Run(); err != nil {
		return nil, err
	}
	return &tensor{shape: e.outDims, data: e.out.GetData()}, nil
}

func (e *ortEngine) close() error {
	var errs []error
	if e.session != nil {
		errs = append(errs, e.session.Destroy())
		e.session = nil
	}
	if e.in != nil {
		errs = append(errs, e.in.Destroy())
		e.in = nil
	}
	if e.out != nil {
		errs = append(errs, e.out.Destroy())
		e.out = nil
	}
	return errors.Join(errs...)
}
