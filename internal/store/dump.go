package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrNotEmpty is returned (wrapped) by Restore when the database already holds a
// gallery's rows: a restore never merges into, or replaces, data.
var ErrNotEmpty = errors.New("database is not empty")

// BackupTable is one of the gallery's tables as a backup holds it.
type BackupTable struct {
	Name string
	// OrderBy is its primary key, so a dump lists rows in the same order every time.
	OrderBy string
	// Since is the schema version whose migration made the table (0: every version a
	// backup can have): a backup taken at an older version has no file for it, and
	// restores without it (BackupTablesAt).
	Since int
}

// BackupTables are every table that holds the gallery's data, in the order their
// foreign keys allow loading them (schema_migrations and app_versions are bookkeeping,
// not data: a backup records the schema version instead). A migration that adds a table adds it here;
// TestBackupTablesAreEveryTable checks.
var BackupTables = []BackupTable{
	{Name: "users", OrderBy: "id"},
	{Name: "images", OrderBy: "id"},
	{Name: "labels", OrderBy: "image_id, name"},
	{Name: "image_texts", OrderBy: "image_id", Since: 6},
	{Name: "albums", OrderBy: "id"},
	{Name: "album_images", OrderBy: "album_id, image_id"},
	{Name: "shares", OrderBy: "id"},
}

// BackupTablesAt are the BackupTables a database at schema version holds.
func BackupTablesAt(version int) []BackupTable {
	var out []BackupTable
	for _, t := range BackupTables {
		if t.Since <= version {
			out = append(out, t)
		}
	}
	return out
}

// TableSource gives a table's rows, one call of fn per row with the column names and
// the values. Values are nil, int64, float64, bool, string or (for bytes that are not
// UTF-8 text) []byte. A Snapshot is one; so is a backup's set of files.
type TableSource interface {
	Rows(ctx context.Context, table string, fn func(columns []string, values []any) error) error
}

// Snapshot is a consistent, read-only view of a live database: every table read through
// it shows the same moment, while the gallery goes on writing. It holds one connection
// in a transaction (MySQL/MariaDB: REPEATABLE READ WITH CONSISTENT SNAPSHOT, as
// mysqldump --single-transaction; PostgreSQL: REPEATABLE READ READ ONLY, as pg_dump;
// SQLite: a deferred read transaction, which in WAL mode blocks no writer) until Close.
type Snapshot struct {
	conn          *sql.Conn
	schemaVersion int
}

var _ TableSource = (*Snapshot)(nil)

// OpenSnapshot starts a snapshot of s. The caller closes it.
func OpenSnapshot(ctx context.Context, s Store) (*Snapshot, error) {
	ss, ok := s.(*sqlStore)
	if !ok {
		return nil, fmt.Errorf("snapshot: %T is not a SQL store", s)
	}
	version, err := ss.SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	conn, err := ss.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot: connect: %w", err)
	}
	for _, stmt := range ss.d.beginSnapshot {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			discard(conn)
			return nil, fmt.Errorf("snapshot: %s: %w", stmt, err)
		}
	}
	sn := &Snapshot{conn: conn, schemaVersion: version}
	// The schema version read above might predate a migration committed just before the
	// snapshot began; read it again inside the snapshot, where it is what the rows match.
	var v sql.NullInt64
	if version > 0 {
		if err := conn.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
			_ = sn.Close()
			return nil, fmt.Errorf("snapshot: read schema version: %w", err)
		}
		sn.schemaVersion = int(v.Int64)
	}
	return sn, nil
}

// SchemaVersion is the schema version the snapshot's rows belong to.
func (sn *Snapshot) SchemaVersion() int { return sn.schemaVersion }

// Rows reads one of BackupTables in primary-key order.
func (sn *Snapshot) Rows(ctx context.Context, table string, fn func(columns []string, values []any) error) error {
	t, ok := backupTable(table)
	if !ok {
		return fmt.Errorf("snapshot: %q is not a gallery table", table)
	}
	rows, err := sn.conn.QueryContext(ctx, "SELECT * FROM "+t.Name+" ORDER BY "+t.OrderBy)
	if err != nil {
		return fmt.Errorf("snapshot: read %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("snapshot: read %s: %w", table, err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return fmt.Errorf("snapshot: read %s: %w", table, err)
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("snapshot: read %s: %w", table, err)
		}
		values := make([]any, len(cols))
		for i, v := range raw {
			if values[i], err = normalise(v, types[i].DatabaseTypeName()); err != nil {
				return fmt.Errorf("snapshot: read %s.%s: %w", table, cols[i], err)
			}
		}
		if err := fn(cols, values); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("snapshot: read %s: %w", table, err)
	}
	return nil
}

