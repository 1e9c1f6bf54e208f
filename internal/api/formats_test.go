package api_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// heic is a w×h HEIC made by Debian's heif-enc (libheif-examples, which
// hack/install-deps.sh installs) from one of photo's JPEGs.
func heic(t *testing.T, w, h int, seed uint64) []byte {
	t.Helper()
	enc, err := exec.LookPath("heif-enc")
	if err != nil {
		t.Fatalf("heif-enc not found: run hack/install-deps.sh: %v", err)
	}
	dir := t.TempDir()
	src, out := filepath.Join(dir, "photo.jpg"), filepath.Join(dir, "photo.heic")
	if err := os.WriteFile(src, photo(t, w, h, seed), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(enc, "-q", "80", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("heif-enc: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exifPhoto is a 40×20 JPEG whose EXIF, written by Debian's exiftool
// (libimage-exiftool-perl, which hack/install-deps.sh installs), says orientation 6 and
// taken 2021-07-14 09:30 at +02:00.
func exifPhoto(t *testing.T) []byte {
	t.Helper()
	tool, err := exec.LookPath("exiftool")
	if err != nil {
		t.Fatalf("exiftool not found: run hack/install-deps.sh: %v", err)
	}
	p := filepath.Join(t.TempDir(), "exif.jpg")
	if err := os.WriteFile(p, photo(t, 40, 20, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(tool, "-q", "-overwrite_original", "-n", "-Orientation=6",
		"-DateTimeOriginal=2021:07:14 09:30:00", "-OffsetTimeOriginal=+02:00", p).CombinedOutput(); err != nil {
		t.Fatalf("exiftool: %v\n%s", err, b)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUploadFormats: a phone's HEIC is accepted, stored byte for byte as image/heic, and
// gets a JPEG thumbnail; a RAW that is not read and a decompression bomb are refused
// with a status and a message that say why, and nothing is kept.
func TestUploadFormats(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("phone")

	original := heic(t, 640, 480, 21)
	img := u.upload(file{"IMG_0001.HEIC", original})[0]
	if img.ContentType != "image/heic" || img.Width != 640 || img.Height != 480 {
		t.Errorf("uploaded HEIC: content type %q, %d×%d; want image/heic, 640×480", img.ContentType, img.Width, img.Height)
	}
	res, stored := g.do(u, "GET", img.OriginalURL, nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/heic" || !bytes.Equal(stored, original) {
		t.Errorf("original: %d %s, %d bytes equal to the upload: %v", res.StatusCode, res.Header.Get("Content-Type"), len(stored), bytes.Equal(stored, original))
	}
	res, thumb := g.do(u, "GET", img.ThumbnailURL, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("thumbnail: %d", res.StatusCode)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb))
	if err != nil || cfg.Width != 400 || cfg.Height != 300 {
		t.Errorf("thumbnail: %d×%d JPEG (%v), want 400×300", cfg.Width, cfg.Height, err)
	}

	// One 10000×10000 frame: 68 KB that libnsgif decodes onto a 400 MB canvas.
	var bomb bytes.Buffer
	if err := gif.Encode(&bomb, image.NewPaletted(image.Rect(0, 0, 10_000, 10_000), color.Palette{color.White, color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	// A gallery of its own: assertEmpty checks all of storage and the queue.
	g = newGallery(t, sqlite, filesystem)
	v := g.signUp("refused")
	for _, c := range []struct {
		name string
		f    file
		want int
		code string
		says string
	}{
		{"canon cr3", file{"IMG_0002.CR3", []byte("\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom")}, http.StatusUnsupportedMediaType, "unsupported_type", "Canon CR3"},
		{"fujifilm raf", file{"DSCF0003.RAF", []byte("FUJIFILMCCD-RAW 0201FF383501")}, http.StatusUnsupportedMediaType, "unsupported_type", "Fujifilm RAF"},
		{"gif bomb within MaxPixels", file{"bomb.gif", bomb.Bytes()}, http.StatusRequestEntityTooLarge, "too_large_to_decode", "10000×10000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, data := g.do(v, "POST", "/api/images", multipartBody(t, c.f))
			var e struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(data, &e)
			if res.StatusCode != c.want || e.Error.Code != c.code || !strings.Contains(e.Error.Message, c.says) || !strings.HasPrefix(e.Error.Message, c.f.name+": ") {
				t.Errorf("= %d %s, want %d %s naming the file and saying %q", res.StatusCode, data, c.want, c.code, c.says)
			}
			g.assertEmpty(v)
		})
	}
}
