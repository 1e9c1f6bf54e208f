package imaging

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Real sample files of every accepted format, made at test time by the tools Debian
// ships (hack/install-deps.sh installs them; test/setup checks it lists their packages):
//
//	convert-im6.q16  ImageMagick 6 (imagemagick): the source picture, a CMYK JPEG
//	vips             libvips' CLI (libvips-tools): JPEG, PNG (8 and 16 bits), GIF, WebP, TIFF
//	heif-enc         libheif's encoder (libheif-examples): HEIC, with an embedded thumbnail
//	avifenc          libavif's encoder (libavif-bin): AVIF
//	exiftool         (libimage-exiftool-perl): EXIF orientation and dates, in every format
//	                 that carries EXIF
//
// ImageMagick is run by its Debian name, convert-im6.q16, because `convert` on PATH may
// be another program. No Debian tool writes camera RAWs, so buildRAW below writes DNG,
// CR2, NEF, ARW, PEF, RW2 and ORF containers itself, around a JPEG preview that vips
// makes; CR3 and RAF are only signatures, since they are refused on their first bytes.

// sampleTaken is the date exiftool writes into every sample that carries EXIF.
var sampleTaken = time.Date(2021, 7, 14, 9, 30, 0, 0, time.FixedZone("", 2*3600))

// samplesDir holds the samples, made once per test binary; TestMain removes it.
var (
	samplesOnce sync.Once
	samplesDir  string
	samplesErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if samplesDir != "" {
		_ = os.RemoveAll(samplesDir)
	}
	os.Exit(code)
}

// tool is the path of a Debian tool the samples need; a missing one fails the test,
// naming the script that installs it.
func tool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: run hack/install-deps.sh: %w", name, err)
	}
	return p, nil
}

