package queue

import (
	"context"
	"sync"
	"time"
)

// Options tune both implementations. The zero value is usable.
type Options struct {
	// VisibilityTimeout is how long a delivered job may go without an Ack or Release
	// before another worker may take it. Zero: DefaultVisibilityTimeout. A delivery in
	// a live worker's hands is kept visible to it by a heartbeat (Redis), so only a dead
	// or hung worker's jobs are taken over.
	VisibilityTimeout time.Duration
	// Consumer names this worker in the Redis consumer group. Empty: host name, process
	// id and a random suffix.
	Consumer string
	// DeadLetterMax caps the dead-letter list (the oldest are dropped). Zero:
	// DefaultDeadLetterMax.
	DeadLetterMax int64
}

// Defaults.
const (
	DefaultVisibilityTimeout       = 2 * time.Minute
	DefaultDeadLetterMax     int64 = 10000
)

func (o Options) withDefaults() Options {
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if o.DeadLetterMax <= 0 {
		o.DeadLetterMax = DefaultDeadLetterMax
	}
	return o
}

// DeadLetter is a job that failed too often, with why.
type DeadLetter struct {
	Job      Job       `json:"job"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// Memory is the in-process queue of the embedded gallery: one process serves and works.
// Nothing survives a restart; the sweep of the database re-enqueues what was waiting.
type Memory struct {
	opts Options

	mu     sync.Mutex
	wake   chan struct{} // closed and replaced whenever a job is added
	normal []*memJob
	low    []*memJob
	// inFlight are delivered jobs, by delivery token.
	inFlight map[uint64]*memDelivery
	next     uint64
	dead     []DeadLetter
}

type memJob struct {
	job      Job
	attempts int // deliveries so far, not counting released ones
}

var (
	_ Producer = (*Memory)(nil)
	_ Consumer = (*Memory)(nil)
)

// NewMemory returns an empty in-process queue.
func NewMemory(opts Options) *Memory {
	return &Memory{opts: opts.withDefaults(), wake: make(chan struct{}), inFlight: map[uint64]*memDelivery{}}
}

// Enqueue implements Producer.
func (m *Memory) Enqueue(ctx context.Context, j Job) error {
	if j.EnqueuedAt.IsZero() {
		j.EnqueuedAt = time.Now()
	}
	startEnqueueSpan(ctx, &j, "memory", "memory").End()
	m.mu.Lock()
	defer m.mu.Unlock()
	mj := &memJob{job: j}
	if j.Priority == PriorityLow {
		m.low = append(m.low, mj)
	} else {
		m.normal = append(m.normal, mj)
	}
	m.signalLocked()
	return nil
}

func (m *Memory) signalLocked() {
	close(m.wake)
	m.wake = make(chan struct{})
}

// Position implements Producer: new uploads first, then reclassification.
func (m *Memory) Position(_ context.Context, imageID string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(time.Now())
	for _, d := range m.inFlight {
		if d.mj.job.ImageID == imageID {
			return 0, nil
		}
	}
	for i, mj := range m.normal {
		if mj.job.ImageID == imageID {
			return int64(i), nil
		}
	}
	for i, mj := range m.low {
		if mj.job.ImageID == imageID {
			return int64(len(m.normal) + i), nil
		}
	}
	return 0, ErrNotQueued
}

// Depth implements Producer.
func (m *Memory) Depth(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.normal) + len(m.low) + len(m.inFlight)), nil
}

// Take implements Consumer.
func (m *Memory) Take(ctx context.Context, maxJobs int, wait time.Duration) ([]Delivery, error) {
	if maxJobs < 1 {
		maxJobs = 1
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		m.mu.Lock()
		now := time.Now()
		m.expireLocked(now)
		var out []Delivery
		for len(out) < maxJobs {
			var mj *memJob
			switch {
			case len(m.normal) > 0:
				mj, m.normal = m.normal[0], m.normal[1:]
			case len(m.low) > 0 && (len(out) == 0 || out[0].Job().Priority == PriorityLow):
				// Never mix reclassification into a batch of uploads.
				mj, m.low = m.low[0], m.low[1:]
			}
			if mj == nil {
				break
			}
			mj.attempts++
			m.next++
			d := &memDelivery{m: m, token: m.next, mj: mj, attempt: mj.attempts, deadline: now.Add(m.opts.VisibilityTimeout)}
			m.inFlight[d.token] = d
			out = append(out, d)
		}
		wake := m.wake
		// A job waiting out a retry delay or a visibility timeout comes back at its
		// deadline, with nobody to signal it: wake up then.
		var expiry <-chan time.Time
		if next, ok := m.nextDeadlineLocked(); ok {
			expiry = time.After(time.Until(next) + time.Millisecond)
		}
		m.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, nil
		case <-wake:
		case <-expiry:
		}
	}
}

// expireLocked hands back deliveries held past the visibility timeout (a hung worker):
// they count as an attempt.
func (m *Memory) expireLocked(now time.Time) {
	for token, d := range m.inFlight {
		if now.After(d.deadline) {
			delete(m.inFlight, token)
			m.pushFrontLocked(d.mj)
		}
	}
}

func (m *Memory) nextDeadlineLocked() (time.Time, bool) {
	var next time.Time
	for _, d := range m.inFlight {
		if next.IsZero() || d.deadline.Before(next) {
			next = d.deadline
		}
	}
	return next, !next.IsZero()
}

func (m *Memory) pushFrontLocked(mj *memJob) {
	if mj.job.Priority == PriorityLow {
		m.low = append([]*memJob{mj}, m.low...)
	} else {
		m.normal = append([]*memJob{mj}, m.normal...)
	}
	m.signalLocked()
}

// DeadLetter implements Consumer.
func (m *Memory) DeadLetter(_ context.Context, d Delivery, reason string) error {
	md, ok := d.(*memDelivery)
	if !ok {
		return errForeignDelivery
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.inFlight, md.token)
	m.dead = append(m.dead, DeadLetter{Job: md.mj.job, Attempts: md.attempt, Reason: reason, At: time.Now()})
	if over := int64(len(m.dead)) - m.opts.DeadLetterMax; over > 0 {
		m.dead = m.dead[over:]
	}
	return nil
}

// DeadLetters lists the dead-letter list, newest first.
func (m *Memory) DeadLetters(context.Context) ([]DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]DeadLetter, len(m.dead))
	for i, dl := range m.dead {
		out[len(m.dead)-1-i] = dl
	}
	return out, nil
}

type memDelivery struct {
	m        *Memory
	token    uint64
	mj       *memJob
	attempt  int
	deadline time.Time
}

func (d *memDelivery) Job() Job     { return d.mj.job }
func (d *memDelivery) Attempt() int { return d.attempt }

func (d *memDelivery) Ack(context.Context) error {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	delete(d.m.inFlight, d.token)
	return nil
}

func (d *memDelivery) Release(context.Context) error {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if _, ok := d.m.inFlight[d.token]; !ok {
		return nil // already expired and handed back
	}
	delete(d.m.inFlight, d.token)
	d.mj.attempts--
	d.m.pushFrontLocked(d.mj)
	return nil
}
