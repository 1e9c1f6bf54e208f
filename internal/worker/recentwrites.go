package worker

import (
	"context"
)

// RecentWrites records that a user just wrote, for read-your-writes with database read
// replicas (cache.RedisRecentWrites, shared with the servers, or
// cache.MemoryRecentWrites inside a server of one replica). The worker marks an image's
// owner once it has committed the image's labels or marked it failed, so that the
// owner's next listing reads from the database writer and shows the outcome however far
// the replicas lag.
type RecentWrites interface {
	// Wrote records that user wrote just now.
	Wrote(ctx context.Context, userID int64) error
}

// markOwner marks the owner of an image whose outcome (new labels, or a failure) the worker has just committed.
// It costs nothing without RecentWrites (no read replicas). A mark that cannot be
// recorded fails nothing: the owner may see the image as queued until the replicas
// catch up, so it is logged at debug only (RedisRecentWrites warns once by itself when
// Redis goes down).
func (w *worker) markOwner(ctx context.Context, ownerID int64, imageID string) {
	if w.RecentWrites == nil || ownerID == 0 {
		return
	}
	if err := w.RecentWrites.Wrote(context.WithoutCancel(ctx), ownerID); err != nil {
		w.log.Debug("recorded no recent-writes mark for the image's owner", "imageId", imageID, "ownerId", ownerID, "error", err)
	}
}
