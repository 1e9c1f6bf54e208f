package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

// gallery is a running gallery: its API's base URL and its processes.
type gallery struct {
	base     string
	settings string
	procs    []*process
	// check reports what went wrong behind the API once a round is over (the local
	// DetectLabels endpoint refusing calls); nil when there is nothing to check.
	check func() error
}

// scenario starts one way of running the gallery.
type scenario struct {
	name  string
	start func(b *testing.B) *gallery
}

var scenarios = []scenario{
	// The embedded default: one `sortographer serve` with SQLite, files on disk, the
	// in-process queue and workers, and the built-in model.
	{"embedded-builtin", startEmbedded},
	// Server and workers apart, as the operator runs them: `serve` (no in-process workers)
	// and `work` processes sharing a real redis-server for the queue, and one data
	// directory for SQLite and the photos; the workers call Rekognition through the SDK
	// (the local endpoint).
	{"serve+work-rekognition", startServeWork},
}

func startEmbedded(b *testing.B) *gallery {
	dir := b.TempDir()
	addr := testenv.FreeAddr(b)
	env := galleryEnv(
		config.EnvGalleryName+"=bench",
		config.EnvListenAddr+"="+addr,
		config.EnvMetricsAddr+"="+testenv.FreeAddr(b),
		config.EnvDataDir+"="+dir,
		config.EnvModelDir+"="+modelDir(b),
		config.EnvClassifier+"="+config.ClassifierBuiltin,
		config.EnvInProcessWorkers+"=true",
		config.EnvShutdownGrace+"=10s",
	)
	serve := start(b, "serve", env, dir)
	base := "http://" + addr
	serve.waitReady(b, base+config.ReadinessPath)
	engine := serve.logField("loaded the built-in model", "engine")
	return &gallery{base: base, procs: []*process{serve},
		settings: settingsSummary(b, env) + ", engine " + engine}
}

func startServeWork(b *testing.B) *gallery {
	redis := testservers.Redis(b)
	endpoint, url := startDetectLabels(b, *latencyFlag)
	dir := b.TempDir()
	addr, workAddr := testenv.FreeAddr(b), testenv.FreeAddr(b)
	shared := []string{
		config.EnvGalleryName + "=bench",
		config.EnvDataDir + "=" + dir,
		config.EnvRedisAddr + "=" + redis.Addr(),
		config.EnvClassifier + "=" + config.ClassifierRekognition,
		config.EnvRekognitionRegion + "=eu-west-1",
		config.EnvRekognitionEndpoint + "=" + url,
		config.EnvShutdownGrace + "=10s",
		// Static made-up credentials, and nothing read from the machine.
		"AWS_ACCESS_KEY_ID=AKIDBENCHMARK", "AWS_SECRET_ACCESS_KEY=benchmark-secret",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
	}
	// Each process on its own metrics port, as each pod has its own.
	serveEnv := galleryEnv(append(shared, config.EnvListenAddr+"="+addr, config.EnvMetricsAddr+"="+testenv.FreeAddr(b), config.EnvInProcessWorkers+"=false")...)
	workEnv := galleryEnv(append(shared, config.EnvListenAddr+"="+workAddr, config.EnvMetricsAddr+"="+testenv.FreeAddr(b))...)
	serve := start(b, "serve", serveEnv, dir)
	base := "http://" + addr
	serve.waitReady(b, base+config.ReadinessPath)
	work := start(b, "work", workEnv, dir)
	work.waitReady(b, "http://"+workAddr+config.ReadinessPath)
	return &gallery{
		base: base, procs: []*process{serve, work},
		settings: settingsSummary(b, workEnv) + fmt.Sprintf(", DetectLabels %s", *latencyFlag),
		check: func() error {
			if n := endpoint.refused.Load(); n > 0 {
				return fmt.Errorf("the local DetectLabels endpoint refused %d requests", n)
			}
			return nil
		},
	}
}

// sample is one photo's trip.
type sample struct {
	sent       time.Time     // the client began the upload
	uploadTook time.Duration // until the upload was answered
	img        image         // as last seen; LabelledAt is the server's clock, same machine
}

func (s sample) latency() time.Duration { return s.img.LabelledAt.Sub(s.sent) }

// load is how photos are sent during a round.
type load struct {
	name string
	run  func(ctx context.Context, c *client, photos []upload, n int) ([]sample, error)
}

var loads = []load{
	// One user, one photo at a time: upload, wait until labelled, the next. The latency
	// of a photo in an idle gallery.
	{"serial", serial},
	// One user drops n photos at once from 4 connections, then waits for them all: the
	// latency includes the queue, and the throughput is the pipeline's.
	{"burst", burst},
}

