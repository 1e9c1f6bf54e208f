package main

import (
	"context"
	"log/slog"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
)

func init() { commands["migrate"] = migrate }

// migrate brings the database schema up to date, records this build's version in
// app_versions, and exits: the operator runs it as the server pods' init container, and
// before an upgrade in a Job of the new image. Replicas starting together are safe: one migrates while
// the others wait on the database's lock and then find nothing to do.
func migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	st, err := store.Open(ctx, cfg.Database, cfg.SQLiteFile())
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if err := st.RecordAppVersion(ctx, version); err != nil {
		return err
	}
	log.Info("migrated database", "driver", cfg.Database.Driver, "schemaVersion", v, "appVersion", version)
	return nil
}
