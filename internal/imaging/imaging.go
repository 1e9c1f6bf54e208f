// Package imaging checks uploaded photos and makes their thumbnails and the JPEGs the
// classifiers read, through libvips (github.com/davidbyttow/govips on Debian's
// libvips-dev, with HEIF and AVIF from libheif).
//
// An upload handler calls Inspect, which reads the body once, tells the format from the
// content (never the file name or the declared type), and refuses anything it does not
// accept, or whose header promises a decompression bomb, before any pixel is decoded.
// It then calls Thumbnail, the step that decodes pixels, which also catches files cut
// short after a valid header. Workers call ClassifierJPEG for what they send a
// classifier. Both decodes wait for room in one memory budget per process
// (SetDecodeMemory), sized from each image's header (DecodeMemory); an image that could
// never fit is refused with ErrDecodeTooLarge.
//
// Formats, all told from the bytes: JPEG, PNG, GIF (its first frame), WebP, HEIC/HEIF,
// AVIF and TIFF are decoded by libvips. Camera RAWs whose container is TIFF-like (DNG,
// CR2, NEF, ARW, ORF, PEF, RW2) are shown through the largest JPEG preview the camera
// embedded, found by this package's own TIFF walker (raw.go); the original is stored as
// uploaded. RAWs of other containers (Canon CR3 and CRW, Fujifilm RAF, Sigma X3F, Minolta
// MRW) are refused as unsupported: their previews sit in vendor structures this package
// does not read.
//
// There is no pure-Go fallback for CGO_ENABLED=0 builds: the gallery binary is built with
// cgo anyway (ONNX Runtime), the Go standard decoders read only four of these formats,
// and a second decoder would accept, orient and budget the same upload differently
// depending on how the binary was built. Building the package without cgo fails.
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

	"golang.org/x/image/webp"
)

// Errors of Inspect, Thumbnail and ClassifierJPEG, wrapped; HTTPStatus maps them to a
// response.
var (
	// ErrEmpty: the upload holds no bytes.
	ErrEmpty = errors.New("empty file")
	// ErrUnsupportedFormat: the content is not an accepted format.
	ErrUnsupportedFormat = errors.New("unsupported image format: JPEG, PNG, GIF, WebP, HEIC/HEIF, AVIF, TIFF and the RAWs DNG, CR2, NEF, ARW, ORF, PEF and RW2 are accepted")
	// ErrUnsupportedRAW: a camera RAW of a kind that is not read (CR3, RAF, ...).
	ErrUnsupportedRAW = errors.New("unsupported camera RAW")
	// ErrNoPreview: a RAW of a supported kind without an embedded JPEG preview large
	// enough to show.
	ErrNoPreview = errors.New("camera RAW without a usable embedded JPEG preview")
	// ErrFileTooLarge: the upload has more bytes than allowed.
	ErrFileTooLarge = errors.New("file too large")
	// ErrTooManyPixels: the header declares more pixels than MaxPixels or a side longer
	// than MaxSide.
	ErrTooManyPixels = errors.New("image dimensions too large")
	// ErrDecodeTooLarge: decoding the image needs more memory than the process's whole
	// decode budget, so it can never be decoded here (a 16-bit PNG or a huge GIF canvas
	// within MaxPixels).
	ErrDecodeTooLarge = errors.New("image needs too much memory to decode")
	// ErrCorrupt: the content starts like a supported image but cannot be read.
	ErrCorrupt = errors.New("corrupt or truncated image")
)

// Limits on an image's declared size, checked before decoding. A 20,000 px side is past
// any camera's. The memory a decode needs is the budget's business (DecodeMemory): 100
// megapixels is 300 MB as 8-bit RGB but 800 MB as 16-bit RGBA.
const (
	MaxPixels = 100_000_000
	MaxSide   = 20_000
)

// HTTPStatus is the response status for an error of Inspect, Thumbnail or
// ClassifierJPEG: 400, 413, 415 or 422, and 500 for anything else.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrEmpty), errors.Is(err, ErrCorrupt):
		return http.StatusBadRequest
	case errors.Is(err, ErrFileTooLarge), errors.Is(err, ErrDecodeTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedFormat), errors.Is(err, ErrUnsupportedRAW):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrTooManyPixels), errors.Is(err, ErrNoPreview):
		return http.StatusUnprocessableEntity
	default:
		return http.StatusInternalServerError
	}
}

// Format is an accepted image format.
type Format string

// The accepted formats. The RAWs are shown through their embedded JPEG preview.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
	// HEIC is HEIF holding HEVC (iPhones, many Android phones); HEIF is HEIF with
	// another or no declared codec, left to libheif.
	HEIC Format = "heic"
	HEIF Format = "heif"
	AVIF Format = "avif"
	TIFF Format = "tiff"
	DNG  Format = "dng"
	CR2  Format = "cr2"
	NEF  Format = "nef"
	ARW  Format = "arw"
	ORF  Format = "orf"
	PEF  Format = "pef"
	RW2  Format = "rw2"
)

var contentTypes = map[Format]string{
	JPEG: "image/jpeg", PNG: "image/png", GIF: "image/gif", WebP: "image/webp",
	HEIC: "image/heic", HEIF: "image/heif", AVIF: "image/avif", TIFF: "image/tiff",
	DNG: "image/x-adobe-dng", CR2: "image/x-canon-cr2", NEF: "image/x-nikon-nef",
	ARW: "image/x-sony-arw", ORF: "image/x-olympus-orf", PEF: "image/x-pentax-pef",
	RW2: "image/x-panasonic-rw2",
}

// Formats are every accepted format.
func Formats() []Format {
	return []Format{JPEG, PNG, GIF, WebP, HEIC, HEIF, AVIF, TIFF, DNG, CR2, NEF, ARW, ORF, PEF, RW2}
}

