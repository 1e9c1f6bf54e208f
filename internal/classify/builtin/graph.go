package builtin

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A graph is the part of a TF.js graph model that computes one output, reduced to the
// handful of operations MobileNet-style detectors use. Both inference paths start from it:
// the pure-Go evaluator runs it, and toONNX writes it as an ONNX model for ONNX Runtime.
// Tensors are NHWC, as in TensorFlow.
type graph struct {
	nodes  []*node // in an order where every node follows its inputs
	input  *node
	output *node
}

// Operations a graph node can hold.
const (
	opInput     = "input"
	opConst     = "const"
	opConv      = "conv"      // Conv2D, _FusedConv2D (BiasAdd, optionally Relu)
	opDepthwise = "depthwise" // DepthwiseConv2dNative, FusedDepthwiseConv2dNative
	opAdd       = "add"
	opMul       = "mul"
	opRelu      = "relu"
	opRelu6     = "relu6"
	opSigmoid   = "sigmoid"
	opMean      = "mean" // over height and width, dimensions kept
	opResize    = "resize"
	opConcat    = "concat" // on channels
	opIdentity  = "identity"
)

type node struct {
	name   string
	op     string
	inputs []*node
	shape  []int   // output shape
	value  *tensor // opConst
	weight *tensor // conv HWIO, depthwise HWC1
	bias   *tensor // optional
	relu   bool    // conv and depthwise: a fused Relu after the bias
	stride [2]int  // conv and depthwise
	pad    [4]int  // conv and depthwise: top, left, bottom, right
	size   [2]int  // resize: output height and width
	uses   int     // how many nodes read this one (the output counts as read once)
}

