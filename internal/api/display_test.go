package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/tiff"

	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/objects"
)

// chromeAccept is what Chromium sends for an <img>: AVIF and WebP, never HEIC or TIFF.
const chromeAccept = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"

// halves is a w×h PNG, its left half red and its right half blue, so that a test can
// tell how a picture made of it was turned.
func halves(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{220, 20, 20, 255}
			if x >= w/2 {
				c = color.RGBA{20, 20, 220, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// convert writes src to a new directory as in, runs Debian's tool (which
// hack/install-deps.sh installs) with args there, and returns the file it made, out.
func convert(t *testing.T, src []byte, in, out, tool string, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: run hack/install-deps.sh: %v", tool, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, in), src, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, b)
	}
	b, err := os.ReadFile(filepath.Join(dir, out))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// heicHalves is halves as a HEIC, made by heif-enc.
func heicHalves(t *testing.T, w, h int) []byte {
	t.Helper()
	return convert(t, halves(t, w, h), "src.png", "photo.heic", "heif-enc", "-q", "85", "-o", "photo.heic", "src.png")
}

// avifHalves is halves as an AVIF, made by avifenc.
func avifHalves(t *testing.T, w, h int) []byte {
	t.Helper()
	return convert(t, halves(t, w, h), "src.png", "photo.avif", "avifenc", "src.png", "photo.avif")
}

// tiffTurned is halves as a TIFF whose EXIF (written by exiftool) says orientation 6:
// shown turned 90° clockwise, red on top.
func tiffTurned(t *testing.T, w, h int) []byte {
	t.Helper()
	src, err := png.Decode(bytes.NewReader(halves(t, w, h)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tiff.Encode(&b, src, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	return convert(t, b.Bytes(), "scan.tif", "scan.tif", "exiftool", "-q", "-overwrite_original", "-n", "-Orientation=6", "scan.tif")
}

// get sends GET as u (nil: anonymous) with an Accept header ("": none).
func (g *gallery) get(u *user, path, accept string) (*http.Response, []byte) {
	g.t.Helper()
	req, err := http.NewRequest("GET", g.url+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(res.Body); err != nil {
		g.t.Fatalf("GET %s: read body: %v", path, err)
	}
	return res, b.Bytes()
}

// displayJPEG checks an answer of a display route that must be a made JPEG, and
// returns it decoded.
func displayJPEG(t *testing.T, what string, res *http.Response, data []byte) image.Image {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", what, res.StatusCode, data)
	}
	if ct, sniffed := res.Header.Get("Content-Type"), http.DetectContentType(data); ct != "image/jpeg" || sniffed != "image/jpeg" {
		t.Fatalf("%s: Content-Type %q, content sniffed as %q; want a JPEG", what, ct, sniffed)
	}
	if v := res.Header.Get("Vary"); !strings.Contains(v, "Accept") {
		t.Errorf("%s: Vary %q, want Accept: the answer depends on it", what, v)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return img
}

// halvesShown checks that img shows halves upright: red where red is wanted, at
// redAt, and blue at blueAt.
func halvesShown(t *testing.T, what string, img image.Image, w, h int, redAt, blueAt image.Point) {
	t.Helper()
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s is %d×%d, want %d×%d", what, b.Dx(), b.Dy(), w, h)
	}
	near := func(c color.Color, r, b uint32) bool {
		cr, _, cb, _ := c.RGBA()
		d := func(a, b uint32) uint32 { return max(a, b) - min(a, b) }
		return d(cr>>8, r) < 40 && d(cb>>8, b) < 40
	}
	if c := img.At(redAt.X, redAt.Y); !near(c, 220, 20) {
		t.Errorf("%s: pixel at %v is %v, want red", what, redAt, c)
	}
	if c := img.At(blueAt.X, blueAt.Y); !near(c, 20, 220) {
		t.Errorf("%s: pixel at %v is %v, want blue", what, blueAt, c)
	}
}

func displayKey(t *testing.T, u *user, imageID string) string {
	t.Helper()
	k, err := objects.ImageKeys(strconv.FormatInt(u.id, 10), imageID)
	if err != nil {
		t.Fatal(err)
	}
	return k.Display
}

// TestDisplay: the full view's picture is the original where browsers display it, and
// elsewhere a JPEG, upright and at most imaging.DisplaySide a side, made once and then
// served from storage; for the owner and through a link, and removed with the image.
func TestDisplay(t *testing.T) {
	for _, b := range []struct {
		name    string
		db      database
		storage storage
	}{{"sqlite+filesystem", sqlite, filesystem}, {"sqlite+s3", sqlite, s3Storage}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testDisplay(t, newGallery(t, b.db, b.storage))
		})
	}
}

func testDisplay(t *testing.T, g *gallery) {
	ctx := context.Background()
	u := g.signUp("viewer")
	jpg, heic, tif, avif := photo(t, 120, 80, 41), heicHalves(t, 2600, 400), tiffTurned(t, 600, 400), avifHalves(t, 300, 200)
	imgs := u.upload(file{"a.jpg", jpg}, file{"IMG_0001.HEIC", heic}, file{"scan.tif", tif}, file{"phone.avif", avif})
	pj, ph, pt, pa := imgs[0], imgs[1], imgs[2], imgs[3]
	for _, img := range imgs {
		if img.DisplayURL != "/api/images/"+img.ID+"/display" {
			t.Errorf("%s: displayUrl %q", img.ContentType, img.DisplayURL)
		}
	}
	res, _ := g.get(u, pj.ThumbnailURL, "")
	ownCaching := res.Header.Get("Cache-Control")

	// A JPEG is shown as uploaded.
	res, data := g.get(u, pj.DisplayURL, chromeAccept)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/jpeg" || !bytes.Equal(data, jpg) {
		t.Errorf("JPEG display: %d %s, the original's bytes: %v", res.StatusCode, res.Header.Get("Content-Type"), bytes.Equal(data, jpg))
	}
	if cc := res.Header.Get("Cache-Control"); cc != ownCaching {
		t.Errorf("JPEG display: Cache-Control %q, want the thumbnail's %q", cc, ownCaching)
	}

	// A HEIC, which Chromium does not display, is a JPEG scaled to DisplaySide.
	key := displayKey(t, u, ph.ID)
	res, data = g.get(u, ph.DisplayURL, chromeAccept)
	shown := displayJPEG(t, "HEIC display", res, data)
	w, h := imaging.DisplaySide, (400*imaging.DisplaySide+1300)/2600 // 2600×400 scaled to DisplaySide wide
	halvesShown(t, "HEIC display", shown, w, h, image.Pt(w/4, h/2), image.Pt(3*w/4, h/2))
	if cc := res.Header.Get("Cache-Control"); cc != ownCaching {
		t.Errorf("HEIC display: Cache-Control %q, want the thumbnail's %q", cc, ownCaching)
	}
	if _, err := g.objects.Head(ctx, key); err != nil {
		t.Fatalf("the display JPEG is not stored under %s: %v", key, err)
	}
	// Served from storage from now on: what is stored there is what is answered.
	marker := photo(t, 30, 20, 42)
	if err := g.objects.Put(ctx, key, bytes.NewReader(marker), int64(len(marker)), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	if res, data := g.get(u, ph.DisplayURL, chromeAccept); res.StatusCode != http.StatusOK || !bytes.Equal(data, marker) {
		t.Errorf("second HEIC display: %d, the stored JPEG: %v; want it served from storage, not made again", res.StatusCode, bytes.Equal(data, marker))
	}
	// The original is still the upload, byte for byte.
	if res, data := g.get(u, ph.OriginalURL, ""); res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/heic" || !bytes.Equal(data, heic) {
		t.Errorf("HEIC original: %d %s, the upload's bytes: %v", res.StatusCode, res.Header.Get("Content-Type"), bytes.Equal(data, heic))
	}

	// A TIFF whose EXIF turns it: shown upright, 400×600, red on top.
	res, data = g.get(u, pt.DisplayURL, chromeAccept)
	halvesShown(t, "TIFF display", displayJPEG(t, "TIFF display", res, data), 400, 600, image.Pt(200, 150), image.Pt(200, 450))

	// An AVIF: the original to a browser that says it displays AVIF, a JPEG elsewhere.
	res, data = g.get(u, pa.DisplayURL, chromeAccept)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/avif" || !bytes.Equal(data, avif) || !strings.Contains(res.Header.Get("Vary"), "Accept") {
		t.Errorf("AVIF display to a browser accepting AVIF: %d %s, Vary %q, the original's bytes: %v",
			res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Vary"), bytes.Equal(data, avif))
	}
	for _, accept := range []string{"", "image/webp,*/*", "image/avif;q=0,image/*"} {
		res, data = g.get(u, pa.DisplayURL, accept)
		halvesShown(t, "AVIF display for Accept "+accept, displayJPEG(t, "AVIF display for Accept "+accept, res, data), 300, 200, image.Pt(75, 100), image.Pt(225, 100))
	}

	// Another user's display is 404, as a missing image's.
	stranger := g.signUp("stranger")
	for _, img := range imgs {
		g.mustDo(stranger, "GET", img.DisplayURL, nil, http.StatusNotFound, nil)
	}
	g.mustDo(u, "GET", "/api/images/"+strings.Repeat("0", 32)+"/display", nil, http.StatusNotFound, nil)

	// A link to an album shows the display of its photos, and of nothing else.
	al := u.createAlbum("Phone")
	u.addToAlbum(al, ph, pt)
	sh := u.share(map[string]any{"albumId": al.ID})
	base := "/api/shared/" + sh.Token
	var p sharedPageJSON
	g.mustDo(nil, "GET", base+"/images", nil, http.StatusOK, &p)
	if len(p.Images) != 2 {
		t.Fatalf("shared album images = %v", sharedIDs(p))
	}
	for _, img := range p.Images {
		if img.DisplayURL != base+"/images/"+img.ID+"/display" {
			t.Errorf("shared displayUrl %q", img.DisplayURL)
		}
	}
	res, data = g.get(nil, base+"/images/"+ph.ID+"/display", chromeAccept)
	if res.StatusCode != http.StatusOK || !bytes.Equal(data, marker) || res.Header.Get("Cache-Control") != "private, max-age=300" || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("HEIC display through the link: %d, the stored JPEG: %v, Cache-Control %q, Referrer-Policy %q",
			res.StatusCode, bytes.Equal(data, marker), res.Header.Get("Cache-Control"), res.Header.Get("Referrer-Policy"))
	}
	res, data = g.get(nil, base+"/images/"+pt.ID+"/display", chromeAccept)
	displayJPEG(t, "TIFF display through the link", res, data)
	for _, id := range []string{pj.ID, pa.ID, strings.Repeat("0", 32)} {
		g.mustDo(nil, "GET", base+"/images/"+id+"/display", nil, http.StatusNotFound, nil)
	}

	// Deleting an image deletes its display JPEG; deleting them all leaves nothing.
	g.mustDo(u, "DELETE", "/api/images/"+ph.ID, nil, http.StatusNoContent, nil)
	if _, err := g.objects.Head(ctx, key); !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("the display JPEG of a deleted image: Head = %v, want ErrNotFound", err)
	}
	for _, img := range []imageJSON{pj, pt, pa} {
		g.mustDo(u, "DELETE", "/api/images/"+img.ID, nil, http.StatusNoContent, nil)
	}
	if n := g.countObjects(); n != 0 {
		t.Errorf("storage holds %d objects after every image was deleted, want none", n)
	}
}

// TestDisplayMadeOnce: requests for a display JPEG not made yet, all at once, share
// one decode and get the same picture.
func TestDisplayMadeOnce(t *testing.T) {
	t.Parallel()
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("crowd")
	img := u.upload(file{"IMG_0002.HEIC", heicHalves(t, 1600, 1200)})[0]
	const n = 8
	answers := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, data := g.get(u, img.DisplayURL, chromeAccept)
			if res.StatusCode == http.StatusOK {
				answers[i] = data
			}
		})
	}
	wg.Wait()
	for i, a := range answers {
		if len(a) == 0 || !bytes.Equal(a, answers[0]) {
			t.Fatalf("answer %d: %d bytes, the same as the first: %v", i, len(a), bytes.Equal(a, answers[0]))
		}
	}
	made := 0
	for line := range strings.SplitSeq(g.logs.String(), "\n") {
		var l struct{ Msg, ImageID string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "made display image" && l.ImageID == img.ID {
			made++
		}
	}
	if made != 1 {
		t.Errorf("the display JPEG was made %d times for %d requests at once, want once", made, n)
	}
}

