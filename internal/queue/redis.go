package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/tracing"
)

// Redis is the durable queue shared by every replica: two Redis streams read by one
// consumer group.
//
//   - config.QueueStream(gallery) holds new uploads; config.QueueLowStream(gallery)
//     ("<stream>:low") holds reclassification, read only when the first has nothing
//     waiting. The operator's backlog scaler and KEDA read both groups' lag (and the
//     backlog scaler their pending counts).
//   - Entry ids are "<n>-0" with n from a counter ("<stream>:seq"), so the number of
//     jobs ahead of one is the difference of two counters: Position is O(1).
//   - A delivered job stays in the group's pending list until Ack (after the labels are
//     committed). A live worker's heartbeat keeps its jobs from going idle; a dead
//     worker's jobs go idle and are claimed (XAUTOCLAIM) after the visibility timeout.
//     The group's delivery count is the attempt number.
//   - Acknowledged entries are trimmed from the head of the stream (XTRIM MINID), never
//     deleted one by one, so the group's lag stays exact for KEDA.
//   - "<stream>:index" maps an image to its waiting entry; "<stream>:dead" is the
//     dead-letter list (JSON, newest first).
//
// The scripts touch several keys, so on Redis Cluster they need the keys in one hash
// slot; a Gallery's Redis is a single primary (managed, or ElastiCache with cluster mode
// disabled).
type Redis struct {
	client   redis.UniversalClient
	group    string
	consumer string
	opts     Options

	normal, low streamKeys
	index, dead string

	mu sync.Mutex
	// cursors are where each stream's XAUTOCLAIM scan resumes; lastClaim paces it.
	cursors   map[string]string
	lastClaim time.Time
}

type streamKeys struct {
	stream, seq string
	kind        string // "n" or "l", as recorded in the index
}

var (
	_ Producer = (*Redis)(nil)
	_ Consumer = (*Redis)(nil)
)

// ClaimInterval paces the scan for idle jobs of dead workers (and the trim of
// acknowledged entries): at most once per interval per consumer.
const ClaimInterval = time.Second

// NewRedis returns the queue of a Gallery on client (a *redis.Client, or any
// UniversalClient on a single primary).
func NewRedis(client redis.UniversalClient, gallery string, opts Options) *Redis {
	opts = opts.withDefaults()
	if opts.Consumer == "" {
		opts.Consumer = defaultConsumer()
	}
	base, low := config.QueueStream(gallery), config.QueueLowStream(gallery)
	return &Redis{
		client:   client,
		group:    config.QueueGroup,
		consumer: opts.Consumer,
		opts:     opts,
		normal:   streamKeys{stream: base, seq: base + ":seq", kind: "n"},
		low:      streamKeys{stream: low, seq: low + ":seq", kind: "l"},
		index:    base + ":index",
		dead:     base + ":dead",
		cursors:  map[string]string{},
	}
}

func defaultConsumer() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Consumer is this worker's name in the group.
func (q *Redis) Consumer() string { return q.consumer }

func (q *Redis) keys(p Priority) streamKeys {
	if p == PriorityLow {
		return q.low
	}
	return q.normal
}

// enqueueScript adds a job under the next id of the stream's counter. Should the
// counter be behind the stream (it was deleted by hand), it catches up with the
// stream's last id. ARGV[6] on are optional field and value pairs (jobFields).
var enqueueScript = redis.NewScript(`
local stream, seqKey, index = KEYS[1], KEYS[2], KEYS[3]
local fields = {'image', ARGV[1], 'owner', ARGV[2], 'priority', ARGV[3], 'enqueued', ARGV[4]}
for i = 6, #ARGV - 1, 2 do
  table.insert(fields, ARGV[i])
  table.insert(fields, ARGV[i + 1])
end
local seq = redis.call('INCR', seqKey)
local r = redis.pcall('XADD', stream, seq .. '-0', unpack(fields))
if type(r) == 'table' and r.err then
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      seq = tonumber(string.match(info[i + 1], '^(%d+)')) + 1
    end
  end
  redis.call('SET', seqKey, seq)
  r = redis.call('XADD', stream, seq .. '-0', unpack(fields))
end
redis.call('HSET', index, ARGV[1], ARGV[5] .. ':' .. r)
return r
`)

