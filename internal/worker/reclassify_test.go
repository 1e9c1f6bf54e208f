package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/worker"
)

// labelOld labels images as an earlier classifier did.
func (f *fixture) labelOld(ids []string) {
	f.t.Helper()
	for _, id := range ids {
		err := f.st.SetLabels(context.Background(), id, store.Classification{
			Provider: "old", Model: "v0", Labels: []store.Label{{Name: "stale", Confidence: 50}},
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// redisQueue is the gallery's queue on a fresh real Redis.
func redisQueue(t *testing.T, f *fixture, cfg config.Config) (*redis.Client, *queue.Redis) {
	t.Helper()
	srv := testservers.Redis(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	return rc, queue.NewRedis(rc, f.cfg.GalleryName, queue.Options{VisibilityTimeout: cfg.Workers.VisibilityTimeout})
}

// pendingReclassification is how many reclassification requests have not run yet.
func (f *fixture) pendingReclassification() int64 {
	f.t.Helper()
	st, err := f.st.Stats(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return st.ReclassifyPending
}

// waitPending waits until at most n reclassification requests are pending.
func (f *fixture) waitPending(n int64, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for f.pendingReclassification() > n {
		if time.Now().After(deadline) {
			f.t.Fatalf("%d reclassification requests still pending after %s, want at most %d", f.pendingReclassification(), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkModel fails unless every image was labelled by the colour classifier.
func (f *fixture) checkModel(ids []string) {
	f.t.Helper()
	for _, id := range ids {
		img, err := f.st.ImageForJob(context.Background(), id)
		if err != nil {
			f.t.Fatal(err)
		}
		if img.Provider != "test" || img.Model != "colour" || img.FailureReason != "" {
			f.t.Errorf("image %s: provider %q, model %q, failure %q; want test/colour", id, img.Provider, img.Model, img.FailureReason)
		}
	}
}

// A reclassified image gets the current classifier's labels, provider and model; it
// stays labelled with its old labels until then; a failed image is labelled too.
func TestReclassifyRelabels(t *testing.T) {
	fastTiming(t)
	t.Cleanup(worker.SetReclassifyDrain(50*time.Millisecond, 1000))
	ctx := context.Background()
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	ids := f.addImages(9)
	f.labelOld(ids)
	if err := f.st.MarkFailed(ctx, ids[8], "the old classifier timed out"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.st.RequestReclassifyAll(ctx, f.owner.ID); err != nil || n != 9 {
		t.Fatalf("request all = %d, %v; want 9", n, err)
	}
	img, err := f.st.ImageForJob(ctx, ids[0])
	if err != nil || img.Status != store.StatusLabelled || img.Provider != "old" {
		t.Fatalf("image while reclassification waits = %+v, %v; want still labelled by the old classifier", img, err)
	}

	rc, q := redisQueue(t, f, cfg)
	cls := newColourClassifier(0)
	start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Producer: q, Classifier: cls, Redis: rc})
	f.waitPending(0, 20*time.Second)
	f.checkLabelled(ids)
	f.checkModel(ids)
	for _, id := range ids {
		if n := cls.callsOf(id); n != 1 {
			t.Errorf("image %s classified %d times, want once", id, n)
		}
	}
}

// New uploads are labelled while a large reclassification backlog waits: the backlog is
// in the low-priority stream of the real Redis queue, which workers read only when no
// upload waits.
func TestNewUploadsOvertakeReclassification(t *testing.T) {
	fastTiming(t)
	t.Cleanup(worker.SetReclassifyDrain(50*time.Millisecond, 300))
	ctx := context.Background()
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	// The provider pace makes the backlog take about 4 s.
	cfg.Workers.ProviderRequestsPerSecond = 300
	const backlog = 1200
	old := f.addImages(backlog)
	f.labelOld(old)
	if _, err := f.st.RequestReclassifyAll(ctx, f.owner.ID); err != nil {
		t.Fatal(err)
	}
	rc, q := redisQueue(t, f, cfg)
	start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Producer: q, Classifier: newColourClassifier(0), Redis: rc})
	f.waitPending(backlog-50, 20*time.Second) // reclassification is under way

	fresh := f.addImages(12)
	uploaded := time.Now()
	enqueueAll(t, q, f.owner.ID, fresh)
	f.waitSettled(fresh, 10*time.Second)
	took := time.Since(uploaded)
	left := f.pendingReclassification()
	f.checkLabelled(fresh)
	t.Logf("12 new uploads labelled in %s with %d of %d reclassifications still to run", took, left, backlog)
	if left < backlog/2 {
		t.Errorf("new uploads were labelled only when %d of %d reclassifications were left: they waited for the backlog", left, backlog)
	}
	f.waitPending(0, 30*time.Second)
	f.checkLabelled(old)
	f.checkModel(old)
}

// haltingProducer freezes the process that uses it at its n-th enqueue: like a crash,
// nothing the caller would do next happens.
type haltingProducer struct {
	queue.Producer
	after   int
	halted  chan struct{}
	release chan struct{}

	mu sync.Mutex
	n  int
}

var errHalted = errors.New("halted")

func (h *haltingProducer) Enqueue(ctx context.Context, j queue.Job) error {
	h.mu.Lock()
	h.n++
	n := h.n
	h.mu.Unlock()
	if n > h.after {
		if n == h.after+1 {
			close(h.halted)
		}
		<-h.release
		return errHalted
	}
	return h.Producer.Enqueue(ctx, j)
}

// A drain that dies in the middle of a batch (its enqueue time recorded for 200 marks,
// 50 of their jobs enqueued) loses no request: a new worker enqueues the missing jobs
// once their enqueue turns stale, and every image is reclassified.
func TestReclassifyDrainCrashLosesNothing(t *testing.T) {
	fastTiming(t)
	t.Cleanup(worker.SetReclassifyDrain(50*time.Millisecond, 1000))
	ctx := context.Background()
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	cfg.Workers.RequeueAfter = time.Second
	const images, crashAt = 500, 250
	ids := f.addImages(images)
	f.labelOld(ids)
	if _, err := f.st.RequestReclassifyAll(ctx, f.owner.ID); err != nil {
		t.Fatal(err)
	}
	rc, q := redisQueue(t, f, cfg)
	cls := newColourClassifier(0)
	halt := &haltingProducer{Producer: q, after: crashAt, halted: make(chan struct{}), release: make(chan struct{})}
	drained := make(chan error, 1)
	go func() {
		_, err := worker.DrainReclassification(ctx, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Producer: halt, Classifier: cls}, time.Now())
		drained <- err
	}()
	t.Cleanup(func() {
		close(halt.release)
		if err := <-drained; !errors.Is(err, errHalted) {
			t.Errorf("halted drain returned %v", err)
		}
	})
	select {
	case <-halt.halted:
	case err := <-drained:
		t.Fatalf("drain finished (%v) before the crash point", err)
	case <-time.After(20 * time.Second):
		t.Fatal("drain never reached the crash point")
	}
	if d, err := q.Depths(ctx); err != nil || d.Low != crashAt {
		t.Fatalf("queue at the crash = %+v, %v; want %d reclassification jobs", d, err, crashAt)
	}
	if n := f.pendingReclassification(); n != images {
		t.Fatalf("pending requests at the crash = %d, want all %d", n, images)
	}

	start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Producer: q, Classifier: cls, Redis: rc})
	f.waitPending(0, 30*time.Second)
	f.checkLabelled(ids)
	f.checkModel(ids)
	twice := 0
	for _, id := range ids {
		if cls.callsOf(id) > 1 {
			twice++
		}
	}
	t.Logf("%d of %d images classified more than once after the crash", twice, images)
}

// The in-process queue of the embedded gallery does not survive a restart; the
// reclassification jobs it held are enqueued again by the next process at once.
func TestReclassifyAfterInProcessQueueRestart(t *testing.T) {
	fastTiming(t)
	t.Cleanup(worker.SetReclassifyDrain(50*time.Millisecond, 1000))
	ctx := context.Background()
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f) // requeue after an hour: only the restart makes jobs stale
	ids := f.addImages(30)
	f.labelOld(ids)
	if _, err := f.st.RequestReclassifyAll(ctx, f.owner.ID); err != nil {
		t.Fatal(err)
	}
	cls := newColourClassifier(0)
	before := queue.NewMemory(queue.Options{})
	if n, err := worker.DrainReclassification(ctx, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: before, Classifier: cls}, time.Now()); err != nil || n != len(ids) {
		t.Fatalf("drain before the restart = %d, %v; want %d", n, err, len(ids))
	}
	// The process stops here; its queue is gone. The next one starts empty.
	after := queue.NewMemory(queue.Options{})
	start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: after, Classifier: cls})
	f.waitPending(0, 20*time.Second)
	f.checkLabelled(ids)
	f.checkModel(ids)
}
