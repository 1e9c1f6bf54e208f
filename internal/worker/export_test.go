package worker

import (
	"context"
	"time"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/store"
)

// SetTiming shortens the worker's periods for a test and returns how to restore them.
func SetTiming(sweep, retry, take, depth time.Duration) (restore func()) {
	old := []time.Duration{sweepEvery, retryBase, takeWait, depthEvery}
	sweepEvery, retryBase, takeWait, depthEvery = sweep, retry, take, depth
	return func() { sweepEvery, retryBase, takeWait, depthEvery = old[0], old[1], old[2], old[3] }
}

// SetReclassifyDrain sets the reclassification drain's period and high-water mark for a
// test and returns how to restore them.
func SetReclassifyDrain(every time.Duration, highWater int) (restore func()) {
	oldEvery, oldHigh := reclassifyEvery, reclassifyHighWater
	reclassifyEvery, reclassifyHighWater = every, highWater
	return func() { reclassifyEvery, reclassifyHighWater = oldEvery, oldHigh }
}

// DrainReclassification runs one pass of the drain, as the worker's loop does.
func DrainReclassification(ctx context.Context, d Deps, staleBefore time.Time) (int, error) {
	w, err := newWorker(d)
	if err != nil {
		return 0, err
	}
	return w.drainReclassification(ctx, staleBefore)
}

// ClassifierInput is what a worker built from d gives its classifier for img.
func ClassifierInput(ctx context.Context, d Deps, img store.Image) (classify.Image, error) {
	w, err := newWorker(d)
	if err != nil {
		return classify.Image{}, err
	}
	return w.input(ctx, img)
}
