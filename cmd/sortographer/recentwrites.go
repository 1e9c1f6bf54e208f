package main

import (
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/config"
)

// newRecentWrites is where `serve` and `work` keep the read-your-writes marks: nil
// (none, at no cost) unless database readers are configured with a window; in Redis,
// shared by every server replica and worker, when rc is set; else in this process.
func newRecentWrites(cfg config.Config, rc *redis.Client, log *slog.Logger) cache.RecentWrites {
	if len(cfg.Database.ReaderHosts) == 0 || cfg.Database.ReadYourWritesWindow <= 0 {
		return nil
	}
	if rc != nil {
		return cache.NewRedisRecentWrites(rc, cfg.GalleryName, cfg.Database.ReadYourWritesWindow, 0, log)
	}
	return cache.NewMemoryRecentWrites(cfg.Database.ReadYourWritesWindow)
}