// Columns names a table's columns, for an empty table whose Rows call fn never.
func (sn *Snapshot) Columns(ctx context.Context, table string) ([]string, error) {
	t, ok := backupTable(table)
	if !ok {
		return nil, fmt.Errorf("snapshot: %q is not a gallery table", table)
	}
	rows, err := sn.conn.QueryContext(ctx, "SELECT * FROM "+t.Name+" WHERE 1 = 0")
	if err != nil {
		return nil, fmt.Errorf("snapshot: read %s's columns: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("snapshot: read %s's columns: %w", table, err)
	}
	return cols, rows.Err()
}

// Close ends the snapshot's transaction and returns its connection.
func (sn *Snapshot) Close() error {
	if _, err := sn.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		discard(sn.conn)
		return fmt.Errorf("snapshot: end: %w", err)
	}
	return sn.conn.Close()
}

// discard closes conn without returning it to the pool, where a transaction left open
// would surprise the next user.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// normalise turns a driver's value into one of TableSource's types. MySQL's text
// protocol returns every column as bytes; the column's type says what they are.
func normalise(v any, dbType string) (any, error) {
	switch v := v.(type) {
	case nil, int64, float64, bool, string:
		return v, nil
	case int32:
		return int64(v), nil
	case float32:
		return float64(v), nil
	case []byte:
		switch {
		case isIntegerType(dbType):
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return nil, err
			}
			return n, nil
		case isFloatType(dbType):
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return nil, err
			}
			return f, nil
		case utf8.Valid(v):
			return string(v), nil
		default:
			return append([]byte(nil), v...), nil
		}
	default:
		return nil, fmt.Errorf("unexpected value type %T", v)
	}
}

func isIntegerType(t string) bool {
	t = strings.ToUpper(t)
	return strings.Contains(t, "INT") && !strings.Contains(t, "POINT")
}

func isFloatType(t string) bool {
	switch strings.ToUpper(t) {
	case "DOUBLE", "FLOAT", "FLOAT4", "FLOAT8", "REAL", "DECIMAL", "NUMERIC", "DOUBLE PRECISION":
		return true
	}
	return false
}

func isBoolType(t string) bool {
	switch strings.ToUpper(t) {
	case "BOOL", "BOOLEAN":
		return true
	}
	return false
}

// TransientTables hold state that a backup leaves out on purpose: sessions (migration
// 0007) are sign-ins, which a restored gallery asks for again rather than bringing back
// tokens that may have been revoked since the backup. A restore drops them with the
// rest of an empty schema.
var TransientTables = []string{"sessions"}

func isTransientTable(name string) bool { return slices.Contains(TransientTables, name) }

// indexTables are tables that only index another one's rows: SQLite's full-text index
// of image_texts (an FTS5 table, with its shadow tables image_texts_fts_data, _idx,
// _docsize and _config). Backups leave them out; triggers rebuild them as a restore
// loads image_texts.
var indexTables = []string{"image_texts_fts"}

// isIndexTable reports whether name is one of indexTables or one of their shadow
// tables.
func isIndexTable(name string) bool {
	for _, t := range indexTables {
		if name == t || strings.HasPrefix(name, t+"_") {
			return true
		}
	}
	return false
}

func backupTable(name string) (BackupTable, bool) {
	for _, t := range BackupTables {
		if t.Name == name {
			return t, true
		}
	}
	return BackupTable{}, false
}

// TableCounts counts the rows of every one of BackupTables; a table that does not
// exist yet (a database never migrated, or migrated before the table's version)
// counts 0.
func TableCounts(ctx context.Context, s Store) (map[string]int64, error) {
	ss, ok := s.(*sqlStore)
	if !ok {
		return nil, fmt.Errorf("count rows: %T is not a SQL store", s)
	}
	version, err := ss.SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	counts := make(map[string]int64, len(BackupTables))
	for _, t := range BackupTables {
		counts[t.Name] = 0
	}
	if version == 0 {
		return counts, nil
	}
	for _, t := range BackupTablesAt(version) {
		var n int64
		if err := ss.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.Name).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t.Name, err)
		}
		counts[t.Name] = n
	}
	return counts, nil
}

// insertBatchRows bounds one INSERT: 500 rows, and well under every database's limit on
// placeholders (SQLite's is 32,766).
const insertBatchRows = 500

