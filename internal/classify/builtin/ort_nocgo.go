//go:build !cgo

package builtin

import "errors"

// Without cgo there is no ONNX Runtime: the Go engine runs CenterNet, and an
// admin-supplied ONNX model cannot be used.
func newORTEngine(string, []byte) (engine, error) {
	return nil, errors.New("onnx runtime needs a binary built with cgo")
}
