package imaging

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"testing"
	"time"
)

// Fuzz targets for what an upload meets first: Inspect (sniffing, the size limit, the
// decompression-bomb refusal), Thumbnail (the one full decode) and the EXIF parser.
// `make test` runs each briefly through hack/fuzz.sh; `make fuzz FUZZTIME=5m` longer.
// Crashers found are kept under testdata/fuzz/<Target>/ and replayed by every `go test`.

// fuzzThumbnailPixels bounds the images the fuzzer asks Thumbnail to decode: a header
// may honestly declare 100 megapixels, and decoding that on every input would make the
// fuzzer crawl. The limit itself is checked on every input, through Inspect.
const fuzzThumbnailPixels = 1 << 20

// seedImages are real uploads: the samples Debian's tools make of every accepted format
// (samples_test.go; the small ones), the RAW containers around a preview, and small
// generated ones, some with EXIF.
func seedImages(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, name := range []string{"photo.jpg", "photo.png", "photo.gif", "photo.webp", "photo.tif", "photo.heic", "photo.avif", "progressive.jpg", "cmyk.jpg", "deep.png", "alpha.png", "tiny.png", "halves-lossless.webp", "halves-exif.jpg", "halves-exif.webp"} {
		seeds = append(seeds, sample(f, name))
	}
	for _, format := range []Format{DNG, CR2, NEF, ARW, PEF, RW2, ORF} {
		seeds = append(seeds, buildRAW(rawSpecs[format], sample(f, "small.jpg"), sample(f, "small.jpg")))
	}
	img := halves(16, 8)
	pal := image.NewPaletted(image.Rect(0, 0, 8, 8), color.Palette{red, blue})
	tiff := buildTIFF(binary.BigEndian, []exifTag{{tag: tagOrientation, short: 6}}, []exifTag{{tag: tagDateTimeOriginal, ascii: "2024:05:06 07:08:09"}})
	seeds = append(seeds,
		encodeJPEG(f, img), encodePNG(f, img), encodeGIF(f, pal),
		withAPP1(encodeJPEG(f, img), tiff), withEXIfChunk(encodePNG(f, img), tiff),
		pngHeader(30_000, 30_000), // a bomb's header
	)
	return seeds
}

// FuzzInspect feeds arbitrary bytes to Inspect and, when accepted, to Thumbnail.
// Properties: a refusal is always one of the client errors (4xx, never a 500); an
// accepted upload is within the byte limit, returned unchanged, of sane dimensions
// within MaxPixels and MaxSide, with an EXIF orientation of 1-8, and InspectBytes
// agrees; its thumbnail is a JPEG fitting ThumbnailSize in the displayed aspect.
func FuzzInspect(f *testing.F) {
	for _, s := range seedImages(f) {
		f.Add(s, uint32(len(s)))
		f.Add(s[:len(s)/2], uint32(len(s)))
		f.Add(s, uint32(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxBytes uint32) {
		got, info, err := Inspect(bytes.NewReader(data), int64(maxBytes))
		if err != nil {
			if s := HTTPStatus(err); s < 400 || s > 499 {
				t.Fatalf("Inspect refused with status %d (%v): a bad upload must be a client error", s, err)
			}
			if got != nil {
				t.Fatalf("Inspect returned %d bytes with error %v", len(got), err)
			}
			return
		}
		if int64(len(data)) > int64(maxBytes) {
			t.Fatalf("Inspect accepted %d bytes with a limit of %d", len(data), maxBytes)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("Inspect returned different bytes than it read")
		}
		if info.Size != int64(len(data)) {
			t.Fatalf("Info.Size = %d, want %d", info.Size, len(data))
		}
		if info.Width <= 0 || info.Height <= 0 || info.Width > MaxSide || info.Height > MaxSide ||
			int64(info.Width)*int64(info.Height) > MaxPixels {
			t.Fatalf("Inspect accepted %d×%d pixels", info.Width, info.Height)
		}
		if info.Orientation < 1 || info.Orientation > 8 {
			t.Fatalf("orientation %d", info.Orientation)
		}
		if !info.TakenAt.IsZero() && info.TakenAt.Year() < 1800 {
			t.Fatalf("taken at %v", info.TakenAt)
		}
		again, err := InspectBytes(data)
		if err != nil || !sameInfo(again, info) {
			t.Fatalf("InspectBytes = %+v, %v; Inspect said %+v", again, err, info)
		}
		// The budget is computed from the header alone, and never below what the loader
		// holds at its largest shrink (⅛ a side).
		if need, least := DecodeMemory(info, ThumbnailSize), int64((info.Width+7)/8)*int64((info.Height+7)/8)*int64(max(info.Bands, 1)*max(info.BytesPerBand, 1)); need < least {
			t.Fatalf("DecodeMemory = %d for %+v, less than the %d of a ⅛-scale decode", need, info, least)
		}
		if int64(info.Width)*int64(info.Height) > fuzzThumbnailPixels {
			return
		}
		thumb, err := Thumbnail(context.Background(), data, info)
		if err != nil {
			if s := HTTPStatus(err); s < 400 || s > 499 {
				t.Fatalf("Thumbnail failed with status %d (%v): a bad upload must be a client error", s, err)
			}
			return
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb))
		if err != nil {
			t.Fatalf("thumbnail is not a JPEG: %v", err)
		}
		dw, dh := info.DisplaySize()
		ww, wh := fit(dw, dh, ThumbnailSize)
		if cfg.Width != ww || cfg.Height != wh {
			t.Fatalf("thumbnail of a %d×%d image is %d×%d, want %d×%d", dw, dh, cfg.Width, cfg.Height, ww, wh)
		}
	})
}

