package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sortographer/sortographer/internal/config"
)

// Read replicas.
//
// With config.Database.ReaderHosts set, lag-tolerant reads (every query that goes
// through sqlStore.reader) are spread round-robin over the readers that are up and not
// lagging too far behind; everything else, and every read whose context carries
// WithPrimaryReads, goes to the writer. A health loop checks each reader every
// readerCheckInterval and marks it up or down; a reader that fails to accept a
// connection is marked down at once, and that read is served by the writer, so a reader
// dying costs no failed request. With no reader usable, reads go to the writer.

// readerCheckInterval is how often each reader is checked. Tests shorten it.
var readerCheckInterval = time.Second

// Reader connections: a dead reader should be noticed and skipped quickly, since the
// writer can answer instead.
const readerDialTimeout = 3 * time.Second

// readerCheckTimeout bounds one health check; a slower answer marks the reader down. A
// variable so tests on a loaded machine can be patient: they assert where reads go, and
// a check timing out under load would send them to the writer.
var readerCheckTimeout = 2 * time.Second

type primaryReadsKey struct{}

// WithPrimaryReads returns a context whose reads all go to the writer, even the
// lag-tolerant ones: for a caller that must see its own recent writes
// (read-your-writes), or a write path that reads what it is about to change.
func WithPrimaryReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryReadsKey{}, true)
}

// PrimaryReads reports whether ctx asks for reads from the writer (WithPrimaryReads).
func PrimaryReads(ctx context.Context) bool {
	v, _ := ctx.Value(primaryReadsKey{}).(bool)
	return v
}

// ReaderState is what the health loop last found about one reader.
type ReaderState struct {
	// Host is the reader as configured, host:port.
	Host string
	// Up: the reader answered its last check.
	Up bool
	// Lag is how far the reader's data is behind the writer; negative when the
	// database does not tell an unprivileged user (MySQL/MariaDB).
	Lag time.Duration
	// Usable: lag-tolerant reads go to this reader (up, and lag within the maximum).
	Usable bool
}

// ReaderStates returns the state of every configured reader of st, in configuration
// order; nil when st has none (or is not a store opened by Open).
func ReaderStates(st Store) []ReaderState {
	s, ok := st.(*sqlStore)
	if !ok || s.readers == nil {
		return nil
	}
	out := make([]ReaderState, len(s.readers.all))
	for i, r := range s.readers.all {
		out[i] = r.state(s.readers.maxLag)
	}
	return out
}

// readerSet is the readers of one store and their health loop.
type readerSet struct {
	all    []*replica
	maxLag time.Duration
	// lagQuery returns the reader's lag in seconds (PostgreSQL); empty: unknown.
	lagQuery string

	next atomic.Uint64
	stop context.CancelFunc
	done sync.WaitGroup
}

// replica is one reader: its pool and what the health loop knows of it.
type replica struct {
	host string
	// db serves reads; its connections fall back to the writer (readerConnector).
	db *sql.DB
	// checks is the health loop's own connection, straight to the reader, so a fallback
	// cannot pass for a healthy reader.
	checks *sql.DB
	log    *slog.Logger

	up atomic.Bool
	// lagNanos is the last measured lag; negative: unknown.
	lagNanos atomic.Int64
	// logged and wasDown remember the last logged state, so each change is logged once.
	mu      sync.Mutex
	logged  bool
	wasDown bool
}

func (r *replica) state(maxLag time.Duration) ReaderState {
	lag := time.Duration(r.lagNanos.Load())
	up := r.up.Load()
	return ReaderState{Host: r.host, Up: up, Lag: lag, Usable: up && (maxLag <= 0 || lag <= maxLag)}
}

// markDown records a failed check or connection. err is logged, once per change.
func (r *replica) markDown(err error) {
	r.up.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.logged || !r.wasDown {
		r.log.Warn("database reader is down; reads go to other readers or the writer", "reader", r.host, "error", err)
	}
	r.logged, r.wasDown = true, true
}

func (r *replica) markUp(lag time.Duration) {
	r.lagNanos.Store(int64(lag))
	r.up.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logged && r.wasDown {
		r.log.Info("database reader is up again; lag-tolerant reads use it", "reader", r.host)
	}
	r.logged, r.wasDown = true, false
}

// pick returns a usable reader, round-robin, or nil when there is none.
func (rs *readerSet) pick() *replica {
	n := len(rs.all)
	start := rs.next.Add(1)
	for i := range n {
		r := rs.all[(start+uint64(i))%uint64(n)]
		if r.state(rs.maxLag).Usable {
			return r
		}
	}
	return nil
}

