package imaging

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

var (
	red  = color.RGBA{R: 255, A: 255}
	blue = color.RGBA{B: 255, A: 255}
)

// halves is a w×h image whose left half is red and right half blue, so a test can tell
// which way a thumbnail was turned.
func halves(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			if x < w/2 {
				img.Set(x, y, red)
			} else {
				img.Set(x, y, blue)
			}
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t testing.TB, frames ...*image.Paletted) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: frames, Delay: make([]int, len(frames))}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// exifTag is one IFD entry for buildTIFF: a SHORT, LONG or ASCII value.
type exifTag struct {
	tag   uint16
	short uint16
	ascii string
}

// buildTIFF makes EXIF's TIFF block: IFD0 with ifd0, and an Exif IFD with exif when
// that is not empty.
func buildTIFF(order binary.ByteOrder, ifd0, exif []exifTag) []byte {
	var b bytes.Buffer
	if order == binary.ByteOrder(binary.LittleEndian) {
		b.WriteString("II")
	} else {
		b.WriteString("MM")
	}
	u16 := func(v uint16) { _ = binary.Write(&b, order, v) }
	u32 := func(v uint32) { _ = binary.Write(&b, order, v) }
	u16(42)
	u32(8)
	ifdLen := func(n int) int { return 2 + 12*n + 4 }
	n0 := len(ifd0)
	if len(exif) > 0 {
		n0++
	}
	exifStart := 8 + ifdLen(n0)
	dataStart := exifStart + ifdLen(len(exif))
	var extra bytes.Buffer // ASCII values longer than 4 bytes
	writeIFD := func(tags []exifTag, exifPointer bool) {
		n := len(tags)
		if exifPointer {
			n++
		}
		u16(uint16(n))
		for _, tg := range tags {
			u16(tg.tag)
			if tg.ascii != "" {
				s := tg.ascii + "\x00"
				u16(2)
				u32(uint32(len(s)))
				u32(uint32(dataStart + extra.Len()))
				extra.WriteString(s)
				continue
			}
			u16(3)
			u32(1)
			u16(tg.short)
			u16(0)
		}
		if exifPointer {
			u16(tagExifIFD)
			u16(4)
			u32(1)
			u32(uint32(exifStart))
		}
		u32(0) // no next IFD
	}
	writeIFD(ifd0, len(exif) > 0)
	if len(exif) > 0 {
		writeIFD(exif, false)
	} else {
		b.Write(make([]byte, ifdLen(0)))
	}
	b.Write(extra.Bytes())
	return b.Bytes()
}

// withAPP1 inserts an Exif APP1 segment holding tiff right after the JPEG's SOI.
func withAPP1(jpg, tiff []byte) []byte {
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xff, 0xe1, byte((len(seg)+2)>>8), byte(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// withEXIfChunk inserts a PNG eXIf chunk holding tiff right after IHDR.
func withEXIfChunk(p, tiff []byte) []byte {
	const ihdrEnd = 8 + 8 + 13 + 4
	body := append([]byte("eXIf"), tiff...)
	out := append([]byte{}, p[:ihdrEnd]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(tiff)))
	out = append(out, body...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	return append(out, p[ihdrEnd:]...)
}
