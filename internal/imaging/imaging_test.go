package imaging

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// pngHeader is a PNG signature and an IHDR chunk declaring w×h, and nothing else.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	_ = binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 6, 0, 0, 0) // 8-bit RGBA
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestInspect(t *testing.T) {
	jpg := encodeJPEG(t, halves(64, 48))
	pngFile := encodePNG(t, halves(30, 50))
	gifFile := encodeGIF(t, image.NewPaletted(image.Rect(0, 0, 12, 7), palette.Plan9))
	exifJPEG := sample(t, "halves-exif.jpg")

	for _, tc := range []struct {
		name       string
		data       []byte
		wantErr    error
		wantStatus int
		want       Info
	}{
		{name: "jpeg", data: jpg, want: Info{Format: JPEG, Width: 64, Height: 48, Orientation: 1}},
		{name: "png", data: pngFile, want: Info{Format: PNG, Width: 30, Height: 50, Orientation: 1}},
		{name: "gif", data: gifFile, want: Info{Format: GIF, Width: 12, Height: 7, Orientation: 1}},
		{name: "webp lossless", data: sample(t, "halves-lossless.webp"), want: Info{Format: WebP, Width: 40, Height: 20, Orientation: 1}},
		{name: "jpeg with exif", data: exifJPEG, want: Info{Format: JPEG, Width: 40, Height: 20, Orientation: 6,
			TakenAt: time.Date(2021, 7, 14, 9, 30, 0, 0, time.FixedZone("", 2*3600))}},
		{name: "webp with exif", data: sample(t, "halves-exif.webp"), want: Info{Format: WebP, Width: 40, Height: 20, Orientation: 6,
			TakenAt: time.Date(2021, 7, 14, 9, 30, 0, 0, time.FixedZone("", 2*3600))}},

		{name: "empty", data: nil, wantErr: ErrEmpty, wantStatus: http.StatusBadRequest},
		{name: "text named .jpg", data: []byte("this is not a photo, whatever its name says\n"), wantErr: ErrUnsupportedFormat, wantStatus: http.StatusUnsupportedMediaType},
		{name: "html", data: []byte("<!doctype html><script>alert(1)</script>"), wantErr: ErrUnsupportedFormat, wantStatus: http.StatusUnsupportedMediaType},
		{name: "bmp", data: []byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), wantErr: ErrUnsupportedFormat, wantStatus: http.StatusUnsupportedMediaType},
		{name: "riff but not webp", data: []byte("RIFF\x24\x00\x00\x00WAVEfmt "), wantErr: ErrUnsupportedFormat, wantStatus: http.StatusUnsupportedMediaType},
		{name: "one byte", data: []byte{0xff}, wantErr: ErrUnsupportedFormat, wantStatus: http.StatusUnsupportedMediaType},
		{name: "png bomb", data: pngHeader(100_000, 100_000), wantErr: ErrTooManyPixels, wantStatus: http.StatusUnprocessableEntity},
		{name: "png too wide", data: pngHeader(20_001, 10), wantErr: ErrTooManyPixels, wantStatus: http.StatusUnprocessableEntity},
		{name: "png over 100 megapixels", data: pngHeader(10_001, 10_000), wantErr: ErrTooManyPixels, wantStatus: http.StatusUnprocessableEntity},
		{name: "png zero width", data: pngHeader(0, 10), wantErr: ErrCorrupt, wantStatus: http.StatusBadRequest},
		{name: "jpeg signature only", data: []byte("\xff\xd8\xff\xe0"), wantErr: ErrCorrupt, wantStatus: http.StatusBadRequest},
		{name: "png cut in its header", data: pngFile[:20], wantErr: ErrCorrupt, wantStatus: http.StatusBadRequest},
		{name: "gif cut in its header", data: gifFile[:9], wantErr: ErrCorrupt, wantStatus: http.StatusBadRequest},
		{name: "webp cut in its header", data: sample(t, "halves-lossless.webp")[:16], wantErr: ErrCorrupt, wantStatus: http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, info, err := Inspect(bytes.NewReader(tc.data), 1<<20)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Inspect error = %v, want %v", err, tc.wantErr)
				}
				if got := HTTPStatus(err); got != tc.wantStatus {
					t.Errorf("HTTPStatus = %d, want %d", got, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if !bytes.Equal(data, tc.data) {
				t.Errorf("Inspect returned %d bytes, want the %d given", len(data), len(tc.data))
			}
			tc.want.Size = int64(len(tc.data))
			checkInfo(t, info, tc.want)
			if want := "image/" + string(tc.want.Format); info.ContentType() != want {
				t.Errorf("ContentType = %q, want %q", info.ContentType(), want)
			}
		})
	}
}