// Enqueue implements Producer.
func (q *Redis) Enqueue(ctx context.Context, j Job) error {
	if j.EnqueuedAt.IsZero() {
		j.EnqueuedAt = time.Now()
	}
	k := q.keys(j.Priority)
	span := startEnqueueSpan(ctx, &j, "redis", k.stream)
	defer span.End()
	args := append([]any{j.ImageID, j.OwnerID, int(j.Priority), j.EnqueuedAt.UnixMicro(), k.kind}, jobFields(j)...)
	err := enqueueScript.Run(ctx, q.client, []string{k.stream, k.seq, q.index}, args...).Err()
	if err != nil {
		err = fmt.Errorf("enqueue image %s: %w", j.ImageID, err)
		tracing.Fail(span, err)
		return err
	}
	return nil
}

// The stream fields of a job's optional parts: absent from jobs that have none (and
// from jobs enqueued before they existed), which decode with them empty.
const (
	fieldRequestID   = "request"
	fieldTraceParent = "traceparent"
	fieldTraceState  = "tracestate"
)

// jobFields are the optional fields of j that are set, as field and value pairs.
func jobFields(j Job) []any {
	var out []any
	for _, f := range [...]struct{ name, value string }{
		{fieldRequestID, j.RequestID}, {fieldTraceParent, j.TraceParent}, {fieldTraceState, j.TraceState},
	} {
		if f.value != "" {
			out = append(out, f.name, f.value)
		}
	}
	return out
}

// luaHelpers are shared by the scripts that read a group's position.
const luaHelpers = `
local function seqOf(id) return tonumber(string.match(id, '^(%d+)')) end
-- delivered is the counter value of the last entry the group delivered (0: none).
local function delivered(stream, group)
  if redis.call('EXISTS', stream) == 0 then return 0 end
  local groups = redis.call('XINFO', 'GROUPS', stream)
  for _, gr in ipairs(groups) do
    local name, last
    for i = 1, #gr, 2 do
      if gr[i] == 'name' then name = gr[i + 1] elseif gr[i] == 'last-delivered-id' then last = gr[i + 1] end
    end
    if name == group then return seqOf(last) end
  end
  return 0
end
local function waiting(stream, seqKey, group)
  local last = tonumber(redis.call('GET', seqKey) or '0')
  local n = last - delivered(stream, group)
  if n < 0 then return 0 end
  return n
end
`

// positionScript: -1 when the image has no waiting job, 0 when a worker has it.
var positionScript = redis.NewScript(luaHelpers + `
local v = redis.call('HGET', KEYS[5], ARGV[2])
if not v then return -1 end
local kind, id = string.sub(v, 1, 1), string.sub(v, 3)
local stream, seqKey = KEYS[1], KEYS[2]
if kind == 'l' then stream, seqKey = KEYS[3], KEYS[4] end
local ahead = seqOf(id) - delivered(stream, ARGV[1]) - 1
if ahead < 0 then return 0 end
if kind == 'l' then ahead = ahead + waiting(KEYS[1], KEYS[2], ARGV[1]) end
return ahead
`)

// Position implements Producer.
func (q *Redis) Position(ctx context.Context, imageID string) (int64, error) {
	n, err := positionScript.Run(ctx, q.client,
		[]string{q.normal.stream, q.normal.seq, q.low.stream, q.low.seq, q.index},
		q.group, imageID).Int64()
	if err != nil {
		return 0, fmt.Errorf("queue position of image %s: %w", imageID, err)
	}
	if n < 0 {
		return 0, ErrNotQueued
	}
	return n, nil
}

// Depth implements Producer: jobs waiting plus jobs in workers' hands, both streams
// (Depths, summed).
func (q *Redis) Depth(ctx context.Context) (int64, error) {
	d, err := q.Depths(ctx)
	if err != nil {
		return 0, err
	}
	return d.Normal + d.Low, nil
}

