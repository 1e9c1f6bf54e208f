package imaging

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Camera RAWs are shown through the largest JPEG preview the camera embedded: decoding
// the sensor data itself (demosaicing, white balance, the maker's colour science) is
// what a RAW developer does, and the preview is the camera's own rendering of it. The
// TIFF-like RAWs keep their previews in ordinary TIFF structures, which this walker reads:
//
//	DNG  a SubIFD of JPEG strips (Compression 7, YCbCr), or IFD1's JPEGInterchangeFormat
//	CR2  IFD0's strip (old-style JPEG, Compression 6)
//	NEF  a SubIFD's JPEGInterchangeFormat
//	ARW  IFD0's JPEGInterchangeFormat
//	PEF  a later IFD's JPEGInterchangeFormat
//	RW2  IFD0's JpgFromRaw (tag 0x002E), a whole JPEG
//	ORF  IFD1's JPEGInterchangeFormat: Olympus keeps its large preview in a maker note,
//	     which is not read, so many ORFs are refused for a preview too small to show
//
// Every offset is bounds-checked against the file; the walk visits at most maxIFDs IFDs
// and never one twice, so a hostile file costs little and cannot loop.

// TIFF tags of the walk, beside exif.go's.
const (
	tagJpgFromRaw      = 0x002E // Panasonic RW2: a whole JPEG
	tagCompression     = 0x0103
	tagPhotometric     = 0x0106
	tagMake            = 0x010F
	tagStripOffsets    = 0x0111
	tagStripByteCounts = 0x0117
	tagSubIFDs         = 0x014A
	tagJPEGOffset      = 0x0201 // JPEGInterchangeFormat
	tagJPEGLength      = 0x0202 // JPEGInterchangeFormatLength
	tagDNGVersion      = 0xC612
)

// Photometric interpretations of sensor data, not of a picture.
const (
	photometricCFA       = 32803
	photometricLinearRaw = 34892
)

// maxIFDs bounds the IFDs one walk visits.
const maxIFDs = 64

// tiffMagics are the TIFF-like headers: TIFF, BigTIFF, Olympus ORF's two and Panasonic
// RW2's.
var tiffMagics = []string{"II*\x00", "MM\x00*", "II+\x00", "MM\x00+", "IIRO", "IIRS", "MMOR", "IIU\x00"}

func tiffLike(b []byte) bool {
	for _, m := range tiffMagics {
		if bytes.HasPrefix(b, []byte(m)) {
			return true
		}
	}
	return false
}

// newTIFFReader reads a TIFF-like file's byte order; ok is false for BigTIFF (its
// 8-byte offsets are not walked: a BigTIFF is an image for libvips, never a RAW here).
func newTIFFReader(b []byte) (tiffReader, uint32, bool) {
	if len(b) < 8 || bytes.HasPrefix(b, []byte("II+\x00")) || bytes.HasPrefix(b, []byte("MM\x00+")) {
		return tiffReader{}, 0, false
	}
	t := tiffReader{b: b, order: binary.LittleEndian}
	if b[0] == 'M' {
		t.order = binary.BigEndian
	}
	return t, t.order.Uint32(b[4:]), true
}

// sniffTIFF tells a plain TIFF from the RAWs built on TIFF, by their signatures, the
// DNGVersion tag, and, for sensor data in a TIFF of a camera maker's, the Make tag.
func sniffTIFF(b []byte) Format {
	switch {
	case bytes.HasPrefix(b, []byte("IIU\x00")):
		return RW2
	case bytes.HasPrefix(b, []byte("IIRO")), bytes.HasPrefix(b, []byte("IIRS")), bytes.HasPrefix(b, []byte("MMOR")):
		return ORF
	case bytes.HasPrefix(b, []byte("II*\x00")) && bytesEqualAt(b, 8, "CR\x02"):
		return CR2
	}
	t, ifd0, ok := newTIFFReader(b)
	if !ok {
		return TIFF
	}
	var maker string
	sensor := false
	dng := false
	t.walk(ifd0, func(first bool, entries []ifdEntry) {
		for _, e := range entries {
			switch e.tag {
			case tagDNGVersion:
				dng = dng || first
			case tagMake:
				if first {
					maker, _ = t.ascii(e)
				}
			case tagPhotometric:
				if v, ok := t.short(e); ok && (v == photometricCFA || v == photometricLinearRaw) {
					sensor = true
				}
			}
		}
	})
	if dng {
		return DNG
	}
	if !sensor {
		return TIFF
	}
	upper := bytes.ToUpper([]byte(maker))
	for _, m := range []struct {
		maker  string
		format Format
	}{{"NIKON", NEF}, {"SONY", ARW}, {"PENTAX", PEF}, {"RICOH", PEF}, {"CANON", CR2}, {"OLYMPUS", ORF}, {"OM DIGITAL", ORF}, {"PANASONIC", RW2}} {
		if bytes.HasPrefix(upper, []byte(m.maker)) {
			return m.format
		}
	}
	// Sensor data from another maker (Hasselblad 3FR, Phase One IIQ, Samsung SRW...):
	// TIFF, for libvips, which refuses what it cannot read.
	return TIFF
}

