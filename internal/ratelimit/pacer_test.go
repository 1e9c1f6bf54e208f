package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/testservers"
)

// Three workers sharing a 20/s limit through Redis make 20 calls a second between
// them, not 60.
func TestRedisLimiterIsGalleryWide(t *testing.T) {
	srv := testservers.Redis(t)
	const rate, workers = 20.0, 3
	var calls atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		defer rc.Close()
		l := ratelimit.NewRedisPacer(rc, "sortographer:photos:ratelimit:provider", rate, 1, nil)
		for range 4 { // each worker runs 4 jobs at once
			wg.Go(func() {
				for {
					if _, err := l.Wait(ctx, 1); err != nil {
						return
					}
					calls.Add(1)
				}
			})
		}
	}
	wg.Wait()
	got := calls.Load()
	if want := int64(rate * 1.5); got > want+2 || got < want*8/10 {
		t.Errorf("%d calls in 1.5s at %v/s shared by %d workers; want about %d", got, rate, workers, want)
	}
}

// Without Redis (it went away) the limiter paces this process alone.
func TestRedisLimiterFallsBackWhenRedisIsGone(t *testing.T) {
	srv := testservers.Redis(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rc.Close()
	l := ratelimit.NewRedisPacer(rc, "k", 10, 1, nil)
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n := 0
	for {
		if _, err := l.Wait(ctx, 1); err != nil {
			break
		}
		n++
	}
	if n < 3 || n > 12 {
		t.Errorf("%d calls in 1s at 10/s with Redis down", n)
	}
}
