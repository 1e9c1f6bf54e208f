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
