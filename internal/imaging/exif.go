package imaging

import (
	"bytes"
	"encoding/binary"
	"time"
)

// EXIF is read by this small parser rather than a library: only three tags are needed,
// and the maintained Go EXIF libraries were not available here. It gives the dates, and
// a RAW's orientation; an image's orientation otherwise is the one libvips reads, since
// libvips is what turns the pixels. Every read is bounds-checked against the input, and
// readMetadata also recovers from any panic, so hostile input yields "no metadata",
// never a crash.

// metadata is what the gallery uses from EXIF.
type metadata struct {
	orientation Orientation
	takenAt     time.Time
}

// TIFF tags.
const (
	tagOrientation        = 0x0112
	tagDateTime           = 0x0132
	tagExifIFD            = 0x8769
	tagDateTimeOriginal   = 0x9003
	tagOffsetTime         = 0x9010
	tagOffsetTimeOriginal = 0x9011
)

// readMetadata finds the EXIF block of a JPEG (APP1), PNG (eXIf), WebP (EXIF chunk) or
// TIFF (the file itself), or takes the one libvips read (vipsExif: HEIF and AVIF keep it
// as an item that libheif finds), and reads it. ok is false when there is none or it
// cannot be read.
func readMetadata(f Format, data, vipsExif []byte) (m metadata, ok bool) {
	defer func() {
		if recover() != nil {
			m, ok = metadata{}, false
		}
	}()
	var tiff []byte
	switch f {
	case JPEG:
		tiff = jpegExif(data)
	case PNG:
		tiff = pngExif(data)
	case WebP:
		tiff = webpExif(data)
	case TIFF:
		tiff = data
	case HEIC, HEIF, AVIF:
		tiff = bytes.TrimPrefix(vipsExif, exifHeader)
	}
	if tiff == nil {
		return metadata{}, false
	}
	return parseTIFF(tiff)
}

var exifHeader = []byte("Exif\x00\x00")

// jpegExif walks the JPEG's marker segments up to the image data and returns the TIFF
// bytes of the first Exif APP1 segment.
func jpegExif(b []byte) []byte {
	i := 2 // after SOI
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return nil
		}
		marker := b[i+1]
		switch {
		case marker == 0xff: // fill byte
			i++
			continue
		case marker == 0xd8 || marker >= 0xd0 && marker <= 0xd7 || marker == 0x01: // no length
			i += 2
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, exifHeader) {
			return seg[len(exifHeader):]
		}
		i += 2 + n
	}
	return nil
}

// pngExif returns the content of the PNG's eXIf chunk.
func pngExif(b []byte) []byte {
	i := 8 // after the signature
	for i+8 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n < 0 || n > len(b)-i-12 {
			return nil
		}
		if typ == "eXIf" {
			return b[i+8 : i+8+n]
		}
		if typ == "IEND" {
			return nil
		}
		i += 12 + n // length, type, data, CRC
	}
	return nil
}

// webpExif returns the content of the WebP's EXIF chunk.
func webpExif(b []byte) []byte {
	i := 12 // after RIFF, size, WEBP
	for i+8 <= len(b) {
		typ := string(b[i : i+4])
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || n > len(b)-i-8 {
			return nil
		}
		if typ == "EXIF" {
			// Some writers keep the JPEG-style header.
			return bytes.TrimPrefix(b[i+8:i+8+n], exifHeader)
		}
		i += 8 + n + n&1 // chunks are padded to an even length
	}
	return nil
}

// tiffReader reads IFD entries from TIFF bytes, refusing every out-of-range offset.
type tiffReader struct {
	b     []byte
	order binary.ByteOrder
}

type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    []byte // the 4-byte value field
}

// maxIFDEntries bounds the work spent on a hostile IFD.
const maxIFDEntries = 1000

func (t tiffReader) ifd(off uint32) []ifdEntry {
	if off < 8 || uint64(off)+2 > uint64(len(t.b)) {
		return nil
	}
	n := int(t.order.Uint16(t.b[off:]))
	if n > maxIFDEntries || uint64(off)+2+uint64(n)*12 > uint64(len(t.b)) {
		return nil
	}
	entries := make([]ifdEntry, n)
	for k := range n {
		e := t.b[int(off)+2+12*k:]
		entries[k] = ifdEntry{tag: t.order.Uint16(e), typ: t.order.Uint16(e[2:]), count: t.order.Uint32(e[4:]), value: e[8:12]}
	}
	return entries
}

