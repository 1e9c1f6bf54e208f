package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sortographer/sortographer/internal/ociarchive"
	"github.com/sortographer/sortographer/internal/testenv"
)

// galleryArchive is the gallery image `make images` builds (make test builds it first).
var galleryArchive = filepath.Join(testenv.RepoRoot(), "dist", "images", "gallery.tar")

// TestGalleryImageThumbnailsHEIC: the gallery image as `make images` built it, unpacked
// into an empty folder, runs `/sortographer thumbnail` chrooted there as the image's
// user and in its environment, on a HEIC that heif-enc made from a picture half red,
// half blue. The thumbnail is a JPEG of the right size and colours, so the binary found
// libvips and every library it links, and libvips loaded its HEIF module
// (vips-heif.so, which no ldd of the binary lists) and libheif's decoders from the
// image alone; libvips warned of no module it could not load.
func TestGalleryImageThumbnailsHEIC(t *testing.T) {
	testenv.NeedRoot(t, "to unpack the image with its owners and chroot into it")
	if _, err := os.Stat(galleryArchive); err != nil {
		why := fmt.Sprintf("the gallery image is missing: run make images (make test does): %v", err)
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(why)
		}
		t.Fatal(why)
	}
	img, _, err := ociarchive.Read(galleryArchive, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	root := testenv.UnpackImage(t, img)

	const w, h = 1200, 800
	heic := halvesHEIC(t, w, h)
	if err := os.WriteFile(filepath.Join(root, "tmp", "photo.heic"), heic, 0o644); err != nil {
		t.Fatal(err)
	}
	uid, gid := imageUser(t, cf.Config.User)
	cmd := exec.Command(cf.Config.Entrypoint[0], "thumbnail", "/tmp/photo.heic", "/tmp/thumb.jpg")
	cmd.Dir = cf.Config.WorkingDir
	cmd.Env = cf.Config.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sortographer thumbnail in the image: %v\n%s", err, out)
	}
	if s := strings.ToLower(string(out)); strings.Contains(s, "unable to load") || strings.Contains(s, "warning") {
		t.Errorf("libvips warned in the image:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(root, "tmp", "thumb.jpg"))
	if err != nil {
		t.Fatalf("no thumbnail written: %v\n%s", err, out)
	}
	thumb, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the thumbnail is no JPEG: %v", err)
	}
	if got := thumb.Bounds().Size(); got != image.Pt(400, 267) {
		t.Errorf("thumbnail %v, want 400×267 (the 1200×800 HEIC fit in 400 px)", got)
	}
	for _, c := range []struct {
		x    int
		want string
	}{{50, "red"}, {350, "blue"}} {
		if got := hue(thumb.At(c.x, 133)); got != c.want {
			t.Errorf("thumbnail at x=%d is %s (%v), want %s", c.x, got, thumb.At(c.x, 133), c.want)
		}
	}
}

// halvesHEIC is a w×h HEIC, red on the left and blue on the right, made by heif-enc
// (libheif-examples) from a PNG.
func halvesHEIC(t *testing.T, w, h int) []byte {
	t.Helper()
	pic := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{R: 220, G: 30, B: 30, A: 255}
			if x >= w/2 {
				c = color.RGBA{R: 30, G: 30, B: 220, A: 255}
			}
			pic.SetRGBA(x, y, c)
		}
	}
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "photo.png"), filepath.Join(dir, "photo.heic")
	var buf bytes.Buffer
	if err := png.Encode(&buf, pic); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("heif-enc", "-q", "80", "-o", dst, src).CombinedOutput(); err != nil {
		t.Fatalf("heif-enc (hack/install-deps.sh installs libheif-examples): %v\n%s", err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[4:12]) != "ftypheic" {
		t.Fatalf("heif-enc made no HEIC: starts %q", b[:min(len(b), 12)])
	}
	return b
}

// hue names the dominant channel of c, or "grey".
func hue(c color.Color) string {
	r, g, b, _ := c.RGBA()
	switch {
	case r > 2*g && r > 2*b:
		return "red"
	case b > 2*r && b > 2*g:
		return "blue"
	case g > 2*r && g > 2*b:
		return "green"
	}
	return "grey"
}

// imageUser is the numeric UID:GID of an image's configuration.
func imageUser(t *testing.T, user string) (uint32, uint32) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("image user %q is not numeric UID:GID", user)
	}
	return uint32(uid), uint32(gid)
}
