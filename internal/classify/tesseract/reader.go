//go:build cgo

package tesseract

// Leptonica (Tesseract's image library) prints its errors straight to stderr, which
// holds the gallery's JSON log; they are about intermediate images, never the
// caller's, so they are silenced.

/*
#cgo LDFLAGS: -lleptonica
#include <leptonica/allheaders.h>
*/
import "C"

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"strings"
	"sync"

	"github.com/otiai10/gosseract/v2"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/imaging"
)

// Tesseract's settings for photos, chosen on photos with signs, a printed page and
// photos without text (the package's tests; measured in README.md):
//   - page segmentation "sparse text" (11): a photo has words here and there, not a
//     page. The automatic layout analysis (3) found no line on two of four signs.
//   - Sauvola's local thresholding (2) with k = 0.2 instead of one Otsu threshold for
//     the whole photo: white on a blue sign and dark on a light one in the same photo.
//     With Otsu (0) the sparse mode lost half the words on two of four signs.
var settings = map[gosseract.SettableVariable]string{
	"thresholding_method":  "2",
	"thresholding_kfactor": "0.2",
	// Tesseract's own messages ("Estimating resolution as …") would go to stderr.
	gosseract.DEBUG_FILE: "/dev/null",
}

const pageSegMode = gosseract.PSM_SPARSE_TEXT

var (
	// initMu serialises the start of Tesseract instances: gosseract's Init points the
	// process's stderr (fd 2) at /dev/null and back while the language data loads, which
	// two at once would leave pointing at the wrong file.
	initMu       sync.Mutex
	leptonicaSet sync.Once
)

// Reader reads text with Tesseract. It is safe for concurrent use.
type Reader struct {
	opts  Options
	model string
	// slots holds a token for every instance made; idle holds those not in use.
	slots chan struct{}
	idle  chan *gosseract.Client
}

var _ classify.TextReader = (*Reader)(nil)

// New returns a Reader with one Tesseract instance started, so that missing or
// unreadable language data fails here rather than at the first photo.
func New(opts Options) (*Reader, error) {
	opts = opts.withDefaults()
	if err := opts.checkLanguages(); err != nil {
		return nil, err
	}
	if opts.MaxSide < imaging.ClassifierMinSide || opts.MaxSide > imaging.ClassifierMaxSide {
		return nil, fmt.Errorf("tesseract: MaxSide %d is out of %d to %d", opts.MaxSide, imaging.ClassifierMinSide, imaging.ClassifierMaxSide)
	}
	leptonicaSet.Do(func() { C.setMsgSeverity(C.L_SEVERITY_NONE) })
	r := &Reader{
		opts:  opts,
		model: strings.Join(opts.Languages, "+"),
		slots: make(chan struct{}, opts.Clients),
		idle:  make(chan *gosseract.Client, opts.Clients),
	}
	r.slots <- struct{}{}
	c, err := r.newClient()
	if err != nil {
		return nil, err
	}
	r.idle <- c
	return r, nil
}

// Provider implements classify.TextReader.
func (r *Reader) Provider() string { return Provider }

// Model implements classify.TextReader: the languages, "eng+kor".
func (r *Reader) Model() string { return r.model }

// Close frees the Tesseract instances not in use; call it when no ReadText runs.
func (r *Reader) Close() error {
	for {
		select {
		case c := <-r.idle:
			_ = c.Close()
			<-r.slots
		default:
			return nil
		}
	}
}

// newClient starts a Tesseract instance with the language data loaded: Tesseract loads
// it at the first recognition, so the instance reads a blank image once.
func (r *Reader) newClient() (*gosseract.Client, error) {
	initMu.Lock()
	defer initMu.Unlock()
	c := gosseract.NewClient()
	if err := r.start(c); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("tesseract: start %s from %s: %w", r.model, r.opts.DataPath, err)
	}
	return c, nil
}

func (r *Reader) start(c *gosseract.Client) error {
	if err := c.SetTessdataPrefix(r.opts.DataPath); err != nil {
		return err
	}
	if err := c.SetLanguage(r.opts.Languages...); err != nil {
		return err
	}
	for k, v := range settings {
		if err := c.SetVariable(k, v); err != nil {
			return err
		}
	}
	if err := c.SetImageFromBytes(blankPNG); err != nil {
		return err
	}
	if _, err := c.Text(); err != nil {
		return err
	}
	// After Init, which makes Tesseract's parameters anew.
	return c.SetPageSegMode(pageSegMode)
}

// acquire takes an idle instance, or makes one while fewer than Clients exist, or waits.
func (r *Reader) acquire(ctx context.Context) (*gosseract.Client, error) {
	select {
	case c := <-r.idle:
		return c, nil
	default:
	}
	select {
	case c := <-r.idle:
		return c, nil
	case r.slots <- struct{}{}:
		c, err := r.newClient()
		if err != nil {
			<-r.slots
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ReadText implements classify.TextReader. An image that cannot be decoded wraps
// classify.ErrPermanent. Tesseract cannot be interrupted: when ctx ends first,
// ReadText returns ctx's error at once and the instance goes back to the pool when it
// has finished the photo.
func (r *Reader) ReadText(ctx context.Context, img classify.Image) (classify.Text, error) {
	if len(img.Bytes) == 0 {
		return classify.Text{}, fmt.Errorf("%w: no image bytes", classify.ErrPermanent)
	}
	b, err := imaging.ClassifierJPEGSide(ctx, img.Bytes, r.opts.MaxSide)
	if err != nil {
		if ctx.Err() != nil || imaging.HTTPStatus(err) >= 500 {
			return classify.Text{}, fmt.Errorf("prepare image for Tesseract: %w", err) // not the photo's fault: retried
		}
		return classify.Text{}, fmt.Errorf("%w: prepare image for Tesseract: %w", classify.ErrPermanent, err)
	}
	c, err := r.acquire(ctx)
	if err != nil {
		return classify.Text{}, fmt.Errorf("read text: %w", err)
	}
	type result struct {
		words []word
		err   error
	}
	done := make(chan result, 1)
	go func() {
		words, err := recognise(c, b)
		r.idle <- c
		done <- result{words, err}
	}()
	select {
	case <-ctx.Done():
		return classify.Text{}, fmt.Errorf("read text: %w", ctx.Err())
	case res := <-done:
		if res.err != nil {
			return classify.Text{}, fmt.Errorf("read text: %w", res.err)
		}
		content, conf := text(res.words, r.opts.MinConfidence)
		return classify.Text{Content: content, Confidence: conf}, nil
	}
}

// recognise reads one JPEG with c: Tesseract's words, each with its line.
func recognise(c *gosseract.Client, jpeg []byte) ([]word, error) {
	if err := c.SetImageFromBytes(jpeg); err != nil {
		return nil, err
	}
	boxes, err := c.GetBoundingBoxesVerbose()
	if err != nil {
		return nil, err
	}
	// Let go of the photo's pixels (and Tesseract's copies of them) until the next one.
	if err := c.SetImageFromBytes(blankPNG); err != nil {
		return nil, err
	}
	words := make([]word, len(boxes))
	for i, b := range boxes {
		words[i] = word{text: b.Word, confidence: b.Confidence, block: b.BlockNum, par: b.ParNum, line: b.LineNum}
	}
	return words, nil
}

// blankPNG is a small white image: what a new instance reads to load its language data,
// and what an instance holds between photos instead of the last one's pixels.
var blankPNG = func() []byte {
	m := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range m.Pix {
		m.Pix[i] = 0xff
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		panic(err)
	}
	return b.Bytes()
}()
