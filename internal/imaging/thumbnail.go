package imaging

import (
	"context"
	"fmt"

	"github.com/davidbyttow/govips/v2/vips"
)

// Thumbnails fit within ThumbnailSize×ThumbnailSize, keep the aspect ratio, and are
// JPEGs of ThumbnailQuality.
const (
	ThumbnailSize    = 400
	ThumbnailQuality = 80
)

// ThumbnailContentType is the media type of every thumbnail, and of ClassifierJPEG's
// result.
const ThumbnailContentType = "image/jpeg"

// What ClassifierJPEG makes, within every classifier's limits (Rekognition's are the
// narrowest: JPEG or PNG, at most 5 MB as bytes, 80 to 10,000 pixels a side).
const (
	// ClassifierSide is the longest side of the JPEG made of a larger photo: labels do
	// not need more, and a smaller JPEG is decoded on load at a fraction of the cost.
	ClassifierSide = 2048
	// ClassifierMinSide and ClassifierMaxSide bound either side; a photo with a side
	// under ClassifierMinSide is enlarged.
	ClassifierMinSide = 80
	ClassifierMaxSide = 10_000
	// ClassifierMaxBytes bounds the JPEG; a photo that compresses poorly is encoded
	// again at lower qualities until it fits.
	ClassifierMaxBytes = 5 * 1024 * 1024
	// ClassifierQuality is the first quality tried.
	ClassifierQuality = 90
)

// ThumbnailBytes inspects data and makes its thumbnail: Inspect's checks and Thumbnail
// in one call, for callers that hold the bytes already.
func ThumbnailBytes(ctx context.Context, data []byte) ([]byte, Info, error) {
	info, err := InspectBytes(data)
	if err != nil {
		return nil, Info{}, err
	}
	thumb, err := Thumbnail(ctx, data, info)
	if err != nil {
		return nil, Info{}, err
	}
	return thumb, info, nil
}

// Thumbnail decodes an image that Inspect accepted (the first frame of a GIF, the
// preview of a RAW) within the decode budget, turns it upright, scales it to fit
// ThumbnailSize (never up) with libvips' thumbnail operation, which decodes a JPEG at
// ½, ¼ or ⅛ scale when that suffices (and uses a HEIF's embedded thumbnail only when it
// is at least as large as the result), flattens transparency onto white and encodes an
// sRGB JPEG without metadata. A file cut short or damaged after its header fails with
// ErrCorrupt; one that could never fit the budget with ErrDecodeTooLarge; ctx ending
// while it waits for memory with ctx's error.
func Thumbnail(ctx context.Context, data []byte, info Info) ([]byte, error) {
	// Inspect checked the header, but Thumbnail decodes, so it reads it again rather
	// than take an Info on trust.
	checked, err := recheck(data, info)
	if err != nil {
		return nil, err
	}
	dw, dh := checked.DisplaySize()
	w, h := fit(dw, dh, ThumbnailSize)
	out, err := render(ctx, data, checked, w, h, []int{ThumbnailQuality})
	if err != nil {
		return nil, fmt.Errorf("thumbnail: %w", err)
	}
	return out, nil
}

// ClassifierJPEG makes the JPEG a classifier is given for an accepted image: upright,
// sRGB, 8-bit, flattened onto white, at most ClassifierSide pixels on its longest side
// (never enlarged, except that a side under ClassifierMinSide is brought up to it), at
// most ClassifierMaxBytes. Every image gets one, even a JPEG within the limits: a
// classifier then never sees CMYK, 16 bits, alpha, an EXIF orientation it ignores, or a
// megapixel count it cannot take. Its errors are Inspect's and Thumbnail's; an image too
// thin to reach ClassifierMinSide without passing ClassifierMaxSide is ErrTooManyPixels.
func ClassifierJPEG(ctx context.Context, data []byte) ([]byte, error) {
	return ClassifierJPEGSide(ctx, data, ClassifierSide)
}

// ClassifierJPEGSide is ClassifierJPEG with another longest side (at most
// ClassifierMaxSide): a text reader needs the resolution that labels do not.
func ClassifierJPEGSide(ctx context.Context, data []byte, side int) ([]byte, error) {
	if side < ClassifierMinSide || side > ClassifierMaxSide {
		return nil, fmt.Errorf("classifier image: a longest side of %d px is out of %d to %d", side, ClassifierMinSide, ClassifierMaxSide)
	}
	info, err := InspectBytes(data)
	if err != nil {
		return nil, err
	}
	dw, dh := info.DisplaySize()
	w, h, err := classifierSize(dw, dh, side)
	if err != nil {
		return nil, err
	}
	out, err := render(ctx, data, info, w, h, []int{ClassifierQuality, 80, 70, 55, 40})
	if err != nil {
		return nil, fmt.Errorf("classifier image: %w", err)
	}
	return out, nil
}

// classifierSize is the size of ClassifierJPEG's result for an image shown at w×h, with
// side its longest side.
func classifierSize(w, h, side int) (int, int, error) {
	tw, th := fit(w, h, side)
	if short := min(tw, th); short < ClassifierMinSide {
		// Enlarge: the short side to ClassifierMinSide, the long one in proportion.
		scale := float64(ClassifierMinSide) / float64(short)
		tw, th = max(int(float64(tw)*scale+0.5), ClassifierMinSide), max(int(float64(th)*scale+0.5), ClassifierMinSide)
		if max(tw, th) > ClassifierMaxSide {
			return 0, 0, fmt.Errorf("%w: a %d×%d image cannot be brought to %d pixels a side without passing %d on the other, as classifiers need",
				ErrTooManyPixels, w, h, ClassifierMinSide, ClassifierMaxSide)
		}
	}
	return tw, th, nil
}

