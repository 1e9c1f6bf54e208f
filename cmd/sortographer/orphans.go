package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/photos"
	"github.com/sortographer/sortographer/internal/store"
)

var (
	orphansFlags  = flag.NewFlagSet("orphans", flag.ContinueOnError)
	orphansGrace  = orphansFlags.Duration("grace", photos.DefaultOrphanGrace, "leave alone the objects of an image written less than this long ago (an upload or a restore may still record its row)")
	orphansDelete = orphansFlags.Bool("delete", false, "remove the orphans found; without it they are only listed")
)

func init() {
	commands["orphans"] = orphansCommand
	commandFlags["orphans"] = orphansFlags
}

// orphansCommand lists, and with -delete removes, the photos in storage that no image
// row points to (photos.Orphans): left by a crash between an upload's or a delete's
// steps, or by an upload refused while its row may have been committed
// (docs/disaster-recovery.md). It is run by hand, not on a schedule: storage shared
// with another gallery's database would have that gallery's photos taken for orphans.
func orphansCommand(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	st, err := store.Open(ctx, cfg.Database, cfg.SQLiteFile())
	if err != nil {
		return err
	}
	defer st.Close()
	objs, err := objects.Open(ctx, cfg)
	if err != nil {
		return err
	}
	p := photos.New(st, objs, nil, func(context.Context) *slog.Logger { return log })
	if *orphansDelete {
		n, err := p.SweepOrphans(ctx, *orphansGrace)
		log.Info("removed orphaned photos", "images", n)
		return err
	}
	n := 0
	err = p.Orphans(ctx, time.Now().Add(-*orphansGrace), func(o photos.Orphan) error {
		n++
		log.Info("found an image's objects without a row", "imageId", o.ImageID, "ownerId", o.OwnerID, "keys", o.Keys, "modified", o.Modified)
		return nil
	})
	log.Info("listed orphaned photos; run with -delete to remove them", "images", n)
	return err
}
