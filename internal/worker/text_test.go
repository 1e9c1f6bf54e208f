package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/worker"
)

// signs are what the colour reader reads in a photo of each colour: a sign in English
// and Korean.
var signs = map[string]string{
	"red":   "RED SIGN\n빨간색 표지판",
	"green": "GREEN SIGN\n초록색 표지판",
	"blue":  "BLUE SIGN\n파란색 표지판",
}

// colourReader is a real text reader, and a fast, deterministic one: it decodes the
// photo and reads the sign of its colour (signs).
type colourReader struct {
	delay time.Duration

	mu sync.Mutex
	// behave overrides the outcome per image: an error, or nil for the normal text.
	behave map[string]func(call int) error
	calls  map[string]int
}

func newColourReader(delay time.Duration) *colourReader {
	return &colourReader{delay: delay, behave: map[string]func(int) error{}, calls: map[string]int{}}
}

func (r *colourReader) Provider() string { return "test-ocr" }
func (r *colourReader) Model() string    { return "signs" }

func (r *colourReader) on(id string, f func(call int) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.behave[id] = f
}

func (r *colourReader) callsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

func (r *colourReader) ReadText(ctx context.Context, img classify.Image) (classify.Text, error) {
	r.mu.Lock()
	r.calls[img.ID]++
	call, f := r.calls[img.ID], r.behave[img.ID]
	r.mu.Unlock()
	if r.delay > 0 {
		select {
		case <-ctx.Done():
			return classify.Text{}, ctx.Err()
		case <-time.After(r.delay):
		}
	}
	if f != nil {
		if err := f(call); err != nil {
			return classify.Text{}, err
		}
	}
	labels, err := colourLabels(img.Bytes)
	if err != nil {
		return classify.Text{}, err
	}
	return classify.Text{Content: signs[labels[0].Name], Confidence: 87}, nil
}

// checkText fails unless every image of ids (from addImages) has the sign of its
// colour as its text, read by the colour reader.
func (f *fixture) checkText(ids []string, index func(i int) int) {
	f.t.Helper()
	for i, id := range ids {
		text, err := f.st.ImageText(context.Background(), f.owner.ID, id)
		want := signs[wantColour(index(i))]
		if err != nil || text.Content != want || text.Provider != "test-ocr" || text.Model != "signs" || text.Confidence != 87 {
			f.t.Errorf("image %s: text %+v, %v; want %q by test-ocr", id, text, err, want)
		}
	}
}

// countingPacer counts the units a limiter gives out.
type countingPacer struct {
	ratelimit.Pacer
	n atomic.Int64
}

func (p *countingPacer) Wait(ctx context.Context, n int) (time.Duration, error) {
	p.n.Add(int64(n))
	return p.Pacer.Wait(ctx, n)
}