// short reads a SHORT (type 3) value.
func (t tiffReader) short(e ifdEntry) (uint16, bool) {
	if e.typ != 3 || e.count < 1 {
		return 0, false
	}
	return t.order.Uint16(e.value), true
}

// long reads a LONG (type 4) or IFD (type 13) value.
func (t tiffReader) long(e ifdEntry) (uint32, bool) {
	if e.typ != 4 && e.typ != 13 || e.count < 1 {
		return 0, false
	}
	return t.order.Uint32(e.value), true
}

// ascii reads an ASCII (type 2) value, without its NUL terminator.
func (t tiffReader) ascii(e ifdEntry) (string, bool) {
	if e.typ != 2 || e.count == 0 || e.count > 64 {
		return "", false
	}
	var s []byte
	if e.count <= 4 {
		s = e.value[:e.count]
	} else {
		off := t.order.Uint32(e.value)
		if uint64(off)+uint64(e.count) > uint64(len(t.b)) {
			return "", false
		}
		s = t.b[off : off+e.count]
	}
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return string(s), true
}

func parseTIFF(b []byte) (metadata, bool) {
	if len(b) < 8 {
		return metadata{}, false
	}
	var order binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return metadata{}, false
	}
	if order.Uint16(b[2:]) != 42 {
		return metadata{}, false
	}
	return parseTIFFAt(b, order.Uint32(b[4:]), order)
}

// parseTIFFAt reads the tags from IFD0 at ifd0 and its Exif IFD: parseTIFF once the
// header is checked, and a RAW's own (whose header may carry a maker's magic number).
func parseTIFFAt(b []byte, ifd0 uint32, order binary.ByteOrder) (m metadata, ok bool) {
	defer func() {
		if recover() != nil {
			m, ok = metadata{}, false
		}
	}()
	t := tiffReader{b: b, order: order}
	m = metadata{orientation: 1}
	var dateTime, dateTimeOriginal, offsetTime, offsetTimeOriginal string
	var exifOff uint32
	for _, e := range t.ifd(ifd0) {
		switch e.tag {
		case tagOrientation:
			if v, ok := t.short(e); ok && v >= 1 && v <= 8 {
				m.orientation = Orientation(v)
			}
		case tagDateTime:
			dateTime, _ = t.ascii(e)
		case tagExifIFD:
			exifOff, _ = t.long(e)
		}
	}
	if exifOff != 0 {
		for _, e := range t.ifd(exifOff) {
			switch e.tag {
			case tagDateTimeOriginal:
				dateTimeOriginal, _ = t.ascii(e)
			case tagOffsetTimeOriginal:
				offsetTimeOriginal, _ = t.ascii(e)
			case tagOffsetTime:
				offsetTime, _ = t.ascii(e)
			}
		}
	}
	if ts, ok := parseExifTime(dateTimeOriginal, offsetTimeOriginal); ok {
		m.takenAt = ts
	} else if ts, ok := parseExifTime(dateTime, offsetTime); ok {
		m.takenAt = ts
	}
	return m, true
}

// parseExifTime reads "2006:01:02 15:04:05" with an optional "+07:00" offset. Cameras
// write "0000:00:00 00:00:00" or blanks for an unset clock; those are no time. An offset
// outside the world's time zones (-12:00 to +14:00) is ignored.
func parseExifTime(value, offset string) (time.Time, bool) {
	ts, err := time.Parse("2006:01:02 15:04:05", value)
	if err != nil || ts.Year() < 1800 {
		return time.Time{}, false
	}
	if off, err := time.Parse("-07:00", offset); err == nil {
		_, secs := off.Zone()
		if secs < -12*3600 || secs > 14*3600 {
			return ts, true
		}
		ts = time.Date(ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0, time.FixedZone("", secs))
	}
	return ts, true
}
