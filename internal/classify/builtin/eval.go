package builtin

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// goEngine runs a graph with plain Go loops: the fallback when ONNX Runtime's library is
// absent. Convolutions, the bulk of the work, are split by output rows (1×1 ones by
// blocks of pixels) over the cores.
type goEngine struct {
	g       *graph
	workers int
	steps   []step
	uses    map[*node]int       // how many steps read each node's value
	packed  map[*node][]float32 // 1×1 convolution weights regrouped for pointwise
}

// A step computes one node. Most read the node's own inputs; a hard-swish step computes
// x·scale·relu6(x+shift) from x in one pass, standing in for the four nodes TF wrote it
// as (Mul, Add, Relu6, Mul), with the same float operations in the same order.
type step struct {
	n      *node
	inputs []*node
	hswish *hardSwish
}

type hardSwish struct{ scale, shift float32 }

func newGoEngine(g *graph) *goEngine {
	e := &goEngine{g: g, workers: runtime.GOMAXPROCS(0), packed: map[*node][]float32{}, uses: map[*node]int{}}
	skip := map[*node]bool{}
	fused := map[*node]step{}
	for _, n := range g.nodes {
		if n.op == opConv && n.weight.shape[0] == 1 && n.weight.shape[1] == 1 {
			e.packed[n] = pack(n.weight.data, n.weight.shape[2], n.weight.shape[3])
		}
		if st, parts, ok := matchHardSwish(n); ok {
			fused[n] = st
			for _, p := range parts {
				skip[p] = true
			}
		}
	}
	for _, n := range g.nodes {
		switch {
		case skip[n]:
		case fused[n].n != nil:
			e.steps = append(e.steps, fused[n])
		default:
			e.steps = append(e.steps, step{n: n, inputs: n.inputs})
		}
	}
	for _, st := range e.steps {
		for _, in := range st.inputs {
			e.uses[in]++
		}
	}
	e.uses[g.output]++
	return e
}

// matchHardSwish recognises n = (scale·x) · relu6(x + shift), whose inner nodes nothing
// else reads, and returns the step for it and the inner nodes it replaces.
func matchHardSwish(n *node) (step, []*node, bool) {
	if n.op != opMul {
		return step{}, nil, false
	}
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		m, r := n.inputs[order[0]], n.inputs[order[1]]
		if m.op != opMul || r.op != opRelu6 || m.uses != 1 || r.uses != 1 {
			continue
		}
		x, scale, ok := withScalar(m)
		if !ok {
			continue
		}
		a := r.inputs[0]
		if a.op != opAdd || a.uses != 1 {
			continue
		}
		y, shift, ok := withScalar(a)
		if !ok || y != x || !slices.Equal(x.shape, n.shape) {
			continue
		}
		return step{n: n, inputs: []*node{x}, hswish: &hardSwish{scale: scale, shift: shift}}, []*node{m, r, a}, true
	}
	return step{}, nil, false
}

// withScalar splits a binary node with one scalar constant operand.
func withScalar(n *node) (*node, float32, bool) {
	for i, c := range n.inputs {
		if c.op == opConst && len(c.value.data) == 1 {
			return n.inputs[1-i], c.value.data[0], true
		}
	}
	return nil, 0, false
}

// pack regroups cin×cout weights as [cout/4][cin][4], so that pointwise reads each group
// of four output channels' weights in one sequential sweep.
func pack(w []float32, cin, cout int) []float32 {
	out := make([]float32, 0, cin*(cout/4)*4)
	for co := 0; co+4 <= cout; co += 4 {
		for ci := range cin {
			out = append(out, w[ci*cout+co:][:4]...)
		}
	}
	return out
}

func (e *goEngine) name() string { return "go" }

func (e *goEngine) inputShape() []int { return e.g.input.shape }

func (e *goEngine) outputShape() []int { return e.g.output.shape }

func (e *goEngine) close() error { return nil }

