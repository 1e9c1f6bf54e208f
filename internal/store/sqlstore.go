package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The Store over database/sql, one file per thing stored: users.go, images.go,
// labels.go (and labels_batch.go), albums.go, shares.go, reclassify.go, usage.go, with
// page cursors in cursor.go. This file holds what they share; open.go holds the
// dialects, which is where the databases differ.

// sqlStore is the Store over database/sql; dialect holds what differs.
type sqlStore struct {
	// db is the writer. Reads that must see the latest writes use it too.
	db *sql.DB
	d  dialect
	// readers are the read replicas (readers.go); nil without any.
	readers *readerSet
}

// reader is where lag-tolerant reads go: a read replica that is up, or the writer when
// there is none or ctx asks for the caller's own recent writes (WithPrimaryReads).
func (s *sqlStore) reader(ctx context.Context) *sql.DB {
	if s.readers == nil || PrimaryReads(ctx) {
		return s.db
	}
	if r := s.readers.pick(); r != nil {
		return r.db
	}
	return s.db
}

// Close closes the readers' pools and the writer's.
func (s *sqlStore) Close() error {
	var err error
	if s.readers != nil {
		err = s.readers.close()
	}
	return errors.Join(err, s.db.Close())
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Times are Unix microseconds in the database.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// rowScanner is a *sql.Row or a *sql.Rows: the scanX functions read either.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanAll reads every row of rows with scan and closes rows. An empty result is an
// empty slice, never nil (the API shows it as []); the error is scan's first, or the
// one that ended the rows.
func scanAll[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// scanValue reads a row of one column, for scanAll.
func scanValue[T any](row rowScanner) (T, error) {
	var v T
	err := row.Scan(&v)
	return v, err
}

// beginAttempts bounds BeginTx on connections found closed before BEGIN was sent.
const beginAttempts = 3

// inTx runs fn in a transaction on the writer, committing when fn returns nil.
func (s *sqlStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	var tx *sql.Tx
	var err error
	for range beginAttempts {
		tx, err = s.db.BeginTx(ctx, s.d.txOptions)
		// pgx's database/sql driver turns a connection found closed into
		// driver.ErrBadConn (which database/sql retries on another connection) for a
		// statement, but not for BEGIN: retry that here, as nothing was sent. A
		// failover or a restarted server leaves such connections in the pool.
		if err == nil || !pgconn.SafeToRetry(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// execOne runs a statement meant for one row (an image, an album, a share link) and
// reports ErrNotFound when it matched none; what names it in the error.
func (s *sqlStore) execOne(ctx context.Context, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.d.rebind(query), args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// distinctIDs drops repeats and empty ids, keeping the order.
func distinctIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// placeholders is "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
