// Package imaging checks uploaded photos and makes their thumbnails.
//
// An upload handler calls Inspect, which reads the body once, tells the format from the
// content (never the file name), and refuses anything that is not a JPEG, PNG, GIF or
// WebP, or whose header promises a decompression bomb, before any pixel is decoded. It
// then calls Thumbnail, the one step that decodes pixels, which also catches files that
// are cut short after a valid header.
package imaging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"time"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Errors of Inspect and Thumbnail, wrapped; HTTPStatus maps them to a response.
var (
	// ErrEmpty: the upload holds no bytes.
	ErrEmpty = errors.New("empty file")
	// ErrUnsupportedFormat: the content is not a JPEG, PNG, GIF or WebP.
	ErrUnsupportedFormat = errors.New("unsupported image format: JPEG, PNG, GIF and WebP are accepted")
	// ErrFileTooLarge: the upload has more bytes than allowed.
	ErrFileTooLarge = errors.New("file too large")
	// ErrTooManyPixels: the header declares more pixels than MaxPixels or a side longer
	// than MaxSide, so decoding it could exhaust memory.
	ErrTooManyPixels = errors.New("image dimensions too large")
	// ErrCorrupt: the content starts like a supported image but cannot be read.
	ErrCorrupt = errors.New("corrupt or truncated image")
)

// Limits on an image's declared size, checked before decoding. 100 megapixels decode to
// at most 400 MB (RGBA); a 20,000 px side is past any camera's.
const (
	MaxPixels = 100_000_000
	MaxSide   = 20_000
)

// HTTPStatus is the response status for an error of Inspect or Thumbnail: 400, 413,
// 415 or 422, and 500 for anything else.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrEmpty), errors.Is(err, ErrCorrupt):
		return http.StatusBadRequest
	case errors.Is(err, ErrFileTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedFormat):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrTooManyPixels):
		return http.StatusUnprocessableEntity
	default:
		return http.StatusInternalServerError
	}
}

// Format is an accepted image format.
type Format string

// The accepted formats.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
)

// ContentType is the format's media type, for storing and serving the original.
func (f Format) ContentType() string { return "image/" + string(f) }

// Orientation is the EXIF orientation tag: how to turn the stored pixels for display.
// 1 is upright; 2-8 mirror and rotate (6 is "rotate 90° clockwise").
type Orientation int

// swapsAxes reports whether displaying the image swaps its width and height.
func (o Orientation) swapsAxes() bool { return o >= 5 && o <= 8 }

// Info is what Inspect learns about an image without decoding its pixels.
type Info struct {
	Format Format
	// Size is the file's length in bytes.
	Size int64
	// Width and Height are the stored pixel dimensions, before Orientation.
	Width, Height int
	// Orientation is from EXIF; 1 when there is none.
	Orientation Orientation
	// TakenAt is EXIF DateTimeOriginal, else DateTime; zero when absent or invalid. With
	// no EXIF offset tag the camera's wall clock is reported in UTC.
	TakenAt time.Time
}

// ContentType is the image's media type.
func (i Info) ContentType() string { return i.Format.ContentType() }

// DisplaySize is the size as shown, after Orientation.
func (i Info) DisplaySize() (width, height int) {
	if i.Orientation.swapsAxes() {
		return i.Height, i.Width
	}
	return i.Width, i.Height
}

// sniffLen covers the longest signature (WebP's 12 bytes).
const sniffLen = 12

// Inspect reads an upload of at most maxBytes and checks that it is an accepted image
// of acceptable dimensions, decoding headers only. It returns the bytes read, to store
// and to pass to Thumbnail. A body that does not start like an accepted image fails
// after its first bytes, without reading the rest.
func Inspect(r io.Reader, maxBytes int64) ([]byte, Info, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, err := br.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, Info{}, fmt.Errorf("read upload: %w", err)
	}
	if len(head) == 0 {
		return nil, Info{}, ErrEmpty
	}
	if _, ok := sniff(head); !ok {
		return nil, Info{}, ErrUnsupportedFormat
	}
	data, err := io.ReadAll(io.LimitReader(br, maxBytes+1))
	if err != nil {
		return nil, Info{}, fmt.Errorf("read upload: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, Info{}, fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, maxBytes)
	}
	info, err := InspectBytes(data)
	if err != nil {
		return nil, Info{}, err
	}
	return data, info, nil
}

