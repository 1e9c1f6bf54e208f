package imaging

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"strings"
	"testing"
	"time"
)

// formatCase is one accepted format's sample and what Inspect must say of it.
type formatCase struct {
	name   string
	data   func(t testing.TB) []byte
	format Format
	// orientation is the one the photo is shown by; 6 turns 1200×800 to 800×1200.
	orientation Orientation
	taken       time.Time
}

// formatCases are real files of every accepted format (samples_test.go). The photo is
// 1200×800, red on the left, blue on the right; EXIF says orientation 6 where the format
// has EXIF. HEIF and AVIF keep their own rotation outside EXIF (libheif applies it), so
// their EXIF orientation is ignored as the HEIF standard says; GIF has no EXIF. The RAWs
// say orientation 6 in IFD0, and their preview has no EXIF of its own.
func formatCases() []formatCase {
	s := func(name string) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return sample(t, name) }
	}
	raw := func(f Format) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return buildRAW(rawSpecs[f], sample(t, "preview.jpg")) }
	}
	cases := []formatCase{
		{"jpeg", s("photo.jpg"), JPEG, 6, sampleTaken},
		{"png", s("photo.png"), PNG, 6, sampleTaken},
		{"gif", s("photo.gif"), GIF, 1, time.Time{}},
		{"webp", s("photo.webp"), WebP, 6, sampleTaken},
		{"tiff", s("photo.tif"), TIFF, 6, sampleTaken},
		{"heic", s("photo.heic"), HEIC, 1, sampleTaken},
		{"avif", s("photo.avif"), AVIF, 1, sampleTaken},
		{"progressive jpeg", s("progressive.jpg"), JPEG, 1, time.Time{}},
	}
	for _, f := range []Format{DNG, CR2, NEF, ARW, PEF, RW2} {
		cases = append(cases, formatCase{string(f), raw(f), f, 6, sampleTaken})
	}
	return cases
}

func TestInspectEveryFormat(t *testing.T) {
	for _, tc := range formatCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			got, info, err := Inspect(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Error("Inspect did not return the bytes it read unchanged: the original is stored as uploaded")
			}
			checkInfo(t, info, Info{Format: tc.format, Size: int64(len(data)), Width: 1200, Height: 800, Orientation: tc.orientation, TakenAt: tc.taken})
			if ct := info.ContentType(); !strings.HasPrefix(ct, "image/") {
				t.Errorf("ContentType = %q", ct)
			}
		})
	}
}

func TestContentTypes(t *testing.T) {
	for f, want := range map[Format]string{
		JPEG: "image/jpeg", HEIC: "image/heic", HEIF: "image/heif", AVIF: "image/avif", TIFF: "image/tiff",
		DNG: "image/x-adobe-dng", CR2: "image/x-canon-cr2", NEF: "image/x-nikon-nef", RW2: "image/x-panasonic-rw2",
	} {
		if got := f.ContentType(); got != want {
			t.Errorf("%s: ContentType = %q, want %q", f, got, want)
		}
	}
	for _, f := range Formats() {
		if !strings.HasPrefix(f.ContentType(), "image/") {
			t.Errorf("%s has no image media type: %q", f, f.ContentType())
		}
	}
}

// upright checks a thumbnail or classifier JPEG of the sample photo shown at w×h: red
// where the photo's left half is shown (the top, turned by orientation 6), blue opposite.
func upright(t *testing.T, img image.Image, orientation Orientation, w, h int) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		t.Fatalf("image is %d×%d, want %d×%d", b.Dx(), b.Dy(), w, h)
	}
	redAt, blueAt := image.Pt(w/4, h/2), image.Pt(3*w/4, h/2)
	if orientation == 6 {
		redAt, blueAt = image.Pt(w/2, h/4), image.Pt(w/2, 3*h/4)
	}
	if c := img.At(redAt.X, redAt.Y); !near(c, red) {
		t.Errorf("pixel at %v is %v, want red", redAt, c)
	}
	if c := img.At(blueAt.X, blueAt.Y); !near(c, blue) {
		t.Errorf("pixel at %v is %v, want blue", blueAt, c)
	}
}

