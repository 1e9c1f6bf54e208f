package imaging

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"math"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
)

func TestDecodeMemory(t *testing.T) {
	for _, tc := range []struct {
		name   string
		info   Info
		target int
		want   int64
	}{
		{"12 MP jpeg thumbnail: decoded at ¼", Info{Format: JPEG, Width: 4000, Height: 3000, Bands: 3, BytesPerBand: 1}, 400,
			1000*750*3 + 400*300*3},
		{"12 MP jpeg for the classifier: no shrink, 1.95 is under 4", Info{Format: JPEG, Width: 4000, Height: 3000, Bands: 3, BytesPerBand: 1}, 2048,
			4000*3000*3 + 2048*1536*3},
		{"96 MP jpeg for the classifier: decoded at ½", Info{Format: JPEG, Width: 12000, Height: 8000, Bands: 3, BytesPerBand: 1}, 2048,
			6000*4000*3 + 2048*1365*3},
		{"progressive jpeg keeps every coefficient at full size", Info{Format: JPEG, Width: 4000, Height: 3000, Bands: 3, BytesPerBand: 1, Progressive: true}, 400,
			1000*750*3 + 4000*3000*3*2 + 400*300*3},
		{"cmyk jpeg, full size", Info{Format: JPEG, Width: 4000, Height: 3000, Bands: 4, BytesPerBand: 1}, 0,
			4000*3000*4 + 4000*3000*3},
		{"16-bit rgba png: no shrink on load, and alpha to flatten", Info{Format: PNG, Width: 10000, Height: 10000, Bands: 4, BytesPerBand: 2, Alpha: true}, 400,
			10000*10000*4*2 + 400*400*3 + 400*400*4*2},
		{"gif: the canvas as well", Info{Format: GIF, Width: 10000, Height: 10000, Bands: 3, BytesPerBand: 1}, 400,
			10000*10000*3 + 10000*10000*4 + 400*400*3},
		{"heic: the decoder's planes as well", Info{Format: HEIC, Width: 4032, Height: 3024, Bands: 3, BytesPerBand: 1}, 400,
			4032*3024*3 + 4032*3024*3 + 400*300*3},
		{"10-bit avif decodes to 16 bits, and the AV1 decoder keeps planes of its own", Info{Format: AVIF, Width: 1000, Height: 1000, Bands: 3, BytesPerBand: 2}, 400,
			1000*1000*3*2 + 1000*1000*5*2 + 400*400*3},
		{"interlaced png: libpng's passes hold half a frame more", Info{Format: PNG, Width: 1000, Height: 1000, Bands: 4, BytesPerBand: 2, Progressive: true}, 400,
			1000*1000*4*2 + 1000*1000*4*2/2 + 400*400*3},
		{"a raw decodes its jpeg preview, with shrink on load", Info{Format: NEF, Width: 6000, Height: 4000, Bands: 3, BytesPerBand: 1}, 400,
			1500*1000*3 + 400*267*3},
		{"a header saying nothing counts a byte a pixel", Info{Format: TIFF, Width: 10, Height: 10}, 0, 10*10 + 10*10*3},
		{"saturates instead of overflowing", Info{Format: TIFF, Width: math.MaxInt32, Height: math.MaxInt32, Bands: math.MaxInt32, BytesPerBand: 8}, 0, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DecodeMemory(tc.info, tc.target); got != tc.want {
				t.Errorf("DecodeMemory = %d, want %d", got, tc.want)
			}
		})
	}
}

