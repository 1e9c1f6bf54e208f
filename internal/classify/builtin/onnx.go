package builtin

import (
	"encoding/binary"
	"fmt"
	"math"
)

// toONNX writes a graph as an ONNX model (opset 13) with the same weights, so that ONNX
// Runtime computes what the Go evaluator does. ONNX convolutions are NCHW: the model
// transposes its NHWC input once, works in NCHW, and transposes the output back, so it
// takes and gives the same tensors as the TF.js graph. The protobuf is written by hand:
// a few message types, no generated code.
func toONNX(g *graph) ([]byte, error) { return convertONNX(g, false) }

// convertONNX is toONNX, with an NCHW input instead when nchwInput is set (the tests
// use it to stand in for an admin's NCHW model).
func convertONNX(g *graph, nchwInput bool) ([]byte, error) {
	var (
		nodes, inits [][]byte
		k            int
	)
	fresh := func(base string) string {
		k++
		return fmt.Sprintf("%s/onnx_%d", base, k)
	}
	addNode := func(op string, in, out []string, attrs ...[]byte) {
		nodes = append(nodes, nodeProto(op, fresh(op), in, out, attrs...))
	}
	addInit := func(name string, dims []int, data []float32) string {
		inits = append(inits, tensorProto(name, dims, data))
		return name
	}
	const (
		inName  = "images"
		outName = "keypoints"
	)
	for _, n := range g.nodes {
		switch n.op {
		case opInput:
			if nchwInput {
				addNode("Identity", []string{inName}, []string{n.name})
			} else {
				addNode("Transpose", []string{inName}, []string{n.name}, intsAttrProto("perm", 0, 3, 1, 2))
			}
		case opConst:
			if len(n.value.data) != 1 {
				return nil, fmt.Errorf("node %s: only scalar constants can be operands, not %v", n.name, n.value.shape)
			}
			addInit(n.name, nil, n.value.data)
		case opConv, opDepthwise:
			convToONNX(n, addNode, addInit)
		case opAdd, opMul:
			op := "Add"
			if n.op == opMul {
				op = "Mul"
			}
			for _, in := range n.inputs {
				if in.op != opConst && len(in.shape) != 4 {
					return nil, fmt.Errorf("node %s: operand %s is %v, not 4-d", n.name, in.name, in.shape)
				}
			}
			addNode(op, []string{n.inputs[0].name, n.inputs[1].name}, []string{n.name})
		case opRelu:
			addNode("Relu", []string{n.inputs[0].name}, []string{n.name})
		case opRelu6:
			lo := addInit(fresh("zero"), nil, []float32{0})
			hi := addInit(fresh("six"), nil, []float32{6})
			addNode("Clip", []string{n.inputs[0].name, lo, hi}, []string{n.name})
		case opSigmoid:
			addNode("Sigmoid", []string{n.inputs[0].name}, []string{n.name})
		case opIdentity:
			addNode("Identity", []string{n.inputs[0].name}, []string{n.name})
		case opMean:
			addNode("GlobalAveragePool", []string{n.inputs[0].name}, []string{n.name})
		case opResize:
			s := n.inputs[0].shape
			scales := addInit(fresh("scales"), []int{4}, []float32{1, 1, float32(n.size[0]) / float32(s[1]), float32(n.size[1]) / float32(s[2])})
			addNode("Resize", []string{n.inputs[0].name, "", scales}, []string{n.name},
				stringAttrProto("mode", "linear"),
				stringAttrProto("coordinate_transformation_mode", "asymmetric"))
		case opConcat:
			var in []string
			for _, x := range n.inputs {
				in = append(in, x.name)
			}
			addNode("Concat", in, []string{n.name}, intAttrProto("axis", 1))
		default:
			return nil, fmt.Errorf("node %s: operation %s has no ONNX form", n.name, n.op)
		}
	}
	addNode("Transpose", []string{g.output.name}, []string{outName}, intsAttrProto("perm", 0, 2, 3, 1))

	var graph []byte
	for _, n := range nodes {
		graph = appendBytes(graph, 1, n)
	}
	graph = appendBytes(graph, 2, []byte("sortographer"))
	for _, t := range inits {
		graph = appendBytes(graph, 5, t)
	}
	inShape := g.input.shape
	if nchwInput {
		inShape = []int{inShape[0], inShape[3], inShape[1], inShape[2]}
	}
	graph = appendBytes(graph, 11, valueInfo(inName, inShape))
	graph = appendBytes(graph, 12, valueInfo(outName, g.output.shape))

	var model []byte
	model = appendVarint(model, 1, 8) // ir_version
	model = appendBytes(model, 2, []byte("sortographer"))
	model = appendBytes(model, 7, graph)
	model = appendBytes(model, 8, appendVarint(nil, 2, 13)) // opset_import: default domain, 13
	return model, nil
}

