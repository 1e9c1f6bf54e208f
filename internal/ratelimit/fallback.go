package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Fallback is a shared limiter (Redis) that falls back to an in-process one while the
// shared one fails. Failing open would lift every limit during an outage, just when an
// attacker may have caused it; failing closed would refuse every sign-in. With the
// fallback each replica keeps the limits on its own: an attacker gets at most the
// limit times the replicas, and the owner still signs in.
type Fallback struct {
	shared, local Limiter
	log           *slog.Logger

	mu sync.Mutex
	// warned is when the last "using the local limiter" warning was logged.
	warned time.Time
}

// fallbackWarnEvery paces the warning: one a minute is enough to see an outage.
const fallbackWarnEvery = time.Minute

// NewFallback returns a limiter that asks shared and, when shared answers an error,
// local (the same rule, NewMemory).
func NewFallback(shared, local Limiter, log *slog.Logger) *Fallback {
	return &Fallback{shared: shared, local: local, log: log}
}

// NewShared is the usual Fallback: rule in Redis, and in process while Redis fails.
func NewShared(client redis.UniversalClient, prefix string, rule Rule, log *slog.Logger) *Fallback {
	return NewFallback(NewRedis(client, prefix, rule), NewMemory(rule), log)
}

// Allow implements Limiter. It never fails when the local limiter cannot.
func (f *Fallback) Allow(ctx context.Context, key string) (Result, error) {
	res, err := f.shared.Allow(ctx, key)
	if err == nil {
		return res, nil
	}
	f.mu.Lock()
	warn := time.Since(f.warned) >= fallbackWarnEvery
	if warn {
		f.warned = time.Now()
	}
	f.mu.Unlock()
	if warn && f.log != nil {
		f.log.WarnContext(ctx, "shared rate limiter failed; limiting in this replica only", "error", err)
	}
	return f.local.Allow(ctx, key)
}
