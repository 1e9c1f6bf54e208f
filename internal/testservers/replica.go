package testservers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sortographer/sortographer/internal/config"
)

// Replicated is a primary database server with one streaming read replica, of one
// test's own (pausing or stopping replication would disturb any other test sharing
// them): MariaDB with binlog replication, or PostgreSQL with a streaming hot standby.
// Both are stopped and removed when the test ends.
//
// Its methods fail the test they are given, which may be a subtest of the one that
// started the servers.
type Replicated struct {
	// Primary is a fresh database on the primary, replicated to the replica under the
	// same name and account, which is read-only there.
	Primary Database

	engine  replicationEngine
	primary *process
	replica *process
	// replicaPort is the replica's port on 127.0.0.1.
	replicaPort int
}

// replicationEngine is what differs between MariaDB and PostgreSQL replication.
type replicationEngine interface {
	// pause stops applying changes on the replica; they keep arriving.
	pause(ctx context.Context) error
	resume(ctx context.Context) error
	// position is where the primary's log ends, past every commit so far.
	position(ctx context.Context) (string, error)
	// applied reports whether the replica has applied the primary's log up to pos.
	applied(ctx context.Context, pos string) (bool, error)
	// replicaReady checks the restarted replica answers.
	replicaReady(ctx context.Context) error
	// synchronous makes the primary's commits wait for the replica (promote.go).
	synchronous(ctx context.Context) error
	// durable makes commits survive the primary's process being killed (promote.go).
	durable(ctx context.Context) error
	// promote makes the replica a writer once the primary is lost (promote.go).
	promote(ctx context.Context) error
}

// ReaderHost is the replica's address as SORTOGRAPHER_DATABASE_READER_HOSTS takes it.
func (r *Replicated) ReaderHost() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.replicaPort))
}

// Config is the gallery's database configuration: the primary as the writer and the
// replica as the one reader.
func (r *Replicated) Config() config.Database {
	c := r.Primary.Config()
	c.ReaderHosts = []string{r.ReaderHost()}
	return c
}