// checkInfo compares what Inspect tells of an image: format, size, dimensions,
// orientation and date (its instant and its offset).
func checkInfo(t *testing.T, got, want Info) {
	t.Helper()
	if got.Format != want.Format || got.Size != want.Size || got.Width != want.Width || got.Height != want.Height || got.Orientation != want.Orientation {
		t.Errorf("Info = %s %d bytes %d×%d orientation %d, want %s %d bytes %d×%d orientation %d",
			got.Format, got.Size, got.Width, got.Height, got.Orientation, want.Format, want.Size, want.Width, want.Height, want.Orientation)
	}
	if !got.TakenAt.Equal(want.TakenAt) || got.TakenAt.String() != want.TakenAt.String() {
		t.Errorf("TakenAt = %v, want %v", got.TakenAt, want.TakenAt)
	}
}

func TestInspectSizeLimit(t *testing.T) {
	data := encodePNG(t, halves(30, 30))
	if _, _, err := Inspect(bytes.NewReader(data), int64(len(data))); err != nil {
		t.Errorf("Inspect at exactly the limit: %v", err)
	}
	_, _, err := Inspect(bytes.NewReader(data), int64(len(data))-1)
	if !errors.Is(err, ErrFileTooLarge) || HTTPStatus(err) != http.StatusRequestEntityTooLarge {
		t.Errorf("Inspect over the limit: error %v, status %d; want ErrFileTooLarge, 413", err, HTTPStatus(err))
	}
}

// TestInspectRefusesEarly checks that a body that is not an image is refused after its
// first bytes, without reading (or waiting for) the rest of the upload.
func TestInspectRefusesEarly(t *testing.T) {
	r := io.MultiReader(strings.NewReader("GET / HTTP/1.1\r\n"), iotest.ErrReader(errors.New("read past the signature")))
	if _, _, err := Inspect(r, 1<<20); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("Inspect error = %v, want ErrUnsupportedFormat", err)
	}
}

func TestInspectReadError(t *testing.T) {
	r := io.MultiReader(bytes.NewReader(encodePNG(t, halves(8, 8))[:30]), iotest.ErrReader(errors.New("client went away")))
	_, _, err := Inspect(r, 1<<20)
	if err == nil || HTTPStatus(err) != http.StatusInternalServerError {
		t.Errorf("Inspect error = %v (status %d), want the read error", err, HTTPStatus(err))
	}
}

func TestInspectPNGExif(t *testing.T) {
	tiff := buildTIFF(binary.LittleEndian, []exifTag{{tag: tagOrientation, short: 3}, {tag: tagDateTime, ascii: "2019:12:31 23:59:58"}}, nil)
	data := withEXIfChunk(encodePNG(t, halves(10, 6)), tiff)
	info, err := InspectBytes(data)
	if err != nil {
		t.Fatalf("InspectBytes: %v", err)
	}
	if info.Orientation != 3 {
		t.Errorf("Orientation = %d, want 3", info.Orientation)
	}
	if want := time.Date(2019, 12, 31, 23, 59, 58, 0, time.UTC); !info.TakenAt.Equal(want) {
		t.Errorf("TakenAt = %v, want %v (DateTime, as there is no DateTimeOriginal)", info.TakenAt, want)
	}
}

func TestThumbnailOfPNGWithExif(t *testing.T) {
	tiff := buildTIFF(binary.BigEndian, []exifTag{{tag: tagOrientation, short: 3}}, nil)
	img := thumbnailOf(t, withEXIfChunk(encodePNG(t, halves(20, 10)), tiff))
	if c := img.At(15, 5); !near(c, red) {
		t.Errorf("right half is %v, want red (turned 180°)", c)
	}
}