// walk calls fn with the entries of every IFD reachable from ifd0: the IFD chain and
// SubIFDs. first is set for IFD0.
func (t tiffReader) walk(ifd0 uint32, fn func(first bool, entries []ifdEntry)) {
	seen := map[uint32]bool{}
	queue := []uint32{ifd0}
	for len(queue) > 0 && len(seen) < maxIFDs {
		off := queue[0]
		queue = queue[1:]
		if seen[off] {
			continue
		}
		seen[off] = true
		entries := t.ifd(off)
		if entries == nil {
			continue
		}
		fn(off == ifd0, entries)
		for _, e := range entries {
			if e.tag == tagSubIFDs {
				queue = append(queue, t.longs(e, maxIFDs)...)
			}
		}
		if next, ok := t.next(off, len(entries)); ok && next != 0 {
			queue = append(queue, next)
		}
	}
}

// next is the offset of the IFD after the one at off with n entries.
func (t tiffReader) next(off uint32, n int) (uint32, bool) {
	at := uint64(off) + 2 + 12*uint64(n)
	if at+4 > uint64(len(t.b)) {
		return 0, false
	}
	return t.order.Uint32(t.b[at:]), true
}

// longs reads up to limit SHORT, LONG or IFD values, inline or at their offset.
func (t tiffReader) longs(e ifdEntry, limit int) []uint32 {
	size := map[uint16]uint64{3: 2, 4: 4, 13: 4}[e.typ]
	if size == 0 || e.count == 0 {
		return nil
	}
	n := min(uint64(e.count), uint64(limit))
	data := e.value
	if uint64(e.count)*size > 4 {
		off := uint64(t.order.Uint32(e.value))
		if off+n*size > uint64(len(t.b)) {
			return nil
		}
		data = t.b[off : off+n*size]
	}
	out := make([]uint32, 0, n)
	for i := range n {
		if size == 2 {
			out = append(out, uint32(t.order.Uint16(data[i*2:])))
		} else {
			out = append(out, t.order.Uint32(data[i*4:]))
		}
	}
	return out
}

// preview is a RAW's embedded JPEG, and the RAW's own metadata.
type preview struct {
	off, n int64
	meta   metadata
}