// FuzzDecodeMemory checks the header-budget arithmetic on any header a loader could
// report. Properties: never negative and never less than the decoded image at the
// largest shrink on load; a full-size decode needs at least what any smaller one does;
// a larger target never needs less; and a JPEG is never counted below its shrunk size.
func FuzzDecodeMemory(f *testing.F) {
	f.Add(uint32(4000), uint32(3000), uint8(3), uint8(1), uint8(0), false, false, uint16(400))
	f.Add(uint32(10000), uint32(10000), uint8(4), uint8(2), uint8(1), true, false, uint16(400))
	f.Add(uint32(10000), uint32(10000), uint8(3), uint8(1), uint8(2), false, false, uint16(2048))
	f.Add(uint32(4032), uint32(3024), uint8(3), uint8(2), uint8(5), true, false, uint16(0))
	f.Add(uint32(6000), uint32(1), uint8(3), uint8(1), uint8(0), false, true, uint16(1))
	f.Add(uint32(0xffffffff), uint32(0xffffffff), uint8(255), uint8(255), uint8(9), true, true, uint16(0xffff))
	formats := Formats()
	f.Fuzz(func(t *testing.T, w, h uint32, bands, bpb, format uint8, alpha, progressive bool, target uint16) {
		info := Info{Format: formats[int(format)%len(formats)], Width: int(w % (1 << 31)), Height: int(h % (1 << 31)),
			Bands: int(bands), BytesPerBand: int(bpb), Alpha: alpha, Progressive: progressive}
		need := DecodeMemory(info, int(target))
		full := DecodeMemory(info, 0)
		if need <= 0 || full <= 0 {
			t.Fatalf("DecodeMemory = %d, %d at full size, for %+v", need, full, info)
		}
		pixel := mul(int64(max(info.Bands, 1)), int64(max(info.BytesPerBand, 1)))
		least := mul(int64((max(info.Width, 1)+7)/8), int64((max(info.Height, 1)+7)/8), pixel)
		if need < least {
			t.Fatalf("DecodeMemory(%+v, %d) = %d, less than a ⅛-scale decode's %d", info, target, need, least)
		}
		if need > full {
			t.Fatalf("DecodeMemory(%+v, %d) = %d, more than the full-size decode's %d", info, target, need, full)
		}
		if target > 0 && target < 0xffff {
			if larger := DecodeMemory(info, int(target)+1); larger < need {
				t.Fatalf("DecodeMemory(%+v) is %d for %d px and %d for %d px: a larger target needs less", info, need, target, larger, target+1)
			}
		}
		if info.Format != JPEG && !info.Format.RAW() && need < mul(int64(max(info.Width, 1)), int64(max(info.Height, 1)), pixel) {
			t.Fatalf("DecodeMemory(%+v, %d) = %d: only JPEG shrinks on load", info, target, need)
		}
	})
}

