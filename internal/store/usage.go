package store

import (
	"context"
	"fmt"
)

// Counts over the whole Gallery: Stats for the admin view, Usage for the metrics.

// Usage is what a Gallery holds, for its metrics: images by status and the bytes of
// their originals.
type Usage struct {
	// Images counts images by status (StatusQueued, StatusLabelled, StatusFailed); a
	// status without images is absent.
	Images map[ImageStatus]int64
	// OriginalBytes is the sum of the images' SizeBytes: the originals as uploaded.
	// Thumbnails are not counted: their sizes are not recorded.
	OriginalBytes int64
}

// statusCount is a row of images grouped by status.
type statusCount struct {
	status ImageStatus
	images int64
	// bytes sums their sizes, when asked for.
	bytes int64
}

// Usage implements Store: one grouped scan of the images table, on a reader.
func (s *sqlStore) Usage(ctx context.Context) (Usage, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, "SELECT status, COUNT(*), COALESCE(SUM(size_bytes), 0) FROM images GROUP BY status")
	if err != nil {
		return Usage{}, fmt.Errorf("sum image sizes by status: %w", err)
	}
	byStatus, err := scanAll(rows, func(row rowScanner) (statusCount, error) {
		var c statusCount
		// SUM is a DECIMAL on MySQL and a NUMERIC on PostgreSQL: scanned as text,
		// which database/sql converts.
		err := row.Scan(&c.status, &c.images, &c.bytes)
		return c, err
	})
	if err != nil {
		return Usage{}, fmt.Errorf("sum image sizes by status: %w", err)
	}
	u := Usage{Images: map[ImageStatus]int64{}}
	for _, c := range byStatus {
		u.Images[c.status] = c.images
		u.OriginalBytes += c.bytes
	}
	return u, nil
}

func (s *sqlStore) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	db := s.reader(ctx)
	if err := db.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM images), (SELECT COUNT(*) FROM labels), "+
		"(SELECT COUNT(*) FROM images WHERE reclassify_at IS NOT NULL)").
		Scan(&st.Users, &st.Images, &st.Labels, &st.ReclassifyPending); err != nil {
		return Stats{}, fmt.Errorf("count rows: %w", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT status, COUNT(*) FROM images GROUP BY status")
	if err != nil {
		return Stats{}, fmt.Errorf("count images by status: %w", err)
	}
	byStatus, err := scanAll(rows, func(row rowScanner) (statusCount, error) {
		var c statusCount
		err := row.Scan(&c.status, &c.images)
		return c, err
	})
	if err != nil {
		return Stats{}, fmt.Errorf("count images by status: %w", err)
	}
	for _, c := range byStatus {
		switch c.status {
		case StatusQueued:
			st.Queued = c.images
		case StatusLabelled:
			st.Labelled = c.images
		case StatusFailed:
			st.Failed = c.images
		}
	}
	return st, nil
}