// ContentType is the format's media type, for storing and serving the original.
func (f Format) ContentType() string {
	if t, ok := contentTypes[f]; ok {
		return t
	}
	return "application/octet-stream"
}

// RAW reports a camera RAW, shown through its embedded JPEG preview.
func (f Format) RAW() bool {
	switch f {
	case DNG, CR2, NEF, ARW, ORF, PEF, RW2:
		return true
	}
	return false
}

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
	// Width and Height are the stored pixel dimensions, before Orientation; for a RAW,
	// its preview's. HEIF's rotations are applied by the decoder and already counted.
	Width, Height int
	// Orientation is from EXIF (the one libvips turns the image by); 1 when there is
	// none, and for HEIF and AVIF, whose own rotation the decoder applies.
	Orientation Orientation
	// TakenAt is EXIF DateTimeOriginal, else DateTime; zero when absent or invalid. With
	// no EXIF offset tag the camera's wall clock is reported in UTC.
	TakenAt time.Time

	// Bands and BytesPerBand are the decoded pixel's layout (alpha included: 4 and 2
	// for a 16-bit RGBA PNG); Alpha says whether it has an alpha band; Progressive marks
	// a multi-scan JPEG or an interlaced PNG. DecodeMemory reads them.
	Bands, BytesPerBand int
	Alpha, Progressive  bool

	// preview is where a RAW's embedded JPEG lies in the file.
	previewOff, previewLen int64
	// turn is an orientation the decoder must apply itself: a RAW's, when its preview
	// carries none of its own.
	turn Orientation
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

// decoded is the part of the file libvips decodes: a RAW's preview, else all of it.
func (i Info) decoded(data []byte) []byte {
	if !i.Format.RAW() {
		return data
	}
	if i.previewOff < 0 || i.previewLen <= 0 || i.previewOff+i.previewLen > int64(len(data)) {
		return nil
	}
	return data[i.previewOff : i.previewOff+i.previewLen]
}

// sniffLen covers the signatures Inspect checks before reading the rest of an upload.
const sniffLen = 16

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
	if err := sniffStart(head); err != nil {
		return nil, Info{}, err
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
	format, err := sniff(data)
	if err != nil {
		return Info{}, err
	}
	info := Info{Format: format, Size: int64(len(data)), Orientation: 1}
	if w, h, ok := declaredSize(format, data); ok {
		if err := checkDimensions(w, h); err != nil {
			return Info{}, err
		}
	}
	var m metadata
	var haveMeta bool
	if format.RAW() {
		p, err := findPreview(data)
		if err != nil {
			return Info{}, err
		}
		info.previewOff, info.previewLen = p.off, p.n
		m, haveMeta = p.meta, true
	}
	h, err := readHeader(info.decoded(data))
	if err != nil {
		return Info{}, fmt.Errorf("%s header: %w", format, err)
	}
	if !loaderReads(format, h.loader) {
		return Info{}, fmt.Errorf("%w: the content is not a %s libvips reads (it chose %s)", ErrCorrupt, format, h.loader)
	}
	if err := checkDimensions(h.width, h.height); err != nil {
		return Info{}, err
	}
	info.Width, info.Height = h.width, h.height
	info.Bands, info.BytesPerBand = h.bands, h.bytesPerBand
	info.Alpha, info.Progressive = h.alpha, h.multiscan
	info.Orientation = h.orientation
	if format.RAW() {
		if max(h.width, h.height) < ThumbnailSize {
			return Info{}, fmt.Errorf("%w: the largest preview in this %s is %d×%d pixels, less than the %d px a thumbnail needs", ErrNoPreview, format, h.width, h.height, ThumbnailSize)
		}
		// The preview's own EXIF orientation, when it has one, is what libvips turns
		// it by; a preview without one is stored as the sensor saw it, and the RAW's
		// orientation is the decoder's to apply.
		if h.orientation == 1 && m.orientation > 1 {
			info.Orientation, info.turn = m.orientation, m.orientation
		}
	} else {
		m, haveMeta = readMetadata(format, data, h.exif)
	}
	if haveMeta {
		info.TakenAt = m.takenAt
	}
	return info, nil
}

// declaredSize reads the size a JPEG, PNG, GIF or WebP header declares with Go's own
// header parsers, so that a decompression bomb is refused before libvips reads it. ok is
// false when they cannot tell; libvips then has the last word.
func declaredSize(f Format, data []byte) (w, h int, ok bool) {
	defer func() {
		if recover() != nil {
			w, h, ok = 0, 0, false
		}
	}()
	decode := map[Format]func(io.Reader) (image.Config, error){
		JPEG: jpeg.DecodeConfig, PNG: png.DecodeConfig, GIF: gif.DecodeConfig, WebP: webp.DecodeConfig,
	}[f]
	if decode == nil {
		return 0, 0, false
	}
	cfg, err := decode(bytes.NewReader(data))
	if err != nil {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// loaderReads reports whether libvips' loader (by its nickname) is the one for format:
// libvips picks a loader by its own sniffing, and it must agree with this package's.
func loaderReads(f Format, loader string) bool {
	want := map[Format]string{
		JPEG: "jpegload", PNG: "pngload", GIF: "gifload", WebP: "webpload",
		HEIC: "heifload", HEIF: "heifload", AVIF: "heifload", TIFF: "tiffload",
	}[f]
	if f.RAW() {
		want = "jpegload"
	}
	return want != "" && (loader == want || loader == want+"_buffer")
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

// bytesEqualAt reports whether b holds s at off.
func bytesEqualAt(b []byte, off int, s string) bool {
	return len(b) >= off+len(s) && bytes.Equal(b[off:off+len(s)], []byte(s))
}
