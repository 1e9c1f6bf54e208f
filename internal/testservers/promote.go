package testservers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The disaster-recovery steps of a Replicated pair: make commits wait for the replica,
// lose the writer, promote the reader. After PromoteReplica the pair no longer
// replicates: PauseReplication, WaitReplicated and the like must not be called.

// Synchronous makes every commit of the application account wait until the replica
// has the change, so no acknowledged write is lost with the primary: MariaDB
// semi-synchronous replication (AFTER_SYNC: the commit waits for the replica's relay
// log before the primary's own clients see it), PostgreSQL synchronous_standby_names
// with synchronous_commit=on for the application account (the servers run with it off,
// for speed). It waits until the primary reports the replica as synchronous. Call it
// before the gallery opens its connections: PostgreSQL applies a role's setting to new
// sessions only.
func (r *Replicated) Synchronous(t testing.TB) {
	t.Helper()
	r.must(t, "make replication synchronous", r.engine.synchronous)
}

// DurableCommits makes the primary acknowledge a commit of the application account only
// once it would survive the primary's process being killed, as a production server's
// default does, without waiting for the replica: what StopPrimary then loses is what
// asynchronous replication had not yet delivered, not what the primary itself held in
// memory. PostgreSQL: synchronous_commit=local for the account (the servers run with it
// off, for speed, which loses up to three wal_writer_delay of commits with the process).
// MariaDB needs nothing: a commit writes the binlog to the operating system, which
// outlives the process, and the replica reads it from there. Call it before the
// gallery opens its connections.
func (r *Replicated) DurableCommits(t testing.TB) {
	t.Helper()
	r.must(t, "make commits durable", r.engine.durable)
}

// StopPrimary loses the writer: the primary server and every process it started are
// killed at once (SIGKILL, as when its machine is lost), with no shutdown, so nothing
// buffered reaches the replica after this and clients' connections break mid-query.
func (r *Replicated) StopPrimary(t testing.TB) {
	t.Helper()
	p := r.primary
	if p.cmd == nil || p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	// Stopped, the PostgreSQL postmaster forks no new backend while its children are
	// listed and killed; MariaDB is one process.
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	for _, child := range childPIDs(pid) {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Fatalf("the killed %s did not exit within %s", p.name, stopTimeout)
	}
}

// PromoteReplica makes the replica the writer, as a cloud provider's promotion does:
// it applies everything it received from the lost primary, stops replicating and
// accepts writes. It returns the promoted server's database, with the same name and
// account as Primary.
func (r *Replicated) PromoteReplica(t testing.TB) Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := r.engine.promote(ctx); err != nil {
		t.Fatalf("promote the replica: %v; log %s ends:\n%s", err, r.replica.logPath, logTail(r.replica.logPath))
	}
	promoted := r.Primary
	promoted.Port = r.replicaPort
	return promoted
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses, so the fields
		// are counted from the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			children = append(children, child)
		}
	}
	return children
}

// ---- MariaDB

func (m *mariaDBReplication) synchronous(ctx context.Context) error {
	// A timeout of a day: the primary never falls back to asynchronous replication
	// while the test runs (the default, 10s, would silently).
	for _, stmt := range []string{
		"SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
		"SET GLOBAL rpl_semi_sync_master_timeout = 86400000",
		"SET GLOBAL rpl_semi_sync_master_enabled = ON",
	} {
		if _, err := m.primary.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("primary: %s: %w", stmt, err)
		}
	}
	// The replica announces itself as semi-synchronous when its IO thread connects.
	for _, stmt := range []string{
		"SET GLOBAL rpl_semi_sync_slave_enabled = ON",
		"STOP SLAVE IO_THREAD",
		"START SLAVE IO_THREAD",
	} {
		if _, err := m.replica.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("replica: %s: %w", stmt, err)
		}
	}
	for {
		var name, clients, status string
		if err := m.primary.QueryRowContext(ctx, "SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'").Scan(&name, &clients); err != nil {
			return fmt.Errorf("read the primary's semi-sync clients: %w", err)
		}
		if err := m.primary.QueryRowContext(ctx, "SHOW STATUS LIKE 'Rpl_semi_sync_master_status'").Scan(&name, &status); err != nil {
			return fmt.Errorf("read the primary's semi-sync status: %w", err)
		}
		if clients == "1" && strings.EqualFold(status, "ON") {
			return nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("the replica never became semi-synchronous (clients %s, status %s): %w", clients, status, err)
		}
	}
}

