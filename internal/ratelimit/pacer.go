package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Pacer paces something (provider calls, job intake) to a rate: unlike a Limiter, which
// refuses what is over its limit, it makes the caller wait. Wait blocks until n units
// may go, and returns how long it waited.
type Pacer interface {
	Wait(ctx context.Context, n int) (time.Duration, error)
}

// NewLocalPacer paces one process: perSecond units a second, bursts of up to burst.
func NewLocalPacer(perSecond float64, burst int) Pacer {
	return &localPacer{l: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))}
}

type localPacer struct{ l *rate.Limiter }

func (l *localPacer) Wait(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	n = min(n, l.l.Burst())
	if err := l.l.WaitN(ctx, n); err != nil {
		return time.Since(start), fmt.Errorf("wait for rate limit: %w", err)
	}
	return time.Since(start), nil
}

// gcraScript is the generic cell rate algorithm on one key: the key holds the
// theoretical arrival time (TAT) in microseconds of Redis's clock, so every worker of a
// Gallery shares one pace whatever its own clock says. It returns 0 when the n units
// may go now, otherwise how many microseconds to wait before asking again.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local newTat = tat + n * interval
local wait = newTat - now - burst * interval
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%d', newTat), 'PX', math.ceil((newTat - now) / 1000) + 1000)
return 0
`)

// NewRedisPacer paces every process sharing key on client: perSecond units a second,
// bursts of up to burst. While Redis does not answer it falls back to pacing this
// process alone at the same rate (logged once per outage), so a Redis failover slows
// nothing down but may briefly exceed the Gallery-wide rate.
func NewRedisPacer(client redis.UniversalClient, key string, perSecond float64, burst int, log *slog.Logger) Pacer {
	burst = max(burst, 1)
	return &redisPacer{
		client:   client,
		key:      key,
		interval: int64(1e6 / perSecond),
		burst:    burst,
		fallback: NewLocalPacer(perSecond, burst),
		log:      log,
	}
}

type redisPacer struct {
	client   redis.UniversalClient
	key      string
	interval int64 // microseconds per unit
	burst    int
	fallback Pacer
	log      *slog.Logger

	mu       sync.Mutex
	degraded bool
	// retryAt is when to ask Redis again during an outage: failing calls can take
	// seconds each (dial timeouts), too slow to ask before every unit.
	retryAt time.Time
}

// outageRetry is how long the limiter paces locally after Redis failed.
const outageRetry = 2 * time.Second

func (l *redisPacer) inOutage() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.degraded && time.Now().Before(l.retryAt)
}

func (l *redisPacer) Wait(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	n = min(max(n, 1), l.burst)
	for {
		if l.inOutage() {
			_, err := l.fallback.Wait(ctx, n)
			return time.Since(start), err
		}
		wait, err := gcraScript.Run(ctx, l.client, []string{l.key}, l.interval, l.burst, n).Int64()
		if err != nil {
			if ctx.Err() != nil {
				return time.Since(start), fmt.Errorf("wait for rate limit: %w", ctx.Err())
			}
			l.setDegraded(true, err)
			_, err = l.fallback.Wait(ctx, n)
			return time.Since(start), err
		}
		l.setDegraded(false, nil)
		if wait <= 0 {
			return time.Since(start), nil
		}
		// A little jitter keeps workers that were refused together from asking
		// together again.
		d := time.Duration(wait)*time.Microsecond + time.Duration(rand.Int64N(int64(time.Millisecond)+wait*100))
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("wait for rate limit: %w", ctx.Err())
		case <-time.After(d):
		}
	}
}

func (l *redisPacer) setDegraded(degraded bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if degraded {
		l.retryAt = time.Now().Add(outageRetry)
	}
	if degraded == l.degraded {
		return
	}
	l.degraded = degraded
	if l.log == nil {
		return
	}
	if degraded {
		l.log.Warn("rate limit fell back to this process alone: Redis did not answer", "key", l.key, "error", err)
	} else {
		l.log.Info("rate limit shared through Redis again", "key", l.key)
	}
}