// run evaluates the graph on one NHWC input and returns the output tensor.
func (e *goEngine) run(input []float32) (*tensor, error) {
	if len(input) != numel(e.g.input.shape) {
		return nil, fmt.Errorf("input has %d values, want %d", len(input), numel(e.g.input.shape))
	}
	vals := make(map[*node]*tensor, len(e.steps))
	left := make(map[*node]int, len(e.uses))
	for n, u := range e.uses {
		left[n] = u
	}
	for _, st := range e.steps {
		n := st.n
		var out *tensor
		in := func(i int) *tensor { return vals[st.inputs[i]] }
		switch {
		case st.hswish != nil:
			h := *st.hswish
			out = unary(n, in(0), func(v float32) float32 { return (h.scale * v) * min(max(v+h.shift, 0), 6) })
		case n.op == opInput:
			out = &tensor{shape: n.shape, data: input}
		case n.op == opConst:
			out = n.value
		case n.op == opConv:
			out = e.conv(n, in(0))
		case n.op == opDepthwise:
			out = e.depthwise(n, in(0))
		case n.op == opAdd, n.op == opMul:
			out = elementwise(n, in(0), in(1))
		case n.op == opRelu:
			out = unary(n, in(0), func(v float32) float32 { return max(v, 0) })
		case n.op == opRelu6:
			out = unary(n, in(0), func(v float32) float32 { return min(max(v, 0), 6) })
		case n.op == opSigmoid:
			out = unary(n, in(0), func(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) })
		case n.op == opIdentity:
			out = in(0)
		case n.op == opMean:
			out = mean(n, in(0))
		case n.op == opResize:
			out = resize(n, in(0))
		case n.op == opConcat:
			ins := make([]*tensor, len(st.inputs))
			for i := range ins {
				ins[i] = in(i)
			}
			out = concat(n, ins)
		default:
			return nil, fmt.Errorf("node %s: operation %s has no Go implementation", n.name, n.op)
		}
		vals[n] = out
		// Drop what no later step reads, so that memory stays near the widest layer.
		for _, x := range st.inputs {
			if left[x]--; left[x] == 0 {
				delete(vals, x)
			}
		}
	}
	return vals[e.g.output], nil
}

// parallel calls fn on consecutive slices of [0, n) on up to workers goroutines.
func parallel(n, workers int, fn func(lo, hi int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// conv is a 2-d convolution, NHWC input and HWIO weights, with the bias and Relu fused.
// Each output pixel accumulates weight rows scaled by one input value at a time, so the
// innermost loop runs over contiguous output channels.
func (e *goEngine) conv(n *node, x *tensor) *tensor {
	ih, iw, cin := x.shape[1], x.shape[2], x.shape[3]
	oh, ow, cout := n.shape[1], n.shape[2], n.shape[3]
	kh, kw := n.weight.shape[0], n.weight.shape[1]
	w := n.weight.data
	out := &tensor{shape: n.shape, data: make([]float32, numel(n.shape))}
	if kh == 1 && kw == 1 && n.stride == [2]int{1, 1} && n.pad == [4]int{} {
		pixels := numel(n.shape) / cout
		// Blocks of 64 pixels keep the goroutines few and the blocks of 4 whole.
		parallel((pixels+63)/64, e.workers, func(lo, hi int) {
			pointwise(out.data, x.data, w, e.packed[n], n.bias, cin, cout, n.relu, lo*64, min(hi*64, pixels))
		})
		return out
	}
	rows := n.shape[0] * oh
	parallel(rows, e.workers, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, oy := r/oh, r%oh
			for ox := range ow {
				acc := out.data[((b*oh+oy)*ow+ox)*cout:][:cout]
				if n.bias != nil {
					copy(acc, n.bias.data)
				}
				for ky := range kh {
					iy := oy*n.stride[0] + ky - n.pad[0]
					if iy < 0 || iy >= ih {
						continue
					}
					for kx := range kw {
						ix := ox*n.stride[1] + kx - n.pad[1]
						if ix < 0 || ix >= iw {
							continue
						}
						px := x.data[((b*ih+iy)*iw+ix)*cin:][:cin]
						wk := w[(ky*kw+kx)*cin*cout:][:cin*cout]
						for ci, v := range px {
							axpy(acc, wk[ci*cout:][:cout], v)
						}
					}
				}
				if n.relu {
					relu(acc)
				}
			}
		}
	})
	return out
}

