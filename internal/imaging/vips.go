package imaging

/*
#cgo pkg-config: vips
#include <malloc.h>
#include <vips/vips.h>

// sg_cap_malloc_arenas caps glibc's malloc arenas at n. By default glibc gives each
// thread that allocates its own arena (up to 8 per core), and libvips' decode threads
// leave freed memory in theirs: the process' resident memory then grows far past the
// bytes decodes hold, and a container limit kills it. (MALLOC_ARENA_MAX, read by glibc
// before main, wins when set.)
static void sg_cap_malloc_arenas(int n) {
	mallopt(M_ARENA_MAX, n);
}

// sg_interlaced reports an interlaced (Adam7) PNG: libpng then decodes the whole image
// into memory before libvips can read a line of it.
static int sg_interlaced(VipsImage *im) {
	int v = 0;
	if (vips_image_get_typeof(im, "interlaced") == 0 || vips_image_get_int(im, "interlaced", &v) != 0)
		return 0;
	return v;
}

// sg_new_from_buffer reads an image's header: libvips loads lazily, so no pixel is
// decoded until one is asked for, and this caller never asks. (A wrapper because cgo
// cannot call C's variadic functions.)
static VipsImage *sg_new_from_buffer(const void *buf, size_t len) {
	return vips_image_new_from_buffer(buf, len, "", NULL);
}

// sg_exif points data at the image's EXIF block and returns its length, or 0 when it
// has none. The block belongs to the image.
static size_t sg_exif(VipsImage *im, const void **data) {
	size_t len = 0;
	if (vips_image_get_typeof(im, VIPS_META_EXIF_NAME) == 0 ||
		vips_image_get_blob(im, VIPS_META_EXIF_NAME, data, &len) != 0)
		return 0;
	return len;
}

// sg_multiscan reports a JPEG of several scans (progressive): libjpeg then keeps every
// DCT coefficient of the image in memory, whatever the scale it decodes at.
static int sg_multiscan(VipsImage *im) {
	int v = 0;
	if (vips_image_get_typeof(im, "jpeg-multiscan") == 0 || vips_image_get_int(im, "jpeg-multiscan", &v) != 0)
		return 0;
	return v;
}

// sg_loader is the name of the loader libvips chose ("jpegload_buffer").
static const char *sg_loader(VipsImage *im) {
	const char *v = NULL;
	if (vips_image_get_typeof(im, VIPS_META_LOADER) == 0 || vips_image_get_string(im, VIPS_META_LOADER, &v) != 0)
		return "";
	return v;
}

// sg_allow_loaders blocks every libvips loader except the buffer loaders of the formats
// the gallery accepts. Inspect sniffs the bytes first, but libvips picks its loader by
// its own sniffing, and some of its loaders (ImageMagick, PDF, SVG, Matlab, FITS) are
// not meant for untrusted input.
static void sg_allow_loaders(void) {
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
	vips_operation_block_set("VipsForeignLoadJpegBuffer", FALSE);
	vips_operation_block_set("VipsForeignLoadPngBuffer", FALSE);
	vips_operation_block_set("VipsForeignLoadNsgifBuffer", FALSE);
	vips_operation_block_set("VipsForeignLoadWebpBuffer", FALSE);
	vips_operation_block_set("VipsForeignLoadTiffBuffer", FALSE);
	vips_operation_block_set("VipsForeignLoadHeifBuffer", FALSE);
}

static void sg_error_clear(void) { vips_error_clear(); }
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/davidbyttow/govips/v2/vips"
)

// libvips runs once per process: Startup is idempotent, and every entry point of the
// package calls it. Settings:
//   - Concurrency 1 (libvips' worker threads per image): the server decodes many uploads
//     at once, one goroutine each, and the decode budget, not a thread pool, bounds them;
//     VIPS_CONCURRENCY overrides it for a process that decodes one large image at a time.
//   - The operation cache off: it keeps recent operations and their results to reuse
//     them, and no two uploads are the same image, so it would only hold memory (and
//     the Go buffers of finished decodes).
//   - Logging quiet: libvips' warnings about damaged files are the uploader's problem and
//     are answered as errors; only libvips' own errors reach the process's log.
var (
	startOnce sync.Once
	startErr  error
	stopped   atomic.Bool
)

// errShutDown: libvips was shut down, and cannot start again in the same process.
var errShutDown = errors.New("libvips was shut down")

// Startup starts libvips once per process and returns why it could not, the same error
// on every call. Every function of the package that decodes calls it; a command may call
// it first to fail fast and log the version.
func Startup() error {
	startOnce.Do(func() { startErr = startVips() })
	if stopped.Load() {
		return errShutDown
	}
	return startErr
}

// VipsVersion is the libvips version the binary runs with, for start-up logs.
func VipsVersion() string { return vips.Version }

// mallocArenas is how many malloc arenas the process keeps (see sg_cap_malloc_arenas):
// two, as the memory-limited test (cmd/sortographer TestServeSurvivesTheWorstUploadsInAMemoryLimit)
// needs; one would serialise every allocation of every thread.
const mallocArenas = 2

func startVips() (err error) {
	defer func() {
		// govips panics when libvips is too old or does not start.
		if p := recover(); p != nil {
			err = fmt.Errorf("start libvips: %v", p)
		}
	}()
	vips.LoggingSettings(func(domain string, level vips.LogLevel, msg string) {
		slog.Default().Error("libvips logged an error", "domain", domain, "message", strings.TrimSpace(msg))
	}, vips.LogLevelCritical)
	concurrency := 1
	if os.Getenv("VIPS_CONCURRENCY") != "" {
		concurrency = 0 // libvips reads the variable itself
	}
	if os.Getenv("MALLOC_ARENA_MAX") == "" {
		C.sg_cap_malloc_arenas(mallocArenas)
	}
	vips.Startup(&vips.Config{ConcurrencyLevel: concurrency, MaxCacheMem: 0, MaxCacheSize: 0, MaxCacheFiles: 0})
	C.sg_allow_loaders()
	for _, t := range []vips.ImageType{vips.ImageTypeJPEG, vips.ImageTypePNG, vips.ImageTypeGIF, vips.ImageTypeWEBP, vips.ImageTypeTIFF, vips.ImageTypeHEIF} {
		if !vips.IsTypeSupported(t) {
			return fmt.Errorf("start libvips %s: it cannot load %s (install libvips42 and libheif1 with its plugins)", vips.Version, vips.ImageTypes[t])
		}
	}
	return nil
}

// Shutdown stops libvips. Call it once, as the process ends, after every decode has
// returned: libvips cannot be started again in the same process.
func Shutdown() {
	startOnce.Do(func() { startErr = errShutDown })
	if startErr == nil && stopped.CompareAndSwap(false, true) {
		vips.Shutdown()
	}
}

// header is what libvips' loader reads from an image's header, before any pixel.
type header struct {
	loader        string
	width, height int
	bands         int
	bytesPerBand  int
	alpha         bool
	orientation   Orientation
	// multiscan is a progressive (or otherwise multi-scan) JPEG, or an interlaced PNG:
	// either is decoded whole before its first line can be read.
	multiscan bool
	exif      []byte
}

// maxExifBytes bounds the EXIF block copied out of libvips (a JPEG segment holds 64 KiB;
// HEIF allows more, and the gallery reads three tags).
const maxExifBytes = 1 << 20

// readHeader asks libvips for data's header. A loader refusal is ErrCorrupt.
func readHeader(data []byte) (header, error) {
	if err := Startup(); err != nil {
		return header{}, err
	}
	if len(data) == 0 {
		return header{}, ErrEmpty
	}
	im := C.sg_new_from_buffer(unsafe.Pointer(&data[0]), C.size_t(len(data)))
	defer runtime.KeepAlive(data)
	if im == nil {
		// libvips' error buffer is the process's: with decodes failing at once, the
		// message may be another's. It only ever adds detail to ErrCorrupt.
		msg := firstLine(strings.TrimSpace(C.GoString(C.vips_error_buffer())))
		C.sg_error_clear()
		if msg == "" {
			msg = "libvips could not read its header"
		}
		return header{}, fmt.Errorf("%w: %s", ErrCorrupt, msg)
	}
	defer C.g_object_unref(C.gpointer(im))
	h := header{
		loader:      C.GoString(C.sg_loader(im)),
		width:       int(C.vips_image_get_width(im)),
		height:      int(C.vips_image_get_height(im)),
		bands:       int(C.vips_image_get_bands(im)),
		alpha:       C.vips_image_hasalpha(im) != 0,
		orientation: Orientation(C.vips_image_get_orientation(im)),
		multiscan:   C.sg_multiscan(im) != 0 || C.sg_interlaced(im) != 0,
	}
	h.bytesPerBand = int(C.vips_format_sizeof(C.vips_image_get_format(im)))
	if h.orientation < 1 || h.orientation > 8 {
		h.orientation = 1
	}
	var exif unsafe.Pointer
	if n := C.sg_exif(im, &exif); n > 0 && n <= maxExifBytes {
		h.exif = C.GoBytes(exif, C.int(n))
	}
	return h, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
