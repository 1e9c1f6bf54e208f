package testservers

import (
	"net"
	"net/url"
	"strconv"

	"github.com/go-sql-driver/mysql"

	"github.com/sortographer/sortographer/internal/config"
)

// Database is a fresh, empty database of one test's own on a shared MariaDB or
// PostgreSQL server, dropped when the test ends. User owns it and may create tables.
type Database struct {
	// Driver is config.DriverMySQL or config.DriverPostgres.
	Driver   string
	Host     string
	Port     int
	Name     string
	User     string
	Password string
	// CA is the PEM certificate of the CA that signed the server's TLS certificate (for
	// 127.0.0.1). The servers offer TLS to every account and require it of the accounts
	// MariaDBRequiringTLS and PostgresRequiringTLS make.
	CA []byte
}

// Config is the gallery's database configuration for this database (no TLS).
func (d Database) Config() config.Database {
	return config.Database{
		Driver:   d.Driver,
		Host:     d.Host,
		Port:     d.Port,
		Name:     d.Name,
		User:     d.User,
		Password: d.Password,
		TLSMode:  "disable",
	}
}

// DSN is a connection string for database/sql: the mysql driver's form, or a postgres://
// URL for pgx.
func (d Database) DSN() string {
	addr := net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	if d.Driver == config.DriverMySQL {
		c := mysql.NewConfig()
		c.Net = "tcp"
		c.Addr = addr
		c.User = d.User
		c.Passwd = d.Password
		c.DBName = d.Name
		return c.FormatDSN()
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(d.User, d.Password),
		Host:     addr,
		Path:     "/" + d.Name,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}