// InspectBytes is Inspect for an image already in memory.
func InspectBytes(data []byte) (Info, error) {
	if len(data) == 0 {
		return Info{}, ErrEmpty
	}
	format, ok := sniff(data)
	if !ok {
		return Info{}, ErrUnsupportedFormat
	}
	cfg, err := decodeConfig(format, data)
	if err != nil {
		return Info{}, err
	}
	if err := checkDimensions(cfg.Width, cfg.Height); err != nil {
		return Info{}, err
	}
	info := Info{Format: format, Size: int64(len(data)), Width: cfg.Width, Height: cfg.Height, Orientation: 1}
	if m, ok := readMetadata(format, data); ok {
		info.Orientation = m.orientation
		info.TakenAt = m.takenAt
	}
	return info, nil
}

// sniff tells the format from the first bytes.
func sniff(b []byte) (Format, bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return JPEG, true
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, true
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF, true
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP, true
	}
	return "", false
}

func decodeConfig(f Format, data []byte) (cfg image.Config, err error) {
	defer recoverCorrupt(&err)
	r := bytes.NewReader(data)
	switch f {
	case JPEG:
		cfg, err = jpeg.DecodeConfig(r)
	case PNG:
		cfg, err = png.DecodeConfig(r)
	case GIF:
		cfg, err = gif.DecodeConfig(r)
	case WebP:
		cfg, err = webp.DecodeConfig(r)
	}
	if err != nil {
		return image.Config{}, fmt.Errorf("%w: %s header: %w", ErrCorrupt, f, err)
	}
	return cfg, nil
}

func decode(f Format, data []byte) (img image.Image, err error) {
	defer recoverCorrupt(&err)
	r := bytes.NewReader(data)
	switch f {
	case JPEG:
		img, err = jpeg.Decode(r)
	case PNG:
		img, err = png.Decode(r)
	case GIF:
		img, err = gifFirstFrame(r)
	case WebP:
		img, err = webp.Decode(r)
	default:
		err = ErrUnsupportedFormat
	}
	if err != nil {
		if errors.Is(err, ErrUnsupportedFormat) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, f, err)
	}
	return img, nil
}

// gifFirstFrame decodes a GIF's first frame as browsers show it: on the GIF's canvas
// (its logical screen, the size Inspect reports), transparent where the frame does not
// reach. gif.Decode alone returns the frame at its own size and offset, so a small frame
// on a wide canvas made a thumbnail of the wrong shape (found by FuzzInspect).
func gifFirstFrame(r *bytes.Reader) (image.Image, error) {
	cfg, err := gif.DecodeConfig(r)
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	frame, err := gif.Decode(r)
	if err != nil {
		return nil, err
	}
	canvas := image.Rect(0, 0, cfg.Width, cfg.Height)
	if frame.Bounds() == canvas {
		return frame, nil
	}
	out := image.NewNRGBA(canvas)
	within := frame.Bounds().Intersect(canvas)
	draw.Draw(out, within, frame, within.Min, draw.Src)
	return out, nil
}

// recoverCorrupt turns a decoder panic on hostile input into ErrCorrupt: a bad upload
// must not take the server down.
func recoverCorrupt(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: decoder failed: %v", ErrCorrupt, p)
	}
}

func checkDimensions(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: %d×%d pixels", ErrCorrupt, w, h)
	}
	if w > MaxSide || h > MaxSide || int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("%w: %d×%d pixels, the limit is %d megapixels and %d pixels a side", ErrTooManyPixels, w, h, MaxPixels/1_000_000, MaxSide)
	}
	return nil
}