// BenchmarkUploadToLabelled: the time from upload to labelled, end to end through the
// HTTP API, for each scenario and load. A round is -e2e.uploads photos; the metrics are
// over every round (one, unless -benchtime asks for more).
func BenchmarkUploadToLabelled(b *testing.B) {
	photos := loadPhotos(b)
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			g := sc.start(b)
			for _, ld := range loads {
				b.Run(ld.name, func(b *testing.B) { measure(b, g, sc.name, ld, photos) })
			}
			for _, p := range g.procs {
				if n := p.errorLines(); n > 0 {
					b.Errorf("sortographer %s logged %d errors:\n%s", p.name, n, p.tail(20))
				}
			}
		})
	}
}

func measure(b *testing.B, g *gallery, scenario string, ld load, photos []upload) {
	n := *uploadsFlag
	var all []sample
	var busy time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), *timeoutFlag)
		c, err := signUp(ctx, g.base)
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		got, err := ld.run(ctx, c, photos, n)
		cancel()
		if err != nil {
			b.Fatalf("%s round: %v", ld.name, err)
		}
		if g.check != nil {
			if err := g.check(); err != nil {
				b.Fatal(err)
			}
		}
		for _, s := range got {
			if s.img.Status != "labelled" || s.img.LabelledAt == nil {
				b.Fatalf("image %s ended %s: %s", s.img.ID, s.img.Status, s.img.FailureReason)
			}
		}
		busy += span(got)
		all = append(all, got...)
	}
	b.StopTimer()

	lat := make([]time.Duration, len(all))
	up := make([]time.Duration, len(all))
	for i, s := range all {
		lat[i], up[i] = s.latency(), s.uploadTook
	}
	r := row{
		scenario: scenario, load: ld.name, settings: g.settings, images: len(all),
		p50: percentile(lat, 50), p99: percentile(lat, 99), uploadP50: percentile(up, 50),
		perSecond: float64(len(all)) / busy.Seconds(),
	}
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(r.uploadP50.Microseconds())/1000, "upload-p50-ms")
	b.ReportMetric(r.perSecond, "images/s")
	addRow(r)
}

// span is a round's length: from the first upload sent to the last photo labelled.
func span(ss []sample) time.Duration {
	first, last := ss[0].sent, *ss[0].img.LabelledAt
	for _, s := range ss[1:] {
		if s.sent.Before(first) {
			first = s.sent
		}
		if s.img.LabelledAt.After(last) {
			last = *s.img.LabelledAt
		}
	}
	return last.Sub(first)
}

// percentile is the nearest-rank percentile p of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Polling intervals. The latency does not depend on them (labelledAt is the server's
// record); they only decide how soon the client notices, so they are kept long enough
// not to load the server much.
const (
	serialPoll = 20 * time.Millisecond
	burstPoll  = 100 * time.Millisecond
)

func serial(ctx context.Context, c *client, photos []upload, n int) ([]sample, error) {
	out := make([]sample, 0, n)
	for i := range n {
		s := sample{sent: time.Now()}
		img, err := c.upload(ctx, photos[i%len(photos)])
		if err != nil {
			return nil, err
		}
		s.uploadTook = time.Since(s.sent)
		for !img.final() {
			if err := sleep(ctx, serialPoll); err != nil {
				return nil, fmt.Errorf("image %d of %d not labelled in time (status %s): %w", i+1, n, img.Status, err)
			}
			if img, err = c.image(ctx, img.ID); err != nil {
				return nil, err
			}
		}
		s.img = img
		out = append(out, s)
	}
	return out, nil
}

// burstUploaders is how many uploads run at once in a burst, like a browser's.
const burstUploaders = 4

func burst(ctx context.Context, c *client, photos []upload, n int) ([]sample, error) {
	out := make([]sample, n)
	next := make(chan int)
	errs := make(chan error, burstUploaders)
	var wg sync.WaitGroup
	for range burstUploaders {
		wg.Go(func() {
			for i := range next {
				out[i].sent = time.Now()
				img, err := c.upload(ctx, photos[i%len(photos)])
				if err != nil {
					errs <- err
					return
				}
				out[i].uploadTook, out[i].img = time.Since(out[i].sent), img
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case err := <-errs:
			errs <- err
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}

	// The user is new, so their newest n images are exactly this round's.
	byID := make(map[string]*sample, n)
	for i := range out {
		byID[out[i].img.ID] = &out[i]
	}
	for {
		imgs, err := c.images(ctx, n)
		if err != nil {
			return nil, err
		}
		done := 0
		for _, img := range imgs {
			if s := byID[img.ID]; s != nil {
				s.img = img
				if img.final() {
					done++
				}
			}
		}
		if done == n {
			return out, nil
		}
		if err := sleep(ctx, burstPoll); err != nil {
			return nil, fmt.Errorf("%d of %d images labelled in time: %w", done, n, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(d):
		return nil
	}
}
