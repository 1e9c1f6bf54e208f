package cache

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
)

// RecentWrites remembers, for a short window, which users just wrote (uploaded, deleted,
// changed anything), so that their reads in that window go to the database writer and
// show them their own writes however far the read replicas lag: read-your-writes. In
// Redis every server replica sees a write recorded by any other, which is what a user
// behind a load balancer needs; in process, for a single replica without Redis.
type RecentWrites interface {
	// Wrote records that user wrote just now; the mark lasts the window.
	Wrote(ctx context.Context, userID int64) error
	// WroteRecently reports whether user wrote within the window. On an error the
	// caller cannot know, and should read from the writer.
	WroteRecently(ctx context.Context, userID int64) (bool, error)
}

// RedisRecentWrites is a RecentWrites shared by every replica of a Gallery: one key per
// user who wrote, expiring after the window.
type RedisRecentWrites struct {
	rc      redis.UniversalClient
	prefix  string
	window  time.Duration
	timeout time.Duration
	log     *slog.Logger
	// down is set while Redis is failing, so the change is logged once each way.
	down atomic.Bool
}

// NewRedisRecentWrites keeps marks of window in rc under the Gallery's key prefix. Each
// Redis call is bounded by timeout (zero: DefaultTimeout). log may be nil.
func NewRedisRecentWrites(rc redis.UniversalClient, gallery string, window, timeout time.Duration, log *slog.Logger) *RedisRecentWrites {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RedisRecentWrites{
		rc: rc, prefix: config.RedisPrefix(gallery, "wrote", "v1"), window: window, timeout: timeout, log: log,
	}
}

func (r *RedisRecentWrites) key(userID int64) string {
	return r.prefix + strconv.FormatInt(userID, 10)
}

// Wrote implements RecentWrites.
func (r *RedisRecentWrites) Wrote(ctx context.Context, userID int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	err := r.rc.Set(ctx, r.key(userID), "1", r.window).Err()
	r.record(err)
	if err != nil {
		return fmt.Errorf("record a write of user %d: %w", userID, err)
	}
	return nil
}

// WroteRecently implements RecentWrites.
func (r *RedisRecentWrites) WroteRecently(ctx context.Context, userID int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	n, err := r.rc.Exists(ctx, r.key(userID)).Result()
	r.record(err)
	if err != nil {
		return true, fmt.Errorf("look up recent writes of user %d: %w", userID, err)
	}
	return n > 0, nil
}

// record logs Redis going down or coming back, once each.
func (r *RedisRecentWrites) record(err error) {
	if err != nil {
		if !r.down.Swap(true) {
			r.log.Warn("recent-writes marks unavailable in Redis; signed-in users' reads go to the database writer until it is back", "error", err)
		}
		return
	}
	if r.down.Swap(false) {
		r.log.Info("recent-writes marks available in Redis again")
	}
}

// MemoryRecentWrites is a RecentWrites in this process, for a Gallery of one replica
// without Redis. It holds at most maxMemoryWriters users, dropping expired marks first.
type MemoryRecentWrites struct {
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	until map[int64]time.Time
}

// maxMemoryWriters bounds MemoryRecentWrites: a window of seconds holds few users.
const maxMemoryWriters = 10000

// NewMemoryRecentWrites keeps marks of window in this process.
func NewMemoryRecentWrites(window time.Duration) *MemoryRecentWrites {
	return &MemoryRecentWrites{window: window, now: time.Now, until: map[int64]time.Time{}}
}

// Wrote implements RecentWrites.
func (m *MemoryRecentWrites) Wrote(_ context.Context, userID int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.until) >= maxMemoryWriters {
		for id, until := range m.until {
			if !now.Before(until) {
				delete(m.until, id)
			}
		}
		// Still full: every mark is live. Forgetting one only sends that user's reads
		// to a replica early, so drop any, a tenth at once so that the scan above runs
		// once per many writes.
		for id := range m.until {
			if len(m.until) < maxMemoryWriters*9/10 {
				break
			}
			delete(m.until, id)
		}
	}
	m.until[userID] = now.Add(m.window)
	return nil
}

// WroteRecently implements RecentWrites.
func (m *MemoryRecentWrites) WroteRecently(_ context.Context, userID int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.until[userID]
	if ok && !m.now().Before(until) {
		delete(m.until, userID)
		ok = false
	}
	return ok, nil
}
