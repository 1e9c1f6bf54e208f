package testservers

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sortographer/sortographer/internal/config"
)

// The application account on the shared servers. It may use every test_* database and
// nothing else, so the code under test runs without administrator rights, as it will in
// production.
const (
	appUser     = "sortographer"
	appPassword = "test-Passw0rd"
)

type mariaDBServer struct {
	dir   string
	port  int
	proc  *process
	admin *sql.DB
	// tls is the certificate the server offers to clients that ask for TLS.
	tls serverTLS
}

var sharedMariaDB sharedServer[*mariaDBServer]

// MariaDB returns a fresh database on the test binary's MariaDB server, starting the
// server on first use. The package's TestMain must call Main.
func MariaDB(t testing.TB) Database {
	t.Helper()
	return mariaDBDatabase(t, false)
}

// MariaDBRequiringTLS is MariaDB with an account of its own that the server lets in only
// over TLS (REQUIRE SSL): without TLS the login is refused as a wrong password would be.
// The server's certificate names 127.0.0.1 and chains to Database.CA.
func MariaDBRequiringTLS(t testing.TB) Database {
	t.Helper()
	return mariaDBDatabase(t, true)
}

func mariaDBDatabase(t testing.TB, requireTLS bool) Database {
	t.Helper()
	skipIfShort(t)
	srv, err := sharedMariaDB.get(startMariaDB)
	if err != nil {
		t.Fatalf("start mariadb: %v", err)
	}
	name := nextDatabaseName()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := srv.admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create mariadb database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		if _, err := srv.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop mariadb database %s: %v", name, err)
		}
	})
	d := Database{
		Driver:   config.DriverMySQL,
		Host:     "127.0.0.1",
		Port:     srv.port,
		Name:     name,
		User:     appUser,
		Password: appPassword,
		CA:       srv.tls.CA,
	}
	if requireTLS {
		d.User = name + "_tls"
		for _, stmt := range []string{
			fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s' REQUIRE SSL", d.User, appPassword),
			fmt.Sprintf("GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%'", name, d.User),
		} {
			if _, err := srv.admin.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("create mariadb TLS account: %v", err)
			}
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			if _, err := srv.admin.ExecContext(ctx, "DROP USER IF EXISTS '"+d.User+"'@'%'"); err != nil {
				t.Errorf("drop mariadb account %s: %v", d.User, err)
			}
		})
	}
	return d
}

func startMariaDB() (*mariaDBServer, error) {
	installDB, err := findBinary("mariadb-install-db", "/usr/bin")
	if err != nil {
		return nil, err
	}
	mariadbd, err := findBinary("mariadbd", "/usr/sbin")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sortographer-mariadb-")
	if err != nil {
		return nil, err
	}
	srv := &mariaDBServer{dir: dir}
	stop := func() {
		if srv.admin != nil {
			_ = srv.admin.Close()
		}
		if srv.proc != nil {
			srv.proc.stop()
		}
		_ = os.RemoveAll(dir)
	}
	if err := registerShared(stop); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}

	dataDir := filepath.Join(dir, "data")
	// Its own tmpdir: in the shared /tmp, concurrent servers (two test binaries) collide
	// on internal temporary table names and fail to bootstrap.
	tmpDir := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmpDir, 0o700); err != nil {
		return nil, err
	}
	if srv.tls, err = newServerTLS(dir, nil); err != nil {
		return nil, err
	}
	if err := run("mariadb-install-db", nil, filepath.Join(dir, "install.log"), installDB,
		"--no-defaults",
		"--datadir="+dataDir,
		"--tmpdir="+tmpDir,
		"--user=root",
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
	); err != nil {
		return nil, err
	}

	socket := filepath.Join(dir, "mysqld.sock")
	srv.proc = &process{name: "mariadbd", bin: mariadbd, logPath: filepath.Join(dir, "mariadbd.log"), stopSignal: syscall.SIGTERM}
	for attempt := 1; ; attempt++ {
		if srv.port, err = freePort(); err != nil {
			return nil, err
		}
		srv.proc.args = []string{
			"--no-defaults",
			"--datadir=" + dataDir,
			"--tmpdir=" + tmpDir,
			"--user=root",
			"--bind-address=127.0.0.1",
			"--port=" + strconv.Itoa(srv.port),
			"--socket=" + socket,
			"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
			"--skip-name-resolve",
			"--skip-log-bin",
			"--performance-schema=0",
			"--ssl-ca=" + srv.tls.CAFile,
			"--ssl-cert=" + srv.tls.CertFile,
			"--ssl-key=" + srv.tls.KeyFile,
			"--max-connections=500",
			// Durability does not matter for a throwaway server; speed does.
			"--innodb-buffer-pool-size=128M",
			"--innodb-log-file-size=32M",
			"--innodb-flush-log-at-trx-commit=0",
			"--innodb-doublewrite=0",
		}
		if err := srv.proc.start(); err != nil {
			return nil, err
		}
		admin := mysql.NewConfig()
		admin.Net = "unix"
		admin.Addr = socket
		admin.User = "root"
		admin.Timeout = 2 * time.Second
		connector, err := mysql.NewConnector(admin)
		if err != nil {
			return nil, fmt.Errorf("mariadb admin connection: %w", err)
		}
		srv.admin = sql.OpenDB(connector)
		err = srv.proc.waitReady(srv.admin.PingContext)
		if err == nil {
			break
		}
		srv.proc.stop()
		_ = srv.admin.Close()
		srv.admin = nil
		if attempt == startAttempts || !portTaken(srv.proc.logPath) {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for _, stmt := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", appUser, appPassword),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON `test\\_%%`.* TO '%s'@'%%'", appUser),
	} {
		if _, err := srv.admin.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("set up mariadb account: %w", err)
		}
	}
	return srv, nil
}
