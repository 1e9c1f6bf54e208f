package store

import (
	"context"
	"fmt"
)

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

// Usage implements Store: one grouped scan of the images table, on a reader.
func (s *sqlStore) Usage(ctx context.Context) (Usage, error) {
	u := Usage{Images: map[ImageStatus]int64{}}
	rows, err := s.reader(ctx).QueryContext(ctx, "SELECT status, COUNT(*), COALESCE(SUM(size_bytes), 0) FROM images GROUP BY status")
	if err != nil {
		return Usage{}, fmt.Errorf("sum image sizes by status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status string
			n      int64
			// SUM is a DECIMAL on MySQL and a NUMERIC on PostgreSQL: scanned as
			// text, which database/sql converts.
			bytes int64
		)
		if err := rows.Scan(&status, &n, &bytes); err != nil {
			return Usage{}, fmt.Errorf("sum image sizes by status: %w", err)
		}
		u.Images[ImageStatus(status)] = n
		u.OriginalBytes += bytes
	}
	if err := rows.Err(); err != nil {
		return Usage{}, fmt.Errorf("sum image sizes by status: %w", err)
	}
	return u, nil
}