// The budget reads the header the loader reports: a 16-bit PNG and a progressive JPEG
// say so before any pixel is decoded.
func TestInspectReportsTheDecodedLayout(t *testing.T) {
	for _, tc := range []struct {
		name                string
		file                string
		bands, bytesPerBand int
		alpha, progressive  bool
	}{
		{"8-bit rgb png", "photo.png", 3, 1, false, false},
		{"16-bit rgb png", "deep.png", 3, 2, false, false},
		{"rgba png", "alpha.png", 4, 1, true, false},
		{"cmyk jpeg", "cmyk.jpg", 4, 1, false, false},
		{"progressive jpeg", "progressive.jpg", 3, 1, false, true},
		{"16-bit rgba bomb", "bomb16.png", 4, 2, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := InspectBytes(sample(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if info.Bands != tc.bands || info.BytesPerBand != tc.bytesPerBand || info.Alpha != tc.alpha || info.Progressive != tc.progressive {
				t.Errorf("bands %d, bytes a band %d, alpha %v, progressive %v; want %d, %d, %v, %v",
					info.Bands, info.BytesPerBand, info.Alpha, info.Progressive, tc.bands, tc.bytesPerBand, tc.alpha, tc.progressive)
			}
		})
	}
}

// withBudget sets the process's decode budget for one test.
func withBudget(t *testing.T, bytes int64) {
	t.Helper()
	prev := DecodeMemoryBudget()
	SetDecodeMemory(bytes)
	t.Cleanup(func() { SetDecodeMemory(prev) })
}

// hugeCanvasGIF is a GIF whose one frame fills a 10000×10000 canvas: 68 KB of LZW that
// libnsgif composes onto a 400 MB RGBA canvas before libvips copies it out. (A small
// frame on a huge declared canvas is no bomb: libnsgif takes a screen over 2048 px a
// side for a broken one and sizes the canvas to the frames.)
func hugeCanvasGIF(t testing.TB) []byte {
	t.Helper()
	frame := image.NewPaletted(image.Rect(0, 0, 10_000, 10_000), color.Palette{red, blue})
	var b bytes.Buffer
	if err := gif.Encode(&b, frame, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Decompression bombs within MaxPixels pass Inspect (their headers are honest) and are
// refused by the budget, 413 with the reason, before libvips decodes a pixel, at the
// default budget of a process without GOMEMLIMIT.
func TestBudgetRefusesBombs(t *testing.T) {
	withBudget(t, config.FallbackDecodeMemory)
	for _, tc := range []struct {
		name string
		data func(t testing.TB) []byte
		want string
	}{
		{"16-bit rgba png, 100 megapixels", func(t testing.TB) []byte { return sample(t, "bomb16.png") }, "this 10000×10000 png decodes to"},
		{"gif with a 10000×10000 canvas", hugeCanvasGIF, "this 10000×10000 gif decodes to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			info, err := InspectBytes(data)
			if err != nil {
				t.Fatalf("InspectBytes: %v", err)
			}
			for name, decode := range map[string]func() error{
				"Thumbnail":      func() error { _, err := Thumbnail(context.Background(), data, info); return err },
				"ClassifierJPEG": func() error { _, err := ClassifierJPEG(context.Background(), data); return err },
			} {
				err := decode()
				if !errors.Is(err, ErrDecodeTooLarge) || HTTPStatus(err) != http.StatusRequestEntityTooLarge {
					t.Fatalf("%s: error %v (status %d), want ErrDecodeTooLarge (413)", name, err, HTTPStatus(err))
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "more than the 512 MiB") {
					t.Errorf("%s: error %q does not say why (%q, and the budget)", name, err, tc.want)
				}
			}
		})
	}
}

// A decode that fits waits while others hold the budget, gives up when its context
// ends (a server error, not the image's fault), and proceeds once memory is returned.
func TestBudgetWaits(t *testing.T) {
	data := sample(t, "photo.jpg")
	info, err := InspectBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	need := DecodeMemory(info, ThumbnailSize)
	withBudget(t, need)
	release, err := reserve(context.Background(), info, need)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Thumbnail(ctx, data, info); !errors.Is(err, context.DeadlineExceeded) || HTTPStatus(err) != http.StatusInternalServerError {
		t.Fatalf("Thumbnail with the budget held: error %v (status %d), want the context's deadline (500)", err, HTTPStatus(err))
	}

	done := make(chan error, 1)
	go func() {
		_, err := Thumbnail(context.Background(), data, info)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Thumbnail returned (%v) while the budget was held", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Thumbnail after the budget was returned: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Thumbnail still waiting after the budget was returned")
	}
}

// Many decodes at once within a budget for two: every one finishes, and the budget is
// whole again afterwards.
func TestBudgetAdmitsConcurrentDecodes(t *testing.T) {
	data := sample(t, "photo.webp")
	info, err := InspectBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	need := DecodeMemory(info, ThumbnailSize)
	withBudget(t, 2*need)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := Thumbnail(context.Background(), data, info)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	release, err := reserve(context.Background(), info, 2*need)
	if err != nil {
		t.Fatalf("the whole budget is not free after the decodes: %v", err)
	}
	release()
}

// SetDecodeMemory(0) goes back to the default: config's rule, from this process's
// memory limit.
func TestSetDecodeMemoryDefault(t *testing.T) {
	withBudget(t, 1)
	SetDecodeMemory(0)
	if got, want := DecodeMemoryBudget(), config.DefaultDecodeMemory(debug.SetMemoryLimit(-1)); got != want {
		t.Errorf("budget after SetDecodeMemory(0) = %d, want %d", got, want)
	}
}