// pointwise is a 1×1 convolution of pixels [lo, hi): a matrix product of pixels×cin by
// cin×cout. The core is a tile of 2 pixels × 4 output channels whose 8 sums are kept in
// locals through the whole cin loop, so outputs are stored once, not once per input
// channel. Measured on this graph: 1.5× the plain loop; a 4×4 tile, or the same tile
// with its statements reordered, is slower (Go's register allocator spills). Every output
// still sums bias + Σ x·w in input-channel order.
func pointwise(dst, src, w, packed []float32, bias *tensor, cin, cout int, withRelu bool, lo, hi int) {
	b := make([]float32, cout)
	if bias != nil {
		copy(b, bias.data)
	}
	p := lo
	for ; p+2 <= hi; p += 2 {
		s0 := src[p*cin:][:cin]
		s1 := src[(p+1)*cin:][:cin]
		d0 := dst[p*cout:][:cout]
		d1 := dst[(p+1)*cout:][:cout]
		co := 0
		for ; co+4 <= cout; co += 4 {
			bb := b[co : co+4 : co+4]
			a00, a01, a02, a03 := bb[0], bb[1], bb[2], bb[3]
			a10, a11, a12, a13 := bb[0], bb[1], bb[2], bb[3]
			pk := packed[co*cin:][:4*cin] // this group's weights, [cin][4]
			s1 := s1[:len(s0)]
			for ci, x0 := range s0 {
				x1 := s1[ci]
				ws := pk[4*ci : 4*ci+4 : 4*ci+4]
				w0, w1, w2, w3 := ws[0], ws[1], ws[2], ws[3]
				a00 += x0 * w0
				a01 += x0 * w1
				a02 += x0 * w2
				a03 += x0 * w3
				a10 += x1 * w0
				a11 += x1 * w1
				a12 += x1 * w2
				a13 += x1 * w3
			}
			o0, o1 := d0[co:co+4:co+4], d1[co:co+4:co+4]
			o0[0], o0[1], o0[2], o0[3] = a00, a01, a02, a03
			o1[0], o1[1], o1[2], o1[3] = a10, a11, a12, a13
		}
		for ; co < cout; co++ { // channels left over when cout is not a multiple of 4
			a0, a1 := b[co], b[co]
			for ci := range cin {
				a0 += s0[ci] * w[ci*cout+co]
				a1 += s1[ci] * w[ci*cout+co]
			}
			d0[co], d1[co] = a0, a1
		}
		if withRelu {
			relu(dst[p*cout:][:2*cout])
		}
	}
	for ; p < hi; p++ {
		o := dst[p*cout:][:cout]
		copy(o, b)
		for ci, v := range src[p*cin:][:cin] {
			axpy(o, w[ci*cout:][:cout], v)
		}
		if withRelu {
			relu(o)
		}
	}
}

// mac adds x×w to acc element by element, unrolled by four.
func mac(acc, x, w []float32) {
	n := len(acc)
	x, w = x[:n], w[:n]
	i := 0
	for ; i+4 <= n; i += 4 {
		a, xx, ww := acc[i:i+4:i+4], x[i:i+4:i+4], w[i:i+4:i+4]
		a[0] += xx[0] * ww[0]
		a[1] += xx[1] * ww[1]
		a[2] += xx[2] * ww[2]
		a[3] += xx[3] * ww[3]
	}
	for ; i < n; i++ {
		acc[i] += x[i] * w[i]
	}
}

func relu(v []float32) {
	for i, x := range v {
		v[i] = max(x, 0)
	}
}

// axpy adds a×x to y.
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += a * x[i]
		y[i+1] += a * x[i+1]
		y[i+2] += a * x[i+2]
		y[i+3] += a * x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

// depthwise is a depthwise 2-d convolution (multiplier 1), HWC1 weights.
func (e *goEngine) depthwise(n *node, x *tensor) *tensor {
	ih, iw, c := x.shape[1], x.shape[2], x.shape[3]
	oh, ow := n.shape[1], n.shape[2]
	kh, kw := n.weight.shape[0], n.weight.shape[1]
	w := n.weight.data
	out := &tensor{shape: n.shape, data: make([]float32, numel(n.shape))}
	parallel(n.shape[0]*oh, e.workers, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, oy := r/oh, r%oh
			for ox := range ow {
				acc := out.data[((b*oh+oy)*ow+ox)*c:][:c]
				if n.bias != nil {
					copy(acc, n.bias.data)
				}
				for ky := range kh {
					iy := oy*n.stride[0] + ky - n.pad[0]
					if iy < 0 || iy >= ih {
						continue
					}
					for kx := range kw {
						ix := ox*n.stride[1] + kx - n.pad[1]
						if ix < 0 || ix >= iw {
							continue
						}
						px := x.data[((b*ih+iy)*iw+ix)*c:][:c]
						mac(acc, px, w[(ky*kw+kx)*c:][:c])
					}
				}
				if n.relu {
					relu(acc)
				}
			}
		}
	})
	return out
}

func unary(n *node, x *tensor, f func(float32) float32) *tensor {
	out := &tensor{shape: n.shape, data: make([]float32, len(x.data))}
	chunks(len(x.data), func(lo, hi int) {
		for i, v := range x.data[lo:hi] {
			out.data[lo+i] = f(v)
		}
	})
	return out
}

// chunks splits elementwise work over the cores when it is large enough to pay.
func chunks(n int, fn func(lo, hi int)) {
	const size = 1 << 15
	if n < 2*size {
		fn(0, n)
		return
	}
	parallel((n+size-1)/size, runtime.GOMAXPROCS(0), func(lo, hi int) {
		fn(lo*size, min(hi*size, n))
	})
}

