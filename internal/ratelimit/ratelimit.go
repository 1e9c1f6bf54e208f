// Package ratelimit caps how often one key (an email address signing in, a user
// uploading) may act within a window. With Redis the count is shared by every replica;
// without it (the embedded default, one replica) it is kept in process.
//
// Both count in fixed windows: simple, one round trip, and at worst twice the limit
// across a window boundary, which is enough to stop password guessing and upload floods.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rule is a limit: at most Limit actions per Window for one key.
type Rule struct {
	// Name tells rules apart in Redis keys and metrics ("signin", "upload").
	Name   string
	Limit  int
	Window time.Duration
}

// Result is the outcome of one Allow.
type Result struct {
	Allowed bool
	// RetryAfter is how long until the window resets, when not allowed.
	RetryAfter time.Duration
}

// Limiter counts actions.
type Limiter interface {
	// Allow counts one action for key and reports whether it is within the rule.
	Allow(ctx context.Context, key string) (Result, error)
}

// Memory is an in-process limiter for a single replica.
type Memory struct {
	rule Rule
	now  func() time.Time

	mu      sync.Mutex
	windows map[string]*window
	// lastSweep paces the removal of expired windows, so the map stays small.
	lastSweep time.Time
}

type window struct {
	count int
	ends  time.Time
}

// NewMemory returns an in-process limiter.
func NewMemory(rule Rule) *Memory {
	return &Memory{rule: rule, now: time.Now, windows: map[string]*window{}}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string) (Result, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) > m.rule.Window {
		for k, w := range m.windows {
			if !now.Before(w.ends) {
				delete(m.windows, k)
			}
		}
		m.lastSweep = now
	}
	w := m.windows[key]
	if w == nil || !now.Before(w.ends) {
		w = &window{ends: now.Add(m.rule.Window)}
		m.windows[key] = w
	}
	w.count++
	if w.count > m.rule.Limit {
		return Result{RetryAfter: w.ends.Sub(now)}, nil
	}
	return Result{Allowed: true}, nil
}

// Redis is a limiter shared by every replica through Redis.
type Redis struct {
	client redis.UniversalClient
	prefix string
	rule   Rule
}

// NewRedis returns a Redis-backed limiter. Its keys are "<prefix>ratelimit:<rule>:<key>",
// each expiring with its window.
func NewRedis(client redis.UniversalClient, prefix string, rule Rule) *Redis {
	return &Redis{client: client, prefix: prefix, rule: rule}
}

// countScript increments a window's counter, starting its expiry on the first action,
// and returns the count and the time left in milliseconds.
var countScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string) (Result, error) {
	k := r.prefix + "ratelimit:" + r.rule.Name + ":" + key
	v, err := countScript.Run(ctx, r.client, []string{k}, r.rule.Window.Milliseconds()).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("count %s rate: %w", r.rule.Name, err)
	}
	if len(v) != 2 {
		return Result{}, fmt.Errorf("count %s rate: unexpected reply %v", r.rule.Name, v)
	}
	if v[0] > int64(r.rule.Limit) {
		return Result{RetryAfter: time.Duration(v[1]) * time.Millisecond}, nil
	}
	return Result{Allowed: true}, nil
}
