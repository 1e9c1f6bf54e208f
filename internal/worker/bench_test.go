package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/worker"
)

// redisBenchmark runs redis-benchmark against addr with clients connections and returns
// its requests per second for the command given (e.g. "SET" or a full command line).
func redisBenchmark(b *testing.B, addr string, clients int, args ...string) float64 {
	b.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cmdArgs := append([]string{"-h", host, "-p", port, "-q", "-n", "5000", "-c", strconv.Itoa(clients)}, args...)
	out, err := exec.Command("redis-benchmark", cmdArgs...).CombinedOutput()
	if err != nil {
		b.Fatalf("redis-benchmark %v: %v\n%s (install redis-tools: hack/install-deps.sh)", cmdArgs, err, out)
	}
	// "SET: 41152.26 requests per second, p50=0.095 msec" (the last of the progress
	// lines separated by carriage returns).
	m := regexp.MustCompile(`([0-9.]+) requests per second`).FindAllSubmatch(out, -1)
	if len(m) == 0 {
		b.Fatalf("redis-benchmark output not understood: %q", out)
	}
	rps, _ := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
	return rps
}

// BenchmarkRedisQueue is one job's whole trip through the Redis queue (enqueue, take,
// acknowledge) from 4 goroutines, compared with redis-benchmark's SET and XADD from 4
// clients on the same server (appendfsync always, as the test server runs).
func BenchmarkRedisQueue(b *testing.B) {
	srv := testservers.Redis(b)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 16})
	defer rc.Close()
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 goroutines
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		q := queue.NewRedis(rc, "bench", queue.Options{})
		for pb.Next() {
			id := strconv.FormatInt(n.Add(1), 10)
			if err := q.Enqueue(ctx, queue.Job{ImageID: id, OwnerID: 1}); err != nil {
				b.Error(err)
				return
			}
			ds, err := q.Take(ctx, 1, time.Second)
			if err != nil {
				b.Error(err)
				return
			}
			for _, d := range ds {
				if err := d.Ack(ctx); err != nil {
					b.Error(err)
				}
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	jobs := float64(b.N) / elapsed.Seconds()
	set := redisBenchmark(b, srv.Addr(), 4, "-t", "set")
	xadd := redisBenchmark(b, srv.Addr(), 4, "XADD", "benchstream", "*", "image", "0123456789abcdef")
	b.ReportMetric(jobs, "jobs/s")
	b.ReportMetric(set, "redis-SET/s")
	b.ReportMetric(xadd, "redis-XADD/s")
	b.ReportMetric(jobs/set, "jobs-per-SET")
}

// BenchmarkWorkerNoop is worker.Run's throughput over Redis with a classifier and a
// database that do nothing: the cost of the queue, pacing and bookkeeping per job.
func BenchmarkWorkerNoop(b *testing.B) {
	srv := testservers.Redis(b)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 32})
	defer rc.Close()
	ctx := context.Background()
	q := queue.NewRedis(rc, "bench", queue.Options{})
	for i := range b.N {
		if err := q.Enqueue(ctx, queue.Job{ImageID: strconv.Itoa(i), OwnerID: 1}); err != nil {
			b.Fatal(err)
		}
	}
	cfg, _ := config.Load(nil)
	cfg.GalleryName = "bench"
	cfg.Workers.Concurrency = 16
	cfg.Workers.BatchSize = 16
	cfg.Workers.IntakePerSecond = 1e6
	cfg.Workers.ProviderRequestsPerSecond = 1e6
	st := &noopStore{want: int64(b.N), done: make(chan struct{})}
	runCtx, cancel := context.WithCancel(ctx)
	b.ResetTimer()
	start := time.Now()
	finished := make(chan error, 1)
	go func() {
		finished <- worker.Run(runCtx, worker.Deps{Config: cfg, Store: st, Objects: noopObjects{}, Queue: q, Classifier: noopClassifier{}, Redis: rc})
	}()
	select {
	case <-st.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("labelled %d of %d", st.n.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-finished; err != nil && !errors.Is(err, context.Canceled) {
		b.Fatalf("worker: %v", err)
	}
	jobs := float64(b.N) / elapsed.Seconds()
	set := redisBenchmark(b, srv.Addr(), 16, "-t", "set")
	b.ReportMetric(jobs, "jobs/s")
	b.ReportMetric(set, "redis-SET/s")
	b.ReportMetric(jobs/set, "jobs-per-SET")
}

type noopClassifier struct{}

func (noopClassifier) Provider() string { return "noop" }
func (noopClassifier) Model() string    { return "noop" }
func (noopClassifier) Classify(context.Context, classify.Image) ([]classify.Label, error) {
	return []classify.Label{{Name: "thing", Confidence: 99}}, nil
}

type noopObjects struct{ objects.Store }

func (noopObjects) Get(context.Context, string) (io.ReadCloser, objects.Info, error) {
	return io.NopCloser(bytes.NewReader([]byte("x"))), objects.Info{}, nil
}

// noopStore answers the worker's calls from memory.
type noopStore struct {
	want int64
	n    atomic.Int64
	once sync.Once
	done chan struct{}
}

func (s *noopStore) ImageForJob(_ context.Context, id string) (store.Image, error) {
	return store.Image{ID: id, OwnerID: 1, ObjectKey: "k", Status: store.StatusQueued}, nil
}
func (s *noopStore) RecordAttempt(context.Context, string) (int, error) { return 1, nil }
func (s *noopStore) StaleQueued(context.Context, time.Duration, int) ([]string, error) {
	return nil, nil
}
func (s *noopStore) PendingReclassification(context.Context, time.Time, int) ([]store.ReclassifyRequest, error) {
	return nil, nil // nothing marked: the drain loop idles
}
func (s *noopStore) MarkReclassifyEnqueued(context.Context, []store.ReclassifyRequest, time.Time) error {
	return nil
}
func (s *noopStore) FinishReclassification(context.Context, string, time.Time) error { return nil }
func (s *noopStore) SetLabels(context.Context, string, store.Classification) error {
	if s.n.Add(1) == s.want {
		s.once.Do(func() { close(s.done) })
	}
	return nil
}
func (s *noopStore) MarkFailed(_ context.Context, id, reason string) error {
	return fmt.Errorf("image %s failed: %s", id, reason)
}