// must runs one of the engine's steps within readyTimeout, failing t with what it was
// doing.
func (r *Replicated) must(t testing.TB, what string, step func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := step(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// PauseReplication makes the replica stop applying the primary's changes, so it lags
// by everything written until ResumeReplication.
func (r *Replicated) PauseReplication(t testing.TB) {
	t.Helper()
	r.must(t, "pause replication", r.engine.pause)
}

// ResumeReplication undoes PauseReplication.
func (r *Replicated) ResumeReplication(t testing.TB) {
	t.Helper()
	r.must(t, "resume replication", r.engine.resume)
}

// WaitReplicated waits until the replica has applied everything written on the primary
// so far.
func (r *Replicated) WaitReplicated(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	pos, err := r.engine.position(ctx)
	if err != nil {
		t.Fatalf("wait for the replica: %v", err)
	}
	for {
		ok, err := r.engine.applied(ctx, pos)
		if err != nil {
			t.Fatalf("wait for the replica: %v", err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica still behind after %s; log %s ends:\n%s", readyTimeout, r.replica.logPath, logTail(r.replica.logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StopReplica shuts the replica down; clients then get connection errors.
func (r *Replicated) StopReplica(t testing.TB) {
	t.Helper()
	r.replica.stop()
}

// StartReplica starts the stopped replica again on the same address with the same
// data; it resumes replicating from where it stopped. A running replica is left alone.
func (r *Replicated) StartReplica(t testing.TB) {
	t.Helper()
	if !r.replica.exited() {
		return
	}
	if err := r.replica.start(); err != nil {
		t.Fatalf("restart replica: %v", err)
	}
	if err := r.replica.waitReady(r.engine.replicaReady); err != nil {
		t.Fatalf("restart replica: %v", err)
	}
}

// ---- MariaDB

// replicationUser is the account the MariaDB replica reads the primary's binlog with.
const (
	replicationUser     = "replicator"
	replicationPassword = "test-Repl-Passw0rd"
)

// mariaDBReplication replicates with the binlog: the replica's SQL thread applies what
// its IO thread fetched.
type mariaDBReplication struct {
	primary, replica *sql.DB
}

// ReplicatedMariaDB starts a MariaDB primary (binlog on) and a read-only replica of it
// for this test, with a fresh database for the application account.
func ReplicatedMariaDB(t testing.TB) *Replicated {
	t.Helper()
	skipIfShort(t)
	dir, err := os.MkdirTemp("", "sortographer-mariadb-replicated-")
	if err != nil {
		t.Fatalf("start replicated mariadb: %v", err)
	}
	var procs []*process
	var admins []*sql.DB
	t.Cleanup(func() {
		for _, a := range admins {
			_ = a.Close()
		}
		for _, p := range procs {
			p.stop()
		}
		_ = os.RemoveAll(dir)
	})
	fail := func(err error) {
		t.Helper()
		t.Fatalf("start replicated mariadb: %v", err)
	}

	// Both data directories are initialised at once: it is most of the start-up time.
	var primaryInstall, replicaInstall error
	done := make(chan struct{})
	go func() { defer close(done); replicaInstall = installMariaDB(filepath.Join(dir, "replica")) }()
	primaryInstall = installMariaDB(filepath.Join(dir, "primary"))
	<-done
	if err := errors.Join(primaryInstall, replicaInstall); err != nil {
		fail(err)
	}

	pport, pproc, padmin, err := startMariaDBIn(filepath.Join(dir, "primary"),
		"--server-id=1", "--log-bin="+filepath.Join(dir, "primary", "binlog"), "--binlog-format=ROW")
	if pproc != nil {
		procs = append(procs, pproc)
	}
	if padmin != nil {
		admins = append(admins, padmin)
	}
	if err != nil {
		fail(err)
	}
	// The replica refuses writes from the application account, as a cloud reader does.
	rport, rproc, radmin, err := startMariaDBIn(filepath.Join(dir, "replica"),
		"--server-id=2", "--skip-log-bin", "--read-only=1", "--relay-log="+filepath.Join(dir, "replica", "relay"))
	if rproc != nil {
		procs = append(procs, rproc)
	}
	if radmin != nil {
		admins = append(admins, radmin)
	}
	if err != nil {
		fail(err)
	}
	// No idle connections: they would be dead after StopReplica and StartReplica.
	radmin.SetMaxIdleConns(0)

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	// The replica replays the primary's binlog from its first event, so the accounts
	// and the database made here reach it too.
	var firstLog string
	if err := padmin.QueryRowContext(ctx, "SHOW BINARY LOGS").Scan(&firstLog, new(any)); err != nil {
		fail(fmt.Errorf("read the primary's binlogs: %w", err))
	}
	name := nextDatabaseName()
	for _, stmt := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", appUser, appPassword),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON `test\\_%%`.* TO '%s'@'%%'", appUser),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", replicationUser, replicationPassword),
		fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO '%s'@'%%'", replicationUser),
		"CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
	} {
		if _, err := padmin.ExecContext(ctx, stmt); err != nil {
			fail(fmt.Errorf("set up the primary: %w", err))
		}
	}
	for _, stmt := range []string{
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
			"MASTER_LOG_FILE='%s', MASTER_LOG_POS=4, MASTER_CONNECT_RETRY=1", pport, replicationUser, replicationPassword, firstLog),
		"START SLAVE",
	} {
		if _, err := radmin.ExecContext(ctx, stmt); err != nil {
			fail(fmt.Errorf("set up the replica: %w", err))
		}
	}
	r := &Replicated{
		Primary: Database{
			Driver: config.DriverMySQL, Host: "127.0.0.1", Port: pport, Name: name,
			User: appUser, Password: appPassword,
		},
		engine:      &mariaDBReplication{primary: padmin, replica: radmin},
		primary:     pproc,
		replica:     rproc,
		replicaPort: rport,
	}
	r.WaitReplicated(t)
	return r
}

func (m *mariaDBReplication) pause(ctx context.Context) error {
	_, err := m.replica.ExecContext(ctx, "STOP SLAVE SQL_THREAD")
	return err
}

func (m *mariaDBReplication) resume(ctx context.Context) error {
	_, err := m.replica.ExecContext(ctx, "START SLAVE SQL_THREAD")
	return err
}

func (m *mariaDBReplication) position(ctx context.Context) (string, error) {
	var file string
	var pos int64
	if err := m.primary.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, &pos, new(any), new(any)); err != nil {
		return "", fmt.Errorf("read the primary's binlog position: %w", err)
	}
	return file + ":" + strconv.FormatInt(pos, 10), nil
}

func (m *mariaDBReplication) applied(ctx context.Context, at string) (bool, error) {
	file, pos, _ := strings.Cut(at, ":")
	// MASTER_POS_WAIT returns -1 on timeout and NULL when the SQL thread is stopped.
	var got sql.NullInt64
	if err := m.replica.QueryRowContext(ctx, "SELECT MASTER_POS_WAIT(?, ?, 1)", file, pos).Scan(&got); err != nil {
		return false, fmt.Errorf("wait for the replica's position: %w", err)
	}
	if !got.Valid {
		return false, errors.New("replication is paused or broken (MASTER_POS_WAIT returned NULL)")
	}
	return got.Int64 >= 0, nil
}

func (m *mariaDBReplication) replicaReady(ctx context.Context) error {
	return m.replica.PingContext(ctx)
}

// installMariaDB initialises a data directory in dir/data, with its own tmpdir.
func installMariaDB(dir string) error {
	installDB, err := findBinary("mariadb-install-db", "/usr/bin")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return err
	}
	return run("mariadb-install-db", nil, filepath.Join(dir, "install.log"), installDB,
		"--no-defaults",
		"--datadir="+filepath.Join(dir, "data"),
		"--tmpdir="+filepath.Join(dir, "tmp"),
		"--user=root",
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
	)
}

// startMariaDBIn starts mariadbd on the data directory installMariaDB made in dir, on a
// free port, with extra arguments. It returns what it started even on failure, for the
// caller to stop.
func startMariaDBIn(dir string, extra ...string) (int, *process, *sql.DB, error) {
	mariadbd, err := findBinary("mariadbd", "/usr/sbin")
	if err != nil {
		return 0, nil, nil, err
	}
	socket := filepath.Join(dir, "mysqld.sock")
	proc := &process{name: "mariadbd", bin: mariadbd, logPath: filepath.Join(dir, "mariadbd.log"), stopSignal: syscall.SIGTERM}
	admin := mysql.NewConfig()
	admin.Net = "unix"
	admin.Addr = socket
	admin.User = "root"
	admin.Timeout = 2 * time.Second
	connector, err := mysql.NewConnector(admin)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("mariadb admin connection: %w", err)
	}
	db := sql.OpenDB(connector)
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return 0, proc, db, err
		}
		proc.args = append([]string{
			"--no-defaults",
			"--datadir=" + filepath.Join(dir, "data"),
			"--tmpdir=" + filepath.Join(dir, "tmp"),
			"--user=root",
			"--bind-address=127.0.0.1",
			"--port=" + strconv.Itoa(port),
			"--socket=" + socket,
			"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
			"--skip-name-resolve",
			"--performance-schema=0",
			"--max-connections=200",
			"--innodb-buffer-pool-size=64M",
			"--innodb-log-file-size=32M",
			"--innodb-flush-log-at-trx-commit=0",
			"--innodb-doublewrite=0",
		}, extra...)
		if err := proc.start(); err != nil {
			return 0, proc, db, err
		}
		err = proc.waitReady(db.PingContext)
		if err == nil {
			return port, proc, db, nil
		}
		proc.stop()
		if attempt == startAttempts || !portTaken(proc.logPath) {
			return 0, proc, db, err
		}
	}
}

