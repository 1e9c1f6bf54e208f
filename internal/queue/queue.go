// Package queue is the contract between the gallery server, which enqueues one
// classification job per uploaded photo, and the workers, which take them. Two
// implementations live here: Redis streams (durable, shared by every replica; the
// stream and group names come from internal/config) and in-process memory (the embedded
// default, one process only). The database stays the source of truth: a job lost in
// any way is found again by the sweep of images queued for too long.
package queue

import (
	"context"
	"errors"
	"time"
)

// ErrNotQueued is returned by Position for an image that has no job waiting.
var ErrNotQueued = errors.New("queue: image is not queued")

// Priority orders jobs: new uploads always go before reclassification.
type Priority int

// Priorities.
const (
	PriorityNormal Priority = iota // a new upload
	PriorityLow                    // reclassification; never starves new uploads
)

// Job asks a worker to classify one image.
type Job struct {
	ImageID  string
	OwnerID  int64
	Priority Priority
	// EnqueuedAt is when the job entered the queue.
	EnqueuedAt time.Time
	// RequestID is the id of the request that caused the job (the upload's requestId),
	// for the worker's log lines and spans. Empty when no request did (the sweep,
	// reclassification) and in jobs enqueued before it existed.
	RequestID string `json:",omitempty"`
	// TraceParent and TraceState are the W3C trace context of the job's enqueue span,
	// which Enqueue writes, so that the worker's span continues the trace of the upload
	// (trace.go). Empty when tracing is off.
	TraceParent string `json:",omitempty"`
	TraceState  string `json:",omitempty"`
}

// Producer is the server's side.
type Producer interface {
	// Enqueue adds a job. Enqueuing an image already waiting is allowed (delivery is
	// idempotent on the worker side).
	Enqueue(ctx context.Context, j Job) error
	// Position is how many jobs are ahead of the image's job (0: next), or ErrNotQueued.
	Position(ctx context.Context, imageID string) (int64, error)
	// Depth is how many jobs wait or are in a worker's hands.
	Depth(ctx context.Context) (int64, error)
}

// Delivery is one job handed to a worker. Ack after the labels are committed; Release
// hands the job back (shutdown) without counting an attempt.
type Delivery interface {
	Job() Job
	// Attempt is 1 for the first delivery, and counts redeliveries after a crash or
	// a visibility timeout.
	Attempt() int
	Ack(ctx context.Context) error
	Release(ctx context.Context) error
}

// Consumer is a worker's side.
type Consumer interface {
	// Take waits for up to max jobs (at most until ctx is done or wait passes).
	Take(ctx context.Context, max int, wait time.Duration) ([]Delivery, error)
	// DeadLetter moves a job that failed too often out of the queue, with the reason.
	DeadLetter(ctx context.Context, d Delivery, reason string) error
}

// The queue-depth metric, exported by the server (read on scrape) and by each worker (as
// it last read it). One name and one help text, so that in one process (the embedded
// default) and across processes it is the same series.
const (
	DepthMetricName = "sortographer_queue_depth"
	DepthMetricHelp = "Classification jobs waiting or in a worker's hands."
)
