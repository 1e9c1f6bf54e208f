//go:build !cgo

package tesseract

import (
	"context"

	"github.com/sortographer/sortographer/internal/classify"
)

// Reader is unusable without cgo: New always fails.
type Reader struct{}

var _ classify.TextReader = (*Reader)(nil)

// New fails: libtesseract is a C++ library, reached only through cgo.
func New(Options) (*Reader, error) { return nil, ErrNoCgo }

// Provider implements classify.TextReader.
func (*Reader) Provider() string { return Provider }

// Model implements classify.TextReader.
func (*Reader) Model() string { return "" }

// Close does nothing.
func (*Reader) Close() error { return nil }

// ReadText implements classify.TextReader; it is never reached, as New fails.
func (*Reader) ReadText(context.Context, classify.Image) (classify.Text, error) {
	return classify.Text{}, ErrNoCgo
}