func (m *mariaDBReplication) durable(context.Context) error { return nil }

func (m *mariaDBReplication) promote(ctx context.Context) error {
	// The IO thread stops retrying the lost primary; the SQL thread (started again in
	// case the test paused it) then applies what the relay log already holds. RESET
	// SLAVE ALL deletes the relay log, so it must wait for that.
	for _, stmt := range []string{"STOP SLAVE IO_THREAD", "START SLAVE SQL_THREAD"} {
		if _, err := m.replica.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	status, err := slaveStatus(ctx, m.replica)
	if err != nil {
		return err
	}
	file, pos := status["Master_Log_File"], status["Read_Master_Log_Pos"]
	for {
		var got sql.NullInt64
		if err := m.replica.QueryRowContext(ctx, "SELECT MASTER_POS_WAIT(?, ?, 1)", file, pos).Scan(&got); err != nil {
			return fmt.Errorf("wait for the relay log to be applied: %w", err)
		}
		if !got.Valid {
			return fmt.Errorf("the replica's SQL thread stopped before applying %s:%s", file, pos)
		}
		if got.Int64 >= 0 {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for the relay log to be applied: %w", ctx.Err())
		}
	}
	// The replica was started with --read-only; nothing else made it read-only.
	for _, stmt := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = OFF"} {
		if _, err := m.replica.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// slaveStatus is SHOW SLAVE STATUS as column name to value.
func slaveStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, fmt.Errorf("show slave status: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("show slave status: %w", err)
	}
	if !rows.Next() {
		return nil, errors.Join(errors.New("show slave status: the server is not a replica"), rows.Err())
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("show slave status: %w", err)
	}
	status := make(map[string]string, len(cols))
	for i, c := range cols {
		status[c] = vals[i].String
	}
	return status, nil
}

// ---- PostgreSQL

func (p *postgresReplication) synchronous(ctx context.Context) error {
	for _, stmt := range []string{
		// Any standby (pg_basebackup -R names none) is the synchronous one.
		"ALTER SYSTEM SET synchronous_standby_names = '*'",
		"SELECT pg_reload_conf()",
		// on, not remote_apply: a standby that has flushed the WAL replays it when
		// promoted, so nothing acknowledged is lost, and reads from it may still lag.
		fmt.Sprintf(`ALTER ROLE %q SET synchronous_commit = 'on'`, appUser),
	} {
		if _, err := p.primary.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("primary: %s: %w", stmt, err)
		}
	}
	for {
		var state sql.NullString
		err := p.primary.QueryRowContext(ctx, "SELECT sync_state FROM pg_stat_replication LIMIT 1").Scan(&state)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read the standby's sync state: %w", err)
		}
		if state.String == "sync" {
			return nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("the standby never became synchronous (state %q): %w", state.String, err)
		}
	}
}

func (p *postgresReplication) durable(ctx context.Context) error {
	stmt := fmt.Sprintf(`ALTER ROLE %q SET synchronous_commit = 'local'`, appUser)
	if _, err := p.primary.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("primary: %s: %w", stmt, err)
	}
	return nil
}

func (p *postgresReplication) promote(ctx context.Context) error {
	// pg_promote replays all the WAL the standby received, ends recovery and waits
	// (up to 60 seconds) until it accepts writes. A paused replay is resumed first.
	if _, err := p.replica.ExecContext(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		return fmt.Errorf("resume replay: %w", err)
	}
	var promoted bool
	if err := p.replica.QueryRowContext(ctx, "SELECT pg_promote(wait => true)").Scan(&promoted); err != nil {
		return fmt.Errorf("pg_promote: %w", err)
	}
	if !promoted {
		return errors.New("pg_promote: the standby was not promoted within 60 seconds")
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
