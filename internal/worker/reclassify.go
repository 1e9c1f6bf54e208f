package worker

import (
	"context"
	"errors"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// Reclassification is durable in the database, not in the queue. A request marks the
// images (one UPDATE, however many: store.RequestReclassifyAll); this drain moves marked
// images into the low-priority queue in batches, first recording the enqueue time on
// each mark, then enqueuing jobs that carry that time; the worker that ran a job removes
// the mark it was enqueued for (store.FinishReclassification). So:
//
//   - a crash of the drain between recording and enqueuing leaves marks whose job is
//     missing; a crash of a worker leaves the job pending in Redis, claimed by another;
//     a lost queue (Redis flushed, the in-process queue of a restarted server) loses
//     jobs. In each case the mark stays, and once its enqueue is older than
//     Config.Workers.RequeueAfter (for the in-process queue: older than this process)
//     and the queue has no job for it, the drain enqueues it again. Nothing is lost;
//     at worst an image is classified twice.
//   - the drain keeps at most reclassifyHighWater reclassification jobs in the queue, so
//     a request for 100,000 images waits in the database rather than in Redis, and the
//     low-priority stream, read only when no upload waits, never starves new uploads.
//
// While an image is being reclassified it keeps its status and its old labels, which
// the new ones replace in one transaction; a reclassification that fails leaves it as it
// was and goes to the dead-letter list.

// Drain timing and size. Variables, not constants, so that tests can change them.
var (
	// reclassifyEvery is how often the drain runs.
	reclassifyEvery = 2 * time.Second
	// reclassifyHighWater is how many reclassification jobs the drain keeps queued.
	reclassifyHighWater = 1000
)

// reclassifyBatch is how many marks one database round trip of the drain takes.
const reclassifyBatch = 200

// reclassifyLoop drains reclassification requests into the low-priority queue until ctx
// ends. With Redis one worker of the Gallery drains at a time.
func (w *worker) reclassifyLoop(ctx context.Context) {
	if w.producer == nil {
		return
	}
	started := time.Now()
	_, inProcess := w.producer.(*queue.Memory)
	t := time.NewTicker(reclassifyEvery)
	defer t.Stop()
	for {
		if w.lease(ctx, "reclassify", reclassifyEvery) {
			staleBefore := time.Now().Add(-w.cfg.RequeueAfter)
			if inProcess && started.After(staleBefore) {
				// Whatever an earlier process enqueued is gone with it.
				staleBefore = started
			}
			n, err := w.drainReclassification(ctx, staleBefore)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("reclassification drain failed; the marks stay for the next pass", "enqueued", n, "error", err)
			} else if n > 0 {
				w.log.Info("enqueued images for reclassification", "images", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lease reports whether this worker should run the named periodic task now: with
// Redis, the one that takes the lease for the period; without, always.
func (w *worker) lease(ctx context.Context, name string, period time.Duration) bool {
	if w.Redis == nil {
		return true
	}
	key := config.RedisKey(w.Config.GalleryName, name)
	ok, err := w.Redis.SetNX(ctx, key, "1", period*9/10).Result()
	if err != nil {
		return ctx.Err() == nil // Redis down: run anyway, duplicates are harmless
	}
	return ok
}

// drainReclassification enqueues marked images whose job was never enqueued or was
// enqueued before staleBefore and is no longer queued, up to the high-water mark, and
// returns how many it enqueued.
func (w *worker) drainReclassification(ctx context.Context, staleBefore time.Time) (int, error) {
	total := 0
	for ctx.Err() == nil {
		room, err := w.reclassifyRoom(ctx)
		if err != nil || room <= 0 {
			return total, err
		}
		reqs, err := w.Store.PendingReclassification(ctx, staleBefore, min(room, reclassifyBatch))
		if err != nil || len(reqs) == 0 {
			return total, err
		}
		batch := make([]store.ReclassifyRequest, 0, len(reqs))
		for _, r := range reqs {
			if !r.EnqueuedAt.IsZero() {
				// Enqueued long ago: behind a long backlog of uploads it may still wait.
				if _, err := w.producer.Position(ctx, r.ImageID); err == nil {
					continue
				} else if !errors.Is(err, queue.ErrNotQueued) {
					return total, err
				}
			}
			batch = append(batch, r)
		}
		if len(batch) == 0 {
			// Only jobs still waiting at the head of the queue: they run first.
			return total, nil
		}
		// The enqueue time is recorded first: a crash after it leaves a mark that turns
		// stale and is enqueued again, never a job the database does not know of.
		at := time.Now().Truncate(time.Microsecond)
		if err := w.Store.MarkReclassifyEnqueued(ctx, batch, at); err != nil {
			return total, err
		}
		for _, r := range batch {
			j := queue.Job{ImageID: r.ImageID, OwnerID: r.OwnerID, Priority: queue.PriorityLow, EnqueuedAt: at}
			if err := w.producer.Enqueue(ctx, j); err != nil {
				return total, err
			}
			total++
		}
	}
	return total, ctx.Err()
}

// reclassifyRoom is how many more reclassification jobs the queue may take.
func (w *worker) reclassifyRoom(ctx context.Context) (int, error) {
	var queued int64
	if in, ok := w.producer.(queue.Inspector); ok {
		d, err := in.Depths(ctx)
		if err != nil {
			return 0, err
		}
		queued = d.Low
	} else {
		n, err := w.producer.Depth(ctx)
		if err != nil {
			return 0, err
		}
		queued = n
	}
	return reclassifyHighWater - int(min(queued, int64(reclassifyHighWater))), nil
}

// finishReclassification removes the mark a reclassification job was enqueued for, once
// the job has run (labelled, or given up). Should this fail, the mark turns stale and
// the image is classified once more.
func (w *worker) finishReclassification(j queue.Job) {
	if j.Priority != queue.PriorityLow {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseMargin)
	defer cancel()
	if err := w.Store.FinishReclassification(ctx, j.ImageID, j.EnqueuedAt); err != nil {
		w.log.Warn("kept a reclassification mark; the image will be classified again", "imageId", j.ImageID, "error", err)
	}
}