// findPreview finds the largest embedded JPEG a browser-style decoder can read (baseline
// or progressive, not the lossless JPEG of sensor data).
func findPreview(data []byte) (preview, error) {
	format := sniffTIFF(data)
	t, ifd0, ok := newTIFFReader(data)
	if !ok {
		return preview{}, fmt.Errorf("%w: not a TIFF-like RAW", ErrCorrupt)
	}
	var best preview
	var bestPixels int64
	consider := func(off, n uint64) {
		if n < 4 || off+n > uint64(len(data)) || !bytes.HasPrefix(data[off:], []byte("\xff\xd8\xff")) {
			return
		}
		w, h, ok := jpegFrame(data[off : off+n])
		if ok && int64(w)*int64(h) > bestPixels {
			best, bestPixels = preview{off: int64(off), n: int64(n)}, int64(w)*int64(h)
		}
	}
	t.walk(ifd0, func(_ bool, entries []ifdEntry) {
		var jpegOff, jpegLen, compression, photometric uint32
		var strips, counts []uint32
		for _, e := range entries {
			switch e.tag {
			case tagJPEGOffset:
				jpegOff, _ = t.long(e)
			case tagJPEGLength:
				jpegLen, _ = t.long(e)
			case tagCompression:
				v, _ := t.short(e)
				compression = uint32(v)
			case tagPhotometric:
				v, _ := t.short(e)
				photometric = uint32(v)
			case tagStripOffsets:
				strips = t.longs(e, 2)
			case tagStripByteCounts:
				counts = t.longs(e, 2)
			case tagJpgFromRaw:
				if e.typ == 7 && e.count > 4 {
					consider(uint64(t.order.Uint32(e.value)), uint64(e.count))
				}
			}
		}
		if jpegOff != 0 && jpegLen != 0 {
			consider(uint64(jpegOff), uint64(jpegLen))
		}
		if (compression == 6 || compression == 7) && len(strips) == 1 && len(counts) == 1 &&
			photometric != photometricCFA && photometric != photometricLinearRaw {
			consider(uint64(strips[0]), uint64(counts[0]))
		}
	})
	if bestPixels == 0 {
		return preview{}, fmt.Errorf("%w: no embedded JPEG found in this %s", ErrNoPreview, format)
	}
	best.meta, _ = parseTIFFAt(data, ifd0, t.order)
	return best, nil
}

// jpegFrame reads a JPEG's size from its frame header, for the SOF markers a decoder
// for pictures reads: baseline, extended and progressive Huffman (SOF0-2).
func jpegFrame(b []byte) (w, h int, ok bool) {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return 0, 0, false
		}
		marker := b[i+1]
		switch {
		case marker == 0xff:
			i++
			continue
		case marker == 0xd8 || marker >= 0xd0 && marker <= 0xd7 || marker == 0x01:
			i += 2
			continue
		case marker == 0xda || marker == 0xd9:
			return 0, 0, false
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 0, 0, false
		}
		if marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc {
			if marker > 0xc2 || n < 7 {
				return 0, 0, false // lossless, hierarchical or arithmetic: sensor data
			}
			h = int(binary.BigEndian.Uint16(b[i+5:]))
			w = int(binary.BigEndian.Uint16(b[i+7:]))
			return w, h, w > 0 && h > 0
		}
		i += 2 + n
	}
	return 0, 0, false
}

// withOrientation is a copy of a JPEG with one EXIF segment, saying orientation o, in
// place of any it had.
func withOrientation(jpg []byte, o Orientation) []byte {
	tiff := binary.LittleEndian.AppendUint16([]byte("II*\x00\x08\x00\x00\x00"), 1)
	tiff = binary.LittleEndian.AppendUint16(tiff, tagOrientation)
	tiff = binary.LittleEndian.AppendUint16(tiff, 3) // SHORT
	tiff = binary.LittleEndian.AppendUint32(tiff, 1)
	tiff = binary.LittleEndian.AppendUint32(tiff, uint32(o))
	tiff = binary.LittleEndian.AppendUint32(tiff, 0) // no next IFD
	seg := append(append([]byte{}, exifHeader...), tiff...)
	out := make([]byte, 0, len(jpg)+len(seg)+4)
	out = append(out, jpg[:2]...)
	out = append(out, 0xff, 0xe1, byte((len(seg)+2)>>8), byte(len(seg)+2))
	out = append(out, seg...)
	i := 2
	for i+4 <= len(jpg) && jpg[i] == 0xff {
		marker := jpg[i+1]
		if marker == 0xda || marker == 0xd9 || marker == 0xff || marker == 0x01 || marker >= 0xd0 && marker <= 0xd8 {
			break // the scan, or bytes without a length: the rest is copied as it is
		}
		n := int(binary.BigEndian.Uint16(jpg[i+2:]))
		if n < 2 || i+2+n > len(jpg) {
			break
		}
		if marker != 0xe1 || !bytes.HasPrefix(jpg[i+4:i+2+n], exifHeader) {
			out = append(out, jpg[i:i+2+n]...)
		}
		i += 2 + n
	}
	return append(out, jpg[i:]...)
}