type tensor struct {
	shape []int
	data  []float32
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// TF.js model.json, only the fields this loader reads.
type modelJSON struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []nodeJSON `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []struct {
		Paths   []string `json:"paths"`
		Weights []struct {
			Name         string `json:"name"`
			Shape        []int  `json:"shape"`
			Dtype        string `json:"dtype"`
			Quantization *struct {
				Dtype string   `json:"dtype"`
				Scale *float32 `json:"scale"`
				Min   *float32 `json:"min"`
			} `json:"quantization"`
		} `json:"weights"`
	} `json:"weightsManifest"`
}

type nodeJSON struct {
	Name  string                     `json:"name"`
	Op    string                     `json:"op"`
	Input []string                   `json:"input"`
	Attr  map[string]json.RawMessage `json:"attr"`
}

type constValue struct {
	shape []int
	f     []float32
	i     []int32
}

// loadTFJS reads a TF.js graph model (model.json and its weight files beside it) and keeps
// what computes output from input.
func loadTFJS(jsonPath, input, output string) (*graph, error) {
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	var m modelJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parse model %s: %w", jsonPath, err)
	}
	if m.Format != "graph-model" {
		return nil, fmt.Errorf("model %s: format %q, want graph-model", jsonPath, m.Format)
	}
	consts, err := readWeights(&m, filepath.Dir(jsonPath))
	if err != nil {
		return nil, err
	}
	tf := map[string]nodeJSON{}
	for _, n := range m.ModelTopology.Node {
		tf[n.Name] = n
	}
	b := &builder{tf: tf, consts: consts, built: map[string]*node{}, inputName: input}
	out, err := b.build(output, 0)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", jsonPath, err)
	}
	if b.input == nil {
		return nil, fmt.Errorf("model %s: output %s does not depend on input %s", jsonPath, output, input)
	}
	for _, n := range b.order {
		for _, in := range n.inputs {
			in.uses++
		}
	}
	out.uses++
	return &graph{nodes: b.order, input: b.input, output: out}, nil
}

func readWeights(m *modelJSON, dir string) (map[string]constValue, error) {
	consts := map[string]constValue{}
	for _, group := range m.WeightsManifest {
		var buf []byte
		for _, p := range group.Paths {
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				return nil, fmt.Errorf("read weights: %w", err)
			}
			buf = append(buf, b...)
		}
		for _, w := range group.Weights {
			n := numel(w.Shape)
			c := constValue{shape: w.Shape}
			switch {
			case w.Quantization != nil && w.Quantization.Dtype == "float16" && w.Dtype == "float32":
				if len(buf) < 2*n {
					return nil, fmt.Errorf("weights end before %s", w.Name)
				}
				c.f = make([]float32, n)
				for i := range c.f {
					c.f[i] = halfToFloat(binary.LittleEndian.Uint16(buf[2*i:]))
				}
				buf = buf[2*n:]
			case w.Quantization == nil && (w.Dtype == "float32" || w.Dtype == "int32"):
				if len(buf) < 4*n {
					return nil, fmt.Errorf("weights end before %s", w.Name)
				}
				if w.Dtype == "float32" {
					c.f = make([]float32, n)
					for i := range c.f {
						c.f[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
					}
				} else {
					c.i = make([]int32, n)
					for i := range c.i {
						c.i[i] = int32(binary.LittleEndian.Uint32(buf[4*i:]))
					}
				}
				buf = buf[4*n:]
			default:
				return nil, fmt.Errorf("weight %s: dtype %s with quantization %+v is not supported", w.Name, w.Dtype, w.Quantization)
			}
			consts[w.Name] = c
		}
	}
	return consts, nil
}

type builder struct {
	tf        map[string]nodeJSON
	consts    map[string]constValue
	built     map[string]*node
	order     []*node
	input     *node
	inputName string
}

func cleanName(s string) string {
	s = strings.TrimPrefix(s, "^")
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		s = s[:i]
	}
	return s
}

func (b *builder) constant(name string) (constValue, error) {
	c, ok := b.consts[cleanName(name)]
	if !ok {
		return constValue{}, fmt.Errorf("%s is not a constant with weights", name)
	}
	return c, nil
}

func (b *builder) ints(name string) ([]int, error) {
	c, err := b.constant(name)
	if err != nil {
		return nil, err
	}
	if c.i == nil {
		return nil, fmt.Errorf("%s is not an int32 constant", name)
	}
	out := make([]int, len(c.i))
	for i, v := range c.i {
		out[i] = int(v)
	}
	return out, nil
}

func (b *builder) build(name string, depth int) (*node, error) {
	name = cleanName(name)
	if n, ok := b.built[name]; ok {
		return n, nil
	}
	if depth > 10000 {
		return nil, fmt.Errorf("graph too deep at %s", name)
	}
	t, ok := b.tf[name]
	if !ok {
		return nil, fmt.Errorf("no node %s", name)
	}
	n := &node{name: name}
	dataInputs := func(k int) error {
		if len(t.Input) < k {
			return fmt.Errorf("node %s (%s): %d inputs, want %d", name, t.Op, len(t.Input), k)
		}
		for _, in := range t.Input[:k] {
			if strings.HasPrefix(in, "^") {
				return fmt.Errorf("node %s: control input %s where data was expected", name, in)
			}
			x, err := b.build(in, depth+1)
			if err != nil {
				return err
			}
			n.inputs = append(n.inputs, x)
		}
		return nil
	}
	if err := b.operation(n, t, dataInputs); err != nil {
		return nil, err
	}
	b.built[name] = n
	b.order = append(b.order, n)
	return n, nil
}

// operation fills in a node from its TF node, after building its data inputs.
func (b *builder) operation(n *node, t nodeJSON, dataInputs func(int) error) error {
	switch t.Op {
	case "Placeholder":
		return b.placeholder(n, t)
	case "Const":
		c, err := b.constant(n.name)
		if err != nil {
			return err
		}
		if c.f == nil {
			return fmt.Errorf("int constant %s used as data", n.name)
		}
		n.op, n.value, n.shape = opConst, &tensor{shape: c.shape, data: c.f}, c.shape
		return nil
	case "Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative":
		return b.conv(n, t, dataInputs)
	case "Add", "AddV2", "Mul":
		if err := dataInputs(2); err != nil {
			return err
		}
		n.op = opAdd
		if t.Op == "Mul" {
			n.op = opMul
		}
		var err error
		n.shape, err = broadcast(n.inputs[0].shape, n.inputs[1].shape)
		return err
	case "Relu", "Relu6", "Sigmoid", "Identity":
		if err := dataInputs(1); err != nil {
			return err
		}
		n.op = map[string]string{"Relu": opRelu, "Relu6": opRelu6, "Sigmoid": opSigmoid, "Identity": opIdentity}[t.Op]
		n.shape = n.inputs[0].shape
		return nil
	case "Mean":
		return b.mean(n, t, dataInputs)
	case "ResizeBilinear":
		return b.resize(n, t, dataInputs)
	case "ConcatV2":
		return b.concat(n, t, dataInputs)
	}
	return fmt.Errorf("node %s: operation %s is not supported", n.name, t.Op)
}

func (b *builder) placeholder(n *node, t nodeJSON) error {
	if n.name != b.inputName {
		return fmt.Errorf("placeholder %s is not the input %s", n.name, b.inputName)
	}
	n.op = opInput
	var a struct {
		Shape struct {
			Dim []struct {
				Size string `json:"size"`
			} `json:"dim"`
		} `json:"shape"`
	}
	if err := json.Unmarshal(t.Attr["shape"], &a); err != nil {
		return fmt.Errorf("input %s shape: %w", n.name, err)
	}
	for _, d := range a.Shape.Dim {
		v, err := strconv.Atoi(d.Size)
		if err != nil || v <= 0 {
			v = 1 // batch dimension -1
		}
		n.shape = append(n.shape, v)
	}
	if len(n.shape) != 4 {
		return fmt.Errorf("input %s: shape %v, want NHWC", n.name, n.shape)
	}
	b.input = n
	return nil
}

func (b *builder) mean(n *node, t nodeJSON, dataInputs func(int) error) error {
	if err := dataInputs(1); err != nil {
		return err
	}
	axes, err := b.ints(t.Input[1])
	if err != nil {
		return err
	}
	keep := boolAttr(t, "keep_dims")
	if len(axes) != 2 || axes[0] != 1 || axes[1] != 2 || !keep || len(n.inputs[0].shape) != 4 {
		return fmt.Errorf("node %s: Mean over %v (keep_dims %v) is not supported, only over height and width", n.name, axes, keep)
	}
	s := n.inputs[0].shape
	n.op, n.shape = opMean, []int{s[0], 1, 1, s[3]}
	return nil
}

func (b *builder) resize(n *node, t nodeJSON, dataInputs func(int) error) error {
	if boolAttr(t, "align_corners") || boolAttr(t, "half_pixel_centers") {
		return fmt.Errorf("node %s: only ResizeBilinear without align_corners or half_pixel_centers is supported", n.name)
	}
	if err := dataInputs(1); err != nil {
		return err
	}
	size, err := b.ints(t.Input[1])
	if err != nil {
		return err
	}
	s := n.inputs[0].shape
	if len(size) != 2 || len(s) != 4 {
		return fmt.Errorf("node %s: resize of %v to %v is not supported", n.name, s, size)
	}
	n.op, n.size, n.shape = opResize, [2]int{size[0], size[1]}, []int{s[0], size[0], size[1], s[3]}
	return nil
}

func (b *builder) concat(n *node, t nodeJSON, dataInputs func(int) error) error {
	k := len(t.Input) - 1
	if err := dataInputs(k); err != nil {
		return err
	}
	axis, err := b.ints(t.Input[k])
	if err != nil {
		return err
	}
	if len(axis) != 1 || (axis[0] != 3 && axis[0] != -1) {
		return fmt.Errorf("node %s: concat on axis %v, only channels are supported", n.name, axis)
	}
	n.op = opConcat
	n.shape = append([]int(nil), n.inputs[0].shape...)
	n.shape[3] = 0
	for _, in := range n.inputs {
		if len(in.shape) != 4 || in.shape[0] != n.shape[0] || in.shape[1] != n.shape[1] || in.shape[2] != n.shape[2] {
			return fmt.Errorf("node %s: inputs %v and %v do not concatenate on channels", n.name, n.inputs[0].shape, in.shape)
		}
		n.shape[3] += in.shape[3]
	}
	return nil
}

func (b *builder) conv(n *node, t nodeJSON, dataInputs func(int) error) error {
	if err := dataInputs(1); err != nil {
		return err
	}
	depthwise := strings.Contains(t.Op, "Depthwise")
	n.op = opConv
	if depthwise {
		n.op = opDepthwise
	}
	w, err := b.constant(t.Input[1])
	if err != nil || w.f == nil || len(w.shape) != 4 {
		return fmt.Errorf("node %s: weights %s are not a 4-d float constant", n.name, t.Input[1])
	}
	n.weight = &tensor{shape: w.shape, data: w.f}
	if strings.HasPrefix(t.Op, "Fused") || strings.HasPrefix(t.Op, "_Fused") {
		var fused []string
		var a struct {
			List struct {
				S [][]byte `json:"s"`
			} `json:"list"`
		}
		if err := json.Unmarshal(t.Attr["fused_ops"], &a); err != nil {
			return fmt.Errorf("node %s fused_ops: %w", n.name, err)
		}
		for _, s := range a.List.S {
			fused = append(fused, string(s))
		}
		switch strings.Join(fused, ",") {
		case "BiasAdd":
		case "BiasAdd,Relu":
			n.relu = true
		default:
			return fmt.Errorf("node %s: fused operations %v are not supported", n.name, fused)
		}
		bias, err := b.constant(t.Input[2])
		if err != nil || bias.f == nil {
			return fmt.Errorf("node %s: bias %s is not a float constant", n.name, t.Input[2])
		}
		n.bias = &tensor{shape: bias.shape, data: bias.f}
	}
	if f := stringAttr(t, "data_format"); f != "" && f != "NHWC" {
		return fmt.Errorf("node %s: data format %s, only NHWC is supported", n.name, f)
	}
	strides := intsAttr(t, "strides")
	if len(strides) != 4 {
		strides = []int{1, 1, 1, 1}
	}
	for _, d := range intsAttr(t, "dilations") {
		if d != 1 {
			return fmt.Errorf("node %s: dilated convolutions are not supported", n.name)
		}
	}
	n.stride = [2]int{strides[1], strides[2]}
	in := n.inputs[0].shape
	kh, kw := w.shape[0], w.shape[1]
	cout := w.shape[3]
	if depthwise {
		if w.shape[3] != 1 {
			return fmt.Errorf("node %s: depth multiplier %d, only 1 is supported", n.name, w.shape[3])
		}
		cout = w.shape[2]
	}
	if w.shape[2] != in[3] {
		return fmt.Errorf("node %s: weights for %d channels, input has %d", n.name, w.shape[2], in[3])
	}
	var oh, ow int
	switch stringAttr(t, "padding") {
	case "SAME":
		oh, ow = (in[1]+n.stride[0]-1)/n.stride[0], (in[2]+n.stride[1]-1)/n.stride[1]
		ph := max((oh-1)*n.stride[0]+kh-in[1], 0)
		pw := max((ow-1)*n.stride[1]+kw-in[2], 0)
		n.pad = [4]int{ph / 2, pw / 2, ph - ph/2, pw - pw/2}
	case "VALID":
		oh, ow = (in[1]-kh)/n.stride[0]+1, (in[2]-kw)/n.stride[1]+1
	default:
		return fmt.Errorf("node %s: padding %q is not supported", n.name, stringAttr(t, "padding"))
	}
	n.shape = []int{in[0], oh, ow, cout}
	return nil
}

func broadcast(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

func boolAttr(t nodeJSON, name string) bool {
	var a struct {
		B bool `json:"b"`
	}
	_ = json.Unmarshal(t.Attr[name], &a)
	return a.B
}

func stringAttr(t nodeJSON, name string) string {
	var a struct {
		S []byte `json:"s"`
	}
	_ = json.Unmarshal(t.Attr[name], &a)
	return string(a.S)
}

func intsAttr(t nodeJSON, name string) []int {
	var a struct {
		List struct {
			I []string `json:"i"`
		} `json:"list"`
	}
	_ = json.Unmarshal(t.Attr[name], &a)
	var out []int
	for _, s := range a.List.I {
		v, _ := strconv.Atoi(s) // a malformed value reads as 0, which every caller refuses
		out = append(out, v)
	}
	return out
}

// halfToFloat widens an IEEE 754 half-precision number (TF.js stores these weights so).
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0: // zero or subnormal: mant × 2⁻²⁴
		f := float32(mant) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	case 31:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
