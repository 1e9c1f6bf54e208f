package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	stdimage "image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"mime/multipart"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

var (
	uploadRoundFlag = flag.Int("upload.count", 120, "1 MB uploads per concurrency level of BenchmarkUploadThroughput")
	upload12MPFlag  = flag.Int("upload.count-12mp", 48, "12 MP uploads per concurrency level of BenchmarkUploadThroughput")
)

// uploadsPerUser stays under the upload rate limit (60 requests a minute per user): a
// client signs up again after this many.
const uploadsPerUser = 50

// BenchmarkUploadThroughput: photos uploaded through the HTTP API of `sortographer
// serve` on MariaDB (both on this machine, files on disk, no workers running), at 1, 4
// and 16 at once, for two sets: 1mb, 1600×1200 JPEGs of about 1 MB, and 12mp, 4000×3000
// JPEGs, a phone camera's size. Every upload is distinct bytes (a numbered JPEG
// comment), so duplicate detection never short-cuts one. Reports images/s, MB/s and the
// upload's p50/p99 as the client sees it: receiving, inspecting, thumbnailing, storing,
// recording. Each level has a server of its own, started for it, so that its memory
// figures are that load's: ready-RSS-MiB, the server's resident memory once ready, and
// peak-RSS-MiB, its high-water mark (VmHWM) when the uploads are over, which is what a
// container's memory limit meets.
//
// go test ./test/bench -run '^$' -bench UploadThroughput -benchtime 1x
func BenchmarkUploadThroughput(b *testing.B) {
	db := testservers.MariaDB(b)
	ctx := context.Background()
	st, err := store.Open(ctx, db.Config(), "")
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	_ = st.Close()
	sets := []struct {
		name  string
		photo func(b *testing.B) []byte
		count int
	}{
		{"1mb", megabyteJPEG, *uploadRoundFlag},
		{"12mp", func(b *testing.B) []byte { return noisyJPEG(b, 4000, 3000) }, *upload12MPFlag},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			photo := set.photo(b)
			for _, workers := range []int{1, 4, 16} {
				b.Run("concurrency-"+strconv.Itoa(workers), func(b *testing.B) {
					serve, base := startUploadServer(b, db)
					ready, _ := serve.memory(b)
					var took []time.Duration
					var elapsed time.Duration
					var sent int64
					for b.Loop() {
						t, e, n := uploadRound(b, base, photo, workers, set.count)
						took, elapsed, sent = append(took, t...), elapsed+e, sent+n
					}
					b.StopTimer()
					_, peak := serve.memory(b)
					b.ReportMetric(float64(len(took))/elapsed.Seconds(), "images/s")
					b.ReportMetric(float64(sent)/1e6/elapsed.Seconds(), "MB/s")
					b.ReportMetric(float64(percentile(took, 50).Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(percentile(took, 99).Microseconds())/1000, "p99-ms")
					b.ReportMetric(float64(ready)/(1<<20), "ready-RSS-MiB")
					b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
					if n := serve.errorLines(); n > 0 {
						b.Errorf("sortographer serve logged %d errors:\n%s", n, serve.tail(20))
					}
				})
			}
		})
	}
}

// startUploadServer starts a `sortographer serve` of its own on db, with no workers,
// until the benchmark ends, and returns it with its API's base URL once it is ready.
func startUploadServer(b *testing.B, db testservers.Database) (*process, string) {
	b.Helper()
	dir := b.TempDir()
	addr := testenv.FreeAddr(b)
	env := galleryEnv(
		config.EnvGalleryName+"=bench",
		config.EnvListenAddr+"="+addr,
		config.EnvMetricsAddr+"="+testenv.FreeAddr(b),
		config.EnvDataDir+"="+dir,
		config.EnvDatabaseDriver+"="+config.DriverMySQL,
		config.EnvDatabaseHost+"="+db.Host,
		config.EnvDatabasePort+"="+strconv.Itoa(db.Port),
		config.EnvDatabaseName+"="+db.Name,
		config.EnvDatabaseUser+"="+db.User,
		config.EnvDatabasePassword+"="+db.Password,
		config.EnvInProcessWorkers+"=false",
		config.EnvShutdownGrace+"=10s",
	)
	serve := start(b, "serve", env, dir)
	base := "http://" + addr
	serve.waitReady(b, base+config.ReadinessPath)
	return serve, base
}

// uploadRound sends n distinct copies of photo from workers clients at once and returns
// each upload's time, the round's length and the bytes sent. Each copy is made as a
// client asks for the next one (copying a 12 MP photo takes a few milliseconds), so the
// benchmark holds no more of them than there are clients.
func uploadRound(b *testing.B, base string, photo []byte, workers, n int) ([]time.Duration, time.Duration, int64) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		mu    sync.Mutex
		took  []time.Duration
		sent  int64
		next  = make(chan upload)
		wg    sync.WaitGroup
		first error
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var c *client
			done := 0
			for u := range next {
				if c == nil || done == uploadsPerUser {
					var err error
					if c, err = signUp(ctx, base); err != nil {
						mu.Lock()
						first = err
						mu.Unlock()
						cancel()
						continue
					}
					done = 0
				}
				t0 := time.Now()
				_, err := c.upload(ctx, u)
				d := time.Since(t0)
				done++
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel()
				}
				took = append(took, d)
				sent += int64(len(u.body))
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- numbered(b, photo, i)
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		b.Fatalf("upload round: %v", first)
	}
	return took, elapsed, sent
}

// numbered is photo with a JPEG comment numbering the copy, as a multipart body.
func numbered(b *testing.B, photo []byte, k int) upload {
	comment := fmt.Appendf(nil, "sortographer upload bench %d %d", time.Now().UnixNano(), k)
	segment := append([]byte{0xff, 0xfe, byte((len(comment) + 2) >> 8), byte(len(comment) + 2)}, comment...)
	data := append(append(append([]byte{}, photo[:2]...), segment...), photo[2:]...)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("file", fmt.Sprintf("bench-%d.jpg", k))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = part.Write(data)
	_ = mw.Close()
	return upload{name: fmt.Sprintf("bench-%d.jpg", k), body: body.Bytes(), contentType: mw.FormDataContentType()}
}

// megabyteJPEG is a photo-like 1600×1200 JPEG of about 1 MB.
func megabyteJPEG(b *testing.B) []byte { return noisyJPEG(b, 1600, 1200) }

// noisyJPEG is a photo-like w×h JPEG: gradients plus noise at quality 90, the same
// recipe as internal/imaging's thumbnail benchmark (4000×3000 is about 6 MB).
func noisyJPEG(b *testing.B, w, h int) []byte {
	b.Helper()
	img := stdimage.NewRGBA(stdimage.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(5, 6))
	for y := range h {
		for x := range w {
			n := rng.IntN(64)
			img.SetRGBA(x, y, color.RGBA{R: uint8(x*255/w/2 + n), G: uint8(y*255/h/2 + n), B: uint8((x+y)%256/2 + n), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