func runTool(dir, name string, args ...string) error {
	p, err := tool(name)
	if err != nil {
		return err
	}
	cmd := exec.Command(p, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

// makeSamples writes every sample into a new directory. The photo is 1200×800, its left
// half red and right half blue, so a test can tell how it was turned; where the format
// carries EXIF it says orientation 6 (turn 90° clockwise) and sampleTaken.
func makeSamples() (string, error) {
	dir, err := os.MkdirTemp("", "imaging-samples-")
	if err != nil {
		return "", err
	}
	exif := []string{"-q", "-overwrite_original", "-n", "-Orientation=6",
		"-DateTimeOriginal=2021:07:14 09:30:00", "-OffsetTimeOriginal=+02:00"}
	steps := [][]string{
		{"convert-im6.q16", "-size", "600x800", "xc:red", "-size", "600x800", "xc:blue", "+append", "+repage", "-depth", "8", "png24:src.png"},
		{"convert-im6.q16", "-size", "6x800", "xc:white", "xc:black", "+append", "-write", "mpr:t", "+delete", "-size", "1200x800", "tile:mpr:t", "-depth", "8", "png24:stripes.png"},
		{"vips", "copy", "src.png", "photo.jpg[Q=90]"},
		{"vips", "copy", "src.png", "photo.png"},
		{"vips", "copy", "src.png", "photo.gif"},
		{"vips", "copy", "src.png", "photo.webp[Q=90]"},
		{"vips", "copy", "src.png", "photo.tif[compression=deflate]"},
		{"heif-enc", "-q", "80", "-t", "128", "-o", "photo.heic", "src.png"},
		{"avifenc", "src.png", "photo.avif"},
		{"heif-enc", "-q", "90", "-t", "128", "-o", "stripes.heic", "stripes.png"},
		append(append([]string{"exiftool"}, exif...), "photo.jpg", "photo.png", "photo.webp", "photo.tif", "photo.heic", "photo.avif"),
		// Formats and layouts a classifier cannot take as they are.
		{"convert-im6.q16", "src.png", "-colorspace", "CMYK", "-quality", "90", "cmyk.jpg"},
		{"vips", "colourspace", "src.png", "deep.png[bitdepth=16]", "rgb16"},
		{"convert-im6.q16", "-size", "300x200", "xc:none", "-fill", "blue", "-draw", "rectangle 0,0 149,199", "png32:alpha.png"},
		{"vips", "black", "tiny.png", "20", "10", "--bands", "3"},
		{"vips", "black", "huge.jpg", "12000", "8000", "--bands", "3"},
		{"vips", "copy", "src.png", "progressive.jpg[interlace,Q=90]"},
		// Small files for the older tests: 40×20 halves, lossless WebP, and a JPEG and a
		// lossy WebP with EXIF (orientation 6, DateTime, DateTimeOriginal and its offset).
		{"convert-im6.q16", "-size", "20x20", "xc:red", "-size", "20x20", "xc:blue", "+append", "+repage", "-depth", "8", "png24:halves.png"},
		{"vips", "copy", "halves.png", "halves-lossless.webp[lossless]"},
		{"vips", "copy", "halves.png", "halves-exif.jpg[Q=90]"},
		append(append([]string{"exiftool"}, exif...), "-ModifyDate=2022:01:01 00:00:00", "halves-exif.jpg"),
		{"vips", "copy", "halves-exif.jpg", "halves-exif.webp[Q=80]"},
		// RAW previews: the camera's rendering, without EXIF of its own; and one too
		// small to show.
		{"vips", "copy", "src.png", "preview.jpg[Q=90,strip]"},
		{"vips", "thumbnail", "src.png", "small.jpg[strip]", "160"},
		// A decompression bomb within MaxPixels: 100 megapixels of 16-bit RGBA, 800 MB
		// decoded, 3.5 MB as a file. (vips black cannot write 16 bits at this size
		// itself: it crashes; casting its 8-bit output works.)
		{"vips", "black", "bomb8.png[compression=1]", "10000", "10000", "--bands", "4"},
		{"vips", "cast", "bomb8.png", "bomb16.png[bitdepth=16,compression=1]", "ushort"},
	}
	for _, s := range steps {
		if err := runTool(dir, s[0], s[1:]...); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// sample reads one of the samples, making them all first if needed.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	samplesOnce.Do(func() { samplesDir, samplesErr = makeSamples() })
	if samplesErr != nil {
		t.Fatalf("making the samples: %v", samplesErr)
	}
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawSpec describes a TIFF-like camera RAW for buildRAW: its magic, Make, orientation and
// where it keeps its preview.
type rawSpec struct {
	// magic is the first 4 bytes ("II*\x00" for TIFF, "IIRO" for ORF, "IIU\x00" for RW2).
	magic string
	// cr2 writes Canon's "CR\x02\x00" after the header.
	cr2  bool
	make string
	dng  bool
	// orientation is IFD0's (0: none).
	orientation uint16
	// where: "subifd-strip" (DNG), "ifd0-strip" (CR2), "subifd-jif" (NEF),
	// "ifd0-jif" (ARW), "ifd1-jif" (PEF, ORF), "jpgfromraw" (RW2).
	where string
}

var rawSpecs = map[Format]rawSpec{
	DNG: {magic: "II*\x00", make: "Google", dng: true, orientation: 6, where: "subifd-strip"},
	CR2: {magic: "II*\x00", cr2: true, make: "Canon", orientation: 6, where: "ifd0-strip"},
	NEF: {magic: "MM\x00*", make: "NIKON CORPORATION", orientation: 6, where: "subifd-jif"},
	ARW: {magic: "II*\x00", make: "SONY", orientation: 6, where: "ifd0-jif"},
	PEF: {magic: "MM\x00*", make: "PENTAX", orientation: 6, where: "ifd1-jif"},
	RW2: {magic: "IIU\x00", make: "Panasonic", orientation: 6, where: "jpgfromraw"},
	ORF: {magic: "IIRO", make: "OLYMPUS IMAGING CORP.", orientation: 6, where: "ifd1-jif"},
}

// buildRAW writes a TIFF-like RAW around preview, with a sensor-data IFD (CFA, 16-bit,
// uncompressed garbage) beside it, and the EXIF date in an Exif IFD. thumbs are smaller
// JPEGs that IFD1 points at, as cameras keep a thumbnail there.
func buildRAW(spec rawSpec, preview []byte, thumbs ...[]byte) []byte {
	order := binary.ByteOrder(binary.LittleEndian)
	if strings.HasPrefix(spec.magic, "MM") {
		order = binary.BigEndian
	}
	type tag struct {
		id, typ uint16
		count   uint32
		// value is the inline value or, with data, filled with data's offset.
		value uint32
		data  []byte
	}
	type ifd struct{ tags []tag }
	var blobs bytes.Buffer // data after the header and IFDs, laid out at the end
	const base = 4096      // where blobs start: IFDs fit before it
	blob := func(b []byte) uint32 {
		off := base + blobs.Len()
		blobs.Write(b)
		if blobs.Len()%2 == 1 {
			blobs.WriteByte(0)
		}
		return uint32(off)
	}
	short := func(id, v uint16) tag { return tag{id: id, typ: 3, count: 1, value: uint32(v)} }
	long := func(id uint16, v uint32) tag { return tag{id: id, typ: 4, count: 1, value: v} }
	ascii := func(id uint16, s string) tag {
		return tag{id: id, typ: 2, count: uint32(len(s) + 1), data: append([]byte(s), 0)}
	}
	sensor := ifd{tags: []tag{
		long(0x0100, 64), long(0x0101, 48), short(0x0102, 16), short(tagCompression, 1),
		short(tagPhotometric, photometricCFA), long(tagStripOffsets, blob(make([]byte, 64*48*2))), long(tagStripByteCounts, 64*48*2),
	}}
	pOff := blob(preview)
	pLen := uint32(len(preview))
	jif := []tag{long(tagJPEGOffset, pOff), long(tagJPEGLength, pLen)}
	strip := []tag{short(tagCompression, 7), short(tagPhotometric, 6), long(tagStripOffsets, pOff), long(tagStripByteCounts, pLen)}
	if spec.where == "ifd0-strip" {
		strip[0] = short(tagCompression, 6)
	}
	exifIFD := ifd{tags: []tag{ascii(tagDateTimeOriginal, "2021:07:14 09:30:00"), ascii(tagOffsetTimeOriginal, "+02:00")}}
	ifd0 := ifd{tags: []tag{ascii(tagMake, spec.make)}}
	if spec.orientation != 0 {
		ifd0.tags = append(ifd0.tags, short(tagOrientation, spec.orientation))
	}
	if spec.dng {
		ifd0.tags = append(ifd0.tags, tag{id: tagDNGVersion, typ: 1, count: 4, value: binary.LittleEndian.Uint32([]byte{1, 4, 0, 0})})
	}
	var subIFDs []ifd
	var ifd1 *ifd
	switch spec.where {
	case "subifd-strip":
		subIFDs = []ifd{{tags: strip}, sensor}
	case "subifd-jif":
		subIFDs = []ifd{{tags: jif}, sensor}
	case "ifd0-strip":
		ifd0.tags = append(ifd0.tags, strip...)
		subIFDs = []ifd{sensor}
	case "ifd0-jif":
		ifd0.tags = append(ifd0.tags, jif...)
		subIFDs = []ifd{sensor}
	case "ifd1-jif":
		ifd1 = &ifd{tags: jif}
		subIFDs = []ifd{sensor}
	case "jpgfromraw":
		ifd0.tags = append(ifd0.tags, tag{id: tagJpgFromRaw, typ: 7, count: pLen, value: pOff})
		subIFDs = []ifd{sensor}
	default: // no preview
		subIFDs = []ifd{sensor}
	}
	for _, th := range thumbs {
		if ifd1 == nil {
			ifd1 = &ifd{tags: []tag{long(tagJPEGOffset, blob(th)), long(tagJPEGLength, uint32(len(th)))}}
		}
	}

	// Lay out: header, IFD0, its sub-IFDs, the Exif IFD, IFD1; each IFD's out-of-line
	// values go to blobs.
	var out bytes.Buffer
	out.WriteString(spec.magic)
	_ = binary.Write(&out, order, uint32(8))
	if spec.cr2 {
		out.WriteString("CR\x02\x00\x00\x00\x00\x00")
	}
	ifdSize := func(d ifd, extra int) int { return 2 + 12*(len(d.tags)+extra) + 4 }
	at := out.Len()
	if spec.cr2 {
		at = 16
		binary.LittleEndian.PutUint32(out.Bytes()[4:], 16)
	}
	ifd0At := at
	at += ifdSize(ifd0, 2) // + SubIFDs and Exif IFD pointers
	subAt := make([]int, len(subIFDs))
	for i, d := range subIFDs {
		subAt[i] = at
		at += ifdSize(d, 0)
	}
	exifAt := at
	at += ifdSize(exifIFD, 0)
	ifd1At := 0
	if ifd1 != nil {
		ifd1At = at
		at += ifdSize(*ifd1, 0)
	}
	if at > base {
		panic("buildRAW: IFDs overflow their space")
	}
	subOffsets := make([]byte, 4*len(subIFDs))
	for i, a := range subAt {
		order.PutUint32(subOffsets[4*i:], uint32(a))
	}
	ifd0.tags = append(ifd0.tags, tag{id: tagSubIFDs, typ: 4, count: uint32(len(subIFDs)), data: subOffsets}, long(tagExifIFD, uint32(exifAt)))
	buf := make([]byte, base)
	copy(buf, out.Bytes())
	write := func(at int, d ifd, next int) {
		order.PutUint16(buf[at:], uint16(len(d.tags)))
		for i, tg := range d.tags {
			e := buf[at+2+12*i:]
			order.PutUint16(e, tg.id)
			order.PutUint16(e[2:], tg.typ)
			order.PutUint32(e[4:], tg.count)
			switch {
			case tg.data != nil && len(tg.data) <= 4:
				copy(e[8:12], tg.data)
			case tg.data != nil:
				order.PutUint32(e[8:], blob(tg.data))
			case tg.typ == 3:
				order.PutUint16(e[8:], uint16(tg.value))
			case tg.typ == 1:
				binary.LittleEndian.PutUint32(e[8:], tg.value)
			default:
				order.PutUint32(e[8:], tg.value)
			}
		}
		order.PutUint32(buf[at+2+12*len(d.tags):], uint32(next))
	}
	write(ifd0At, ifd0, ifd1At)
	for i, d := range subIFDs {
		write(subAt[i], d, 0)
	}
	write(exifAt, exifIFD, 0)
	if ifd1 != nil {
		write(ifd1At, *ifd1, 0)
	}
	return append(buf, blobs.Bytes()...)
}
