// Package dberr classifies the database drivers' errors by what a caller must do about
// them: Unavailable (answer 503, retry later) and MayHaveCommitted (a failed write that
// may nonetheless be in the database). The API uses the first for its answers,
// internal/photos the second to decide what an upload keeps.
//
// It knows the two server drivers' errors, as internal/store's connectionLost does for
// retrying reads on a reader; unlike it, it also counts refused connections and
// read-only servers.
package dberr

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports an error that means the database cannot serve the request now,
// not that the request or the data is wrong: its server is down, restarting or failing
// over (the connection was refused, broke or timed out), or it refuses writes because
// it is a reader (a writer demoted by a failover, or a reader promoted but still
// read-only). Retried once the database is back, the request may succeed
// (docs/disaster-recovery.md).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot
		// connect now (starting up, or a standby not yet promoted); 25006: read-only
		// transaction (the server is a standby).
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" ||
			pe.Code == "57P03" || pe.Code == "25006"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, ER_OPTION_PREVENTS_STATEMENT (the
		// server runs --read-only), ER_READ_ONLY_MODE.
		return me.Number == 1053 || me.Number == 1927 || me.Number == 1290 || me.Number == 1836
	}
	// A net.Error is also a timeout: a dial timeout, or context.DeadlineExceeded when
	// a write bounded by a deadline (an upload's recording) waited on a hung server.
	var connect *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &connect) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// MayHaveCommitted reports a failed write that the database may nonetheless have
// committed: the connection broke after the statement was sent, so its answer was lost
// (a writer killed, or a failover, between the commit and the reply). A connection that
// could not be made, a pooled connection found dead before use (database/sql then
// reports driver.ErrBadConn, or pgx pgconn.ErrConnClosed for a BEGIN) and a server
// refusing writes sent nothing that committed.
func MayHaveCommitted(err error) bool {
	if !Unavailable(err) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// A session terminated while it waited for a synchronous standby (57P01) has
		// committed locally: PostgreSQL warns so before it ends the connection.
		return pe.Code != "57P03" && pe.Code != "25006"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number != 1290 && me.Number != 1836
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return false
	}
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}
