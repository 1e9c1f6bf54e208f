package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/worker"
)

// running is a worker.Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, d worker.Deps) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- worker.Run(ctx, d) }()
	t.Cleanup(func() {
		if err := r.stop(t, 10*time.Second); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker stopped with %v", err)
		}
	})
	return r
}

// stop cancels the worker and waits up to within for Run to return.
func (r *running) stop(t *testing.T, within time.Duration) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(within):
		t.Fatalf("worker did not stop within %s", within)
		return nil
	}
}

func fastTiming(t *testing.T) {
	t.Cleanup(worker.SetTiming(200*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond))
}

func workersConfig(f *fixture) config.Config {
	cfg := f.cfg
	cfg.Workers.Concurrency = 4
	cfg.Workers.IntakePerSecond = 1000
	cfg.Workers.BatchSize = 10
	cfg.Workers.ProviderRequestsPerSecond = 1000
	cfg.Workers.MaxAttempts = 3
	cfg.Workers.VisibilityTimeout = 2 * time.Second
	cfg.Workers.RequeueAfter = time.Hour
	cfg.ShutdownGrace = 5 * time.Second
	return cfg
}

func enqueueAll(t *testing.T, p queue.Producer, owner int64, ids []string) {
	t.Helper()
	for _, id := range ids {
		if err := p.Enqueue(context.Background(), queue.Job{ImageID: id, OwnerID: owner}); err != nil {
			t.Fatal(err)
		}
	}
}

