package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

func allowN(t *testing.T, l Limiter, key string, n int) (allowed int, last Result) {
	t.Helper()
	for range n {
		r, err := l.Allow(context.Background(), key)
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		if r.Allowed {
			allowed++
		}
		last = r
	}
	return allowed, last
}

func TestLimiters(t *testing.T) {
	rule := Rule{Name: "test", Limit: 3, Window: 300 * time.Millisecond}
	impls := map[string]func(t *testing.T) Limiter{
		"memory": func(*testing.T) Limiter { return NewMemory(rule) },
		"redis": func(t *testing.T) Limiter {
			srv := testservers.Redis(t)
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = c.Close() })
			return NewRedis(c, "g:", rule)
		},
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			l := mk(t)
			n, last := allowN(t, l, "alice", 5)
			if n != 3 || last.Allowed || last.RetryAfter <= 0 || last.RetryAfter > rule.Window {
				t.Errorf("allowed %d of 5, last %+v; want 3 and a retry within the window", n, last)
			}
			if n, _ := allowN(t, l, "bob", 3); n != 3 {
				t.Errorf("another key: allowed %d of 3", n)
			}
			time.Sleep(rule.Window + 50*time.Millisecond)
			if n, _ := allowN(t, l, "alice", 3); n != 3 {
				t.Errorf("after the window: allowed %d of 3", n)
			}
		})
	}
}

func TestMemorySweepsExpiredWindows(t *testing.T) {
	now := time.Now()
	m := NewMemory(Rule{Name: "t", Limit: 1, Window: time.Second})
	m.now = func() time.Time { return now }
	for _, k := range []string{"a", "b", "c"} {
		_, _ = m.Allow(context.Background(), k)
	}
	now = now.Add(2 * time.Second)
	_, _ = m.Allow(context.Background(), "d")
	if len(m.windows) != 1 {
		t.Errorf("%d windows kept, want 1", len(m.windows))
	}
}

// TestSlidingRule: a sliding rule never lets more than Limit through in any Window,
// even across the boundary where a fixed window would let twice as many; Undo gives
// back a slot.
func TestSlidingRule(t *testing.T) {
	rule := Rule{Name: "sliding", Limit: 4, Window: 600 * time.Millisecond, Sliding: true}
	impls := map[string]func(t *testing.T) Limiter{
		"memory": func(*testing.T) Limiter { return NewMemory(rule) },
		"redis": func(t *testing.T) Limiter {
			c := redis.NewClient(&redis.Options{Addr: testservers.Redis(t).Addr()})
			t.Cleanup(func() { _ = c.Close() })
			return NewRedis(c, "g:", rule)
		},
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			l := mk(t)
			ctx := context.Background()
			if n, _ := allowN(t, l, "k", 2); n != 2 {
				t.Fatalf("allowed %d of the first 2", n)
			}
			time.Sleep(rule.Window / 2)
			n, last := allowN(t, l, "k", 4)
			if n != 2 || last.Allowed || last.RetryAfter <= 0 || last.RetryAfter > rule.Window/2+50*time.Millisecond {
				t.Fatalf("half a window later: allowed %d of 4 (want 2), last %+v", n, last)
			}
			// The first two leave the window; a fixed window would now allow 4 more.
			time.Sleep(rule.Window/2 + 50*time.Millisecond)
			if n, _ := allowN(t, l, "k", 4); n != 2 {
				t.Errorf("after the first two left the window: allowed %d of 4, want 2", n)
			}
			time.Sleep(rule.Window + 50*time.Millisecond)
			res, err := l.Allow(ctx, "u")
			if err != nil || !res.Allowed {
				t.Fatalf("Allow: %+v %v", res, err)
			}
			if n, _ := allowN(t, l, "u", 3); n != 3 {
				t.Fatalf("allowed %d of 3", n)
			}
			if err := res.Undo(ctx); err != nil {
				t.Fatalf("Undo: %v", err)
			}
			if n, _ := allowN(t, l, "u", 2); n != 1 {
				t.Errorf("after one Undo: allowed %d of 2, want 1", n)
			}
		})
	}
}

// TestFixedUndo: Undo gives a fixed window's slot back.
func TestFixedUndo(t *testing.T) {
	rule := Rule{Name: "undo", Limit: 2, Window: time.Minute}
	c := redis.NewClient(&redis.Options{Addr: testservers.Redis(t).Addr()})
	t.Cleanup(func() { _ = c.Close() })
	for name, l := range map[string]Limiter{"memory": NewMemory(rule), "redis": NewRedis(c, "u:", rule)} {
		t.Run(name, func(t *testing.T) {
			res, _ := l.Allow(context.Background(), "k")
			if err := res.Undo(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n, _ := allowN(t, l, "k", 3); n != 2 {
				t.Errorf("allowed %d of 3 after an Undo, want 2", n)
			}
		})
	}
}

// TestFallbackWhileRedisIsDown: with the real Redis stopped the limit still holds (in
// process), and with Redis back the shared count is used again.
func TestFallbackWhileRedisIsDown(t *testing.T) {
	srv := testservers.Redis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	rule := Rule{Name: "fb", Limit: 3, Window: time.Minute, Sliding: true}
	l := NewShared(c, "fb:", rule, nil)
	if n, _ := allowN(t, l, "k", 2); n != 2 {
		t.Fatalf("allowed %d of 2", n)
	}
	srv.Stop()
	if n, last := allowN(t, l, "k", 5); n != 3 || last.Allowed {
		t.Errorf("Redis down: allowed %d of 5, want 3 (the in-process limit, which does not see Redis's 2)", n)
	}
	srv.Restart()
	if n, _ := allowN(t, l, "k", 3); n != 1 {
		t.Errorf("Redis back: allowed %d of 3, want 1 (Redis kept its 2 of 3)", n)
	}
}
