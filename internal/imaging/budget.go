package imaging

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime/debug"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/sortographer/sortographer/internal/config"
)

// The decode budget: every decode of the process (the server's thumbnails, the
// classifier JPEGs of in-process workers, a worker process's) takes its bytes from one
// weighted semaphore before libvips allocates anything, and gives them back when done.
// What a decode takes is DecodeMemory of its header, so a decompression bomb within
// MaxPixels (a 16-bit PNG, a progressive JPEG, a huge GIF canvas) is counted at what it
// decodes to, not at its file size or its pixel count. A decode larger than the whole
// budget is refused (ErrDecodeTooLarge, 413); others wait their turn, as long as their
// context allows.

// decodeBudget is the process's budget; SetDecodeMemory replaces it.
var decodeBudget = newBudget(config.DefaultDecodeMemory(debug.SetMemoryLimit(-1)))

type budget struct {
	mu   sync.Mutex
	sem  *semaphore.Weighted
	size int64
}

func newBudget(size int64) *budget {
	return &budget{sem: semaphore.NewWeighted(size), size: size}
}

// SetDecodeMemory sizes the process's decode budget, in bytes (config.Config's
// DecodeMemory, SORTOGRAPHER_DECODE_MEMORY). Call it at start-up, before decoding;
// decodes already holding memory give it back to the budget they took it from. Zero or
// less is the default: a third of GOMEMLIMIT, else 512 MiB.
func SetDecodeMemory(bytes int64) {
	if bytes <= 0 {
		bytes = config.DefaultDecodeMemory(debug.SetMemoryLimit(-1))
	}
	decodeBudget.mu.Lock()
	defer decodeBudget.mu.Unlock()
	decodeBudget.sem, decodeBudget.size = semaphore.NewWeighted(bytes), bytes
}

// DecodeMemoryBudget is the process's decode budget, in bytes.
func DecodeMemoryBudget() int64 {
	decodeBudget.mu.Lock()
	defer decodeBudget.mu.Unlock()
	return decodeBudget.size
}

// reserve takes need bytes from the budget for a decode of info, waiting while other
// decodes hold them, and returns the function that gives them back. A need larger than
// the whole budget is refused at once; ctx ending while waiting returns ctx's error.
func reserve(ctx context.Context, info Info, need int64) (release func(), err error) {
	decodeBudget.mu.Lock()
	sem, size := decodeBudget.sem, decodeBudget.size
	decodeBudget.mu.Unlock()
	if need > size {
		return nil, fmt.Errorf("%w: this %d×%d %s decodes to %d MiB (%.1f megapixels × %d bytes a pixel, and the decoder's buffers), more than the %d MiB this server decodes at once",
			ErrDecodeTooLarge, info.Width, info.Height, info.Format, mib(need), float64(info.Width)*float64(info.Height)/1e6,
			max(info.Bands, 1)*max(info.BytesPerBand, 1), mib(size))
	}
	if err := sem.Acquire(ctx, need); err != nil {
		return nil, fmt.Errorf("wait for decode memory: %w", err)
	}
	return func() { sem.Release(need) }, nil
}

func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// DecodeMemory is the bytes a decode of an image with this header needs, to fit within
// target pixels a side (0: the full size), computed before any pixel is decoded:
//
//   - the decoded image: width × height × bands × bytes per band, at the scale the
//     loader decodes at. Only JPEG shrinks on load (libjpeg's DCT scaling, by 2, 4 or 8,
//     chosen as vips_thumbnail does, leaving at least a factor of two to the resize);
//     every other loader is counted at full size, whatever it streams;
//   - a progressive JPEG's DCT coefficients: libjpeg keeps all of them, 2 bytes each, at
//     full size whatever the scale, until the last scan;
//   - an interlaced (Adam7) PNG: libpng's passes hold half as much again (measured:
//     263 MB for a 4942² 16-bit RGBA image, whose frame is 195 MB);
//   - a GIF's canvas: libnsgif composes each frame onto a full-size RGBA canvas;
//   - HEIF and AVIF's decoded planes: libheif decodes the whole picture (every tile of
//     a grid) into YCbCr planes before converting them to the interleaved image; the
//     AV1 decoder keeps two more planes' worth of its own (measured: 258 MB for a 6178²
//     AVIF, whose frame is 114 MB);
//   - the result at target size (3 bytes a pixel), and, for an image with alpha, the
//     buffer flattening it onto white.
//
// It is exact arithmetic saturating at math.MaxInt64, never negative.
func DecodeMemory(info Info, target int) int64 {
	w, h := int64(max(info.Width, 1)), int64(max(info.Height, 1))
	bands, bpb := int64(max(info.Bands, 1)), int64(max(info.BytesPerBand, 1))
	decodesAs := info.Format
	if decodesAs.RAW() {
		decodesAs = JPEG
	}
	lw, lh := w, h
	if decodesAs == JPEG && target > 0 {
		s := int64(jpegShrink(info.Width, info.Height, target))
		lw, lh = (w+s-1)/s, (h+s-1)/s
	}
	need := mul(lw, lh, bands, bpb)
	switch {
	case decodesAs == JPEG && info.Progressive:
		need = add(need, mul(w, h, bands, 2))
	case decodesAs == PNG && info.Progressive:
		need = add(need, mul(w, h, bands, bpb)/2)
	case decodesAs == GIF:
		need = add(need, mul(w, h, 4))
	case decodesAs == HEIC || decodesAs == HEIF:
		need = add(need, mul(w, h, 3, bpb))
	case decodesAs == AVIF:
		need = add(need, mul(w, h, 5, bpb))
	}
	ow, oh := w, h
	if target > 0 {
		fw, fh := fit(info.Width, info.Height, target)
		ow, oh = int64(fw), int64(fh)
	}
	need = add(need, mul(ow, oh, 3))
	if info.Alpha {
		need = add(need, mul(ow, oh, bands, bpb))
	}
	return need
}

// jpegShrink is the factor libvips' thumbnail decodes a w×h JPEG at to fit target: the
// largest of 8, 4 and 2 that leaves at least twice the target (vips_thumbnail's rule,
// measured with VIPS_INFO on libvips 8.14), of the smaller of the two sides' shrinks, as
// libvips takes it for an exact size.
func jpegShrink(w, h, target int) int {
	if target <= 0 || w <= 0 || h <= 0 {
		return 1
	}
	fw, fh := fit(w, h, target)
	shrink := min(float64(w)/float64(fw), float64(h)/float64(fh))
	switch {
	case shrink >= 16:
		return 8
	case shrink >= 8:
		return 4
	case shrink >= 4:
		return 2
	}
	return 1
}

// mul multiplies non-negative factors, saturating at math.MaxInt64.
func mul(factors ...int64) int64 {
	p := uint64(1)
	for _, f := range factors {
		hi, lo := bits.Mul64(p, uint64(max(f, 0)))
		if hi != 0 || lo > math.MaxInt64 {
			return math.MaxInt64
		}
		p = lo
	}
	return int64(p)
}

// add adds non-negative terms, saturating at math.MaxInt64.
func add(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