// FuzzExif feeds arbitrary TIFF bytes to the EXIF parser, inside each container that
// carries EXIF. Properties: no panic reaches the caller; the orientation is 1-8 and a
// time is a real one; and the container does not matter: a JPEG APP1, a PNG eXIf chunk
// and a WebP EXIF chunk holding the same TIFF bytes read the same.
func FuzzExif(f *testing.F) {
	f.Add(buildTIFF(binary.LittleEndian, []exifTag{{tag: tagOrientation, short: 3}}, nil))
	f.Add(buildTIFF(binary.BigEndian, []exifTag{{tag: tagOrientation, short: 8}, {tag: tagDateTime, ascii: "2020:01:02 03:04:05"}},
		[]exifTag{{tag: tagDateTimeOriginal, ascii: "2019:12:31 23:59:59"}, {tag: tagOffsetTimeOriginal, ascii: "+05:30"}}))
	for _, s := range seedImages(f) {
		for _, f2 := range []Format{JPEG, PNG, WebP} {
			if tiff := exifOf(f2, s); tiff != nil {
				f.Add(tiff)
			}
		}
	}
	f.Fuzz(func(t *testing.T, tiff []byte) {
		direct, okDirect := parseTIFF(tiff)
		if okDirect {
			if direct.orientation < 1 || direct.orientation > 8 {
				t.Fatalf("orientation %d", direct.orientation)
			}
			if !direct.takenAt.IsZero() && direct.takenAt.Year() < 1800 {
				t.Fatalf("taken at %v", direct.takenAt)
			}
		}
		containers := map[Format][]byte{PNG: pngWithExif(tiff)}
		// Some WebP writers keep JPEG's "Exif\0\0" before the TIFF bytes; the reader
		// drops it there, so such bytes read differently in a WebP by design.
		if !bytes.HasPrefix(tiff, exifHeader) {
			containers[WebP] = webpWithExif(tiff)
		}
		// A JPEG segment holds at most 65,533 bytes.
		if len(tiff)+len(exifHeader)+2 <= 0xffff {
			containers[JPEG] = withAPP1([]byte{0xff, 0xd8, 0xff, 0xd9}, tiff)
		}
		for format, data := range containers {
			m, ok := readMetadata(format, data, nil)
			if ok != okDirect || m.orientation != direct.orientation || !m.takenAt.Equal(direct.takenAt) {
				t.Fatalf("%s container read %+v, %v; the bare TIFF reads %+v, %v", format, m, ok, direct, okDirect)
			}
		}
	})
}

// FuzzExifRoundTrip writes the three tags the gallery reads and checks they read back.
func FuzzExifRoundTrip(f *testing.F) {
	f.Add(uint16(6), "2024:05:06 07:08:09", "+02:00", false)
	f.Add(uint16(1), "1999:12:31 23:59:59", "", true)
	f.Add(uint16(9), "0000:00:00 00:00:00", "-07:00", true)
	f.Fuzz(func(t *testing.T, orientation uint16, taken, offset string, bigEndian bool) {
		if orientation == 0 || len(taken) > 60 || len(offset) > 60 ||
			bytes.IndexByte([]byte(taken), 0) >= 0 || bytes.IndexByte([]byte(offset), 0) >= 0 {
			return // buildTIFF writes non-empty, NUL-terminated values that fit the reader's 64 bytes
		}
		var order binary.ByteOrder = binary.LittleEndian
		if bigEndian {
			order = binary.BigEndian
		}
		exif := []exifTag{}
		if taken != "" {
			exif = append(exif, exifTag{tag: tagDateTimeOriginal, ascii: taken})
		}
		if offset != "" {
			exif = append(exif, exifTag{tag: tagOffsetTimeOriginal, ascii: offset})
		}
		m, ok := parseTIFF(buildTIFF(order, []exifTag{{tag: tagOrientation, short: orientation}}, exif))
		if !ok {
			t.Fatal("a well-formed TIFF block was not read")
		}
		wantOrientation := Orientation(1)
		if orientation <= 8 {
			wantOrientation = Orientation(orientation)
		}
		if m.orientation != wantOrientation {
			t.Fatalf("orientation %d read as %d", orientation, m.orientation)
		}
		want, wantOK := parseExifTime(taken, offset)
		if wantOK != !m.takenAt.IsZero() || !m.takenAt.Equal(want) {
			t.Fatalf("taken %q %q read as %v, want %v", taken, offset, m.takenAt, want)
		}
		if ts, err := time.Parse("2006:01:02 15:04:05", taken); err == nil && ts.Year() >= 1800 {
			if m.takenAt.Format("2006:01:02 15:04:05") != ts.Format("2006:01:02 15:04:05") {
				t.Fatalf("taken %q read as %v: the wall clock changed", taken, m.takenAt)
			}
		}
	})
}