func TestThumbnailEveryFormat(t *testing.T) {
	for _, tc := range formatCases() {
		t.Run(tc.name, func(t *testing.T) {
			thumb, info, err := ThumbnailBytes(context.Background(), tc.data(t))
			if err != nil {
				t.Fatalf("ThumbnailBytes: %v", err)
			}
			img := decodeJPEG(t, thumb)
			w, h := 400, 267
			if info.Orientation.swapsAxes() {
				w, h = 267, 400
			}
			upright(t, img, tc.orientation, w, h)
		})
	}
}

// decodeJPEG decodes a result of the package, checking it is a baseline or progressive
// JPEG in YCbCr or grey (never CMYK, which some classifiers refuse).
func decodeJPEG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	switch img.(type) {
	case *image.YCbCr, *image.Gray:
	default:
		t.Fatalf("JPEG decodes to %T, want YCbCr or grey", img)
	}
	return img
}

// A HEIC's embedded thumbnail smaller than the thumbnail made is not used: the sample
// has a 128 px one, and stripes 6 px wide that only the full image keeps at 400 px.
func TestHEICThumbnailIsNotTheEmbeddedOne(t *testing.T) {
	thumb, _, err := ThumbnailBytes(context.Background(), sample(t, "stripes.heic"))
	if err != nil {
		t.Fatal(err)
	}
	img := decodeJPEG(t, thumb)
	if b := img.Bounds(); b.Dx() != 400 || b.Dy() != 267 {
		t.Fatalf("thumbnail is %v, want 400×267", b.Size())
	}
	// Stripes 6 px wide in 1200 px are 2 px wide in 400: columns 2 px apart differ
	// sharply (0.91 measured). The embedded thumbnail enlarged to 400 px keeps only
	// aliasing (0.28 measured, with vips heifload --thumbnail and vips resize).
	var contrast float64
	y := 133
	for x := 0; x+2 < 400; x += 2 {
		a, _, _, _ := img.At(x, y).RGBA()
		b, _, _, _ := img.At(x+2, y).RGBA()
		contrast += float64(max(a, b)-min(a, b)) / 0xffff
	}
	if mean := contrast / 199; mean < 0.6 {
		t.Errorf("mean contrast between columns 2 px apart is %.2f, want the stripes (at least 0.60): the thumbnail was enlarged from the embedded one", mean)
	}
}