// After the labels, the worker reads the words in each photo, paced by the provider
// limiter like the classifier, and commits them with the labels, searchable. A reader
// failing for a while is retried with the job; one that cannot read a photo, or still
// fails at the last attempt, leaves it labelled without text, never failed.
func TestTextIsReadWithTheLabels(t *testing.T) {
	fastTiming(t)
	ctx := context.Background()
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	q := queue.NewMemory(queue.Options{VisibilityTimeout: cfg.Workers.VisibilityTimeout})
	cls, reader := newColourClassifier(0), newColourReader(0)
	pacer := &countingPacer{Pacer: ratelimit.NewLocalPacer(cfg.Workers.ProviderRequestsPerSecond, 1)}
	reg := prometheus.NewRegistry()

	ids := f.addImages(9)
	good := ids[:6]
	unreadable, flaky, broken := ids[6], ids[7], ids[8]
	reader.on(unreadable, func(int) error { return fmt.Errorf("%w: too small to read", classify.ErrPermanent) })
	reader.on(flaky, func(call int) error {
		if call < 2 {
			return errors.New("reader hiccup")
		}
		return nil
	})
	reader.on(broken, func(int) error { return errors.New("reader down") })
	enqueueAll(t, q, f.owner.ID, ids)

	w := start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Classifier: cls, TextReader: reader,
		ProviderLimiter: pacer, Metrics: reg})
	f.waitSettled(ids, 20*time.Second)
	if err := w.stop(t, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f.checkLabelled(ids)
	f.checkText(slices.Concat(good, []string{flaky}), func(i int) int { return []int{0, 1, 2, 3, 4, 5, 7}[i] })
	for _, id := range []string{unreadable, broken} {
		if text, err := f.st.ImageText(ctx, f.owner.ID, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("image %s: text %+v, %v; want none", id, text, err)
		}
	}
	// Each attempt asks the classifier and then the reader: the flaky photo twice, the
	// broken one on all three attempts, every call paced.
	calls := 0
	for id, want := range map[string]int{ids[0]: 1, unreadable: 1, flaky: 2, broken: 3} {
		if got, gotCls := reader.callsOf(id), cls.callsOf(id); got != want || gotCls != want {
			t.Errorf("image %s: read %d times, classified %d times; want %d", id, got, gotCls, want)
		}
	}
	for _, id := range ids {
		calls += reader.callsOf(id) + cls.callsOf(id)
	}
	if got := pacer.n.Load(); got != int64(calls) || calls != 2*9+2*(1+2) {
		t.Errorf("the provider limiter paced %d calls; the classifier and the reader made %d", got, calls)
	}
	for result, want := range map[string]float64{"found": 7, "failed": 1 + 1 + 3} {
		if got := testutil.ToFloat64(counter(t, reg, "sortographer_worker_text_reads_total", result)); got != want {
			t.Errorf("text_reads_total{result=%q} = %v, want %v", result, got, want)
		}
	}

	// The words are searchable, in English and in Korean inside a word.
	p, err := f.st.Search(ctx, f.owner.ID, []string{"파란"}, store.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, r := range p.Results {
		found = append(found, r.Image.ID)
	}
	if want := []string{ids[5], ids[2]}; fmt.Sprint(found) != fmt.Sprint(want) || p.Results[0].Rank != store.MatchText {
		t.Errorf("search 파란 = %v, want the readable blue photos %v, newest first", found, want)
	}
}

// A reclassification reads the text again and replaces what was read before.
func TestReclassifyReadsTextAgain(t *testing.T) {
	fastTiming(t)
	t.Cleanup(worker.SetReclassifyDrain(50*time.Millisecond, 1000))
	ctx := context.Background()
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	ids := f.addImages(6)
	for _, id := range ids {
		if err := f.st.SetLabels(ctx, id, store.Classification{Provider: "old", Model: "v0", Labels: []store.Label{{Name: "stale", Confidence: 50}},
			Text: &store.Text{Content: "OLD WORDS", Provider: "old-ocr"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.st.RequestReclassifyAll(ctx, f.owner.ID); err != nil || n != 6 {
		t.Fatalf("request all = %d, %v", n, err)
	}
	rc, q := redisQueue(t, f, cfg)
	reader := newColourReader(0)
	start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Producer: q, Classifier: newColourClassifier(0), TextReader: reader, Redis: rc})
	f.waitPending(0, 20*time.Second)
	f.checkLabelled(ids)
	f.checkText(ids, func(i int) int { return i })
	if p, err := f.st.Search(ctx, f.owner.ID, []string{"old words"}, store.PageRequest{}); err != nil || len(p.Results) != 0 {
		t.Errorf("search of the old text = %d photos, %v; want none", len(p.Results), err)
	}
}

// On stop, a job whose text is still being read is handed back whole: nothing of it
// is committed, and the next worker labels it and reads its text.
func TestShutdownMidReadLosesNothing(t *testing.T) {
	fastTiming(t)
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	cfg.ShutdownGrace = 4 * time.Second
	cfg.Workers.VisibilityTimeout = time.Minute
	q := queue.NewMemory(queue.Options{VisibilityTimeout: time.Minute})
	ids := f.addImages(1)
	reading := make(chan struct{})
	stalled := newColourReader(0)
	stalled.on(ids[0], func(int) error { close(reading); return nil })
	enqueueAll(t, q, f.owner.ID, ids)
	w := start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Classifier: newColourClassifier(0), TextReader: stallingReader{stalled}})
	<-reading
	if err := w.stop(t, cfg.ShutdownGrace+time.Second); err != nil {
		t.Fatal(err)
	}
	if img, err := f.st.ImageForJob(context.Background(), ids[0]); err != nil || img.Status != store.StatusQueued {
		t.Fatalf("image after a stop mid-read: %+v, %v; want still queued", img, err)
	}
	start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Classifier: newColourClassifier(0), TextReader: newColourReader(0)})
	f.waitSettled(ids, 10*time.Second)
	f.checkLabelled(ids)
	f.checkText(ids, func(i int) int { return i })
}

// stallingReader signals through its reader's behaviour that a read started, then hangs
// until the call's context ends, as a stalled provider call does.
type stallingReader struct{ *colourReader }

func (s stallingReader) ReadText(ctx context.Context, img classify.Image) (classify.Text, error) {
	s.mu.Lock()
	f := s.behave[img.ID]
	s.mu.Unlock()
	_ = f(1)
	<-ctx.Done()
	return classify.Text{}, ctx.Err()
}
