package imaging

import (
	"bytes"
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
// and JPEG quality, with our Thumbnail and with libvips' vipsthumbnail (Debian's
// libvips-tools, hack/install-deps.sh), in the same run, and reports images per second
// of each and their ratio. Both run on one thread (vipsthumbnail with
// VIPS_CONCURRENCY=1, one process for the whole set, so its start-up is shared);
// vips-all-threads lets libvips use every core. Each set is one sub-benchmark:
//
//	darknet  Debian darknet's seven photos, 352×448 to 1352×900
//	2mp      1600×1200 photo-like JPEGs of about 1 MB (the upload benchmark's)
//	12mp     4000×3000, a phone camera's size
//
// go test ./internal/imaging -run '^$' -bench ThumbnailVsVips
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
		name  string
		files func(dir string) []string
	}{
		{"darknet", func(string) []string { return darknet }},
		{"2mp", func(dir string) []string { return writeNoisyJPEGs(b, dir, 1600, 1200, 4) }},
		{"12mp", func(dir string) []string { return writeNoisyJPEGs(b, dir, 4000, 3000, 2) }},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			dir := b.TempDir()
			files := set.files(dir)
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
					if _, err := Thumbnail(data, info); err != nil {
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
			b.ReportMetric(ours.Seconds()/single.Seconds(), "vips/ours")
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