// run checks every reader now, then every readerCheckInterval until ctx ends.
func (rs *readerSet) run(ctx context.Context) {
	t := time.NewTicker(readerCheckInterval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, r := range rs.all {
			wg.Go(func() { rs.check(ctx, r) })
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (rs *readerSet) check(ctx context.Context, r *replica) {
	ctx, cancel := context.WithTimeout(ctx, readerCheckTimeout)
	defer cancel()
	lag := time.Duration(-1)
	var err error
	if rs.lagQuery == "" {
		err = r.checks.PingContext(ctx)
	} else {
		var seconds float64
		if err = r.checks.QueryRowContext(ctx, rs.lagQuery).Scan(&seconds); err == nil {
			lag = time.Duration(seconds * float64(time.Second))
		}
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // closing
	}
	if err != nil {
		r.markDown(err)
		return
	}
	r.markUp(lag)
}

func (rs *readerSet) close() error {
	rs.stop()
	rs.done.Wait()
	var errs []error
	for _, r := range rs.all {
		if err := errors.Join(r.db.Close(), r.checks.Close()); err != nil {
			errs = append(errs, fmt.Errorf("close database reader %s: %w", r.host, err))
		}
	}
	return errors.Join(errs...)
}

// postgresLagQuery is a standby's replay lag in seconds, readable by any user: zero when
// it has replayed everything it received (an idle writer is not lag), else the age of
// the last transaction it replayed. A server not in recovery (not a standby) has none.
const postgresLagQuery = `SELECT CASE
	WHEN NOT pg_is_in_recovery() THEN 0
	WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
	ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END::float8`

// readerConnector makes the connections of one reader's pool. When the reader refuses
// a connection it marks the reader down and connects to the writer instead, for that
// one use, so the read in hand still succeeds.
type readerConnector struct {
	r      *replica
	reader driver.Connector
	writer driver.Connector
}

func (c *readerConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.reader.Connect(ctx)
	if err == nil {
		return readerConn{Conn: conn}, nil
	}
	if ctx.Err() != nil {
		return nil, err
	}
	c.r.markDown(err)
	wc, werr := c.writer.Connect(ctx)
	if werr != nil {
		return nil, fmt.Errorf("connect to database reader %s: %w; and to the writer: %w", c.r.host, err, werr)
	}
	return readerConn{Conn: wc, oneUse: true}, nil
}

func (c *readerConnector) Driver() driver.Driver { return c.reader.Driver() }

// readerConn is a connection of a reader's pool. A reader's pool runs only reads, which
// are safe to run twice, so a query that fails because the connection was lost (the
// reader shut down or restarted under it) reports driver.ErrBadConn: database/sql then
// retries it on another connection, a fresh one in the end, which readerConnector makes
// to the writer if the reader is gone.
type readerConn struct {
	driver.Conn
	// oneUse marks a writer connection lent to the reader's pool: it serves one use and
	// is then closed, since the pool belongs to the reader.
	oneUse bool
}

// Both drivers implement the optional interfaces below; the fallbacks only keep the
// wrapper correct for one that does not.
var (
	_ driver.QueryerContext     = readerConn{}
	_ driver.ExecerContext      = readerConn{}
	_ driver.ConnPrepareContext = readerConn{}
	_ driver.ConnBeginTx        = readerConn{}
	_ driver.Pinger             = readerConn{}
	_ driver.NamedValueChecker  = readerConn{}
	_ driver.SessionResetter    = readerConn{}
	_ driver.Validator          = readerConn{}
)

func (c readerConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	rows, err := q.QueryContext(ctx, query, args)
	return rows, retryable(ctx, err)
}

func (c readerConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c readerConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		stmt, err := p.PrepareContext(ctx, query)
		return stmt, retryable(ctx, err)
	}
	return c.Prepare(query)
}

func (c readerConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.Begin() //nolint:staticcheck // only for a driver without BeginTx
}

func (c readerConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return retryable(ctx, p.Ping(ctx))
	}
	return nil
}

func (c readerConn) CheckNamedValue(v *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c readerConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c readerConn) IsValid() bool {
	if c.oneUse {
		return false
	}
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// retryable turns an error that lost the connection into driver.ErrBadConn, for
// database/sql to retry the read elsewhere.
func retryable(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, driver.ErrBadConn) {
		return err
	}
	if connectionLost(err) {
		return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
	}
	return err
}

// connectionLost reports an error that means the server went away, not that the query
// failed: the connection broke, or the server is shutting down or restarting.
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot
		// connect now (a standby restarting).
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED.
		return me.Number == 1053 || me.Number == 1927
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// openReaders opens a pool per reader host and starts the health loop. connect makes a
// connector for host:port with the writer's settings.
func openReaders(db config.Database, log *slog.Logger, defaultPort int, lagQuery string, writer driver.Connector,
	connect func(host string, port int) (driver.Connector, error),
) (*readerSet, error) {
	rs := &readerSet{maxLag: db.ReaderMaxLag, lagQuery: lagQuery}
	for _, hp := range db.ReaderHosts {
		hp = strings.TrimSpace(hp)
		if hp == "" {
			continue
		}
		host, port, err := splitReaderHost(hp, portOr(db.Port, defaultPort))
		if err != nil {
			closeReplicas(rs.all)
			return nil, err
		}
		rc, err := connect(host, port)
		if err != nil {
			closeReplicas(rs.all)
			return nil, fmt.Errorf("configure database reader %s: %w", hp, err)
		}
		r := &replica{host: net.JoinHostPort(host, strconv.Itoa(port)), log: log}
		r.lagNanos.Store(-1)
		r.db = sql.OpenDB(&readerConnector{r: r, reader: rc, writer: writer})
		poolServer(r.db)
		r.checks = sql.OpenDB(rc)
		r.checks.SetMaxOpenConns(1)
		r.checks.SetConnMaxLifetime(connMaxLifetime)
		rs.all = append(rs.all, r)
	}
	if len(rs.all) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs.stop = cancel
	rs.done.Go(func() { rs.run(ctx) })
	return rs, nil
}

func closeReplicas(rs []*replica) {
	for _, r := range rs {
		_ = r.db.Close()
		_ = r.checks.Close()
	}
}

// splitReaderHost reads host, host:port, [v6] or [v6]:port.
func splitReaderHost(s string, defaultPort int) (string, int, error) {
	bad := func() (string, int, error) {
		return "", 0, fmt.Errorf("%s: reader %q is not host or host:port", config.EnvDatabaseReaderHosts, s)
	}
	if !strings.Contains(s, ":") || (strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]")) {
		host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if host == "" {
			return bad()
		}
		return host, defaultPort, nil
	}
	host, portText, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return bad()
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return bad()
	}
	return host, port, nil
}
