// Package testservers starts real Redis, MariaDB and PostgreSQL server processes for
// tests: each in its own temporary directory, on its own free loopback port, stopped and
// removed when the test (or, for shared servers, the test binary) ends.
//
// Redis starts in milliseconds, so every test gets its own. MariaDB and PostgreSQL take a
// few seconds, so one server of each is shared per test binary and every test gets a
// fresh database on it; a package using them calls Main from TestMain:
//
//	func TestMain(m *testing.M) { testservers.Main(m) }
//
// A missing server binary fails the test, naming hack/install-deps.sh: a CI machine
// without the servers must not pass by skipping. Only `go test -short` skips.
package testservers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/testenv"
)

const (
	// readyTimeout bounds how long a server may take to accept connections.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds a graceful shutdown before the process is killed.
	stopTimeout = 10 * time.Second
	// startAttempts retries a start whose port another process took between our
	// choosing it and the server binding it.
	startAttempts = 3
)

// installHint ends every "binary not found" failure.
const installHint = "run hack/install-deps.sh (it installs redis-server, mariadb-server and postgresql)"

var (
	mainMu     sync.Mutex
	mainCalled bool
	shared     []func()
)

// Main runs the tests of a package that uses shared servers (MariaDB, Postgres), then
// stops those servers and removes their directories. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that has more to stop afterwards (an envtest control
// plane): it runs the tests, stops the shared servers and returns the exit code.
func Run(m *testing.M) int {
	mainMu.Lock()
	mainCalled = true
	mainMu.Unlock()
	code := m.Run()
	mainMu.Lock()
	stops := shared
	shared = nil
	mainMu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	return code
}

// registerShared records how to stop a shared server when Main returns. It fails when
// Main is not in charge, because nothing else would stop the server.
func registerShared(stop func()) error {
	mainMu.Lock()
	defer mainMu.Unlock()
	if !mainCalled {
		return errors.New("shared test servers need `func TestMain(m *testing.M) { testservers.Main(m) }` in the package's tests, which stops them at the end")
	}
	shared = append(shared, stop)
	return nil
}

// skipIfShort skips the test under `go test -short`, the only case a server test skips.
func skipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real server; skipped with -short")
	}
}

// findBinary finds a server binary on PATH or in extra directories, or says how to
// install it.
func findBinary(name string, extraDirs ...string) (string, error) {
	for _, dir := range extraDirs {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: %s", name, installHint)
	}
	return p, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is one server process writing its output to a log file.
type process struct {
	name    string
	bin     string
	args    []string
	logPath string
	// cred runs the process as another OS user (PostgreSQL refuses to run as root).
	cred *syscall.Credential
	// stopSignal asks the server to shut down promptly.
	stopSignal syscall.Signal

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start launches the process. Its output is appended to the log file.
func (p *process) start() error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = filepath.Dir(p.logPath)
	// Pdeathsig kills the server if the test binary dies without cleaning up (a panic,
	// a -timeout), so no orphan keeps a port or a directory busy.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to shut down and kills it if it has not within stopTimeout.
func (p *process) stop() {
	if p.cmd == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(p.stopSignal)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady polls ready until it succeeds, the process exits or readyTimeout passes.
// Failures carry the tail of the server's log.
func (p *process) waitReady(ready func(context.Context) error) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before accepting connections (%w); log %s ends:\n%s", p.name, p.err, p.logPath, logTail(p.logPath))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = ready(ctx)
		cancel()
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w; log %s ends:\n%s", p.name, readyTimeout, last, p.logPath, logTail(p.logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// portTaken reports whether a failed start was another process binding our port first.
func portTaken(logPath string) bool {
	b, _ := os.ReadFile(logPath)
	return bytes.Contains(bytes.ToLower(b), []byte("address already in use"))
}

// logTail returns, for failure messages, the log's error lines and its last lines: some
// tools end their logs with pages of advice that would hide the error itself.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	tailFrom := max(0, len(lines)-20)
	var out []string
	for _, l := range lines[:tailFrom] {
		if strings.Contains(l, "ERROR") || strings.Contains(l, "FATAL") || strings.Contains(l, "PANIC") {
			out = append(out, l)
		}
	}
	if len(out) > 10 {
		out = out[len(out)-10:]
	}
	if len(out) > 0 {
		out = append(out, "...")
	}
	out = append(out, lines[tailFrom:]...)
	return "    " + strings.Join(out, "\n    ")
}

// run runs a setup command (mariadb-install-db, initdb) to completion, bounded by
// readyTimeout, with its output in a log file.
func run(name string, cred *syscall.Credential, logPath, bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = filepath.Dir(logPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w; log %s ends:\n%s", name, err, logPath, logTail(logPath))
	}
	return nil
}

// sharedServer starts a server once per test binary and remembers the outcome, so every
// test after a failed start fails with the same message instead of retrying.
type sharedServer[T any] struct {
	once   sync.Once
	server T
	err    error
}

func (s *sharedServer[T]) get(start func() (T, error)) (T, error) {
	s.once.Do(func() { s.server, s.err = start() })
	return s.server, s.err
}

// pinnedTool is a binary the tests run that a hack/ script builds (and caches per user)
// from the Go module proxy: the script prints the binary's path on its last line. An
// environment variable may name another binary instead. It is built once per test
// binary; the outcome, failure included, is kept.
type pinnedTool struct {
	// script is the hack/ script; env the variable naming a binary to use instead.
	script, env string
	built       sharedServer[string]
}

// path returns the binary's path, building it the first time.
func (p *pinnedTool) path() (string, error) {
	return p.built.get(func() (string, error) {
		if path := os.Getenv(p.env); path != "" {
			return path, nil
		}
		root := testenv.RepoRoot()
		cmd := exec.Command("bash", filepath.Join(root, "hack", p.script))
		cmd.Dir = root
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("build with hack/%s: %w\n%s", p.script, err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], nil
	})
}

// dbCounter numbers the databases handed out, so each test's is fresh.
var dbCounter struct {
	sync.Mutex
	n int
}

// nextDatabaseName returns a new database name, unique within the test binary.
func nextDatabaseName() string {
	dbCounter.Lock()
	defer dbCounter.Unlock()
	dbCounter.n++
	return "test_" + strconv.Itoa(dbCounter.n)
}
