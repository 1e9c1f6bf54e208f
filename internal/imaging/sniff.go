package imaging

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Formats are told from their first bytes only, as browsers sniff (WHATWG MIME
// Sniffing): never from a name or a declared type.

// unsupportedRAWs are RAW containers that are not TIFF-like, by signature, with what to
// tell the uploader.
var unsupportedRAWs = []struct {
	off       int
	signature string
	name      string
}{
	{0, "FUJIFILMCCD-RAW", "Fujifilm RAF"},
	{0, "FOVb", "Sigma X3F"},
	{0, "\x00MRM", "Minolta MRW"},
	{6, "HEAPCCDR", "Canon CRW"},
}

// sniffStart refuses, from its first bytes, an upload that cannot be an accepted image,
// so that Inspect need not read the rest of it.
func sniffStart(b []byte) error {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")),
		bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")),
		bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")),
		len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP",
		tiffLike(b),
		bytesEqualAt(b, 4, "ftyp"):
		return nil
	}
	for _, r := range unsupportedRAWs {
		if bytesEqualAt(b, r.off, r.signature) {
			return unsupportedRAW(r.name)
		}
	}
	return ErrUnsupportedFormat
}

func unsupportedRAW(name string) error {
	return fmt.Errorf("%w: %s files are not read; the RAWs accepted are DNG, CR2, NEF, ARW, ORF, PEF and RW2 (through their embedded JPEG preview): upload a JPEG or DNG export instead", ErrUnsupportedRAW, name)
}

// sniff tells the format of a whole file.
func sniff(b []byte) (Format, error) {
	if err := sniffStart(b); err != nil {
		return "", err
	}
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return JPEG, nil
	case bytes.HasPrefix(b, []byte("\x89PNG")):
		return PNG, nil
	case bytes.HasPrefix(b, []byte("GIF")):
		return GIF, nil
	case bytes.HasPrefix(b, []byte("RIFF")):
		return WebP, nil
	case tiffLike(b):
		return sniffTIFF(b), nil
	}
	return sniffISOBMFF(b)
}

// HEIF brands (ISO/IEC 23008-12 and 23000-22), by what they say of the codec.
var (
	heicBrands = map[string]bool{"heic": true, "heix": true, "heim": true, "heis": true, "hevc": true, "hevx": true, "hevm": true, "hevs": true}
	avifBrands = map[string]bool{"avif": true, "avis": true}
	heifBrands = map[string]bool{"mif1": true, "msf1": true, "mif2": true, "miaf": true}
)

// sniffISOBMFF reads the ftyp box: its major and compatible brands say HEIC, AVIF,
// another HEIF, Canon's CR3, or something else (MP4, QuickTime, JPEG 2000).
func sniffISOBMFF(b []byte) (Format, error) {
	if len(b) < 16 || string(b[4:8]) != "ftyp" {
		return "", ErrUnsupportedFormat
	}
	size := int(binary.BigEndian.Uint32(b))
	if size < 16 || size > len(b) || size > 4096 {
		return "", fmt.Errorf("%w: ftyp box of %d bytes", ErrUnsupportedFormat, size)
	}
	brands := []string{string(b[8:12])}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, string(b[i:i+4]))
	}
	if brands[0] == "crx " {
		return "", unsupportedRAW("Canon CR3 (an ISO-BMFF container)")
	}
	has := func(set map[string]bool) bool {
		for _, br := range brands {
			if set[br] {
				return true
			}
		}
		return false
	}
	switch {
	case avifBrands[brands[0]]:
		return AVIF, nil
	case heicBrands[brands[0]]:
		return HEIC, nil
	case has(avifBrands):
		return AVIF, nil
	case has(heicBrands):
		return HEIC, nil
	case has(heifBrands):
		return HEIF, nil
	}
	return "", ErrUnsupportedFormat
}