// Restore loads src's tables into s, which must hold no gallery rows (ErrNotEmpty
// otherwise), as they were at schema version: it drops the empty tables a newer
// schema may have made, migrates to exactly version, loads every table in one
// transaction (a failure leaves the database as empty as it was), and then migrates to
// the latest version, so data migrations run on restored rows as they would have run
// on the originals.
func Restore(ctx context.Context, s Store, version int, src TableSource) error {
	ss, ok := s.(*sqlStore)
	if !ok {
		return fmt.Errorf("restore: %T is not a SQL store", s)
	}
	if version < 1 || version > LatestSchemaVersion {
		return fmt.Errorf("restore: the backup's schema version %d is not one this build knows (1 to %d): restore with the gallery version that made the backup, or a newer one", version, LatestSchemaVersion)
	}
	counts, err := TableCounts(ctx, s)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	var held []string
	for _, t := range BackupTables {
		if counts[t.Name] > 0 {
			held = append(held, fmt.Sprintf("%d %s", counts[t.Name], t.Name))
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("restore: %w: it holds %s", ErrNotEmpty, strings.Join(held, ", "))
	}
	if err := ss.dropEmptySchema(ctx); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := ss.MigrateTo(ctx, version); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := ss.load(ctx, version, src); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := ss.Migrate(ctx); err != nil {
		return fmt.Errorf("restore: migrate the restored data to schema version %d: %w", LatestSchemaVersion, err)
	}
	return nil
}

// dropEmptySchema removes the gallery's tables, which the caller checked are empty, so
// that the schema can be rebuilt at an older version.
func (s *sqlStore) dropEmptySchema(ctx context.Context) error {
	// Transient tables first: they refer to users.
	for _, t := range TransientTables {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			return fmt.Errorf("drop transient table %s: %w", t, err)
		}
	}
	for i := len(BackupTables) - 1; i >= 0; i-- {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+BackupTables[i].Name); err != nil {
			return fmt.Errorf("drop empty table %s: %w", BackupTables[i].Name, err)
		}
	}
	// A migration to the backup's version creates the index tables afresh.
	for _, t := range indexTables {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			return fmt.Errorf("drop empty index %s: %w", t, err)
		}
	}
	for _, bookkeeping := range []string{"app_versions", "schema_migrations"} {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+bookkeeping); err != nil {
			return fmt.Errorf("drop %s: %w", bookkeeping, err)
		}
	}
	return nil
}

// load inserts every table of src, which holds rows of schema version, in one
// transaction.
func (s *sqlStore) load(ctx context.Context, version int, src TableSource) error {
	tx, err := s.db.BeginTx(ctx, s.d.txOptions)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, t := range BackupTablesAt(version) {
		if err := s.loadTable(ctx, tx, t.Name, src); err != nil {
			return err
		}
	}
	if s.d.advanceUserIDs != "" {
		if _, err := tx.ExecContext(ctx, s.d.advanceUserIDs); err != nil {
			return fmt.Errorf("advance the users id sequence: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *sqlStore) loadTable(ctx context.Context, tx *sql.Tx, table string, src TableSource) error {
	targetTypes, err := columnTypes(ctx, tx, table)
	if err != nil {
		return err
	}
	var (
		cols  []string
		batch [][]any
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
		q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", len(batch)), ", ")
		args := make([]any, 0, len(batch)*len(cols))
		for _, r := range batch {
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
			return fmt.Errorf("load %s: %w", table, err)
		}
		batch = batch[:0]
		return nil
	}
	err = src.Rows(ctx, table, func(columns []string, values []any) error {
		if cols == nil {
			for _, c := range columns {
				if _, ok := targetTypes[c]; !ok {
					return fmt.Errorf("load %s: the backup has a column %q that schema version's table lacks", table, c)
				}
			}
			cols = append([]string(nil), columns...)
		} else if strings.Join(columns, ",") != strings.Join(cols, ",") {
			return fmt.Errorf("load %s: rows with different columns", table)
		}
		row := make([]any, len(values))
		for i, v := range values {
			row[i] = coerce(v, targetTypes[cols[i]])
		}
		batch = append(batch, row)
		if len(batch) >= insertBatchRows {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// columnTypes maps a table's columns to their database type names.
func columnTypes(ctx context.Context, q querier, table string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT * FROM "+table+" WHERE 1 = 0")
	if err != nil {
		return nil, fmt.Errorf("read %s's columns: %w", table, err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("read %s's columns: %w", table, err)
	}
	types := make(map[string]string, len(cts))
	for _, ct := range cts {
		types[ct.Name()] = ct.DatabaseTypeName()
	}
	return types, rows.Err()
}

// coerce fits a value dumped from one database to another's column: MySQL and SQLite
// keep booleans as integers, PostgreSQL as booleans.
func coerce(v any, dbType string) any {
	switch v := v.(type) {
	case int64:
		if isBoolType(dbType) {
			return v != 0
		}
	case bool:
		if !isBoolType(dbType) {
			if v {
				return int64(1)
			}
			return int64(0)
		}
	}
	return v
}
