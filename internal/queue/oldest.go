package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Ages is, per priority, the age of the oldest job waiting or in a worker's hands (by
// its EnqueuedAt); zero when there is none. It tells whether classification keeps up:
// a depth says how much waits, an age how long.
type Ages struct {
	Normal time.Duration
	Low    time.Duration
}

// oldestScript answers, per stream in KEYS, the "enqueued" field (Unix microseconds) of
// its first unacknowledged entry, or "" when it has none: jobs enter a stream in the
// order they are enqueued, so that is the oldest. Acknowledged entries stay at the head
// of a stream until the next trim, so the head is not the answer: the first
// unacknowledged entry is the first pending one (in a worker's hands, or released) when
// there is any (every pending entry comes before every undelivered one), else the first
// entry after the group's last delivered one.
var oldestScript = redis.NewScript(luaHelpers + `
local function enqueued(stream, group)
  if redis.call('EXISTS', stream) == 0 then return '' end
  local entry
  local ok, p = pcall(redis.call, 'XPENDING', stream, group)
  if ok and p[1] > 0 then
    entry = redis.call('XRANGE', stream, p[2], p[2])[1]
  else
    entry = redis.call('XRANGE', stream, (delivered(stream, group) + 1) .. '-0', '+', 'COUNT', 1)[1]
  end
  if not entry then return '' end
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'enqueued' then return fields[i + 1] end
  end
  return 'missing:' .. entry[1]
end
local out = {}
for _, stream in ipairs(KEYS) do table.insert(out, enqueued(stream, ARGV[1])) end
return out
`)

// OldestAges implements Inspector, in one round trip.
func (q *Redis) OldestAges(ctx context.Context) (Ages, error) {
	res, err := oldestScript.Run(ctx, q.client, []string{q.normal.stream, q.low.stream}, q.group).StringSlice()
	if err != nil {
		return Ages{}, fmt.Errorf("queue oldest job ages: %w", err)
	}
	if len(res) != 2 {
		return Ages{}, fmt.Errorf("queue oldest job ages: script answered %d values, want 2", len(res))
	}
	now := time.Now()
	var ages [2]time.Duration
	for i, v := range res {
		if v == "" {
			continue
		}
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Ages{}, fmt.Errorf("queue oldest job ages: entry has no enqueue time (%q)", v)
		}
		ages[i] = age(now, time.UnixMicro(us))
	}
	return Ages{Normal: ages[0], Low: ages[1]}, nil
}

// OldestAges implements Inspector.
func (m *Memory) OldestAges(context.Context) (Ages, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest [2]time.Time // by priority: normal, low
	see := func(j Job) {
		i := 0
		if j.Priority == PriorityLow {
			i = 1
		}
		if oldest[i].IsZero() || j.EnqueuedAt.Before(oldest[i]) {
			oldest[i] = j.EnqueuedAt
		}
	}
	for _, mj := range m.normal {
		see(mj.job)
	}
	for _, mj := range m.low {
		see(mj.job)
	}
	for _, d := range m.inFlight {
		see(d.mj.job)
	}
	now := time.Now()
	var a Ages
	if !oldest[0].IsZero() {
		a.Normal = age(now, oldest[0])
	}
	if !oldest[1].IsZero() {
		a.Low = age(now, oldest[1])
	}
	return a, nil
}

// age is how long ago t was, never negative (the enqueuing server's clock may be ahead
// of this one's).
func age(now, t time.Time) time.Duration { return max(now.Sub(t), 0) }
