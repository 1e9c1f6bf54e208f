package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	awsrekognition "github.com/aws/aws-sdk-go-v2/service/rekognition"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/rekognition"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/worker"
)

func init() { commands["work"] = work }

// classifierFactories build the classifier that SORTOGRAPHER_CLASSIFIER names. limiter
// is the Gallery-wide provider pace, for classifiers that retry by themselves. The
// built-in model registers itself from its own file.
var classifierFactories = map[string]func(ctx context.Context, cfg config.Config, log *slog.Logger, limiter ratelimit.Pacer) (classify.Classifier, error){
	config.ClassifierRekognition: newRekognition,
}

// searchExampleSources give the words the web UI's search box suggests (GET /api/me)
// for the classifier that SORTOGRAPHER_CLASSIFIER names: only words it can give. The
// built-in model registers its own from its file.
var searchExampleSources = map[string]func(cfg config.Config, log *slog.Logger) []string{
	config.ClassifierRekognition: func(config.Config, *slog.Logger) []string { return rekognition.SearchExamples() },
}

// searchExamples are the configured classifier's search examples; none for one this
// binary does not know (newClassifier says so where it matters, in the workers).
func searchExamples(cfg config.Config, log *slog.Logger) []string {
	if f, ok := searchExampleSources[cfg.Workers.Classifier]; ok {
		return f(cfg, log)
	}
	return nil
}

// newClassifier builds the configured classifier, for `work` and for the workers inside
// `serve`.
func newClassifier(ctx context.Context, cfg config.Config, log *slog.Logger, limiter ratelimit.Pacer) (classify.Classifier, error) {
	f, ok := classifierFactories[cfg.Workers.Classifier]
	if !ok {
		var known []string
		for k := range classifierFactories {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("%s: classifier %q is not built into this binary (have %s)", config.EnvClassifier, cfg.Workers.Classifier, strings.Join(known, ", "))
	}
	c, err := f(ctx, cfg, log, limiter)
	if err != nil {
		return nil, fmt.Errorf("start %s classifier: %w", cfg.Workers.Classifier, err)
	}
	return c, nil
}

func newRekognition(ctx context.Context, cfg config.Config, _ *slog.Logger, limiter ratelimit.Pacer) (classify.Classifier, error) {
	client, opts, err := rekognitionSetup(ctx, cfg, limiter)
	if err != nil {
		return nil, err
	}
	return rekognition.New(client, opts), nil
}

// rekognitionSetup is the Rekognition client and options the classifier and the
// DetectText reader share: the region and endpoint, the labels' confidence and count,
// S3 references when Rekognition can read the originals itself, the provider pace for
// its retries and a call timeout within the job's visibility.
func rekognitionSetup(ctx context.Context, cfg config.Config, limiter ratelimit.Pacer) (*awsrekognition.Client, rekognition.Options, error) {
	w := cfg.Workers
	client, err := rekognition.NewClient(ctx, w.RekognitionRegion, w.RekognitionEndpoint)
	if err != nil {
		return nil, rekognition.Options{}, err
	}
	// Rekognition reads an S3 object only from AWS S3 in its own region.
	s := cfg.Storage
	useS3 := s.Backend == config.StorageS3 && s.S3Endpoint == "" &&
		(s.S3Region == "" || w.RekognitionRegion == "" || s.S3Region == w.RekognitionRegion)
	return client, rekognition.Options{
		MinConfidence: w.RekognitionMinConfidence,
		MaxLabels:     w.RekognitionMaxLabels,
		UseS3:         useS3,
		RetryLimiter:  limiter,
		CallTimeout:   min(w.VisibilityTimeout/2, 30*time.Second),
	}, nil
}

// schemaWait is how long `work` waits for `serve` to migrate the database.
const schemaWait = 10 * time.Minute

// work runs classification workers against the Gallery's Redis queue until ctx ends
// (SIGTERM), then drains within SORTOGRAPHER_SHUTDOWN_GRACE. It serves
// config.LivenessPath and config.ReadinessPath on the listen address, and /metrics on
// the metrics address.
func work(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if cfg.Redis.Addr == "" {
		return fmt.Errorf("work: %s is not set; without Redis the workers run inside `sortographer serve`", config.EnvRedisAddr)
	}
	rt, err := startRuntime(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	st, obj, rc := rt.store, rt.objects, rt.redis
	if err := waitForSchema(ctx, st, log); err != nil {
		return err
	}
	q := queue.NewRedis(rc, cfg.GalleryName, queue.Options{VisibilityTimeout: cfg.Workers.VisibilityTimeout})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	limiter := worker.ProviderLimiter(cfg, rc, log)
	classifier, err := newClassifier(ctx, cfg, log, limiter)
	if err != nil {
		return err
	}
	textReader, err := startTextReader(ctx, cfg, log, limiter)
	if err != nil {
		return err
	}

	// Probes on the listen address, metrics on the metrics address; both bound before
	// any job is taken, and either failing stops the worker: a worker the kubelet cannot
	// probe or Prometheus cannot scrape is invisible.
	probes := http.NewServeMux()
	probes.HandleFunc("GET "+config.LivenessPath, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	probes.Handle("GET "+config.ReadinessPath, api.ReadinessHandler([]api.Check{
		{Name: "database", Ping: st.Ping},
		{Name: "redis", Ping: func(ctx context.Context) error { return rc.Ping(ctx).Err() }},
	}, log))
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen for probes on %s: %w", cfg.ListenAddr, err)
	}
	srv := &http.Server{Handler: probes, ReadHeaderTimeout: 10 * time.Second}
	metrics, err := startMetricsServer(ctx, cfg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srvErr := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srvErr <- fmt.Errorf("serve worker probes on %s: %w", ln.Addr(), err)
		}
	}()
	log.Info("worker listening for probes", "addr", ln.Addr().String(), "consumer", q.Consumer())

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	failed := make(chan error, 1)
	go func() {
		var err error
		select {
		case err = <-srvErr:
		case err = <-metrics.Failed():
		case <-runCtx.Done():
			return
		}
		log.Error("worker HTTP server failed: stopping", "error", err)
		failed <- err
		stop()
	}()
	// Committing labels invalidates the owner's label counts that the servers cache.
	cached := cache.NewStore(st, cache.NewRedis(rc, cfg.GalleryName, cache.Options{}, log), log)
	err = worker.Run(runCtx, worker.Deps{
		Config: cfg, Store: cached, Objects: obj, Queue: q, Producer: q, Classifier: classifier, TextReader: textReader,
		Redis: rc, Logger: log, Metrics: reg, ProviderLimiter: limiter,
		// The owner of an image just labelled or failed reads from the database writer for a while.
		RecentWrites: newRecentWrites(cfg, rc, log),
	})
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	_ = metrics.Shutdown(shutdownCtx)
	select {
	case serveErr := <-failed:
		return errors.Join(err, serveErr)
	default:
		return err
	}
}

// waitForSchema waits until `serve` has migrated the database to what this build
// expects: workers never migrate, so a rolling upgrade cannot race two migrators.
func waitForSchema(ctx context.Context, st store.Store, log *slog.Logger) error {
	deadline := time.Now().Add(schemaWait)
	logged := false
	for {
		v, err := st.SchemaVersion(ctx)
		if err == nil && v >= store.LatestSchemaVersion {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("database schema is at version %d (err: %w), this worker needs %d: is `sortographer serve` running?", v, err, store.LatestSchemaVersion)
		}
		if !logged {
			log.Info("waiting for the server to migrate the database", "have", v, "want", store.LatestSchemaVersion)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
