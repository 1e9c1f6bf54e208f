package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ReclassifyRequest is an image marked for reclassification, as the drain lists it.
type ReclassifyRequest struct {
	ImageID string
	OwnerID int64
	// RequestedAt is the mark as listed; MarkReclassifyEnqueued records only this
	// mark's enqueue, so a request made after the listing is not lost.
	RequestedAt time.Time
	// EnqueuedAt is when the drain last enqueued its job; zero when never.
	EnqueuedAt time.Time
}

// Failure is a failed image as the admin view shows it: no content, no email.
type Failure struct {
	ImageID string
	OwnerID int64
	Reason  string
	At      time.Time
}

// Every request sets reclassify_at to now and forgets any enqueue, even on an image
// already marked: its job may be running with the image as it was before the request,
// and the worker removes only the mark its own job was enqueued for, so the newer
// request is drained again rather than lost. A repeated request can therefore classify
// an image twice, which is harmless.

func (s *sqlStore) RequestReclassify(ctx context.Context, ownerID int64, imageID string) (Image, error) {
	// Two tries: the image may leave "queued" between the update and the read.
	for range 2 {
		res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE images SET reclassify_at = ?, reclassify_enqueued_at = NULL WHERE id = ? AND owner_id = ? AND status <> ?"),
			time.Now().UnixMicro(), imageID, ownerID, string(StatusQueued))
		if err != nil {
			return Image{}, fmt.Errorf("request reclassification of image %s: %w", imageID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return Image{}, fmt.Errorf("request reclassification of image %s: %w", imageID, err)
		}
		img, err := s.Image(ctx, ownerID, imageID)
		if err != nil {
			return Image{}, fmt.Errorf("request reclassification: %w", err)
		}
		if n > 0 {
			return img, nil
		}
		if img.Status == StatusQueued {
			return img, fmt.Errorf("request reclassification of image %s: %w", imageID, ErrStillQueued)
		}
	}
	return Image{}, fmt.Errorf("request reclassification of image %s: its status keeps changing", imageID)
}

func (s *sqlStore) RequestReclassifyAll(ctx context.Context, ownerID int64) (int64, error) {
	// One statement: the marks are all set or none is, whatever the image count.
	res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE images SET reclassify_at = ?, reclassify_enqueued_at = NULL WHERE owner_id = ? AND status <> ?"),
		time.Now().UnixMicro(), ownerID, string(StatusQueued))
	if err != nil {
		return 0, fmt.Errorf("request reclassification of user %d's images: %w", ownerID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("request reclassification of user %d's images: %w", ownerID, err)
	}
	return n, nil
}

func (s *sqlStore) PendingReclassification(ctx context.Context, staleBefore time.Time, limit int) ([]ReclassifyRequest, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT id, owner_id, reclassify_at, reclassify_enqueued_at FROM images WHERE reclassify_at IS NOT NULL "+
		"AND (reclassify_enqueued_at IS NULL OR reclassify_enqueued_at < ?) ORDER BY reclassify_at, id LIMIT ?"), micros(staleBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("list images pending reclassification: %w", err)
	}
	out, err := scanAll(rows, func(row rowScanner) (ReclassifyRequest, error) {
		var r ReclassifyRequest
		var at int64
		var enqueued sql.NullInt64
		err := row.Scan(&r.ImageID, &r.OwnerID, &at, &enqueued)
		r.RequestedAt, r.EnqueuedAt = fromMicros(at), fromNullMicros(enqueued)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("list images pending reclassification: %w", err)
	}
	return out, nil
}

func (s *sqlStore) MarkReclassifyEnqueued(ctx context.Context, reqs []ReclassifyRequest, at time.Time) error {
	if len(reqs) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.d.rebind("UPDATE images SET reclassify_enqueued_at = ? WHERE id = ? AND reclassify_at = ?"))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range reqs {
			if _, err := stmt.ExecContext(ctx, micros(at), r.ImageID, micros(r.RequestedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record reclassification jobs enqueued: %w", err)
	}
	return nil
}

func (s *sqlStore) FinishReclassification(ctx context.Context, imageID string, enqueuedAt time.Time) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE images SET reclassify_at = NULL, reclassify_enqueued_at = NULL WHERE id = ? AND reclassify_enqueued_at = ?"),
		imageID, micros(enqueuedAt))
	if err != nil {
		return fmt.Errorf("finish reclassification of image %s: %w", imageID, err)
	}
	return nil
}

func (s *sqlStore) RecentFailures(ctx context.Context, limit int) ([]Failure, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	rows, err := s.reader(ctx).QueryContext(ctx, s.d.rebind("SELECT id, owner_id, failure_reason, COALESCE(failed_at, queued_at) FROM images "+
		"WHERE status = ? ORDER BY failed_at DESC, id DESC LIMIT ?"), string(StatusFailed), limit)
	if err != nil {
		return nil, fmt.Errorf("list recent failures: %w", err)
	}
	out, err := scanAll(rows, func(row rowScanner) (Failure, error) {
		var f Failure
		var at int64
		err := row.Scan(&f.ImageID, &f.OwnerID, &f.Reason, &at)
		f.At = fromMicros(at)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("list recent failures: %w", err)
	}
	return out, nil
}
