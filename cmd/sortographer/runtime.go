package main

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// runtime is what `serve` and `work` both start from: libvips and tracing started, the
// database, the photo storage and, when SORTOGRAPHER_REDIS_ADDR is set, Redis. Each
// command then checks the schema its own way (serve may migrate; work waits) and
// builds on these.
type runtime struct {
	store   store.Store
	objects objects.Store
	// redis is nil without SORTOGRAPHER_REDIS_ADDR (the embedded default).
	redis *redis.Client

	closers []func()
}

// startRuntime starts what every long-running command needs. The caller defers
// Close, which releases it all in reverse.
func startRuntime(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *runtime, err error) {
	rt := &runtime{}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	if err := startImaging(cfg, log); err != nil {
		return nil, err
	}
	flushTraces, err := startTracing(ctx, log)
	if err != nil {
		return nil, err
	}
	rt.closers = append(rt.closers, flushTraces)
	if rt.store, err = store.Open(ctx, cfg.Database, cfg.SQLiteFile(), store.WithLogger(log.With("component", "database"))); err != nil {
		return nil, err
	}
	rt.closers = append(rt.closers, func() { _ = rt.store.Close() })
	if rt.objects, err = objects.Open(ctx, cfg); err != nil {
		return nil, err
	}
	if cfg.Redis.Addr != "" {
		if rt.redis, err = queue.NewRedisClient(cfg.Redis); err != nil {
			return nil, err
		}
		rt.closers = append(rt.closers, func() { _ = rt.redis.Close() })
	}
	return rt, nil
}

// Close releases what startRuntime opened, last first.
func (rt *runtime) Close() {
	for i := len(rt.closers) - 1; i >= 0; i-- {
		rt.closers[i]()
	}
	rt.closers = nil
}

// redisClient is the Redis client as the packages that take an optional one want it:
// a nil interface, not a nil pointer in one, without Redis.
func (rt *runtime) redisClient() redis.UniversalClient {
	if rt.redis == nil {
		return nil
	}
	return rt.redis
}
