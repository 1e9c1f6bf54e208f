package main

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// heicGrid is a HEIC whose primary image is a grid, as iPhones save photos: a
// width×height canvas of tile×tile tiles, each its own hidden item (as in a phone's
// file, where a 12 MP photo is 48 tiles of 512×512). Every tile item points at the same
// coded tile, taken from tileHEIC, a tile×tile HEIC that heif-enc made: libheif decodes
// each tile and assembles the whole canvas, while the file stays a few kilobytes. The
// layout is ISO/IEC 23008-12's: ftyp, then meta (hdlr, pitm, iinf, iref dimg, iprp,
// iloc), then mdat with the coded tile and the grid's ImageGrid record.
func heicGrid(tileHEIC []byte, tile, width, height int) ([]byte, error) {
	coded, hvcC, err := primaryHEVC(tileHEIC)
	if err != nil {
		return nil, err
	}
	rows, cols := (height+tile-1)/tile, (width+tile-1)/tile
	if rows > 256 || cols > 256 || width > 0xffff || height > 0xffff {
		return nil, fmt.Errorf("a %d×%d grid of %d px tiles does not fit ImageGrid's 8-bit counts and 16-bit sides", width, height, tile)
	}
	tiles := rows * cols
	gridID := uint16(tiles + 1)
	gridRecord := []byte{0, 0, byte(rows - 1), byte(cols - 1), byte(width >> 8), byte(width), byte(height >> 8), byte(height)}

	meta := func(mdatData uint32) []byte {
		var iinf, dimg, ipma, iloc []byte
		iinf = be16(iinf, uint16(tiles+1))
		dimg = be16(be16(dimg, gridID), uint16(tiles))
		ipma = be32(ipma, uint32(tiles+1))
		iloc = be16(append(iloc, 0x44, 0x00), uint16(tiles+1)) // 4-byte offsets and lengths, no base offset
		for id := uint16(1); id <= gridID; id++ {
			typ, flags, props := "hvc1", uint32(1), []byte{0x81, 0x02} // hidden; hvcC (essential), tile ispe
			offset, length := mdatData, uint32(len(coded))
			if id == gridID {
				typ, flags, props = "grid", 0, []byte{0x03} // grid ispe
				offset, length = mdatData+uint32(len(coded)), uint32(len(gridRecord))
			}
			iinf = append(iinf, fullBox("infe", 2, flags, append(be16(be16(nil, id), 0), append([]byte(typ), 0)...))...)
			if id != gridID {
				dimg = be16(dimg, id)
			}
			ipma = append(append(be16(ipma, id), byte(len(props))), props...)
			iloc = be32(be32(be16(be16(be16(iloc, id), 0), 1), offset), length)
		}
		ispe := func(w, h int) []byte { return fullBox("ispe", 0, 0, be32(be32(nil, uint32(w)), uint32(h))) }
		ipco := box("ipco", append(append(append([]byte{}, hvcC...), ispe(tile, tile)...), ispe(width, height)...))
		return fullBox("meta", 0, 0, concat(
			fullBox("hdlr", 0, 0, concat(make([]byte, 4), []byte("pict"), make([]byte, 12), []byte{0})),
			fullBox("pitm", 0, 0, be16(nil, gridID)),
			fullBox("iinf", 0, 0, iinf),
			fullBox("iref", 0, 0, box("dimg", dimg)),
			box("iprp", concat(ipco, fullBox("ipma", 0, 0, ipma))),
			fullBox("iloc", 0, 0, iloc),
		))
	}
	ftyp := box("ftyp", concat([]byte("heic"), make([]byte, 4), []byte("mif1heic")))
	// The meta box's length does not depend on the offsets in it.
	mdatData := uint32(len(ftyp) + len(meta(0)) + 8)
	return concat(ftyp, meta(mdatData), box("mdat", concat(coded, gridRecord))), nil
}

// primaryHEVC is the coded data of a HEIC's primary image and its hvcC box, read from
// heif-enc's output: one hvc1 item stored in one extent.
func primaryHEVC(heic []byte) (coded, hvcC []byte, err error) {
	top := children(heic)
	meta, ok := top["meta"]
	if !ok || len(meta) < 4 {
		return nil, nil, errors.New("no meta box")
	}
	m := children(meta[4:])
	pitm, iloc := m["pitm"], m["iloc"]
	if len(pitm) < 6 || pitm[0] != 0 || len(iloc) < 8 {
		return nil, nil, errors.New("no version 0 pitm or no iloc")
	}
	primary := uint32(binary.BigEndian.Uint16(pitm[4:]))
	if hvcC = children(children(m["iprp"])["ipco"])["hvcC"+boxHeader]; hvcC == nil {
		return nil, nil, errors.New("no hvcC property")
	}
	// iloc: version, flags, sizes; then per item its ID, construction method (v1, v2),
	// data reference, base offset and extents.
	v := iloc[0]
	offSize, lenSize, baseSize, idxSize := int(iloc[4]>>4), int(iloc[4]&15), int(iloc[5]>>4), int(iloc[5]&15)
	if v == 0 {
		idxSize = 0
	}
	p := 6
	read := func(n int) uint64 {
		var x uint64
		for range n {
			if p >= len(iloc) {
				err = errors.New("iloc cut short")
				return 0
			}
			x = x<<8 | uint64(iloc[p])
			p++
		}
		return x
	}
	countSize := 2
	if v == 2 {
		countSize = 4
	}
	for range read(countSize) {
		idSize := 2
		if v == 2 {
			idSize = 4
		}
		id := uint32(read(idSize))
		if v == 1 || v == 2 {
			if method := read(2) & 15; method != 0 && id == primary {
				return nil, nil, fmt.Errorf("primary item stored by construction method %d, want in the file", method)
			}
		}
		read(2) // data reference index
		base := read(baseSize)
		extents := read(2)
		for range extents {
			read(idxSize)
			off, n := base+read(offSize), read(lenSize)
			if err != nil {
				return nil, nil, err
			}
			if id == primary {
				if extents != 1 || off+n > uint64(len(heic)) {
					return nil, nil, fmt.Errorf("primary item in %d extents ending at %d of %d bytes", extents, off+n, len(heic))
				}
				return heic[off : off+n], hvcC, nil
			}
		}
	}
	if err == nil {
		err = fmt.Errorf("no iloc entry for the primary item %d", primary)
	}
	return nil, nil, err
}

// boxHeader marks, in children's map, a box kept whole (header included) rather than
// as its payload.
const boxHeader = "+header"

// children are the boxes in b by type, each as its payload, and also whole under
// type+boxHeader; of two with the same type, the first.
func children(b []byte) map[string][]byte {
	out := map[string][]byte{}
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 8 || n > len(b) {
			break
		}
		typ := string(b[4:8])
		if _, seen := out[typ]; !seen {
			out[typ], out[typ+boxHeader] = b[8:n], b[:n]
		}
		b = b[n:]
	}
	return out
}

func box(typ string, payload []byte) []byte {
	return concat(be32(nil, uint32(8+len(payload))), []byte(typ), payload)
}

func fullBox(typ string, version byte, flags uint32, payload []byte) []byte {
	return box(typ, concat([]byte{version, byte(flags >> 16), byte(flags >> 8), byte(flags)}, payload))
}

func be16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