// recheck reads data's header again and checks that it is the image info describes.
func recheck(data []byte, info Info) (Info, error) {
	if len(data) == 0 {
		return Info{}, ErrEmpty
	}
	format, err := sniff(data)
	if err != nil {
		return Info{}, err
	}
	if format != info.Format {
		return Info{}, fmt.Errorf("%w: the content is %s, not the %s inspected", ErrUnsupportedFormat, format, info.Format)
	}
	return InspectBytes(data)
}

// render decodes info's image within the budget to exactly w×h as shown, and encodes it
// as a JPEG at the first of qualities whose result fits ClassifierMaxBytes (the last
// one's otherwise).
func render(ctx context.Context, data []byte, info Info, w, h int, qualities []int) ([]byte, error) {
	var out []byte
	err := decodeWithin(ctx, data, info, w, h, func(src []byte) error {
		for _, q := range qualities {
			var err error
			if out, err = renderOnce(src, w, h, jpegEncoder(q)); err != nil {
				return err
			}
			if len(out) <= ClassifierMaxBytes {
				return nil
			}
		}
		return fmt.Errorf("%w: the %d×%d JPEG is %d bytes at quality %d, more than %d", ErrFileTooLarge, w, h, len(out), qualities[len(qualities)-1], ClassifierMaxBytes)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// renderWith decodes info's image within the budget to exactly w×h as shown, and
// encodes it with encode.
func renderWith(ctx context.Context, data []byte, info Info, w, h int, encode encoder) ([]byte, error) {
	var out []byte
	err := decodeWithin(ctx, data, info, w, h, func(src []byte) error {
		var err error
		out, err = renderOnce(src, w, h, encode)
		return err
	})
	return out, err
}

// decodeWithin runs decode on the bytes libvips is to decode of info's image (a RAW's
// preview, turned as the RAW says), holding the decode memory of a w×h result.
func decodeWithin(ctx context.Context, data []byte, info Info, w, h int, decode func(src []byte) error) error {
	if err := Startup(); err != nil {
		return err
	}
	src := info.decoded(data)
	if len(src) == 0 {
		return fmt.Errorf("%w: no image data", ErrCorrupt)
	}
	if info.turn > 1 {
		// A RAW's preview without an orientation of its own: a copy that carries the
		// RAW's, so that libvips turns it as it turns any photo (after shrinking, and
		// fitting the box as shown). Turning libvips' result afterwards would read its
		// sequential output out of order.
		src = withOrientation(src, info.turn)
	}
	release, err := reserve(ctx, info, DecodeMemory(info, max(w, h)))
	if err != nil {
		return err
	}
	defer release()
	return decode(src)
}

// An encoder encodes an upright sRGB image, which it may still change (flatten, cast),
// with no metadata.
type encoder func(img *vips.ImageRef) ([]byte, error)

// jpegEncoder encodes a JPEG of quality: transparency flattened onto white, 8-bit.
func jpegEncoder(quality int) encoder {
	return func(img *vips.ImageRef) ([]byte, error) {
		if img.HasAlpha() {
			if err := img.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
				return nil, err
			}
		}
		if err := toUchar(img); err != nil {
			return nil, err
		}
		out, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: quality, StripMetadata: true, OptimizeCoding: true, SubsampleMode: vips.VipsForeignSubsampleAuto})
		return out, err
	}
}

// toUchar casts img to 8 bits a band, if it is not already.
func toUchar(img *vips.ImageRef) error {
	if img.BandFormat() == vips.BandFormatUchar {
		return nil
	}
	return img.Cast(vips.BandFormatUchar)
}

// renderOnce is one decode and encode. libvips turns the image by its EXIF orientation,
// after shrinking (and fits the box as shown).
func renderOnce(src []byte, w, h int, encode encoder) ([]byte, error) {
	img, err := vips.LoadThumbnailFromBuffer(src, w, h, vips.InterestingNone, vips.SizeForce, vips.NewImportParams())
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, firstLine(err.Error()))
	}
	defer img.Close()
	if img.Interpretation() != vips.InterpretationSRGB || img.BandFormat() != vips.BandFormatUchar {
		if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrCorrupt, firstLine(err.Error()))
		}
	}
	// The encoders strip metadata too, but libvips 8.14's webpsave ignores its strip
	// option: without the fields there is nothing to write. (This keeps the ICC profile,
	// which says nothing of where, and the orientation field, which the thumbnail
	// operation has applied and set to 1.)
	if err := img.RemoveMetadata(); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, firstLine(err.Error()))
	}
	out, err := encode(img)
	if err != nil {
		// Pixels are decoded here, lazily: a file cut short fails now.
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, firstLine(err.Error()))
	}
	if img.Width() != w || img.Height() != h {
		return nil, fmt.Errorf("%w: decoded to %d×%d, want %d×%d", ErrCorrupt, img.Width(), img.Height(), w, h)
	}
	return out, nil
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