// The embedded gallery: in-process queue, one worker, every outcome.
func TestPipelineInProcess(t *testing.T) {
	fastTiming(t)
	ctx := context.Background()
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	log := commitPath(t)
	q := queue.NewMemory(queue.Options{VisibilityTimeout: cfg.Workers.VisibilityTimeout})
	cls := newColourClassifier(0)
	reg := prometheus.NewRegistry()

	ids := f.addImages(30)
	good := ids[:26]
	permanent, flaky, broken, deleted := ids[26], ids[27], ids[28], ids[29]
	cls.on(permanent, func(int) error { return fmt.Errorf("%w: not a photo", classify.ErrPermanent) })
	cls.on(flaky, func(call int) error {
		if call < 3 {
			return errors.New("provider hiccup")
		}
		return nil
	})
	cls.on(broken, func(int) error { return errors.New("provider down") })
	if _, err := f.st.DeleteImage(ctx, f.owner.ID, deleted); err != nil {
		t.Fatal(err)
	}
	enqueueAll(t, q, f.owner.ID, ids)
	// A duplicate delivery of every good job: labels are written once anyway.
	enqueueAll(t, q, f.owner.ID, good)
	if pos, err := q.Position(ctx, ids[5]); err != nil || pos != 5 {
		t.Errorf("Position before the worker starts = %d, %v; want 5", pos, err)
	}

	w := start(t, worker.Deps{Config: cfg, Store: commitLog{f.st, log}, Objects: f.obj, Queue: q, Classifier: cls, Metrics: reg})
	imgs := f.waitSettled(ids[:29], 20*time.Second)
	f.checkLabelled(good)
	if got := imgs[flaky]; got.Status != store.StatusLabelled || cls.callsOf(flaky) != 3 {
		t.Errorf("flaky image: %s after %d calls; want labelled at the third", got.Status, cls.callsOf(flaky))
	}
	if got := imgs[permanent]; got.Status != store.StatusFailed || !strings.Contains(got.FailureReason, "not a photo") || cls.callsOf(permanent) != 1 {
		t.Errorf("permanent failure: %s %q after %d calls; want failed, not a photo, no retry", got.Status, got.FailureReason, cls.callsOf(permanent))
	}
	if got := imgs[broken]; got.Status != store.StatusFailed || !strings.Contains(got.FailureReason, "gave up after 3 attempts") || cls.callsOf(broken) != 3 {
		t.Errorf("transient failure: %s %q after %d calls; want failed after 3", got.Status, got.FailureReason, cls.callsOf(broken))
	}
	dead, _ := q.DeadLetters(ctx)
	if len(dead) != 1 || dead[0].Job.ImageID != broken {
		t.Errorf("dead letters = %+v, want only the broken image", dead)
	}
	// Wait for the queue to drain the duplicates, then count commits.
	deadline := time.Now().Add(5 * time.Second)
	for d, _ := q.Depth(ctx); d > 0 && time.Now().Before(deadline); d, _ = q.Depth(ctx) {
		time.Sleep(20 * time.Millisecond)
	}
	for id, n := range commits(t, log) {
		if n != 1 {
			t.Errorf("image %s: labels written %d times", id, n)
		}
	}
	if err := w.stop(t, 5*time.Second); err != nil {
		t.Errorf("Run returned %v", err)
	}
	for outcome, want := range map[string]float64{"labelled": 27, "duplicate": 26, "failed": 1, "dead_lettered": 1, "gone": 1, "retried": 4} {
		if got := testutil.ToFloat64(counter(t, reg, "sortographer_worker_jobs_total", outcome)); got != want {
			t.Errorf("jobs_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// counter finds one series of a counter vector in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == outcome {
					return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return 0 })
}

// On stop, a job that cannot finish within the grace is handed back, not lost, and Run
// returns within the grace.
func TestShutdownReleasesWhatCannotFinish(t *testing.T) {
	fastTiming(t)
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	cfg.ShutdownGrace = 4 * time.Second // 2s to finish, then release
	cfg.Workers.VisibilityTimeout = time.Minute
	q := queue.NewMemory(queue.Options{VisibilityTimeout: time.Minute})
	cls := newColourClassifier(0)
	ids := f.addImages(2)
	started := make(chan struct{}, 2)
	cls.on(ids[0], func(int) error { started <- struct{}{}; return nil })
	slow := ids[1]
	cls.on(slow, func(int) error { started <- struct{}{}; return nil })
	enqueueAll(t, q, f.owner.ID, ids)
	w := start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Classifier: blockingOnCtx{cls, slow}})
	<-started
	<-started
	begin := time.Now()
	if err := w.stop(t, cfg.ShutdownGrace+time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > cfg.ShutdownGrace {
		t.Errorf("stopped after %s, grace %s", took, cfg.ShutdownGrace)
	}
	// The slow one is back in the queue, as a first attempt still.
	ds, err := q.Take(context.Background(), 5, 100*time.Millisecond)
	if err != nil || len(ds) != 1 || ds[0].Job().ImageID != slow || ds[0].Attempt() != 1 {
		img, _ := f.st.ImageForJob(context.Background(), slow)
		t.Fatalf("after stop the queue holds %d jobs (%v); image %+v", len(ds), err, img)
	}
}

// blockingOnCtx makes one image's classification hang until its context ends, as a
// stalled provider call does.
type blockingOnCtx struct {
	*colourClassifier
	id string
}

func (b blockingOnCtx) Classify(ctx context.Context, img classify.Image) ([]classify.Label, error) {
	if img.ID == b.id {
		b.mu.Lock()
		b.calls[img.ID]++
		b.mu.Unlock()
		_ = b.behave[img.ID](1) // signals the start
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return b.colourClassifier.Classify(ctx, img)
}

// The sweep finds images whose job was lost (here: never enqueued) once they have been
// queued for longer than RequeueAfter.
func TestSweepReenqueuesLostJobs(t *testing.T) {
	fastTiming(t)
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	cfg.Workers.RequeueAfter = 300 * time.Millisecond
	q := queue.NewMemory(queue.Options{})
	ids := f.addImages(12)
	start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Classifier: newColourClassifier(0)})
	f.waitSettled(ids, 10*time.Second)
	f.checkLabelled(ids)
}
