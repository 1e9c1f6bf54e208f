// Package dbconn connects to the gallery's MySQL/MariaDB or PostgreSQL server as its
// configuration says: account, database, port and TLS mode. The gallery's store and the
// operator's preflight both connect through it, so a preflight that logs in proves the
// gallery will.
package dbconn

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sortographer/sortographer/internal/config"
)

// DefaultPort is the engine's port when the configuration gives none.
func DefaultPort(driverName string) int {
	if driverName == config.DriverPostgres {
		return 5432
	}
	return 3306
}

// ReadCA reads db's CA bundle (PEM) when TLS is on and a file is set; otherwise nil.
func ReadCA(db config.Database) ([]byte, error) {
	if db.CAFile == "" || db.TLSMode == "" || db.TLSMode == "disable" {
		return nil, nil
	}
	pem, err := os.ReadFile(db.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read database CA file: %w", err)
	}
	return pem, nil
}

// Connector connects to one server of db (the writer or a reader) at host:port with
// db's account, database and TLS mode; ca is the CA bundle to trust (nil: the system
// roots). It does not dial.
func Connector(db config.Database, ca []byte, host string, port int, timeout time.Duration) (driver.Connector, error) {
	tlsConf, err := TLS(db.TLSMode, ca, host)
	if err != nil {
		return nil, err
	}
	switch db.Driver {
	case config.DriverMySQL:
		return mysqlConnector(db, tlsConf, host, port, timeout)
	case config.DriverPostgres:
		return postgresConnector(db, tlsConf, host, port, timeout)
	default:
		return nil, fmt.Errorf("unknown database driver %q", db.Driver)
	}
}

func mysqlConnector(db config.Database, tlsConf *tls.Config, host string, port int, timeout time.Duration) (driver.Connector, error) {
	c := mysql.NewConfig()
	c.Net = "tcp"
	c.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	c.DBName = db.Name
	c.User = db.User
	c.Passwd = db.Password
	c.TLS = tlsConf
	c.Timeout = timeout
	// After a failover the old writer may become a read-only replica; rejecting its
	// connections makes the pool reconnect to the new writer instead of failing writes.
	// (Readers are read-only by design and only read.)
	c.RejectReadOnly = true
	// UPDATE reports matched rows, not changed ones, so "no such image" is told apart
	// from "already so".
	c.ClientFoundRows = true
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return nil, fmt.Errorf("configure mysql connection: %w", err)
	}
	return connector, nil
}

func postgresConnector(db config.Database, tlsConf *tls.Config, host string, port int, timeout time.Duration) (driver.Connector, error) {
	// The URL form escapes every part; TLS is set below from our own configuration,
	// so pgx's sslmode handling (and its fallbacks) stays out of the way.
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(db.User, db.Password),
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + db.Name,
		RawQuery: url.Values{"sslmode": {"disable"}, "application_name": {"sortographer"}}.Encode(),
	}
	pc, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("configure postgres connection: %w", err)
	}
	pc.TLSConfig = tlsConf
	pc.ConnectTimeout = timeout
	return stdlib.GetConnector(*pc), nil
}

// TLS builds the client TLS configuration for a TLS mode:
//   - disable: no TLS;
//   - require: encrypted, and when a CA bundle is given the server's certificate must
//     chain to it (any host name), as libpq's require does with a root certificate;
//   - verify-full: the certificate must chain to the CA bundle (or the system roots)
//     and name host.
func TLS(mode string, ca []byte, host string) (*tls.Config, error) {
	var roots *x509.CertPool
	if len(ca) > 0 && mode != "disable" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(ca) {
			return nil, errors.New("the database CA bundle holds no PEM certificates")
		}
	}
	switch mode {
	case "", "disable":
		return nil, nil
	case "require":
		c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // require means encrypted, not verified
		if roots != nil {
			c.VerifyPeerCertificate = verifyChain(roots)
		}
		return c, nil
	case "verify-full":
		return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: roots}, nil
	default:
		return nil, fmt.Errorf("unknown TLS mode %q", mode)
	}
}

// verifyChain checks that the server's certificate chains to roots, whatever host it
// names.
func verifyChain(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("database server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, b := range raw {
			c, err := x509.ParseCertificate(b)
			if err != nil {
				return fmt.Errorf("parse database server certificate: %w", err)
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
}
