package worker

import (
	"context"
	"errors"
	"time"

	"github.com/sortographer/sortographer/internal/queue"
)

// consumerPruner is the Redis queue's clean-up of consumers that crashed or scaled in.
type consumerPruner interface {
	PruneConsumers(ctx context.Context, idle time.Duration) (int, error)
}

// pruneIdle is how long a consumer with no jobs may stay in the group.
const pruneIdle = time.Hour

// sweepLoop re-enqueues images queued for longer than RequeueAfter whose job is not in
// the queue. With Redis one worker of the Gallery sweeps at a time.
func (w *worker) sweepLoop(ctx context.Context) {
	if w.producer == nil {
		return
	}
	// The in-process queue starts empty: whatever the database holds as queued lost
	// its job with the previous process, so the first sweep takes everything.
	_, fresh := w.Queue.(*queue.Memory)
	olderThan := w.cfg.RequeueAfter
	if fresh {
		olderThan = 0
	}
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if w.lease(ctx, "sweep", sweepEvery) {
			n, err := w.Sweep(ctx, olderThan)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("sweep failed", "error", err)
			} else if n > 0 {
				w.log.Info("re-enqueued images whose job was lost", "images", n)
			}
			if p, ok := w.Queue.(consumerPruner); ok {
				if _, err := p.PruneConsumers(ctx, pruneIdle); err != nil && ctx.Err() == nil {
					w.log.Warn("pruned no consumers", "error", err)
				}
			}
		}
		olderThan = w.cfg.RequeueAfter
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep re-enqueues images queued for longer than olderThan that have no job waiting or
// in hand, and returns how many.
func (w *worker) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	ids, err := w.Store.StaleQueued(ctx, olderThan, sweepBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if _, err := w.producer.Position(ctx, id); err == nil {
			continue // still waiting, or in a worker's hands
		} else if !errors.Is(err, queue.ErrNotQueued) {
			return n, err
		}
		img, err := w.Store.ImageForJob(ctx, id)
		if err != nil {
			continue // deleted meanwhile
		}
		if err := w.producer.Enqueue(ctx, queue.Job{ImageID: id, OwnerID: img.OwnerID, Priority: queue.PriorityNormal}); err != nil {
			return n, err
		}
		n++
		w.m.sweepRequeued.Inc()
	}
	return n, nil
}

// depthLoop refreshes the queue depth gauge.
func (w *worker) depthLoop(ctx context.Context) {
	if w.producer == nil {
		return
	}
	t := time.NewTicker(depthEvery)
	defer t.Stop()
	for {
		if n, err := w.producer.Depth(ctx); err == nil {
			w.m.queueDepth.Set(float64(n))
		} else if ctx.Err() == nil {
			w.m.queueDepth.Set(-1) // as the server reports it: the queue cannot be read
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
