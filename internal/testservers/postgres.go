package testservers

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/sortographer/sortographer/internal/config"
)

type postgresServer struct {
	dir   string
	port  int
	proc  *process
	admin *sql.DB
	// tls is the certificate the server offers to clients that ask for TLS.
	tls serverTLS
}

// tlsOnlyRole is the group whose members pg_hba.conf lets in only over TLS.
const tlsOnlyRole = "tls_only"

var sharedPostgres sharedServer[*postgresServer]

// Postgres returns a fresh database on the test binary's PostgreSQL server, starting the
// server on first use. The package's TestMain must call Main.
func Postgres(t testing.TB) Database {
	t.Helper()
	return postgresDatabase(t, false)
}

// PostgresRequiringTLS is PostgreSQL with an account of its own, owning the database,
// that pg_hba.conf lets in only over TLS ("no encryption" otherwise). The server's
// certificate names 127.0.0.1 and chains to Database.CA.
func PostgresRequiringTLS(t testing.TB) Database {
	t.Helper()
	return postgresDatabase(t, true)
}

func postgresDatabase(t testing.TB, requireTLS bool) Database {
	t.Helper()
	skipIfShort(t)
	srv, err := sharedPostgres.get(startPostgres)
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	name := nextDatabaseName()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	owner := appUser
	if requireTLS {
		owner = name + "_tls"
		if _, err := srv.admin.ExecContext(ctx, fmt.Sprintf(`CREATE ROLE %q LOGIN PASSWORD '%s' IN ROLE %q`, owner, appPassword, tlsOnlyRole)); err != nil {
			t.Fatalf("create postgres TLS account: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			if _, err := srv.admin.ExecContext(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %q`, owner)); err != nil {
				t.Errorf("drop postgres account %s: %v", owner, err)
			}
		})
	}
	if _, err := srv.admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %q OWNER %q`, name, owner)); err != nil {
		t.Fatalf("create postgres database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		// FORCE ends sessions the test left open, so a leak cannot fail the drop.
		if _, err := srv.admin.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)); err != nil {
			t.Errorf("drop postgres database %s: %v", name, err)
		}
	})
	return Database{
		Driver:   config.DriverPostgres,
		Host:     "127.0.0.1",
		Port:     srv.port,
		Name:     name,
		User:     owner,
		Password: appPassword,
		CA:       srv.tls.CA,
	}
}

// postgresBinDirs lists Debian's per-version directories, newest first; initdb and
// postgres are not on PATH there.
func postgresBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}

// postgresCredential is who runs initdb and postgres. PostgreSQL refuses to run as root,
// so under root (a CI container) the servers run as the postgres account the package
// creates, in a directory handed over to it.
func postgresCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, postgres must run as the postgres OS user, which is missing (%w): %s", err, installHint)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres gid %q: %w", u.Gid, err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("hand %s to the postgres user: %w", dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func startPostgres() (*postgresServer, error) {
	binDirs := postgresBinDirs()
	initdb, err := findBinary("initdb", binDirs...)
	if err != nil {
		return nil, err
	}
	postgres, err := findBinary("postgres", binDirs...)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sortographer-postgres-")
	if err != nil {
		return nil, err
	}
	srv := &postgresServer{dir: dir}
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
	cred, err := postgresCredential(dir)
	if err != nil {
		return nil, err
	}

	const superPassword = "test-Super-Passw0rd"
	pwFile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(superPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pwFile, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	dataDir := filepath.Join(dir, "data")
	if err := run("initdb", cred, filepath.Join(dir, "initdb.log"), initdb,
		"-D", dataDir,
		"-U", "postgres",
		"--pwfile="+pwFile,
		"--auth=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	); err != nil {
		return nil, err
	}

	// TLS is on for whoever asks; the members of tlsOnlyRole must ask. The first
	// matching line wins, so the rule goes before initdb's.
	if srv.tls, err = newServerTLS(dir, cred); err != nil {
		return nil, err
	}
	hba := filepath.Join(dataDir, "pg_hba.conf")
	rules, err := os.ReadFile(hba)
	if err != nil {
		return nil, err
	}
	rules = append([]byte("hostnossl all +"+tlsOnlyRole+" 127.0.0.1/32 reject\n"), rules...)
	if err := os.WriteFile(hba, rules, 0o600); err != nil {
		return nil, err
	}

	// The log file is created by us, before the server starts, so it is ours to read
	// whichever user the server runs as.
	srv.proc = &process{name: "postgres", bin: postgres, logPath: filepath.Join(dir, "postgres.log"), cred: cred, stopSignal: syscall.SIGINT}
	for attempt := 1; ; attempt++ {
		if srv.port, err = freePort(); err != nil {
			return nil, err
		}
		srv.proc.args = []string{
			"-D", dataDir,
			"-p", strconv.Itoa(srv.port),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories=" + dir,
			"-c", "max_connections=300",
			"-c", "ssl=on",
			"-c", "ssl_cert_file=" + srv.tls.CertFile,
			"-c", "ssl_key_file=" + srv.tls.KeyFile,
			// Durability does not matter for a throwaway server; speed does.
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		}
		if err := srv.proc.start(); err != nil {
			return nil, err
		}
		u := url.URL{
			Scheme:   "postgres",
			User:     url.UserPassword("postgres", superPassword),
			Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.port)),
			Path:     "/postgres",
			RawQuery: "sslmode=disable&connect_timeout=2",
		}
		if srv.admin, err = sql.Open("pgx", u.String()); err != nil {
			return nil, fmt.Errorf("postgres admin connection: %w", err)
		}
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
		fmt.Sprintf(`CREATE ROLE %q LOGIN PASSWORD '%s'`, appUser, appPassword),
		fmt.Sprintf(`CREATE ROLE %q NOLOGIN`, tlsOnlyRole),
	} {
		if _, err := srv.admin.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("set up postgres accounts: %w", err)
		}
	}
	return srv, nil
}
