package imaging

import (
	"context"
	"fmt"

	"github.com/davidbyttow/govips/v2/vips"
)

// Shared copies: what a share link serves of a photo's original when the gallery strips
// location (config.Auth.ShareStripLocation).
//
// Where a photo was taken hides in many places: EXIF's GPS block, XMP (exif:GPS*,
// photoshop:City, Iptc4xmpCore:Location), IPTC's City and Sublocation, camera maker
// notes, PNG text chunks. Rather than hunt each tag in each container, the copy is
// decoded and encoded again by libvips with no metadata at all (StripMetadata), turned
// upright first so the EXIF orientation it drops is not needed, and converted to sRGB
// so the colour profile it drops is not needed either. What libvips does not read is
// therefore never carried over. The owner's own downloads keep the original bytes.

// Qualities of the lossy shared copies: high, as the copy stands in for the original.
const (
	SharedJPEGQuality = 92
	SharedWebPQuality = 90
)

// SharedContentType is the media type of the shared copy of an original of
// contentType: PNG and WebP stay what they are, and everything else (JPEG, and the
// formats with no encoder here or that browsers do not show: HEIC, HEIF, AVIF, TIFF,
// RAW, and GIF, whose first frame is shown) becomes a JPEG.
func SharedContentType(contentType string) string {
	switch contentType {
	case PNG.ContentType(), WebP.ContentType():
		return contentType
	}
	return JPEG.ContentType()
}

// SharedCopy makes the shared copy of an accepted image: every pixel of it as shown
// (full size, upright, sRGB, 8-bit), in the media type SharedContentType names, with no
// metadata. It decodes within the decode budget, and its errors are Thumbnail's.
func SharedCopy(ctx context.Context, data []byte) ([]byte, error) {
	info, err := InspectBytes(data)
	if err != nil {
		return nil, err
	}
	w, h := info.DisplaySize()
	var encode encoder
	switch SharedContentType(info.Format.ContentType()) {
	case PNG.ContentType():
		encode = func(img *vips.ImageRef) ([]byte, error) {
			out, _, err := img.ExportPng(&vips.PngExportParams{StripMetadata: true, Compression: 6})
			return out, err
		}
	case WebP.ContentType():
		encode = func(img *vips.ImageRef) ([]byte, error) {
			out, _, err := img.ExportWebp(&vips.WebpExportParams{StripMetadata: true, Quality: SharedWebPQuality})
			return out, err
		}
	default:
		encode = jpegEncoder(SharedJPEGQuality)
	}
	out, err := renderWith(ctx, data, info, w, h, encode)
	if err != nil {
		return nil, fmt.Errorf("shared copy: %w", err)
	}
	return out, nil
}