func TestClassifierJPEG(t *testing.T) {
	cases := []struct {
		name string
		data func(t testing.TB) []byte
		// w, h is the JPEG's size; orientation says how the sample photo shows.
		w, h        int
		orientation Orientation
		check       func(t *testing.T, img image.Image)
	}{
		{name: "huge jpeg, 96 megapixels", data: func(t testing.TB) []byte { return sample(t, "huge.jpg") }, w: 2048, h: 1365},
		{name: "tiny png, enlarged", data: func(t testing.TB) []byte { return sample(t, "tiny.png") }, w: 160, h: 80},
		{name: "16-bit png", data: func(t testing.TB) []byte { return sample(t, "deep.png") }, w: 1200, h: 800, orientation: 1},
		{name: "cmyk jpeg", data: func(t testing.TB) []byte { return sample(t, "cmyk.jpg") }, w: 1200, h: 800,
			check: func(t *testing.T, img image.Image) {
				// Pure blue is outside CMYK's gamut: it comes back a darker blue.
				r, g, b, _ := img.At(900, 400).RGBA()
				if r, g, b := int(r>>8), int(g>>8), int(b>>8); b < r+60 || b < g+60 {
					t.Errorf("right half is %d,%d,%d, want blue", r, g, b)
				}
				if c := img.At(300, 400); !near(c, red) {
					t.Errorf("left half is %v, want red", c)
				}
			}},
		{name: "png with alpha, flattened on white", data: func(t testing.TB) []byte { return sample(t, "alpha.png") }, w: 300, h: 200,
			check: func(t *testing.T, img image.Image) {
				if c := img.At(75, 100); !near(c, blue) {
					t.Errorf("opaque half is %v, want blue", c)
				}
				if c := img.At(225, 100); !near(c, color.RGBA{R: 255, G: 255, B: 255}) {
					t.Errorf("transparent half is %v, want white", c)
				}
			}},
		{name: "thin strip, enlarged to 80 px high", data: func(t testing.TB) []byte { return encodePNG(t, halves(4000, 40)) }, w: 8192, h: 80},
	}
	for _, tc := range formatCases() {
		w, h := 1200, 800
		if tc.orientation.swapsAxes() {
			w, h = 800, 1200
		}
		cases = append(cases, struct {
			name        string
			data        func(t testing.TB) []byte
			w, h        int
			orientation Orientation
			check       func(t *testing.T, img image.Image)
		}{name: tc.name, data: tc.data, w: w, h: h, orientation: tc.orientation})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ClassifierJPEG(context.Background(), tc.data(t))
			if err != nil {
				t.Fatalf("ClassifierJPEG: %v", err)
			}
			if len(out) > ClassifierMaxBytes {
				t.Errorf("%d bytes, more than %d", len(out), ClassifierMaxBytes)
			}
			img := decodeJPEG(t, out)
			b := img.Bounds()
			if b.Dx() != tc.w || b.Dy() != tc.h {
				t.Fatalf("classifier JPEG is %d×%d, want %d×%d", b.Dx(), b.Dy(), tc.w, tc.h)
			}
			if min(b.Dx(), b.Dy()) < ClassifierMinSide || max(b.Dx(), b.Dy()) > ClassifierMaxSide {
				t.Errorf("classifier JPEG is %d×%d: out of %d to %d a side", b.Dx(), b.Dy(), ClassifierMinSide, ClassifierMaxSide)
			}
			if tc.orientation != 0 {
				upright(t, img, tc.orientation, tc.w, tc.h)
			}
			if tc.check != nil {
				tc.check(t, img)
			}
		})
	}
}

// A text reader asks for more pixels than labels need: the same JPEG with another
// longest side, within the classifiers' bounds.
func TestClassifierJPEGSide(t *testing.T) {
	data := encodePNG(t, halves(3000, 2000))
	for _, tc := range []struct{ side, w, h int }{{ClassifierSide, 2048, 1365}, {2800, 2800, 1867}, {4000, 3000, 2000}} {
		out, err := ClassifierJPEGSide(context.Background(), data, tc.side)
		if err != nil {
			t.Fatalf("side %d: %v", tc.side, err)
		}
		if b := decodeJPEG(t, out).Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("side %d: %d×%d, want %d×%d (never enlarged)", tc.side, b.Dx(), b.Dy(), tc.w, tc.h)
		}
	}
	for _, side := range []int{ClassifierMinSide - 1, ClassifierMaxSide + 1} {
		if _, err := ClassifierJPEGSide(context.Background(), data, side); err == nil {
			t.Errorf("side %d accepted", side)
		}
	}
}

func TestClassifierJPEGRefusesWhatCannotFit(t *testing.T) {
	_, err := ClassifierJPEG(context.Background(), encodePNG(t, halves(20_000, 2)))
	if !errors.Is(err, ErrTooManyPixels) || HTTPStatus(err) != http.StatusUnprocessableEntity {
		t.Errorf("a 20000×2 strip: error %v, want ErrTooManyPixels (422): it cannot be 80 px high and at most 10000 wide", err)
	}
}