// elementwise is Add or Mul with NumPy broadcasting. Both are commutative in IEEE
// arithmetic, so the operands are swapped freely to reach a fast path.
func elementwise(n *node, a, b *tensor) *tensor {
	out := &tensor{shape: n.shape, data: make([]float32, numel(n.shape))}
	mul := n.op == opMul
	if len(a.data) != len(out.data) {
		a, b = b, a
	}
	c := n.shape[len(n.shape)-1]
	switch {
	case len(a.data) == len(out.data) && len(b.data) == len(out.data):
		chunks(len(out.data), func(lo, hi int) {
			vv(mul, out.data[lo:hi], a.data[lo:hi], b.data[lo:hi])
		})
		return out
	case len(a.data) == len(out.data) && len(b.data) == 1:
		chunks(len(out.data), func(lo, hi int) {
			vs(mul, out.data[lo:hi], a.data[lo:hi], b.data[0])
		})
		return out
	case len(a.data) == len(out.data) && len(b.data) == c && b.shape[len(b.shape)-1] == c:
		// One operand per channel (squeeze-and-excite scales).
		chunks(len(out.data)/c, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				vv(mul, out.data[p*c:][:c], a.data[p*c:][:c], b.data)
			}
		})
		return out
	}
	f := func(x, y float32) float32 { return x + y }
	if mul {
		f = func(x, y float32) float32 { return x * y }
	}
	sa, sb := bstrides(a.shape, n.shape), bstrides(b.shape, n.shape)
	idx := make([]int, len(n.shape))
	for i := range out.data {
		ia, ib := 0, 0
		for d := range idx {
			ia += idx[d] * sa[d]
			ib += idx[d] * sb[d]
		}
		out.data[i] = f(a.data[ia], b.data[ib])
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < n.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// vv sets o to x+y or x×y.
func vv(mul bool, o, x, y []float32) {
	x, y = x[:len(o)], y[:len(o)]
	if mul {
		for i := range o {
			o[i] = x[i] * y[i]
		}
		return
	}
	for i := range o {
		o[i] = x[i] + y[i]
	}
}

// vs sets o to x+s or x×s.
func vs(mul bool, o, x []float32, s float32) {
	x = x[:len(o)]
	if mul {
		for i := range o {
			o[i] = x[i] * s
		}
		return
	}
	for i := range o {
		o[i] = x[i] + s
	}
}

// bstrides are the strides of shape read as the broadcast shape out (0 on broadcast axes).
func bstrides(shape, out []int) []int {
	s := make([]int, len(out))
	stride := 1
	for d := len(out) - 1; d >= 0; d-- {
		j := d - (len(out) - len(shape))
		if j < 0 {
			break
		}
		if shape[j] != 1 {
			s[d] = stride
		}
		stride *= shape[j]
	}
	return s
}

func mean(n *node, x *tensor) *tensor {
	hw, c := x.shape[1]*x.shape[2], x.shape[3]
	out := &tensor{shape: n.shape, data: make([]float32, numel(n.shape))}
	for b := range x.shape[0] {
		acc := make([]float64, c)
		for p := range hw {
			for i, v := range x.data[(b*hw+p)*c:][:c] {
				acc[i] += float64(v)
			}
		}
		for i := range acc {
			out.data[b*c+i] = float32(acc[i] / float64(hw))
		}
	}
	return out
}

// resize is TensorFlow's ResizeBilinear without align_corners or half-pixel centres:
// output pixel y reads input position y×in/out.
func resize(n *node, x *tensor) *tensor {
	ih, iw, c := x.shape[1], x.shape[2], x.shape[3]
	oh, ow := n.shape[1], n.shape[2]
	sy, sx := float32(ih)/float32(oh), float32(iw)/float32(ow)
	out := &tensor{shape: n.shape, data: make([]float32, numel(n.shape))}
	for b := range n.shape[0] {
		for oy := range oh {
			fy := float32(oy) * sy
			y0 := int(fy)
			y1 := min(y0+1, ih-1)
			dy := fy - float32(y0)
			for ox := range ow {
				fx := float32(ox) * sx
				x0 := int(fx)
				x1 := min(x0+1, iw-1)
				dx := fx - float32(x0)
				p00 := x.data[((b*ih+y0)*iw+x0)*c:][:c]
				p01 := x.data[((b*ih+y0)*iw+x1)*c:][:c]
				p10 := x.data[((b*ih+y1)*iw+x0)*c:][:c]
				p11 := x.data[((b*ih+y1)*iw+x1)*c:][:c]
				o := out.data[((b*oh+oy)*ow+ox)*c:][:c]
				for i := range o {
					top := p00[i] + (p01[i]-p00[i])*dx
					bottom := p10[i] + (p11[i]-p10[i])*dx
					o[i] = top + (bottom-top)*dy
				}
			}
		}
	}
	return out
}

func concat(n *node, ins []*tensor) *tensor {
	out := &tensor{shape: n.shape, data: make([]float32, numel(n.shape))}
	c := n.shape[3]
	pixels := numel(n.shape) / c
	off := 0
	for _, x := range ins {
		xc := x.shape[3]
		for p := range pixels {
			copy(out.data[p*c+off:][:xc], x.data[p*xc:][:xc])
		}
		off += xc
	}
	return out
}