// takeScript makes sure the group exists, then, when ARGV[4] is 1, claims jobs idle for
// longer than the visibility timeout and trims acknowledged entries, then reads new
// jobs up to the count. It returns the next claim cursor and {id, fields, deliveries}
// per job.
var takeScript = redis.NewScript(luaHelpers + `
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])
redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
local out = {}
local cursor = ARGV[6]
if ARGV[4] == '1' then
  local res = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[5], cursor, 'COUNT', n)
  cursor = res[1]
  for _, e in ipairs(res[2]) do
    local p = redis.call('XPENDING', stream, group, 'IDLE', 0, e[1], e[1], 1, consumer)
    local deliveries = 1
    if p[1] then deliveries = p[1][4] end
    table.insert(out, {e[1], e[2], deliveries})
  end
  -- Everything below both the oldest pending entry and the next undelivered one is
  -- acknowledged: trim it.
  local minid = delivered(stream, group) + 1
  local summary = redis.call('XPENDING', stream, group)
  if summary[1] > 0 then
    local oldest = seqOf(summary[2])
    if oldest < minid then minid = oldest end
  end
  redis.call('XTRIM', stream, 'MINID', minid .. '-0')
end
if #out < n then
  local res = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', n - #out, 'STREAMS', stream, '>')
  if res then
    for _, e in ipairs(res[1][2]) do table.insert(out, {e[1], e[2], 1}) end
  end
end
return {cursor, out}
`)

// Take implements Consumer. Jobs idle in a dead worker's hands come first, then new
// uploads, then reclassification; when nothing waits it blocks on both streams for up
// to wait.
func (q *Redis) Take(ctx context.Context, maxJobs int, wait time.Duration) ([]Delivery, error) {
	if maxJobs < 1 {
		maxJobs = 1
	}
	claim := q.claimDue()
	var out []Delivery
	for _, k := range []streamKeys{q.normal, q.low} {
		got, err := q.take(ctx, k, maxJobs-len(out), claim)
		if err != nil {
			return out, err
		}
		out = append(out, got...)
		if len(out) > 0 {
			// Never mix in reclassification while uploads wait.
			return out, nil
		}
	}
	if wait <= 0 {
		return nil, nil
	}
	// Nothing waits: block until a job arrives on either stream. go-redis extends the
	// connection's read deadline by the block time.
	block := min(wait, time.Until(deadlineOr(ctx, wait)))
	if block < time.Millisecond {
		return nil, ctx.Err()
	}
	res, err := q.client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: q.group, Consumer: q.consumer,
		Streams: []string{q.normal.stream, q.low.stream, ">", ">"},
		Count:   int64(maxJobs), Block: block,
	}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil && isNoGroup(err):
		return nil, nil // flushed meanwhile: the next Take makes the group again
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	// Both streams may answer at once: uploads first, and never more than maxJobs; the
	// rest go back at once.
	var extra []Delivery
	for _, k := range []streamKeys{q.normal, q.low} {
		for _, s := range res {
			if s.Stream != k.stream {
				continue
			}
			for _, m := range s.Messages {
				d := q.delivery(k, m.ID, m.Values, 1)
				if len(out) < maxJobs && (k == q.normal || !hasNormal(out)) {
					out = append(out, d)
				} else {
					extra = append(extra, d)
				}
			}
		}
	}
	for _, d := range extra {
		if err := d.Release(ctx); err != nil {
			return out, err
		}
	}
	return out, nil
}

func hasNormal(ds []Delivery) bool {
	for _, d := range ds {
		if d.Job().Priority != PriorityLow {
			return true
		}
	}
	return false
}

func deadlineOr(ctx context.Context, d time.Duration) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(d)
}

func isNoGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "NOGROUP") }

func (q *Redis) claimDue() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	interval := min(ClaimInterval, q.opts.VisibilityTimeout/4)
	if time.Since(q.lastClaim) < interval {
		return false
	}
	q.lastClaim = time.Now()
	return true
}