// ---- PostgreSQL

// postgresReplication is a hot standby streaming the primary's WAL.
type postgresReplication struct {
	primary, replica *sql.DB
}

// ReplicatedPostgres starts a PostgreSQL primary and a hot standby cloned from it with
// pg_basebackup for this test, with a fresh database owned by the application account.
func ReplicatedPostgres(t testing.TB) *Replicated {
	t.Helper()
	skipIfShort(t)
	fail := func(err error) {
		t.Helper()
		t.Fatalf("start replicated postgres: %v", err)
	}
	binDirs := postgresBinDirs()
	initdb, err := findBinary("initdb", binDirs...)
	if err != nil {
		fail(err)
	}
	basebackup, err := findBinary("pg_basebackup", binDirs...)
	if err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "sortographer-postgres-replicated-")
	if err != nil {
		fail(err)
	}
	var procs []*process
	var admins []*sql.DB
	t.Cleanup(func() {
		for _, a := range admins {
			_ = a.Close()
		}
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
		_ = os.RemoveAll(dir)
	})
	cred, err := postgresCredential(dir)
	if err != nil {
		fail(err)
	}

	const superPassword = "test-Super-Passw0rd"
	pwFile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(superPassword+"\n"), 0o600); err != nil {
		fail(err)
	}
	if cred != nil {
		if err := os.Chown(pwFile, int(cred.Uid), int(cred.Gid)); err != nil {
			fail(err)
		}
	}
	primaryData := filepath.Join(dir, "primary")
	// initdb's pg_hba.conf already allows replication connections from 127.0.0.1 with
	// a password, and wal_level=replica is the default: the primary needs nothing more.
	if err := run("initdb", cred, filepath.Join(dir, "initdb.log"), initdb,
		"-D", primaryData, "-U", "postgres", "--pwfile="+pwFile, "--auth=scram-sha-256",
		"--encoding=UTF8", "--locale=C", "--no-sync",
	); err != nil {
		fail(err)
	}
	pport, pproc, padmin, err := startPostgresIn(dir, "primary", primaryData, cred, superPassword)
	procs, admins = appendStarted(procs, admins, pproc, padmin)
	if err != nil {
		fail(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	name := nextDatabaseName()
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE ROLE %q LOGIN PASSWORD '%s'`, appUser, appPassword),
		fmt.Sprintf(`CREATE DATABASE %q OWNER %q`, name, appUser),
	} {
		if _, err := padmin.ExecContext(ctx, stmt); err != nil {
			fail(fmt.Errorf("set up the primary: %w", err))
		}
	}

	// -R writes the standby's configuration (standby.signal, primary_conninfo).
	replicaData := filepath.Join(dir, "replica")
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres password=%s", pport, superPassword)
	if err := run("pg_basebackup", cred, filepath.Join(dir, "basebackup.log"), basebackup,
		"-d", conninfo, "-D", replicaData, "-R", "-X", "stream", "-c", "fast", "--no-sync",
	); err != nil {
		fail(err)
	}
	rport, rproc, radmin, err := startPostgresIn(dir, "replica", replicaData, cred, superPassword)
	procs, admins = appendStarted(procs, admins, rproc, radmin)
	if err != nil {
		fail(err)
	}
	// No idle connections: they would be dead after StopReplica and StartReplica.
	radmin.SetMaxIdleConns(0)
	r := &Replicated{
		Primary: Database{
			Driver: config.DriverPostgres, Host: "127.0.0.1", Port: pport, Name: name,
			User: appUser, Password: appPassword,
		},
		engine:      &postgresReplication{primary: padmin, replica: radmin},
		primary:     pproc,
		replica:     rproc,
		replicaPort: rport,
	}
	r.WaitReplicated(t)
	return r
}

func appendStarted(procs []*process, admins []*sql.DB, p *process, a *sql.DB) ([]*process, []*sql.DB) {
	if p != nil {
		procs = append(procs, p)
	}
	if a != nil {
		admins = append(admins, a)
	}
	return procs, admins
}

func (p *postgresReplication) pause(ctx context.Context) error {
	_, err := p.replica.ExecContext(ctx, "SELECT pg_wal_replay_pause()")
	return err
}

func (p *postgresReplication) resume(ctx context.Context) error {
	_, err := p.replica.ExecContext(ctx, "SELECT pg_wal_replay_resume()")
	return err
}

func (p *postgresReplication) position(ctx context.Context) (string, error) {
	// With synchronous_commit off (the servers' setting, for speed) recent commits may
	// still sit in the WAL buffers, unsent. A transaction that writes WAL (a logical
	// message, which needs no table) and commits synchronously flushes the WAL up to its
	// own commit, so past all of them.
	tx, err := p.primary.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("flush the primary's WAL: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
		return "", fmt.Errorf("flush the primary's WAL: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_logical_emit_message(true, 'sortographer-testservers', 'sync')"); err != nil {
		return "", fmt.Errorf("flush the primary's WAL: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("flush the primary's WAL: %w", err)
	}
	var lsn string
	if err := p.primary.QueryRowContext(ctx, "SELECT pg_current_wal_flush_lsn()::text").Scan(&lsn); err != nil {
		return "", fmt.Errorf("read the primary's WAL position: %w", err)
	}
	return lsn, nil
}

func (p *postgresReplication) applied(ctx context.Context, lsn string) (bool, error) {
	var ok sql.NullBool
	if err := p.replica.QueryRowContext(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&ok); err != nil {
		return false, fmt.Errorf("read the replica's WAL position: %w", err)
	}
	return ok.Valid && ok.Bool, nil
}

func (p *postgresReplication) replicaReady(ctx context.Context) error {
	return p.replica.PingContext(ctx)
}

// startPostgresIn starts postgres on dataDir, on a free port, with its socket and log in
// dir. It returns what it started even on failure, for the caller to stop.
func startPostgresIn(dir, name, dataDir string, cred *syscall.Credential, superPassword string) (int, *process, *sql.DB, error) {
	postgres, err := findBinary("postgres", postgresBinDirs()...)
	if err != nil {
		return 0, nil, nil, err
	}
	proc := &process{name: "postgres " + name, bin: postgres, logPath: filepath.Join(dir, name+".log"), cred: cred, stopSignal: syscall.SIGINT}
	var admin *sql.DB
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return 0, proc, admin, err
		}
		proc.args = []string{
			"-D", dataDir,
			"-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories=" + dir,
			"-c", "max_connections=100",
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		}
		if err := proc.start(); err != nil {
			return 0, proc, admin, err
		}
		u := url.URL{
			Scheme:   "postgres",
			User:     url.UserPassword("postgres", superPassword),
			Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Path:     "/postgres",
			RawQuery: "sslmode=disable&connect_timeout=2",
		}
		if admin != nil {
			_ = admin.Close()
		}
		if admin, err = sql.Open("pgx", u.String()); err != nil {
			return 0, proc, nil, fmt.Errorf("postgres admin connection: %w", err)
		}
		err = proc.waitReady(admin.PingContext)
		if err == nil {
			return port, proc, admin, nil
		}
		proc.stop()
		if attempt == startAttempts || !portTaken(proc.logPath) {
			return 0, proc, admin, err
		}
	}
}
