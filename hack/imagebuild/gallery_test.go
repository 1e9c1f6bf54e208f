package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sortographer/sortographer/internal/ociarchive"
	"github.com/sortographer/sortographer/internal/testenv"
)

// The gallery images `make images` builds (make test builds them first): this machine's
// architecture's, and linux/arm64's, cross-built (make image-gallery-arm64).
var (
	galleryArchive      = filepath.Join(testenv.RepoRoot(), "dist", "images", "gallery.tar")
	galleryArm64Archive = filepath.Join(testenv.RepoRoot(), "dist", "images", "gallery-arm64.tar")
)

// qemuAarch64 runs arm64 programs on this machine (qemu-user-static: a static binary,
// so it runs inside a chroot that holds nothing of this machine's).
const qemuAarch64 = "/usr/bin/qemu-aarch64-static"

// TestGalleryImageRuns: each gallery image as `make images` built it, unpacked into an
// empty folder, runs `/sortographer thumbnail` and `/sortographer classify` chrooted
// there as the image's user and in its environment — the arm64 image's binary through
// qemu-aarch64-static, copied into the chroot. The thumbnail, of a HEIC that heif-enc
// made from a picture half red, half blue, is a JPEG of the right size and colours, so
// the binary found libvips and every library it links, and libvips loaded its HEIF
// module (vips-heif.so, which no ldd of the binary lists) and libheif's decoders from the
// image alone, with no warning (VIPS-WARNING); classify labels darknet's dog.jpg "dog" with ONNX
// Runtime, so the image's libonnxruntime loads and runs the built-in model; read-text
// reads an English and a Korean line that ImageMagick wrote on a whiteboard-like
// picture, so libtesseract, leptonica and the eng and kor language data load from the
// image.
func TestGalleryImageRuns(t *testing.T) {
	testenv.NeedRoot(t, "to unpack the image with its owners and chroot into it")
	for _, c := range []struct {
		archive, arch string
		emulator      string // runs the entrypoint; "" for none
	}{
		{galleryArchive, runtime.GOARCH, ""},
		{galleryArm64Archive, "arm64", qemuAarch64},
	} {
		t.Run(filepath.Base(c.archive), func(t *testing.T) {
			if c.emulator != "" {
				if _, err := os.Stat(c.emulator); err != nil {
					t.Fatalf("%v (hack/install-deps.sh installs qemu-user-static)", err)
				}
			}
			testGalleryImageRuns(t, c.archive, c.arch, c.emulator)
		})
	}
}

func testGalleryImageRuns(t *testing.T, archive, arch, emulator string) {
	if _, err := os.Stat(archive); err != nil {
		why := fmt.Sprintf("the gallery image is missing: run make images (make test does): %v", err)
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(why)
		}
		t.Fatal(why)
	}
	img, _, err := ociarchive.Read(archive, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != arch || cf.OS != "linux" {
		t.Fatalf("%s is for %s/%s, want linux/%s", archive, cf.OS, cf.Architecture, arch)
	}
	root := testenv.UnpackImage(t, img)
	argv := cf.Config.Entrypoint
	if emulator != "" {
		b, err := os.ReadFile(emulator)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "emulator"), b, 0o755); err != nil {
			t.Fatal(err)
		}
		argv = append([]string{"/emulator"}, argv...)
	}
	inImage := func(args ...string) (stdout, stderr string) {
		t.Helper()
		uid, gid := imageUser(t, cf.Config.User)
		cmd := exec.Command(argv[0], append(argv[1:], args...)...)
		cmd.Dir = cf.Config.WorkingDir
		cmd.Env = cf.Config.Env
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		var out, log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &log
		if err := cmd.Run(); err != nil {
			t.Fatalf("sortographer %s in the image: %v\n%s%s", strings.Join(args, " "), err, out.String(), log.String())
		}
		// ONNX Runtime's cpuinfo complains of /sys, which a chroot lacks and a container has.
		if s := strings.ToLower(log.String()); strings.Contains(s, "unable to load") || strings.Contains(s, "vips-warning") {
			t.Errorf("libvips warned in the image:\n%s", log.String())
		}
		return out.String(), log.String()
	}

	const w, h = 1200, 800
	if err := os.WriteFile(filepath.Join(root, "tmp", "photo.heic"), halvesHEIC(t, w, h), 0o644); err != nil {
		t.Fatal(err)
	}
	_, log := inImage("thumbnail", "/tmp/photo.heic", "/tmp/thumb.jpg")
	b, err := os.ReadFile(filepath.Join(root, "tmp", "thumb.jpg"))
	if err != nil {
		t.Fatalf("no thumbnail written: %v\n%s", err, log)
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

	dog, err := os.ReadFile("/usr/share/darknet/data/dog.jpg")
	if err != nil {
		t.Fatalf("%v (hack/install-deps.sh installs darknet)", err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp", "dog.jpg"), dog, 0o644); err != nil {
		t.Fatal(err)
	}
	out, log := inImage("classify", "/tmp/dog.jpg")
	var classified struct {
		Engine string
		Labels []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out), &classified); err != nil {
		t.Fatalf("classify printed no JSON: %v\n%s%s", err, out, log)
	}
	labels := make([]string, len(classified.Labels))
	for i, l := range classified.Labels {
		labels[i] = l.Name
	}
	if classified.Engine != "onnxruntime" || !slices.Contains(labels, "dog") {
		t.Errorf("classify in the image: engine %q, labels %q; want onnxruntime and a dog\n%s", classified.Engine, labels, log)
	}

	if err := os.WriteFile(filepath.Join(root, "tmp", "board.jpg"), whiteboard(t), 0o644); err != nil {
		t.Fatal(err)
	}
	out, log = inImage("read-text", "/tmp/board.jpg")
	var read struct {
		Model, Content string
	}
	if err := json.Unmarshal([]byte(out), &read); err != nil {
		t.Fatalf("read-text printed no JSON: %v\n%s%s", err, out, log)
	}
	words := strings.Fields(read.Content)
	for _, w := range []string{"SORTOGRAPHER", "receipt", "서울", "지하철", "안내"} {
		if !slices.Contains(words, w) {
			t.Errorf("read-text in the image: %q not read in %q (model %s)\n%s", w, read.Content, read.Model, log)
		}
	}
}

// whiteboard is a JPEG of two lines, English and Korean, dark on a light gradient, that
// ImageMagick (imagemagick, by its Debian name) writes in Noto Sans CJK (fonts-noto-cjk).
func whiteboard(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "board.jpg")
	cmd := exec.Command("convert-im6.q16", "-size", "800x300", "gradient:#f4f1e8-#cfcabd",
		"-font", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "-fill", "#1a1a1a", "-pointsize", "48",
		"-annotate", "+50+110", "SORTOGRAPHER receipt", "-annotate", "+50+200", "서울 지하철 안내", "-quality", "90", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("convert-im6.q16 (hack/install-deps.sh installs imagemagick and fonts-noto-cjk): %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
