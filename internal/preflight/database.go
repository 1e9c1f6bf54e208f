package preflight

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/dbconn"
)

// Database logs in to db's writer and to each reader as the gallery will (account,
// database, TLS mode, trusting ca) and runs SELECT 1 on each, the servers at once so a
// writer that never answers does not use up the readers' time. The error joins one
// *Error per server that failed, each naming its host, the writer first.
func Database(ctx context.Context, db config.Database, ca []byte) error {
	port := db.Port
	if port == 0 {
		port = dbconn.DefaultPort(db.Driver)
	}
	hosts := append([]string{db.Host}, db.ReaderHosts...)
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, host := range hosts {
		h, p := host, port
		if hh, pp, err := net.SplitHostPort(host); err == nil {
			if n, err := strconv.Atoi(pp); err == nil {
				h, p = hh, n
			}
		}
		wg.Go(func() { errs[i] = databaseServer(ctx, db, ca, h, p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// databaseServer checks one server: a login and SELECT 1, and when a plain-text login
// is refused, whether one over TLS would pass.
func databaseServer(ctx context.Context, db config.Database, ca []byte, host string, port int) error {
	address := net.JoinHostPort(host, strconv.Itoa(port))
	err := selectOne(ctx, db, ca, host, port)
	if err == nil {
		return nil
	}
	reason, says := databaseReason(db, err)
	if reason == galleryv1alpha1.ReasonAuthenticationFailed && (db.TLSMode == "" || db.TLSMode == "disable") {
		// MariaDB refuses a REQUIRE SSL account over plain text as it refuses a wrong
		// password, and PostgreSQL's message for a hostssl-only account is the one for
		// no matching pg_hba.conf line at all. Trying once more with TLS tells them
		// apart.
		withTLS := db
		withTLS.TLSMode = "require"
		if selectOne(ctx, withTLS, nil, host, port) == nil {
			return failf(galleryv1alpha1.ReasonTLSMismatch, err, "%s %s lets this account in only over TLS; set spec.database.external.tlsMode to require or verify-full", db.Driver, address)
		}
	}
	return failf(reason, err, "%s %s: %s", db.Driver, address, says)
}

// selectOne opens one connection to host:port and runs SELECT 1.
func selectOne(ctx context.Context, db config.Database, ca []byte, host string, port int) error {
	timeout := 5 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	connector, err := dbconn.Connector(db, ca, host, port, timeout)
	if err != nil {
		return err
	}
	conn := sql.OpenDB(connector)
	defer func() { _ = conn.Close() }()
	conn.SetMaxOpenConns(1)
	var one int
	if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return fmt.Errorf("SELECT 1 returned %d", one)
	}
	return nil
}

// databaseReason names why a login or SELECT 1 failed, and what to do about it (the
// error itself follows the advice in the message).
func databaseReason(db config.Database, err error) (reason, advice string) {
	tlsOn := db.TLSMode != "" && db.TLSMode != "disable"
	var (
		myErr *mysql.MySQLError
		pgErr *pgconn.PgError
	)
	switch {
	case errors.Is(err, mysql.ErrNoTLS), tlsOn && strings.Contains(err.Error(), "server refused TLS connection"):
		return galleryv1alpha1.ReasonTLSMismatch, "the server does not offer TLS; set spec.database.external.tlsMode to disable or enable TLS on the server"
	case errors.As(err, &myErr):
		switch myErr.Number {
		case 1045: // ER_ACCESS_DENIED_ERROR
			return galleryv1alpha1.ReasonAuthenticationFailed, "the server refused the user name or password"
		case 1044, 1142, 1227: // ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR
			return galleryv1alpha1.ReasonAccessDenied, "the user may not use the database"
		case 1049: // ER_BAD_DB_ERROR
			return galleryv1alpha1.ReasonNotFound, "the database does not exist"
		case 3159, 4036: // ER_SECURE_TRANSPORT_REQUIRED (MySQL, MariaDB)
			return galleryv1alpha1.ReasonTLSMismatch, "the server accepts only TLS connections; set spec.database.external.tlsMode to require or verify-full"
		}
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "28P01": // invalid_password
			return galleryv1alpha1.ReasonAuthenticationFailed, "the server refused the user name or password"
		case "28000": // invalid_authorization_specification: no pg_hba.conf line lets the login in
			return galleryv1alpha1.ReasonAuthenticationFailed, "no pg_hba.conf line lets this login in from here"
		case "3D000": // invalid_catalog_name
			return galleryv1alpha1.ReasonNotFound, "the database does not exist"
		case "42501": // insufficient_privilege
			return galleryv1alpha1.ReasonAccessDenied, "the user may not use the database"
		}
	}
	if reason, ok := transportReason(err); ok {
		switch reason {
		case galleryv1alpha1.ReasonCertificateRejected:
			return reason, "the server's certificate is not trusted (caSecretRef, or the system roots) or does not name the host"
		case galleryv1alpha1.ReasonTLSMismatch:
			return reason, "the server does not speak TLS; set spec.database.external.tlsMode to disable or enable TLS on the server"
		}
		return reason, "nothing answered"
	}
	return galleryv1alpha1.ReasonCheckFailed, "the check failed"
}