// convToONNX writes a convolution (depthwise as a grouped one) with its weights turned
// from HWIO (HWC1) to OIHW, and its fused Relu as a node after it.
func convToONNX(n *node, addNode func(op string, in, out []string, attrs ...[]byte), addInit func(name string, dims []int, data []float32) string) {
	kh, kw, cin, cout := n.weight.shape[0], n.weight.shape[1], n.weight.shape[2], n.weight.shape[3]
	group := 1
	if n.op == opDepthwise {
		group, cout, cin = cin, cin, 1
	}
	// HWIO (HWC1 for depthwise) to OIHW.
	w := make([]float32, len(n.weight.data))
	for y := range kh {
		for x := range kw {
			for i := range cin {
				for o := range cout {
					src := ((y*kw+x)*cin+i)*cout + o
					if n.op == opDepthwise {
						src = (y*kw+x)*cout + o
					}
					w[((o*cin+i)*kh+y)*kw+x] = n.weight.data[src]
				}
			}
		}
	}
	in := []string{n.inputs[0].name, addInit(n.name+"/W", []int{cout, cin, kh, kw}, w)}
	if n.bias != nil {
		in = append(in, addInit(n.name+"/B", []int{cout}, n.bias.data))
	}
	out := n.name
	if n.relu {
		out = n.name + "/preact"
	}
	addNode("Conv", in, []string{out},
		intsAttrProto("kernel_shape", kh, kw),
		intsAttrProto("strides", n.stride[0], n.stride[1]),
		intsAttrProto("pads", n.pad[0], n.pad[1], n.pad[2], n.pad[3]),
		intAttrProto("group", group))
	if n.relu {
		addNode("Relu", []string{out}, []string{n.name})
	}
}

// Protobuf wire format.
func appendTag(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field<<3|wire))
}

func appendVarint(b []byte, field int, v int64) []byte {
	return binary.AppendUvarint(appendTag(b, field, 0), uint64(v))
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(appendTag(b, field, 2), uint64(len(v)))
	return append(b, v...)
}

// onnx.proto field numbers used below.
func nodeProto(op, name string, in, out []string, attrs ...[]byte) []byte {
	var b []byte
	for _, s := range in {
		b = appendBytes(b, 1, []byte(s))
	}
	for _, s := range out {
		b = appendBytes(b, 2, []byte(s))
	}
	b = appendBytes(b, 3, []byte(name))
	b = appendBytes(b, 4, []byte(op))
	for _, a := range attrs {
		b = appendBytes(b, 5, a)
	}
	return b
}

const (
	attrInt    = 2
	attrString = 3
	attrInts   = 7
	floatType  = 1 // TensorProto.FLOAT
)

func intAttrProto(name string, v int) []byte {
	b := appendBytes(nil, 1, []byte(name))
	b = appendVarint(b, 3, int64(v))
	return appendVarint(b, 20, attrInt)
}

func intsAttrProto(name string, vs ...int) []byte {
	b := appendBytes(nil, 1, []byte(name))
	for _, v := range vs {
		b = appendVarint(b, 8, int64(v))
	}
	return appendVarint(b, 20, attrInts)
}

func stringAttrProto(name, v string) []byte {
	b := appendBytes(nil, 1, []byte(name))
	b = appendBytes(b, 4, []byte(v))
	return appendVarint(b, 20, attrString)
}

func tensorProto(name string, dims []int, data []float32) []byte {
	var b []byte
	for _, d := range dims {
		b = appendVarint(b, 1, int64(d))
	}
	b = appendVarint(b, 2, floatType)
	b = appendBytes(b, 8, []byte(name))
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return appendBytes(b, 9, raw)
}

func valueInfo(name string, shape []int) []byte {
	var dims []byte
	for _, d := range shape {
		dims = appendBytes(dims, 1, appendVarint(nil, 1, int64(d)))
	}
	tensorType := appendVarint(nil, 1, floatType)
	tensorType = appendBytes(tensorType, 2, dims)
	typ := appendBytes(nil, 1, tensorType)
	b := appendBytes(nil, 1, []byte(name))
	return appendBytes(b, 2, typ)
}
