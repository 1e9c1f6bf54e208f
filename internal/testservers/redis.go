package testservers

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a redis-server of one test's own. Its data persists across Restart (an
// append-only file synced on every write), like a Redis with a persistent volume.
//
// Its methods fail the test that started the server, so call them from that test's
// goroutine.
type RedisServer struct {
	t    testing.TB
	dir  string
	port int
	proc *process
	opts RedisOptions
	tls  *serverTLS
}

// RedisOptions are how a RedisServer guards itself.
type RedisOptions struct {
	// Password is the default user's password (requirepass). Empty: none.
	Password string
	// TLS serves TLS only, with a certificate for 127.0.0.1 from a CA of the server's
	// own (CA).
	TLS bool
}

// Redis starts a redis-server for this test and stops it, removing its data, when the
// test ends.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	return RedisWith(t, RedisOptions{})
}

// RedisWith starts a redis-server guarded as opts says.
func RedisWith(t testing.TB, opts RedisOptions) *RedisServer {
	t.Helper()
	skipIfShort(t)
	bin, err := findBinary("redis-server", "/usr/bin", "/usr/local/bin")
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	dir, err := os.MkdirTemp("", "sortographer-redis-")
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	r := &RedisServer{t: t, dir: dir, opts: opts}
	t.Cleanup(func() {
		r.proc.stop()
		_ = os.RemoveAll(dir)
	})
	if opts.TLS {
		certs, err := newServerTLS(dir, nil)
		if err != nil {
			t.Fatalf("start redis: %v", err)
		}
		r.tls = &certs
	}
	r.proc = &process{name: "redis-server", bin: bin, logPath: filepath.Join(dir, "redis.log"), stopSignal: syscall.SIGTERM}
	for attempt := 1; ; attempt++ {
		if r.port, err = freePort(); err != nil {
			t.Fatalf("start redis: %v", err)
		}
		err = r.start()
		if err == nil {
			return r
		}
		if attempt == startAttempts || !portTaken(r.proc.logPath) {
			t.Fatalf("start redis: %v", err)
		}
	}
}

func (r *RedisServer) start() error {
	r.proc.args = []string{
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--protected-mode", "no",
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--logfile", "",
	}
	if r.tls != nil {
		r.proc.args = append(r.proc.args, "--port", "0", "--tls-port", strconv.Itoa(r.port),
			"--tls-cert-file", r.tls.CertFile, "--tls-key-file", r.tls.KeyFile,
			"--tls-ca-cert-file", r.tls.CAFile, "--tls-auth-clients", "no")
	} else {
		r.proc.args = append(r.proc.args, "--port", strconv.Itoa(r.port))
	}
	if r.opts.Password != "" {
		r.proc.args = append(r.proc.args, "--requirepass", r.opts.Password)
	}
	if err := r.proc.start(); err != nil {
		return err
	}
	if err := r.proc.waitReady(func(ctx context.Context) error { return r.expect(ctx, "+PONG", "PING") }); err != nil {
		r.proc.stop()
		return err
	}
	return nil
}

// CA is the PEM certificate of the CA that signed the server's certificate (TLS only).
func (r *RedisServer) CA() []byte {
	if r.tls == nil {
		return nil
	}
	return r.tls.CA
}

// Addr is the server's host:port.
func (r *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Stop shuts the server down; clients then get connection errors. Restart starts it
// again on the same address.
func (r *RedisServer) Stop() {
	r.t.Helper()
	r.proc.stop()
}

// Restart stops the server (if running) and starts it again on the same address with the
// same data, as a Redis pod restart would.
func (r *RedisServer) Restart() {
	r.t.Helper()
	r.proc.stop()
	if err := r.start(); err != nil {
		r.t.Fatalf("restart redis: %v", err)
	}
}

// Flush deletes every key, for tests that reuse a server.
func (r *RedisServer) Flush() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.expect(ctx, "+OK", "FLUSHALL"); err != nil {
		r.t.Fatalf("flush redis: %v", err)
	}
}

// command sends one command and returns its reply: a status line ("+OK"), an error line
// ("-ERR ..."), an integer (":1") or a bulk string's contents. That is all the harness
// needs, and it spares the package a client library.
func (r *RedisServer) command(ctx context.Context, args ...string) (string, error) {
	conn, err := r.dial(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	rd := bufio.NewReader(conn)
	if r.opts.Password != "" {
		reply, err := roundTrip(conn, rd, "AUTH", r.opts.Password)
		if err != nil {
			return "", err
		}
		if reply != "+OK" {
			return "", fmt.Errorf("AUTH replied %q", reply)
		}
	}
	return roundTrip(conn, rd, args...)
}

func (r *RedisServer) dial(ctx context.Context) (net.Conn, error) {
	if r.tls == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", r.Addr())
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(r.tls.CA)
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	return d.DialContext(ctx, "tcp", r.Addr())
}

// roundTrip writes one command and reads its reply (see command).
func roundTrip(conn net.Conn, rd *bufio.Reader, args ...string) (string, error) {
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return "", err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "$") {
		return line, nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return line, nil
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(rd, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// expect runs a command and checks its reply.
func (r *RedisServer) expect(ctx context.Context, want string, args ...string) error {
	got, err := r.command(ctx, args...)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s replied %q, want %q", args[0], got, want)
	}
	return nil
}
