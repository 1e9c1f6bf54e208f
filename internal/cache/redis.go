package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
)

// restAfterFailure is how long reads and fills skip a Redis that just failed, so a slow
// or dead Redis costs one timeout per rest, not one per request. Invalidations always
// try.
const restAfterFailure = time.Second

// Redis is a LabelCounts shared by every replica and worker of a Gallery.
//
// Each owner has two keys, in one hash slot: the counts (JSON, expiring after the TTL)
// and a generation, bumped by every invalidation. A fill caches its counts only if the
// generation is still the one it read before querying the database, checked and set in
// one script, so a read racing a write cannot cache what the write replaced.
type Redis struct {
	rc     redis.UniversalClient
	prefix string
	o      Options
	// genTTL keeps a generation well past any fill that could have read it.
	genTTL time.Duration
	log    *slog.Logger

	// restUntil (Unix nanoseconds) is when reads and fills try Redis again.
	restUntil atomic.Int64
	// down is set while Redis is failing, so the change is logged once each way.
	down atomic.Bool
}

// NewRedis returns a cache in rc under the Gallery's key prefix. log may be nil.
func NewRedis(rc redis.UniversalClient, gallery string, o Options, log *slog.Logger) *Redis {
	o = o.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redis{
		rc: rc, prefix: config.RedisPrefix(gallery, "labelcounts", "v1"), o: o,
		genTTL: max(10*o.TTL, time.Minute), log: log,
	}
}

// TTL implements LabelCounts.
func (r *Redis) TTL() time.Duration { return r.o.TTL }

// keys are the owner's counts and generation. The braces make Redis Cluster keep both
// in one slot, as the fill script needs.
func (r *Redis) keys(ownerID int64) (counts, gen string) {
	counts = r.prefix + "{" + strconv.FormatInt(ownerID, 10) + "}"
	return counts, counts + ":gen"
}

// labelCountJSON is the stored form, independent of store.LabelCount's field names.
type labelCountJSON struct {
	Name   string `json:"n"`
	Images int64  `json:"i"`
}

// Get implements LabelCounts.
func (r *Redis) Get(ctx context.Context, ownerID int64) ([]store.LabelCount, string, bool, error) {
	if r.resting() {
		return nil, "", false, errUnavailable
	}
	countsKey, genKey := r.keys(ownerID)
	vals, err := call(ctx, r, func(ctx context.Context) ([]any, error) {
		return r.rc.MGet(ctx, countsKey, genKey).Result()
	})
	if err != nil {
		return nil, "", false, err
	}
	token, _ := vals[1].(string)
	raw, ok := vals[0].(string)
	if !ok {
		return nil, token, false, nil
	}
	var stored []labelCountJSON
	if err := json.Unmarshal([]byte(raw), &stored); err != nil {
		// The fill after this miss overwrites it.
		return nil, token, false, fmt.Errorf("decode cached label counts of user %d: %w", ownerID, err)
	}
	counts := make([]store.LabelCount, len(stored))
	for i, c := range stored {
		counts[i] = store.LabelCount{Name: c.Name, Images: c.Images}
	}
	return counts, "", true, nil
}

// fillScript sets KEYS[1] to ARGV[2] for ARGV[3] ms if the generation KEYS[2] is still
// ARGV[1] (empty: none).
var fillScript = redis.NewScript(`
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	return 1
end
return 0
`)

// Put implements LabelCounts.
func (r *Redis) Put(ctx context.Context, ownerID int64, token string, counts []store.LabelCount) error {
	if r.resting() {
		return errUnavailable
	}
	stored := make([]labelCountJSON, len(counts))
	for i, c := range counts {
		stored[i] = labelCountJSON{Name: c.Name, Images: c.Images}
	}
	payload, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("encode label counts: %w", err)
	}
	countsKey, genKey := r.keys(ownerID)
	_, err = call(ctx, r, func(ctx context.Context) (any, error) {
		return fillScript.Run(ctx, r.rc, []string{countsKey, genKey}, token, payload, r.o.TTL.Milliseconds()).Result()
	})
	return err
}

// Invalidate implements LabelCounts.
func (r *Redis) Invalidate(ctx context.Context, ownerID int64) error {
	countsKey, genKey := r.keys(ownerID)
	_, err := call(ctx, r, func(ctx context.Context) ([]redis.Cmder, error) {
		return r.rc.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, genKey)
			p.PExpire(ctx, genKey, r.genTTL)
			p.Del(ctx, countsKey)
			return nil
		})
	})
	return err
}

func (r *Redis) resting() bool { return time.Now().UnixNano() < r.restUntil.Load() }

// call runs f within the timeout. The client's own socket timeouts are the queue's
// (seconds, for blocking reads), so f runs aside and is abandoned when the timeout
// passes; the rest after a failure bounds how many are abandoned at once.
func call[T any](ctx context.Context, r *Redis, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer cancel()
		v, err := f(ctx)
		done <- result{v, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		res.err = fmt.Errorf("no answer within %s: %w", r.o.Timeout, ctx.Err())
	}
	if res.err != nil {
		res.err = fmt.Errorf("%w: redis: %w", errUnavailable, res.err)
	}
	r.record(res.err)
	return res.v, res.err
}

// record starts a rest after a failure and logs when Redis goes and comes back.
func (r *Redis) record(err error) {
	if err == nil {
		r.restUntil.Store(0)
		if r.down.Swap(false) {
			r.log.Info("label count cache reachable again")
		}
		return
	}
	r.restUntil.Store(time.Now().Add(restAfterFailure).UnixNano())
	if !r.down.Swap(true) {
		r.log.Warn("label count cache unreachable: label counts are read from the database", "error", err)
	}
}
