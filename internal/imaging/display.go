package imaging

import (
	"context"
	"fmt"
)

// What DisplayJPEG makes: the picture the gallery's full view shows of a photo that
// browsers cannot display as stored (HEIC, TIFF, a camera RAW).
const (
	// DisplaySide is the longest side of the result: a 2560-pixel-wide screen's worth,
	// past which a full view gains little and the file grows fast.
	DisplaySide = 2560
	// DisplayQuality is the first JPEG quality tried; a photo that compresses poorly is
	// encoded again at lower qualities until it fits ClassifierMaxBytes.
	DisplayQuality = 85
	// DisplayContentType is the media type of the result.
	DisplayContentType = "image/jpeg"
)

// DisplayJPEG makes the display JPEG of an accepted image: upright, sRGB, 8-bit,
// flattened onto white, at most DisplaySide pixels on its longest side (never enlarged),
// without metadata. It decodes within the decode budget as Thumbnail does, and its
// errors are Inspect's and Thumbnail's: ErrDecodeTooLarge for an image that can never
// fit the budget, ctx's error when ctx ends while it waits for memory.
func DisplayJPEG(ctx context.Context, data []byte) ([]byte, error) {
	info, err := InspectBytes(data)
	if err != nil {
		return nil, err
	}
	dw, dh := info.DisplaySize()
	w, h := fit(dw, dh, DisplaySide)
	out, err := render(ctx, data, info, w, h, []int{DisplayQuality, 75, 60, 45})
	if err != nil {
		return nil, fmt.Errorf("display image: %w", err)
	}
	return out, nil
}
