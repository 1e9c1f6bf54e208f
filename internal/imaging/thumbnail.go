package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"

	"golang.org/x/image/draw"
)

// Thumbnails fit within ThumbnailSize×ThumbnailSize, keep the aspect ratio, and are
// JPEGs of ThumbnailQuality.
const (
	ThumbnailSize    = 400
	ThumbnailQuality = 80
)

// ThumbnailContentType is the media type of every thumbnail.
const ThumbnailContentType = "image/jpeg"

// Thumbnail decodes an image that Inspect accepted (the first frame of a GIF), turns it
// upright by its EXIF orientation, scales it to fit ThumbnailSize with Catmull-Rom
// resampling (never up), flattens transparency onto white and encodes a JPEG. A file
// cut short or damaged after its header fails with ErrCorrupt.
func Thumbnail(data []byte, info Info) ([]byte, error) {
	// Inspect checked these, but Thumbnail decodes, so it does not take them on trust.
	format, ok := sniff(data)
	if !ok || format != info.Format {
		return nil, ErrUnsupportedFormat
	}
	cfg, err := decodeConfig(format, data)
	if err != nil {
		return nil, err
	}
	if err := checkDimensions(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	src, err := decode(format, data)
	if err != nil {
		return nil, err
	}
	b := src.Bounds()
	// Scale in stored orientation, to the box that becomes ThumbnailSize×ThumbnailSize
	// once turned, then turn the small result: cheaper than turning the original.
	w, h := fit(b.Dx(), b.Dy(), ThumbnailSize)
	// Flatten onto white first: JPEG has no alpha.
	if !opaque(src) {
		flat := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(flat, flat.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(flat, flat.Bounds(), src, b.Min, draw.Over)
		src, b = flat, flat.Bounds()
	}
	// Catmull-Rom's cost grows with the shrink factor; a box filter (four times
	// cheaper a tap) first brings a large image down to twice the size, where
	// Catmull-Rom then does the visible work.
	if pw, ph := fit(b.Dx(), b.Dy(), 2*ThumbnailSize); 2*pw <= b.Dx() {
		pre := image.NewRGBA(image.Rect(0, 0, pw, ph))
		box.Scale(pre, pre.Bounds(), src, b, draw.Src, nil)
		src, b = pre, pre.Bounds()
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	out := orient(dst, info.Orientation)

	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: ThumbnailQuality}); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	return buf.Bytes(), nil
}

// box averages the source pixels under each destination pixel.
var box = &draw.Kernel{Support: 0.5, At: func(float64) float64 { return 1 }}

// opaque reports whether img has no transparent pixels, without scanning JPEGs, which
// never do.
func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// fit scales w×h to fit within limit×limit, keeping the aspect ratio and at least one pixel
// a side; smaller images keep their size.
func fit(w, h, limit int) (int, int) {
	if w <= limit && h <= limit {
		return w, h
	}
	if w >= h {
		return limit, clampMin1(int((int64(h)*int64(limit) + int64(w)/2) / int64(w)))
	}
	return clampMin1(int((int64(w)*int64(limit) + int64(h)/2) / int64(h))), limit
}

func clampMin1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// orient returns src turned for display by an EXIF orientation (1-8).
func orient(src *image.RGBA, o Orientation) *image.RGBA {
	if o <= 1 || o > 8 {
		return src
	}
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	dw, dh := w, h
	if o.swapsAxes() {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case 2: // mirrored horizontally
				dx, dy = w-1-x, y
			case 3: // rotated 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // mirrored along the top-left diagonal
				dx, dy = y, x
			case 6: // rotate 90° clockwise to display
				dx, dy = h-1-y, x
			case 7: // mirrored along the top-right diagonal
				dx, dy = h-1-y, w-1-x
			case 8: // rotate 90° counter-clockwise to display
				dx, dy = y, w-1-x
			}
			si := src.PixOffset(x, y)
			di := dst.PixOffset(dx, dy)
			copy(dst.Pix[di:di+4], src.Pix[si:si+4])
		}
	}
	return dst
}