func (q *Redis) take(ctx context.Context, k streamKeys, n int, claim bool) ([]Delivery, error) {
	q.mu.Lock()
	cursor := q.cursors[k.stream]
	q.mu.Unlock()
	if cursor == "" {
		cursor = "0-0"
	}
	claimFlag := "0"
	if claim {
		claimFlag = "1"
	}
	res, err := takeScript.Run(ctx, q.client, []string{k.stream},
		q.group, q.consumer, n, claimFlag, q.opts.VisibilityTimeout.Milliseconds(), cursor).Slice()
	if err != nil {
		return nil, fmt.Errorf("take jobs from %s: %w", k.stream, err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("take jobs from %s: unexpected reply %v", k.stream, res)
	}
	if next, ok := res[0].(string); ok {
		q.mu.Lock()
		q.cursors[k.stream] = next
		q.mu.Unlock()
	}
	entries, _ := res[1].([]any)
	out := make([]Delivery, 0, len(entries))
	for _, e := range entries {
		parts, _ := e.([]any)
		if len(parts) != 3 {
			continue
		}
		id, _ := parts[0].(string)
		flat, _ := parts[1].([]any)
		deliveries, _ := parts[2].(int64)
		values := map[string]any{}
		for i := 0; i+1 < len(flat); i += 2 {
			if key, ok := flat[i].(string); ok {
				values[key] = flat[i+1]
			}
		}
		out = append(out, q.delivery(k, id, values, int(deliveries)))
	}
	return out, nil
}

func (q *Redis) delivery(k streamKeys, id string, values map[string]any, attempt int) *redisDelivery {
	str := func(key string) string { s, _ := values[key].(string); return s }
	owner, _ := strconv.ParseInt(str("owner"), 10, 64)
	prio, _ := strconv.Atoi(str("priority"))
	enq, _ := strconv.ParseInt(str("enqueued"), 10, 64)
	d := &redisDelivery{
		q: q, keys: k, id: id, attempt: max(attempt, 1),
		job: Job{
			ImageID: str("image"), OwnerID: owner, Priority: Priority(prio), EnqueuedAt: time.UnixMicro(enq),
			RequestID: str(fieldRequestID), TraceParent: str(fieldTraceParent), TraceState: str(fieldTraceState),
		},
		done: make(chan struct{}),
	}
	go d.heartbeat()
	return d
}

// ownedScript runs body only while the entry (ARGV[3]) is still this consumer's
// (ARGV[2]): another worker may have claimed it while this one stalled. It returns 0
// otherwise.
func ownedScript(body string) *redis.Script {
	return redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if p[1] == nil or p[1][2] ~= ARGV[2] then return 0 end
` + body)
}

// heartbeatScript resets the idle time of an entry this consumer holds.
var heartbeatScript = ownedScript(`
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`)

// ackScript acknowledges an entry and drops the image's index entry if it points at
// this one (a later duplicate keeps its own).
var ackScript = redis.NewScript(`
local ok, n = pcall(redis.call, 'XACK', KEYS[1], ARGV[1], ARGV[3])
if redis.call('HGET', KEYS[2], ARGV[4]) == ARGV[5] then redis.call('HDEL', KEYS[2], ARGV[4]) end
return 1
`)

// releaseScript makes an entry claimable at once without counting the delivery:
// RETRYCOUNT puts back the count XAUTOCLAIM will raise again.
var releaseScript = ownedScript(`
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'RETRYCOUNT', ARGV[5], 'JUSTID')
return 1
`)

// deadLetterScript acknowledges an entry and records it in the dead-letter list.
var deadLetterScript = redis.NewScript(`
pcall(redis.call, 'XACK', KEYS[1], ARGV[1], ARGV[3])
if redis.call('HGET', KEYS[2], ARGV[4]) == ARGV[5] then redis.call('HDEL', KEYS[2], ARGV[4]) end
redis.call('LPUSH', KEYS[3], ARGV[6])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[7]) - 1)
return 1
`)

// DeadLetter implements Consumer.
func (q *Redis) DeadLetter(ctx context.Context, d Delivery, reason string) error {
	rd, ok := d.(*redisDelivery)
	if !ok {
		return errForeignDelivery
	}
	rd.stop()
	entry, err := json.Marshal(DeadLetter{Job: rd.job, Attempts: rd.attempt, Reason: reason, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("dead-letter image %s: %w", rd.job.ImageID, err)
	}
	err = deadLetterScript.Run(ctx, q.client, []string{rd.keys.stream, q.index, q.dead},
		q.group, q.consumer, rd.id, rd.job.ImageID, rd.indexValue(), string(entry), q.opts.DeadLetterMax).Err()
	if err != nil {
		return fmt.Errorf("dead-letter image %s: %w", rd.job.ImageID, err)
	}
	return nil
}

// DeadLetters lists up to limit entries of the dead-letter list, newest first.
func (q *Redis) DeadLetters(ctx context.Context, limit int64) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	raw, err := q.client.LRange(ctx, q.dead, 0, limit-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(raw))
	for _, r := range raw {
		var dl DeadLetter
		if err := json.Unmarshal([]byte(r), &dl); err == nil {
			out = append(out, dl)
		}
	}
	return out, nil
}

// PruneConsumers removes consumers that hold no jobs and were idle for longer than
// idle: every crashed or scaled-in worker leaves one behind.
func (q *Redis) PruneConsumers(ctx context.Context, idle time.Duration) (int, error) {
	removed := 0
	for _, k := range []streamKeys{q.normal, q.low} {
		cs, err := q.client.XInfoConsumers(ctx, k.stream, q.group).Result()
		if err != nil {
			if isNoGroup(err) || strings.Contains(err.Error(), "no such key") {
				continue
			}
			return removed, fmt.Errorf("list consumers of %s: %w", k.stream, err)
		}
		for _, c := range cs {
			if c.Pending == 0 && c.Idle > idle && c.Name != q.consumer {
				if err := q.client.XGroupDelConsumer(ctx, k.stream, q.group, c.Name).Err(); err != nil {
					return removed, fmt.Errorf("remove consumer %s: %w", c.Name, err)
				}
				removed++
			}
		}
	}
	return removed, nil
}

var errForeignDelivery = errors.New("queue: delivery from another queue")

type redisDelivery struct {
	q       *Redis
	keys    streamKeys
	id      string
	attempt int
	job     Job

	once sync.Once
	done chan struct{}
}

func (d *redisDelivery) Job() Job     { return d.job }
func (d *redisDelivery) Attempt() int { return d.attempt }

func (d *redisDelivery) indexValue() string { return d.keys.kind + ":" + d.id }

func (d *redisDelivery) stop() { d.once.Do(func() { close(d.done) }) }

// heartbeat keeps the entry from going idle while this worker holds it, so that only a
// dead or partitioned worker's jobs are claimed by others.
func (d *redisDelivery) heartbeat() {
	t := time.NewTicker(max(d.q.opts.VisibilityTimeout/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), d.q.opts.VisibilityTimeout/3+time.Second)
			_ = heartbeatScript.Run(ctx, d.q.client, []string{d.keys.stream}, d.q.group, d.q.consumer, d.id).Err()
			cancel()
		}
	}
}

func (d *redisDelivery) Ack(ctx context.Context) error {
	d.stop()
	err := ackScript.Run(ctx, d.q.client, []string{d.keys.stream, d.q.index},
		d.q.group, d.q.consumer, d.id, d.job.ImageID, d.indexValue()).Err()
	if err != nil {
		return fmt.Errorf("acknowledge job of image %s: %w", d.job.ImageID, err)
	}
	return nil
}

func (d *redisDelivery) Release(ctx context.Context) error {
	d.stop()
	idle := 10 * d.q.opts.VisibilityTimeout.Milliseconds()
	err := releaseScript.Run(ctx, d.q.client, []string{d.keys.stream},
		d.q.group, d.q.consumer, d.id, idle, d.attempt-1).Err()
	if err != nil && !isNoGroup(err) {
		return fmt.Errorf("release job of image %s: %w", d.job.ImageID, err)
	}
	return nil
}
