// Package ratelimit caps how often one key (a client address signing in, a user
// uploading) may act within a window. With Redis the count is shared by every replica;
// without it (the embedded default, one replica) it is kept in process; Fallback keeps
// the limits, per replica, while Redis is down.
//
// A rule counts in fixed windows (simple, one round trip, at worst twice the limit
// across a window boundary: enough against upload floods) or, when Sliding, in a log of
// the actions of the last Window, which never lets more than Limit through in any
// Window: the form a standard's "at most 100 failed sign-ins an hour" needs.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rule is a limit: at most Limit actions per Window for one key.
type Rule struct {
	// Name tells rules apart in Redis keys and metrics ("signin", "upload").
	Name   string
	Limit  int
	Window time.Duration
	// Sliding counts the actions of the last Window exactly (a log of their times)
	// instead of in fixed windows.
	Sliding bool
}

// Result is the outcome of one Allow.
type Result struct {
	Allowed bool
	// RetryAfter is how long until the window resets, when not allowed.
	RetryAfter time.Duration
	// undo takes the counted action back; nil when nothing was counted.
	undo func(ctx context.Context) error
}

// Undo takes back the action Allow counted, for a caller that counts before it knows
// whether the action is one to count: a sign-in that turns out right is not a failure.
// It does nothing for an action that was not allowed.
func (r Result) Undo(ctx context.Context) error {
	if r.undo == nil {
		return nil
	}
	return r.undo(ctx)
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

// window is one key's count: a fixed window's count and end, or a sliding rule's log
// of the times of its actions, oldest first.
type window struct {
	count int
	ends  time.Time
	log   []time.Time
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
	if m.rule.Sliding {
		return m.allowSliding(key, now), nil
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
	return Result{Allowed: true, undo: func(context.Context) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.windows[key] == w && w.count > 0 {
			w.count--
		}
		return nil
	}}, nil
}

// allowSliding logs an action unless Limit actions were logged in the last Window.
// m.mu is held.
func (m *Memory) allowSliding(key string, now time.Time) Result {
	w := m.windows[key]
	if w == nil {
		w = &window{}
		m.windows[key] = w
	}
	start := now.Add(-m.rule.Window)
	for len(w.log) > 0 && !w.log[0].After(start) {
		w.log = w.log[1:]
	}
	if len(w.log) >= m.rule.Limit {
		return Result{RetryAfter: w.log[0].Sub(start)}
	}
	w.log = append(w.log, now)
	w.ends = now.Add(m.rule.Window)
	return Result{Allowed: true, undo: func(context.Context) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		for i, at := range w.log {
			if at.Equal(now) {
				w.log = append(w.log[:i], w.log[i+1:]...)
				break
			}
		}
		return nil
	}}
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

// logScript is a sliding rule: KEYS[1] is a sorted set of the actions of the last
// window, scored by Redis's clock in microseconds (so replicas whose clocks differ
// agree). It drops what is older than the window, then logs the action ARGV[3] unless
// ARGV[2] are logged already. It returns {1, 0} when logged, or {0, microseconds until
// the oldest leaves the window}.
var logScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, 0}
`)

// actionIDs tells a sliding rule's logged actions apart within a process; the
// process's start time tells processes apart.
var (
	actionIDs   atomic.Uint64
	processMark = strconv.FormatInt(time.Now().UnixNano(), 36)
)

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string) (Result, error) {
	k := r.prefix + "ratelimit:" + r.rule.Name + ":" + key
	if r.rule.Sliding {
		return r.allowSliding(ctx, k)
	}
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
	return Result{Allowed: true, undo: func(ctx context.Context) error {
		if err := r.client.Decr(ctx, k).Err(); err != nil {
			return fmt.Errorf("undo %s count: %w", r.rule.Name, err)
		}
		return nil
	}}, nil
}

func (r *Redis) allowSliding(ctx context.Context, k string) (Result, error) {
	id := processMark + "-" + strconv.FormatUint(actionIDs.Add(1), 36)
	v, err := logScript.Run(ctx, r.client, []string{k}, r.rule.Window.Microseconds(), r.rule.Limit, id).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("log %s action: %w", r.rule.Name, err)
	}
	if len(v) != 2 {
		return Result{}, fmt.Errorf("log %s action: unexpected reply %v", r.rule.Name, v)
	}
	if v[0] == 0 {
		return Result{RetryAfter: time.Duration(v[1]) * time.Microsecond}, nil
	}
	return Result{Allowed: true, undo: func(ctx context.Context) error {
		if err := r.client.ZRem(ctx, k, id).Err(); err != nil {
			return fmt.Errorf("undo %s action: %w", r.rule.Name, err)
		}
		return nil
	}}, nil
}