// exifOf is the TIFF block inside an image, or nil.
func exifOf(f Format, data []byte) []byte {
	switch f {
	case JPEG:
		return jpegExif(data)
	case PNG:
		return pngExif(data)
	case WebP:
		return webpExif(data)
	}
	return nil
}

// pngWithExif is a PNG signature, an eXIf chunk holding tiff and IEND: enough for the
// EXIF reader, which does not decode pixels.
func pngWithExif(tiff []byte) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, uint32(len(tiff)))
	out = append(out, "eXIf"...)
	out = append(out, tiff...)
	out = append(out, 0, 0, 0, 0) // CRC: not checked by the EXIF reader
	return append(out, 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82)
}

// webpWithExif is a RIFF/WEBP header and an EXIF chunk holding tiff.
func webpWithExif(tiff []byte) []byte {
	out := []byte("RIFF\x00\x00\x00\x00WEBPEXIF")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(tiff)))
	out = append(out, tiff...)
	if len(tiff)%2 == 1 {
		out = append(out, 0)
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

// TestThumbnailOfGIFWithSmallFirstFrame is FuzzInspect's crasher as a readable test: a
// GIF whose first frame covers part of its canvas gets a thumbnail of the canvas's
// shape (what Inspect reports and browsers show), the frame where it lies on the canvas.
func TestThumbnailOfGIFWithSmallFirstFrame(t *testing.T) {
	frame := image.NewPaletted(image.Rect(60, 0, 80, 20), color.Palette{blue})
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{frame}, Delay: []int{0},
		Config: image.Config{Width: 80, Height: 20, ColorModel: frame.Palette}}); err != nil {
		t.Fatal(err)
	}
	info, err := InspectBytes(b.Bytes())
	if err != nil || info.Width != 80 || info.Height != 20 {
		t.Fatalf("InspectBytes = %+v, %v; want 80×20", info, err)
	}
	thumb := thumbnailOf(t, b.Bytes())
	if got := thumb.Bounds().Size(); got != image.Pt(80, 20) {
		t.Fatalf("thumbnail is %v, want the canvas's 80×20", got)
	}
	if c := thumb.At(75, 10); !near(c, blue) {
		t.Errorf("the frame's corner of the canvas is %v, want blue", c)
	}
	// Outside the frame is the canvas's background: libvips' GIF loader leaves it
	// transparent (flattened to white) when the GIF has a transparent colour, black
	// otherwise. Either way the frame has not spread over it.
	if c := thumb.At(5, 10); near(c, blue) {
		t.Errorf("outside the frame is %v, the frame's blue", c)
	}
}

// sameInfo compares two Infos; times are equal when they are the same instant in the
// same offset (== on time.Time also compares *Location pointers).
func sameInfo(a, b Info) bool {
	_, aOff := a.TakenAt.Zone()
	_, bOff := b.TakenAt.Zone()
	at, bt := a.TakenAt, b.TakenAt
	a.TakenAt, b.TakenAt = time.Time{}, time.Time{}
	return a == b && at.Equal(bt) && aOff == bOff
}