func TestExifDates(t *testing.T) {
	for _, tc := range []struct {
		name string
		ifd0 []exifTag
		exif []exifTag
		want time.Time
	}{
		{"original wins over modified", []exifTag{{tag: tagDateTime, ascii: "2022:01:01 00:00:00"}},
			[]exifTag{{tag: tagDateTimeOriginal, ascii: "2020:02:29 12:00:00"}}, time.Date(2020, 2, 29, 12, 0, 0, 0, time.UTC)},
		{"falls back to DateTime", []exifTag{{tag: tagDateTime, ascii: "2022:01:01 00:00:00"}},
			nil, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"invalid original falls back", []exifTag{{tag: tagDateTime, ascii: "2022:01:01 00:00:00"}},
			[]exifTag{{tag: tagDateTimeOriginal, ascii: "0000:00:00 00:00:00"}}, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"offset", nil,
			[]exifTag{{tag: tagDateTimeOriginal, ascii: "2020:06:01 08:00:00"}, {tag: tagOffsetTimeOriginal, ascii: "-05:00"}},
			time.Date(2020, 6, 1, 13, 0, 0, 0, time.UTC)},
		{"blank clock", []exifTag{{tag: tagDateTime, ascii: "    :  :     :  :  "}}, nil, time.Time{}},
		{"none", []exifTag{{tag: tagOrientation, short: 1}}, nil, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
				data := withAPP1(encodeJPEG(t, halves(8, 8)), buildTIFF(order, tc.ifd0, tc.exif))
				info, err := InspectBytes(data)
				if err != nil {
					t.Fatalf("InspectBytes: %v", err)
				}
				if !info.TakenAt.Equal(tc.want) {
					t.Errorf("%v: TakenAt = %v, want %v", order, info.TakenAt, tc.want)
				}
			}
		})
	}
}

// TestHostileExif feeds the EXIF parser truncated and randomly damaged blocks: it must
// neither panic nor refuse the image, which decodes without its metadata.
func TestHostileExif(t *testing.T) {
	jpg := encodeJPEG(t, halves(8, 8))
	good := buildTIFF(binary.BigEndian,
		[]exifTag{{tag: tagOrientation, short: 6}, {tag: tagDateTime, ascii: "2022:01:01 00:00:00"}},
		[]exifTag{{tag: tagDateTimeOriginal, ascii: "2021:07:14 09:30:00"}})
	var blocks [][]byte
	for n := range len(good) {
		blocks = append(blocks, good[:n])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := append([]byte{}, good...)
		for range 1 + rng.IntN(4) {
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		}
		blocks = append(blocks, b)
	}
	// Offsets and counts pointing far past the end.
	blocks = append(blocks, []byte("MM\x00\x2a\xff\xff\xff\xff"), []byte("II\x2a\x00\x08\x00\x00\x00\xff\xff"))
	for _, tiff := range blocks {
		data := withAPP1(jpg, tiff)
		info, err := InspectBytes(data)
		if err != nil {
			t.Fatalf("InspectBytes with a damaged EXIF block %x: %v", tiff, err)
		}
		if info.Orientation < 1 || info.Orientation > 8 {
			t.Fatalf("Orientation = %d from %x, want 1 to 8", info.Orientation, tiff)
		}
	}
	// Segment and chunk lengths that point past the end reach the EXIF walkers too; the
	// container decoders may refuse these files, but nothing may panic.
	badPNG := withEXIfChunk(encodePNG(t, halves(8, 8)), good)
	binary.BigEndian.PutUint32(badPNG[33:], 0xfffffff0)
	badWebP := append([]byte{}, sample(t, "halves-exif.webp")...)
	binary.LittleEndian.PutUint32(badWebP[16:], 0xfffffff0)
	for _, data := range [][]byte{
		append([]byte("\xff\xd8\xff\xe1\xff\xff"), jpg[2:]...),
		append([]byte("\xff\xd8\xff\xe1\x00\x01"), jpg[2:]...),
		[]byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM"),
		badPNG,
		badWebP,
	} {
		for _, f := range []Format{JPEG, PNG, WebP, TIFF, HEIC} {
			readMetadata(f, data, data)
		}
		_, _ = InspectBytes(data)
	}
}

// thumbnailOf inspects data and makes its thumbnail, failing the test on any error.
func thumbnailOf(t testing.TB, data []byte) image.Image {
	t.Helper()
	info, err := InspectBytes(data)
	if err != nil {
		t.Fatalf("InspectBytes: %v", err)
	}
	thumb, err := Thumbnail(context.Background(), data, info)
	if err != nil {
		t.Fatalf("Thumbnail: %v", err)
	}
	img, err := jpeg.Decode(bytes.NewReader(thumb))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	return img
}