func TestRAWs(t *testing.T) {
	preview := func(t *testing.T) []byte { return sample(t, "preview.jpg") }
	for _, tc := range []struct {
		name       string
		data       func(t *testing.T) []byte
		wantErr    error
		wantStatus int
		wantText   string
	}{
		{name: "orf with only a small preview", data: func(t *testing.T) []byte { return buildRAW(rawSpecs[ORF], sample(t, "small.jpg")) },
			wantErr: ErrNoPreview, wantStatus: http.StatusUnprocessableEntity, wantText: "160×107"},
		{name: "nef without a preview", data: func(t *testing.T) []byte {
			spec := rawSpecs[NEF]
			spec.where = "none"
			return buildRAW(spec, preview(t))
		}, wantErr: ErrNoPreview, wantStatus: http.StatusUnprocessableEntity, wantText: "no embedded JPEG"},
		{name: "cr3", data: func(*testing.T) []byte { return []byte("\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom") },
			wantErr: ErrUnsupportedRAW, wantStatus: http.StatusUnsupportedMediaType, wantText: "Canon CR3"},
		{name: "raf", data: func(*testing.T) []byte { return []byte("FUJIFILMCCD-RAW 0201FF383501") },
			wantErr: ErrUnsupportedRAW, wantStatus: http.StatusUnsupportedMediaType, wantText: "Fujifilm RAF"},
		{name: "crw", data: func(*testing.T) []byte { return []byte("II\x1a\x00\x00\x00HEAPCCDR\x02\x00\x01\x00") },
			wantErr: ErrUnsupportedRAW, wantStatus: http.StatusUnsupportedMediaType, wantText: "Canon CRW"},
		{name: "x3f", data: func(*testing.T) []byte { return []byte("FOVb\x00\x00\x02\x00............") },
			wantErr: ErrUnsupportedRAW, wantStatus: http.StatusUnsupportedMediaType, wantText: "Sigma X3F"},
		{name: "mp4", data: func(*testing.T) []byte { return []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2") },
			wantErr: ErrUnsupportedFormat, wantStatus: http.StatusUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			_, _, err := Inspect(bytes.NewReader(data), int64(len(data)))
			if !errors.Is(err, tc.wantErr) || HTTPStatus(err) != tc.wantStatus || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Inspect error = %v (status %d), want %v (%d) saying %q", err, HTTPStatus(err), tc.wantErr, tc.wantStatus, tc.wantText)
			}
		})
	}
}

// The RAW's preview is the largest JPEG, wherever it lies: a small thumbnail in IFD1
// (walked before the SubIFDs) does not win over a full-size preview in a SubIFD.
func TestRAWPicksTheLargestPreview(t *testing.T) {
	for _, f := range []Format{DNG, NEF} {
		raw := buildRAW(rawSpecs[f], sample(t, "preview.jpg"), sample(t, "small.jpg"))
		info, err := InspectBytes(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if info.Width != 1200 || info.Height != 800 {
			t.Errorf("%s: preview is %d×%d, want the 1200×800 one, not IFD1's 160×107", f, info.Width, info.Height)
		}
	}
}

// libvips picks its loader by its own sniffing; only the loaders of accepted formats may
// run, whatever bytes reach it (Inspect's sniffing is the first gate, this the second).
func TestLibvipsLoadsOnlyAcceptedFormats(t *testing.T) {
	for name, data := range map[string][]byte{
		"ppm":    []byte("P6\n2 2\n255\n" + strings.Repeat("\x00", 12)),
		"svg":    []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`),
		"matrix": []byte("2 2\n1 2\n3 4\n"),
		"bmp":    append([]byte("BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x18\x00"), make([]byte, 40)...),
	} {
		if h, err := readHeader(data); err == nil {
			t.Errorf("%s: libvips read it with %s: its loader is not blocked", name, h.loader)
		}
	}
	if h, err := readHeader(encodePNG(t, halves(4, 4))); err != nil || h.loader != "pngload_buffer" {
		t.Errorf("a PNG: %+v, %v; want pngload_buffer", h, err)
	}
}
