package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/dbconn"
)

// Open connects to the database db describes and checks that it answers. sqliteFile is
// where the SQLite database lives (config.Config.SQLiteFile); other drivers ignore it.
// Open does not migrate: call Migrate.
func Open(ctx context.Context, db config.Database, sqliteFile string, opts ...Option) (Store, error) {
	o := openOptions{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	var (
		s   *sqlStore
		err error
	)
	switch db.Driver {
	case config.DriverMySQL:
		s, err = openMySQL(db, o.log)
	case config.DriverPostgres:
		s, err = openPostgres(db, o.log)
	case config.DriverSQLite, "":
		s, err = openSQLite(sqliteFile)
	default:
		err = fmt.Errorf("unknown database driver %q", db.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", db.Driver, err)
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open %s database: %w", db.Driver, err)
	}
	return s, nil
}

// Option tunes Open.
type Option func(*openOptions)

type openOptions struct {
	log *slog.Logger
}

// WithLogger logs the read replicas going down and coming back to log (default:
// slog.Default()).
func WithLogger(log *slog.Logger) Option {
	return func(o *openOptions) {
		if log != nil {
			o.log = log
		}
	}
}

// dialect is what differs between the databases.
type dialect struct {
	name string
	// numbered rewrites ? placeholders as $1, $2, … (PostgreSQL).
	numbered bool
	// forUpdate locks the rows a transaction reads (empty for SQLite, whose write
	// transactions already hold the database's write lock).
	forUpdate string
	// returningID: INSERT … RETURNING id instead of LastInsertId (PostgreSQL).
	returningID bool
	// txOptions of write transactions (nil: the driver's default).
	txOptions *sql.TxOptions
	// lock takes the migration lock on conn and returns its release.
	lock func(ctx context.Context, conn *sql.Conn) (unlock func(), err error)
	// isDuplicate reports a unique-constraint violation.
	isDuplicate func(error) bool

	// Planner hints, each measured by BenchmarkScale; empty where the planner needs none.
	//
	// cursorIndexHint follows "images" in ListImages past the first page.
	cursorIndexHint string
	// labelsFirstJoin joins images to labels in SearchByLabels, keeping labels the
	// driving table (empty: JOIN).
	labelsFirstJoin string

	// textMatch is the query of the ids and times of owner's images whose text has
	// every one of terms, through the database's full-text index (search.go).
	textMatch func(ownerID int64, terms []string) (string, []any)

	// countSchemaTable counts the schema_migrations tables (0 or 1) of the database the
	// store uses.
	countSchemaTable string
	// beginSnapshot starts a consistent, read-only transaction on a connection that
	// sees no later commits (OpenSnapshot).
	beginSnapshot []string
	// advanceUserIDs moves the users id generator past the ids a restore loaded
	// explicitly (empty: the database does so by itself).
	advanceUserIDs string
}

// Connection pool limits for the server databases. A gallery replica serves requests
// and runs workers; 20 connections each keeps 10 replicas within a small server's
// max_connections.
const (
	maxOpenConns    = 20
	connMaxLifetime = 5 * time.Minute
	dialTimeout     = 10 * time.Second
)

// connectorFunc connects to one server of the configured database (the writer or a
// reader).
type connectorFunc func(host string, port int, timeout time.Duration) (driver.Connector, error)

// serverConnector reads db's CA bundle once and returns how to connect to its servers.
func serverConnector(db config.Database) (connectorFunc, error) {
	ca, err := dbconn.ReadCA(db)
	if err != nil {
		return nil, err
	}
	return func(host string, port int, timeout time.Duration) (driver.Connector, error) {
		return dbconn.Connector(db, ca, host, port, timeout)
	}, nil
}

func openMySQL(db config.Database, log *slog.Logger) (*sqlStore, error) {
	connect, err := serverConnector(db)
	if err != nil {
		return nil, err
	}
	connector, err := connect(db.Host, portOr(db.Port, 3306), dialTimeout)
	if err != nil {
		return nil, err
	}
	writer := sql.OpenDB(connector)
	poolServer(writer)
	readers, err := openReaders(db, log, 3306, "", connector, func(host string, port int) (driver.Connector, error) {
		return connect(host, port, readerDialTimeout)
	})
	if err != nil {
		_ = writer.Close()
		return nil, err
	}
	return &sqlStore{db: writer, readers: readers, d: dialect{
		name:      config.DriverMySQL,
		forUpdate: " FOR UPDATE",
		// InnoDB's default REPEATABLE READ takes gap locks on the labels index, and two
		// workers inserting labels of different images deadlock (error 1213). READ
		// COMMITTED is enough: every write locks its image row first.
		txOptions:   &sql.TxOptions{Isolation: sql.LevelReadCommitted},
		lock:        mysqlLock(db.Name),
		isDuplicate: mysqlDuplicate,
		// MariaDB 10.11 costs the cursor's range on images_owner_created the same as the
		// owner's whole ref on it, picks the ref and reads every newer row first: 40 ms
		// 600 pages deep, 0.3 ms with the range.
		cursorIndexHint: " FORCE INDEX (images_owner_created)",
		// MariaDB turns the search's EXISTS into a semi-join and, with two labels or
		// more, starts from a scan of every image, sorting them all: 45 ms at 20,000
		// images, 0.4 ms with labels first.
		labelsFirstJoin:  "STRAIGHT_JOIN",
		textMatch:        mysqlTextMatch,
		countSchemaTable: "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'",
		beginSnapshot:    []string{"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"},
	}}, nil
}

func openPostgres(db config.Database, log *slog.Logger) (*sqlStore, error) {
	connect, err := serverConnector(db)
	if err != nil {
		return nil, err
	}
	connector, err := connect(db.Host, portOr(db.Port, 5432), dialTimeout)
	if err != nil {
		return nil, err
	}
	writer := sql.OpenDB(connector)
	poolServer(writer)
	readers, err := openReaders(db, log, 5432, postgresLagQuery, connector, func(host string, port int) (driver.Connector, error) {
		return connect(host, port, readerDialTimeout)
	})
	if err != nil {
		_ = writer.Close()
		return nil, err
	}
	return &sqlStore{db: writer, readers: readers, d: dialect{
		name:             config.DriverPostgres,
		numbered:         true,
		forUpdate:        " FOR UPDATE",
		returningID:      true,
		lock:             postgresLock,
		isDuplicate:      postgresDuplicate,
		textMatch:        postgresTextMatch,
		countSchemaTable: "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
		beginSnapshot:    []string{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"},
		// Explicit ids leave the identity's sequence behind; the next sign-up would
		// collide with a restored user.
		advanceUserIDs: "SELECT setval(pg_get_serial_sequence('users', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM users",
	}}, nil
}

func openSQLite(path string) (*sqlStore, error) {
	if path == "" {
		return nil, errors.New("no SQLite file given")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create SQLite directory: %w", err)
	}
	// busy_timeout first, so the other pragmas wait for a lock instead of failing.
	// _txlock=immediate makes every transaction take the write lock at BEGIN: our
	// transactions all write, and taking the lock late can fail with SQLITE_BUSY
	// without waiting.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	writer, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	return &sqlStore{db: writer, d: dialect{
		name:             config.DriverSQLite,
		lock:             func(context.Context, *sql.Conn) (func(), error) { return func() {}, nil },
		isDuplicate:      sqliteDuplicate,
		textMatch:        sqliteTextMatch,
		countSchemaTable: "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
		// The driver's BeginTx would take the write lock (_txlock=immediate).
		beginSnapshot: []string{"BEGIN DEFERRED"},
	}}, nil
}

func poolServer(db *sql.DB) {
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	// Recycling connections follows DNS after a failover and spreads load after a
	// scale-up.
	db.SetConnMaxLifetime(connMaxLifetime)
}

func portOr(port, def int) int {
	if port == 0 {
		return def
	}
	return port
}

func mysqlDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062 // ER_DUP_ENTRY
}