func TestThumbnailSize(t *testing.T) {
	for _, tc := range []struct {
		name         string
		data         []byte
		wantW, wantH int
	}{
		{"landscape jpeg", encodeJPEG(t, halves(1200, 800)), 400, 267},
		{"portrait png", encodePNG(t, halves(300, 900)), 133, 400},
		{"square", encodePNG(t, halves(1000, 1000)), 400, 400},
		{"small is not enlarged", encodePNG(t, halves(50, 20)), 50, 20},
		{"one pixel", encodePNG(t, halves(1, 1)), 1, 1},
		{"thin strip keeps a pixel", encodePNG(t, halves(4000, 2)), 400, 1},
		{"webp", sample(t, "halves-lossless.webp"), 40, 20},
		{"gif", encodeGIF(t, image.NewPaletted(image.Rect(0, 0, 800, 200), palette.Plan9)), 400, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := thumbnailOf(t, tc.data).Bounds()
			if b.Dx() != tc.wantW || b.Dy() != tc.wantH {
				t.Errorf("thumbnail is %d×%d, want %d×%d", b.Dx(), b.Dy(), tc.wantW, tc.wantH)
			}
		})
	}
}

// near reports whether c is close to want: JPEG changes colours a little.
func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { return int(a>>8)-int(b) < 40 && int(b)-int(a>>8) < 40 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

// TestThumbnailOrientation turns a left-red, right-blue image by every EXIF orientation
// and checks where red ends up.
func TestThumbnailOrientation(t *testing.T) {
	jpg := encodeJPEG(t, halves(200, 100))
	for _, tc := range []struct {
		orientation  uint16
		wantW, wantH int
		// redAt is a point (as a fraction of the thumbnail) that must be red; the
		// opposite point must be blue.
		redAtX, redAtY float64
	}{
		{1, 200, 100, 0.25, 0.5},
		{2, 200, 100, 0.75, 0.5},
		{3, 200, 100, 0.75, 0.5},
		{4, 200, 100, 0.25, 0.5},
		{5, 100, 200, 0.5, 0.25},
		{6, 100, 200, 0.5, 0.25},
		{7, 100, 200, 0.5, 0.75},
		{8, 100, 200, 0.5, 0.75},
	} {
		data := withAPP1(jpg, buildTIFF(binary.LittleEndian, []exifTag{{tag: tagOrientation, short: tc.orientation}}, nil))
		img := thumbnailOf(t, data)
		b := img.Bounds()
		if b.Dx() != tc.wantW || b.Dy() != tc.wantH {
			t.Errorf("orientation %d: thumbnail is %d×%d, want %d×%d", tc.orientation, b.Dx(), b.Dy(), tc.wantW, tc.wantH)
			continue
		}
		at := func(fx, fy float64) color.Color { return img.At(int(fx*float64(b.Dx())), int(fy*float64(b.Dy()))) }
		if c := at(tc.redAtX, tc.redAtY); !near(c, red) {
			t.Errorf("orientation %d: pixel at (%.2f, %.2f) is %v, want red", tc.orientation, tc.redAtX, tc.redAtY, c)
		}
		if c := at(1-tc.redAtX, 1-tc.redAtY); !near(c, blue) {
			t.Errorf("orientation %d: pixel at (%.2f, %.2f) is %v, want blue", tc.orientation, 1-tc.redAtX, 1-tc.redAtY, c)
		}
	}
}

func TestThumbnailOfRealWebPWithExif(t *testing.T) {
	img := thumbnailOf(t, sample(t, "halves-exif.webp"))
	if b := img.Bounds(); b.Dx() != 20 || b.Dy() != 40 {
		t.Fatalf("thumbnail is %d×%d, want 20×40 (turned by orientation 6)", b.Dx(), b.Dy())
	}
	if c := img.At(10, 8); !near(c, red) {
		t.Errorf("top is %v, want red", c)
	}
	if c := img.At(10, 32); !near(c, blue) {
		t.Errorf("bottom is %v, want blue", c)
	}
}

func TestThumbnailFlattensTransparencyOnWhite(t *testing.T) {
	img := thumbnailOf(t, encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 10, 10))))
	if c := img.At(5, 5); !near(c, color.RGBA{R: 255, G: 255, B: 255}) {
		t.Errorf("transparent pixel became %v, want white", c)
	}
}

func TestThumbnailUsesFirstGIFFrame(t *testing.T) {
	pal := color.Palette{red, blue}
	first := image.NewPaletted(image.Rect(0, 0, 10, 10), pal) // all index 0: red
	second := image.NewPaletted(image.Rect(0, 0, 10, 10), pal)
	for i := range second.Pix {
		second.Pix[i] = 1
	}
	img := thumbnailOf(t, encodeGIF(t, first, second))
	if c := img.At(5, 5); !near(c, red) {
		t.Errorf("thumbnail pixel is %v, want red from the first frame", c)
	}
}

