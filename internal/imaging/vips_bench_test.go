package imaging

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkThumbnailVsVips makes thumbnails of the same files, to the same 400 px box
// and JPEG quality, with our InspectBytes and Thumbnail (what an upload runs) and with
// libvips' vipsthumbnail (Debian's libvips-tools, hack/install-deps.sh), in the same run,
// and reports images per second of each and ours/vips, the ratio of the two (the target
// is at least 0.9). Both run on one thread: vipsthumbnail with VIPS_CONCURRENCY=1, ours
// with the concurrency 1 that Startup gives libvips; vips-all-threads lets libvips use
// every core. vipsthumbnail runs once for a whole set, whose files are repeated (under
// names of their own, so no cache of libvips takes one for another) until the set is
// about a second of its work: its start-up, about 50 ms (it loads every libvips module,
// ImageMagick's among them), is then about a twentieth of what is measured, not a third
// of it as with darknet's seven photos alone. Each set is one sub-benchmark:
//
//	darknet    Debian darknet's seven photos, 352×448 to 1352×900 (≤ 1.2 MP), ×8
//	2mp        four 1600×1200 photo-like JPEGs of about 1 MB (the upload benchmark's), ×8
//	12mp       two 4000×3000 JPEGs, a phone camera's size, ×5
//	12mp-heic  a 4000×3000 HEIC that heif-enc (libheif-examples) makes from a 12mp JPEG
//	           as the benchmark starts (x265 at quality 50, no embedded thumbnail), ×2
//
// go test ./internal/imaging -run '^$' -bench ThumbnailVsVips -benchtime 3x
func BenchmarkThumbnailVsVips(b *testing.B) {
	vips, err := exec.LookPath("vipsthumbnail")
	if err != nil {
		b.Fatalf("vipsthumbnail not found: run hack/install-deps.sh (it installs libvips-tools): %v", err)
	}
	darknet, _ := filepath.Glob("/usr/share/darknet/data/*.jpg")
	if len(darknet) == 0 {
		b.Fatal("no photos in /usr/share/darknet/data: run hack/install-deps.sh (it installs darknet)")
	}
	sets := []struct {
		name   string
		files  func(dir string) []string
		copies int
	}{
		{"darknet", func(string) []string { return darknet }, 8},
		{"2mp", func(dir string) []string { return writeNoisyJPEGs(b, dir, 1600, 1200, 4) }, 8},
		{"12mp", func(dir string) []string { return writeNoisyJPEGs(b, dir, 4000, 3000, 2) }, 5},
		{"12mp-heic", func(dir string) []string { return []string{writeHEIC(b, dir, 4000, 3000)} }, 2},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			files := repeated(b, set.files(b.TempDir()), set.copies)
			datas := make([][]byte, len(files))
			for i, f := range files {
				if datas[i], err = os.ReadFile(f); err != nil {
					b.Fatal(err)
				}
			}
			out := b.TempDir()
			var ours, single, threaded time.Duration
			for b.Loop() {
				t0 := time.Now()
				for _, data := range datas {
					info, err := InspectBytes(data)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := Thumbnail(context.Background(), data, info); err != nil {
						b.Fatal(err)
					}
				}
				ours += time.Since(t0)
				single += runVips(b, vips, out, files, "1")
				threaded += runVips(b, vips, out, files, "")
			}
			n := float64(len(files) * b.N)
			b.ReportMetric(n/ours.Seconds(), "ours-images/s")
			b.ReportMetric(n/single.Seconds(), "vips-images/s")
			b.ReportMetric(n/threaded.Seconds(), "vips-all-threads-images/s")
			b.ReportMetric(single.Seconds()/ours.Seconds(), "ours/vips")
		})
	}
}

// runVips thumbnails files in one vipsthumbnail process into out, with concurrency
// threads ("" for libvips' default, every core), and returns how long it took.
func runVips(b *testing.B, vips, out string, files []string, concurrency string) time.Duration {
	b.Helper()
	args := append([]string{"--size", strconv.Itoa(ThumbnailSize) + "x" + strconv.Itoa(ThumbnailSize),
		"-o", filepath.Join(out, "%s.jpg") + "[Q=" + strconv.Itoa(ThumbnailQuality) + ",strip]"}, files...)
	cmd := exec.Command(vips, args...)
	cmd.Env = append(os.Environ(), "VIPS_CONCURRENCY="+concurrency)
	if concurrency == "" {
		cmd.Env = os.Environ()
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("vipsthumbnail: %v: %s", err, stderr.String())
	}
	took := time.Since(t0)
	for _, f := range files {
		name := filepath.Join(out, trimExt(filepath.Base(f))+".jpg")
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatalf("vipsthumbnail wrote no %s: %v", name, err)
		}
		info, err := InspectBytes(data)
		if err != nil || max(info.Width, info.Height) != ThumbnailSize {
			b.Fatalf("vipsthumbnail's %s: %+v, %v; want a %d px box", name, info, err, ThumbnailSize)
		}
	}
	return took
}

func trimExt(name string) string { return name[:len(name)-len(filepath.Ext(name))] }

// writeNoisyJPEGs writes n photo-like w×h JPEGs (gradients plus noise, quality 90) into
// dir and returns their paths.
func writeNoisyJPEGs(b *testing.B, dir string, w, h, n int) []string {
	b.Helper()
	var paths []string
	for k := range n {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		rng := rand.New(rand.NewPCG(uint64(k), 6))
		for y := range h {
			for x := range w {
				v := rng.IntN(64)
				img.SetRGBA(x, y, color.RGBA{R: uint8(x*255/w/2 + v), G: uint8(y*255/h/2 + v), B: uint8((x+y+k*40)%256/2 + v), A: 255})
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("noisy-%dx%d-%d.jpg", w, h, k))
		if err := os.WriteFile(p, encodeJPEG(b, img), 0o600); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// writeHEIC encodes one of writeNoisyJPEGs' w×h JPEGs as a HEIC with heif-enc into dir
// and returns its path. (x265 takes a quarter of a minute for a noisy 12 MP picture on
// a shared core, so the set repeats one file.)
func writeHEIC(b *testing.B, dir string, w, h int) string {
	b.Helper()
	heifEnc, err := exec.LookPath("heif-enc")
	if err != nil {
		b.Fatalf("heif-enc not found: run hack/install-deps.sh (it installs libheif-examples): %v", err)
	}
	src := writeNoisyJPEGs(b, b.TempDir(), w, h, 1)[0]
	p := filepath.Join(dir, fmt.Sprintf("noisy-%dx%d.heic", w, h))
	if out, err := exec.Command(heifEnc, "-q", "50", "-o", p, src).CombinedOutput(); err != nil {
		b.Fatalf("heif-enc: %v\n%s", err, out)
	}
	return p
}

// repeated is files, each copies times, as symlinks with names of their own in a new
// directory.
func repeated(b *testing.B, files []string, copies int) []string {
	b.Helper()
	dir := b.TempDir()
	var out []string
	for k := range copies {
		for _, f := range files {
			p := filepath.Join(dir, fmt.Sprintf("%s-%d%s", trimExt(filepath.Base(f)), k, filepath.Ext(f)))
			if err := os.Symlink(f, p); err != nil {
				b.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}
