package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestRecentWrites: a mark made by one process is seen by another (Redis: two clients
// standing for two server replicas), lasts the window, and is per user.
func TestRecentWrites(t *testing.T) {
	const window = 300 * time.Millisecond
	for _, b := range []struct {
		name string
		// open returns the marks of two processes of one Gallery.
		open func(t *testing.T) (cache.RecentWrites, cache.RecentWrites)
	}{
		{"memory", func(t *testing.T) (cache.RecentWrites, cache.RecentWrites) {
			m := cache.NewMemoryRecentWrites(window)
			return m, m
		}},
		{"redis", func(t *testing.T) (cache.RecentWrites, cache.RecentWrites) {
			srv := testservers.Redis(t)
			return cache.NewRedisRecentWrites(redisClient(t, srv.Addr()), gallery, window, 0, nil),
				cache.NewRedisRecentWrites(redisClient(t, srv.Addr()), gallery, window, 0, nil)
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			one, other := b.open(t)
			ctx := context.Background()
			if err := one.Wrote(ctx, 7); err != nil {
				t.Fatalf("wrote: %v", err)
			}
			marked := time.Now()
			if recent, err := other.WroteRecently(ctx, 7); err != nil || !recent {
				t.Errorf("user 7 right after writing = %v, %v; want true", recent, err)
			}
			if recent, err := other.WroteRecently(ctx, 8); err != nil || recent {
				t.Errorf("user 8, who did not write = %v, %v; want false", recent, err)
			}
			time.Sleep(time.Until(marked.Add(window + 50*time.Millisecond)))
			if recent, err := other.WroteRecently(ctx, 7); err != nil || recent {
				t.Errorf("user 7 after the window = %v, %v; want false", recent, err)
			}
		})
	}
}

// TestRecentWritesRedisDown: with Redis unreachable nobody can tell, so the answer is
// "recently" (reads go to the writer) with an error, and marking reports its failure.
func TestRecentWritesRedisDown(t *testing.T) {
	srv := testservers.Redis(t)
	marks := cache.NewRedisRecentWrites(redisClient(t, srv.Addr()), gallery, time.Minute, 50*time.Millisecond, nil)
	ctx := context.Background()
	srv.Stop()
	if err := marks.Wrote(ctx, 1); err == nil {
		t.Error("wrote with Redis stopped: no error")
	}
	if recent, err := marks.WroteRecently(ctx, 1); err == nil || !recent {
		t.Errorf("recently with Redis stopped = %v, %v; want true and an error", recent, err)
	}
	srv.Restart()
	if recent, err := marks.WroteRecently(ctx, 1); err != nil || recent {
		t.Errorf("recently after Redis restarted = %v, %v; want false (nothing was marked)", recent, err)
	}
}

// TestMemoryRecentWritesIsBounded: marking many users keeps the newest mark.
func TestMemoryRecentWritesIsBounded(t *testing.T) {
	m := cache.NewMemoryRecentWrites(time.Minute)
	ctx := context.Background()
	for id := range int64(20000) {
		_ = m.Wrote(ctx, id)
	}
	if recent, _ := m.WroteRecently(ctx, 19999); !recent {
		t.Error("the newest mark was dropped")
	}
	if n := cache.MemoryRecentWritesLen(m); n > 10000 {
		t.Errorf("holds %d marks, want at most 10000", n)
	}
}