// TestThumbnailCorrupt covers files whose header is fine but whose data is cut short or
// damaged: Inspect (headers only) lets them through, Thumbnail refuses them.
func TestThumbnailCorrupt(t *testing.T) {
	big := halves(300, 200)
	// Noise, so the compressed data is long enough to cut in the middle.
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range big.Pix {
		big.Pix[i] = byte(rng.IntN(256))
	}
	jpg := encodeJPEG(t, big)
	pngFile := encodePNG(t, big)
	gifFile := encodeGIF(t, image.NewPaletted(image.Rect(0, 0, 300, 200), palette.Plan9))
	webpFile := sample(t, "halves-lossless.webp")
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"jpeg cut in half", jpg[:len(jpg)/2]},
		{"png cut in half", pngFile[:len(pngFile)/2]},
		{"gif cut in half", gifFile[:len(gifFile)/2]},
		{"webp cut", webpFile[:len(webpFile)-8]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := InspectBytes(tc.data)
			if err != nil {
				if errors.Is(err, ErrCorrupt) {
					return // refused already, also fine
				}
				t.Fatalf("InspectBytes: %v", err)
			}
			_, err = Thumbnail(context.Background(), tc.data, info)
			if !errors.Is(err, ErrCorrupt) || HTTPStatus(err) != http.StatusBadRequest {
				t.Errorf("Thumbnail error = %v, want ErrCorrupt (400)", err)
			}
		})
	}
}

func TestThumbnailChecksWhatItDecodes(t *testing.T) {
	jpg := encodeJPEG(t, halves(8, 8))
	info, err := InspectBytes(jpg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Thumbnail(context.Background(), []byte("not an image"), info); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("Thumbnail of text error = %v, want ErrUnsupportedFormat", err)
	}
	if _, err := Thumbnail(context.Background(), encodePNG(t, halves(8, 8)), info); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("Thumbnail of a PNG inspected as a JPEG: error = %v, want ErrUnsupportedFormat", err)
	}
	if _, err := Thumbnail(context.Background(), pngHeader(100_000, 100_000), Info{Format: PNG}); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("Thumbnail of a bomb error = %v, want ErrTooManyPixels", err)
	}
}

func TestInfoDisplaySize(t *testing.T) {
	for o := Orientation(1); o <= 8; o++ {
		w, h := Info{Width: 4, Height: 3, Orientation: o}.DisplaySize()
		swapped := o >= 5
		if swapped && (w != 3 || h != 4) || !swapped && (w != 4 || h != 3) {
			t.Errorf("orientation %d: DisplaySize = %d×%d", o, w, h)
		}
	}
}

// benchmarkJPEG is a photo-like JPEG of about 1 MB: smooth gradients plus noise.
func benchmarkJPEG(b *testing.B) []byte {
	const w, h = 1600, 1200
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(5, 6))
	for y := range h {
		for x := range w {
			n := rng.IntN(64)
			img.SetRGBA(x, y, color.RGBA{R: uint8(x*255/w/2 + n), G: uint8(y*255/h/2 + n), B: uint8((x+y)%256/2 + n), A: 255})
		}
	}
	return encodeJPEG(b, img)
}

func BenchmarkThumbnail(b *testing.B) {
	data := benchmarkJPEG(b)
	info, err := InspectBytes(data)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Thumbnail(context.Background(), data, info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInspect(b *testing.B) {
	data := benchmarkJPEG(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Inspect(bytes.NewReader(data), 25<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExifTimeOffsets: offsets inside the world's time zones are kept; others (a corrupt
// "+22:00", found by FuzzInspect) leave the clock time without an offset.
func TestExifTimeOffsets(t *testing.T) {
	for _, c := range []struct {
		offset  string
		wantOff int
	}{
		{"+02:00", 2 * 3600},
		{"-12:00", -12 * 3600},
		{"+14:00", 14 * 3600},
		{"+22:00", 0},
		{"-13:30", 0},
		{"", 0},
	} {
		ts, ok := parseExifTime("2001:07:14 09:30:00", c.offset)
		if !ok {
			t.Fatalf("offset %q: no time", c.offset)
		}
		if _, off := ts.Zone(); off != c.wantOff || ts.Hour() != 9 || ts.Minute() != 30 {
			t.Errorf("offset %q: %v (offset %d s), want 09:30 at %d s", c.offset, ts, off, c.wantOff)
		}
	}
}
