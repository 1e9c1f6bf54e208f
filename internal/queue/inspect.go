package queue

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Depths is the queue depth by priority: jobs waiting or in a worker's hands.
type Depths struct {
	Normal int64
	Low    int64
}

// Inspector reads the queue for the admin view, for the server's queue metrics, and for
// the reclassification drain, which fills the low-priority queue only up to a
// high-water mark. Both implementations are Inspectors.
type Inspector interface {
	// Depths is Depth split by priority.
	Depths(ctx context.Context) (Depths, error)
	// DeadLetterCount is how many jobs the dead-letter list holds.
	DeadLetterCount(ctx context.Context) (int64, error)
	// RecentDeadLetters lists up to limit dead letters, newest first.
	RecentDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// OldestAges is, per priority, how long the oldest job waiting or in a worker's
	// hands has been in the queue (oldest.go).
	OldestAges(ctx context.Context) (Ages, error)
}

var (
	_ Inspector = (*Redis)(nil)
	_ Inspector = (*Memory)(nil)
)

// depthsScript answers {waiting + pending} per stream, in the order of KEYS pairs.
var depthsScript = redis.NewScript(luaHelpers + `
local out = {}
for i = 1, #KEYS, 2 do
  local n = waiting(KEYS[i], KEYS[i + 1], ARGV[1])
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local ok, p = pcall(redis.call, 'XPENDING', KEYS[i], ARGV[1])
    if ok then n = n + p[1] end
  end
  table.insert(out, n)
end
return out
`)

// Depths implements Inspector.
func (q *Redis) Depths(ctx context.Context) (Depths, error) {
	ns, err := depthsScript.Run(ctx, q.client,
		[]string{q.normal.stream, q.normal.seq, q.low.stream, q.low.seq}, q.group).Int64Slice()
	if err != nil {
		return Depths{}, fmt.Errorf("queue depths: %w", err)
	}
	if len(ns) != 2 {
		return Depths{}, fmt.Errorf("queue depths: script answered %d numbers, want 2", len(ns))
	}
	return Depths{Normal: ns[0], Low: ns[1]}, nil
}

// DeadLetterCount implements Inspector.
func (q *Redis) DeadLetterCount(ctx context.Context) (int64, error) {
	n, err := q.client.LLen(ctx, q.dead).Result()
	if err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// RecentDeadLetters implements Inspector.
func (q *Redis) RecentDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		return []DeadLetter{}, nil
	}
	return q.DeadLetters(ctx, int64(limit))
}

// Depths implements Inspector.
func (m *Memory) Depths(context.Context) (Depths, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := Depths{Normal: int64(len(m.normal)), Low: int64(len(m.low))}
	for _, fl := range m.inFlight {
		if fl.mj.job.Priority == PriorityLow {
			d.Low++
		} else {
			d.Normal++
		}
	}
	return d, nil
}

// DeadLetterCount implements Inspector.
func (m *Memory) DeadLetterCount(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.dead)), nil
}

// RecentDeadLetters implements Inspector.
func (m *Memory) RecentDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	all, err := m.DeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	return all[:min(max(limit, 0), len(all))], nil
}
