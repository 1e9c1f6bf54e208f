package testservers

import (
	"context"
	"database/sql"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestRedisRestartKeepsAddressAndData(t *testing.T) {
	r := Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.expect(ctx, "+OK", "SET", "greeting", "hello"); err != nil {
		t.Fatalf("set before restart: %v", err)
	}
	addr := r.Addr()
	r.Stop()
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("dial %s after Stop succeeded, want refused", addr)
	}
	r.Restart()
	if r.Addr() != addr {
		t.Fatalf("address after restart = %s, want %s", r.Addr(), addr)
	}
	if err := r.expect(ctx, "hello", "GET", "greeting"); err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	r.Flush()
	if err := r.expect(ctx, ":0", "EXISTS", "greeting"); err != nil {
		t.Fatalf("exists after flush: %v", err)
	}
}

func TestRedisDirectoryRemovedAtCleanup(t *testing.T) {
	var dir string
	t.Run("inner", func(t *testing.T) {
		dir = Redis(t).dir
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("stat %s after the test ended: %v, want not exist", dir, err)
	}
}

func TestSharedDatabasesAreFreshAndSeparate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) Database
		drv   string
	}{
		{"mariadb", MariaDB, "mysql"},
		{"postgres", Postgres, "pgx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.start(t), tc.start(t)
			if a.Name == b.Name || a.Port != b.Port {
				t.Fatalf("databases %+v and %+v: want different names on one server", a, b)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dbA, err := sql.Open(tc.drv, a.DSN())
			if err != nil {
				t.Fatal(err)
			}
			defer dbA.Close()
			if _, err := dbA.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
				t.Fatalf("create table as the application user: %v", err)
			}
			dbB, err := sql.Open(tc.drv, b.DSN())
			if err != nil {
				t.Fatal(err)
			}
			defer dbB.Close()
			if _, err := dbB.ExecContext(ctx, "SELECT id FROM t"); err == nil {
				t.Fatalf("table created in %s is visible in %s", a.Name, b.Name)
			}
		})
	}
}

func TestMissingBinaryNamesInstallScript(t *testing.T) {
	_, err := findBinary("sortographer-no-such-server")
	if err == nil {
		t.Fatal("findBinary found a binary that does not exist")
	}
	if got := err.Error(); !strings.Contains(got, "hack/install-deps.sh") {
		t.Fatalf("error %q does not name hack/install-deps.sh", got)
	}
}

func TestLogTailKeepsErrorsAboveTheAdvice(t *testing.T) {
	path := t.TempDir() + "/server.log"
	log := "starting\n[ERROR] table mysql.user is broken\n"
	for range 40 {
		log += "advice line\n"
	}
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logTail(path)
	if !strings.Contains(got, "table mysql.user is broken") {
		t.Errorf("log tail lost the error line:\n%s", got)
	}
	if strings.Contains(got, "starting") {
		t.Errorf("log tail kept an early non-error line:\n%s", got)
	}
}