func postgresDuplicate(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

func sqliteDuplicate(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) &&
		(se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// mysqlLock takes a named lock, which is server-wide, so the name carries the database
// name: galleries sharing a server do not wait on each other. The lock belongs to the
// connection and dies with it, so a crashed migrator cannot leave it held.
func mysqlLock(database string) func(context.Context, *sql.Conn) (func(), error) {
	name := "sortographer.migrate." + database
	if len(name) > 64 {
		name = name[:64]
	}
	return func(ctx context.Context, conn *sql.Conn) (func(), error) {
		var got sql.NullInt64
		// Wait up to 10 minutes: another replica may be running a long migration.
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 600)", name).Scan(&got); err != nil {
			return nil, fmt.Errorf("take migration lock: %w", err)
		}
		if !got.Valid || got.Int64 != 1 {
			return nil, errors.New("take migration lock: timed out")
		}
		return func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", name)
		}, nil
	}
}

// postgresLockKey is the advisory lock key for migrations ("sortographer" in ASCII, as
// a number), scoped by PostgreSQL to the current database.
const postgresLockKey = 0x736f72746f677261

// postgresLock takes a session advisory lock, released on unlock or when the connection
// dies.
func postgresLock(ctx context.Context, conn *sql.Conn) (func(), error) {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(postgresLockKey)); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(postgresLockKey))
	}, nil
}

// rebind rewrites ? placeholders for dialects that number them. Queries in this package
// never contain a literal question mark.
func (d dialect) rebind(query string) string {
	if !d.numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