// TestDisplayDecodeBudget: a photo whose decode cannot fit the process's decode budget
// is refused with 413 and the imaging package's reason, and nothing is stored; not
// parallel, as the budget is the process's.
func TestDisplayDecodeBudget(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("budget")
	img := u.upload(file{"IMG_0003.HEIC", heicHalves(t, 640, 480)})[0]

	prev := imaging.DecodeMemoryBudget()
	t.Cleanup(func() { imaging.SetDecodeMemory(prev) })
	imaging.SetDecodeMemory(1 << 20)
	res, data := g.get(u, img.DisplayURL, chromeAccept)
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(data, &e)
	if res.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != "too_large_to_decode" || !strings.Contains(e.Error.Message, "640×480") {
		t.Errorf("display over the decode budget = %d %s, want 413 too_large_to_decode naming the size", res.StatusCode, data)
	}
	if _, err := g.objects.Head(context.Background(), displayKey(t, u, img.ID)); !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("a display JPEG was stored for a refused decode: %v", err)
	}

	imaging.SetDecodeMemory(prev)
	res, data = g.get(u, img.DisplayURL, chromeAccept)
	if b := displayJPEG(t, "display within the budget", res, data).Bounds(); b.Dx() != 640 || b.Dy() != 480 {
		t.Errorf("display within the budget is %d×%d, want 640×480 (never enlarged)", b.Dx(), b.Dy())
	}
}
