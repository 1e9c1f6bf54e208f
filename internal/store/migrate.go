package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/config"
)

// migrationFiles holds migrations/<dialect>/NNNN_name.sql. Every dialect has the same
// versions. Statements end with a semicolon at the end of a line; a semicolon elsewhere
// (in a string, a comment) does not split.
//
//go:embed migrations
var migrationFiles embed.FS

// LatestSchemaVersion is the newest migration this build knows. Versions need not be
// contiguous: each one not yet recorded is applied, oldest first.
const LatestSchemaVersion = 8

type migration struct {
	version    int
	name       string
	statements []string
}

// migrations reads a dialect's migrations, oldest first.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", dialect, err)
	}
	var ms []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s: want NNNN_name.sql", dir, e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: version, name: name, statements: splitStatements(string(body))})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// splitStatements splits a migration at lines ending in a semicolon (drivers run one
// statement per call), dropping comment-only pieces.
func splitStatements(body string) []string {
	var stmts []string
	var cur strings.Builder
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		code := false
		for _, line := range strings.Split(s, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
				code = true
			}
		}
		if code {
			stmts = append(stmts, strings.TrimSuffix(s, ";"))
		}
	}
	for _, line := range strings.Split(body, "\n") {
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(strings.TrimSpace(line), ";") && !strings.HasPrefix(strings.TrimSpace(line), "--") {
			flush()
		}
	}
	flush()
	return stmts
}

// querier is what both a connection and a transaction offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  applied_at BIGINT NOT NULL
)`

// Migrate applies the migrations not yet applied, each in its own transaction, holding
// a database lock throughout so that replicas starting together take turns: MySQL's
// GET_LOCK, PostgreSQL's pg_advisory_lock, or for SQLite one BEGIN IMMEDIATE
// transaction around everything. MySQL commits DDL as it runs it, so there a failed
// migration can leave part of itself applied and unrecorded; keep its migrations
// small.
func (s *sqlStore) Migrate(ctx context.Context) error {
	return s.MigrateTo(ctx, LatestSchemaVersion)
}

// MigrateTo is Migrate stopping after version: a restore rebuilds the schema a backup's
// rows were taken at, loads them, and only then migrates on.
func (s *sqlStore) MigrateTo(ctx context.Context, version int) error {
	all, err := migrations(s.d.name)
	if err != nil {
		return err
	}
	var ms []migration
	for _, m := range all {
		if m.version <= version {
			ms = append(ms, m)
		}
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()

	if s.d.name == config.DriverSQLite {
		// _txlock=immediate: BEGIN takes the write lock, waiting busy_timeout for it.
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: begin: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		if err := s.applyMigrations(ctx, tx, ms, func(apply func(querier) error) error { return apply(tx) }); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate: commit: %w", err)
		}
		return nil
	}

	unlock, err := s.d.lock(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer unlock()
	return s.applyMigrations(ctx, conn, ms, func(apply func(querier) error) error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if err := apply(tx); err != nil {
			return err
		}
		return tx.Commit()
	})
}

// applyMigrations runs, under the caller's lock, each migration not yet recorded.
// inTx runs one migration's work in a transaction.
func (s *sqlStore) applyMigrations(ctx context.Context, q querier, ms []migration, inTx func(func(querier) error) error) error {
	if _, err := q.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, q)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		err := inTx(func(tx querier) error {
			for i, stmt := range m.statements {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("statement %d: %w", i+1, err)
				}
			}
			_, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
				m.version, m.name, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	versions, err := scanAll(rows, scanValue[int])
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := make(map[int]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}

// SchemaVersion returns the newest applied migration, 0 when none is.
func (s *sqlStore) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.d.countSchemaTable).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// AppVersion is a gallery version that migrated the database (app_versions).
type AppVersion struct {
	Version string
	// FirstMigrated and LastMigrated are when it first and last ran `migrate`.
	FirstMigrated, LastMigrated time.Time
}

// RecordAppVersion notes that version migrated the database now: a new row the first
// time, the last time otherwise. Two replicas recording at once both succeed.
func (s *sqlStore) RecordAppVersion(ctx context.Context, version string) error {
	now := time.Now().UnixMicro()
	update := s.d.rebind("UPDATE app_versions SET last_migrated_at = ? WHERE version = ?")
	for range 2 {
		res, err := s.db.ExecContext(ctx, update, now, version)
		if err != nil {
			return fmt.Errorf("record app version %s: %w", version, err)
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			return nil
		}
		_, err = s.db.ExecContext(ctx, s.d.rebind("INSERT INTO app_versions (version, first_migrated_at, last_migrated_at) VALUES (?, ?, ?)"), version, now, now)
		if err == nil {
			return nil
		}
		if !s.d.isDuplicate(err) {
			return fmt.Errorf("record app version %s: %w", version, err)
		}
		// Another replica inserted it first: update its row.
	}
	return nil
}

// AppVersions lists the versions that migrated the database, the first to migrate it
// first.
func (s *sqlStore) AppVersions(ctx context.Context) ([]AppVersion, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT version, first_migrated_at, last_migrated_at FROM app_versions ORDER BY first_migrated_at, version")
	if err != nil {
		return nil, fmt.Errorf("read app versions: %w", err)
	}
	return scanAll(rows, func(r rowScanner) (AppVersion, error) {
		var v AppVersion
		var first, last int64
		err := r.Scan(&v.Version, &first, &last)
		v.FirstMigrated, v.LastMigrated = time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC()
		return v, err
	})
}
