package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sortographer/sortographer/internal/testenv"
)

// The proof that each image is self-contained: its archive's filesystem, unpacked into
// an empty folder, runs its programs chrooted there as the image's user, with only what
// a container runtime adds (device nodes, /etc/hosts: testenv.UnpackImage). Nothing of
// this machine's root is reachable from inside.

// imageUser is the numeric user and group of the image's configuration ("999:999").
func imageUser(t *testing.T, cf *v1.ConfigFile) (uint32, uint32) {
	t.Helper()
	u, g, ok := strings.Cut(cf.Config.User, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("image user %q is not numeric UID:GID", cf.Config.User)
	}
	return uint32(uid), uint32(gid)
}

// container runs commands chrooted in an image's unpacked root, as its user, in its
// environment: what a runtime does, less the namespaces and cgroups.
type container struct {
	t               *testing.T
	root            string
	cf              *v1.ConfigFile
	ownPIDNamespace bool // as a pod sandbox: the command is PID 1 there
}

// command is argv run in the container in folder dir, with env added to the image's.
func (c container) command(dir string, env []string, argv ...string) *exec.Cmd {
	uid, gid := imageUser(c.t, c.cf)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, c.cf.Config.Env...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     c.root,
		Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}},
	}
	if c.ownPIDNamespace {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID
	}
	return cmd
}

// run runs argv to completion and returns its output; a failure ends the test.
func (c container) run(env []string, stdin string, argv ...string) string {
	c.t.Helper()
	out, err := c.try(env, stdin, argv...)
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

// try runs argv to completion and returns its output and error.
func (c container) try(env []string, stdin string, argv ...string) (string, error) {
	cmd := c.command("/", env, argv...)
	cmd.Stdin = strings.NewReader(stdin)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// server is a long-running process in a container.
type server struct {
	cmd  *exec.Cmd
	out  *testenv.LogBuffer
	done chan error
}

// start starts argv in the container; the test's end kills it if still running, and
// prints its output if the test failed.
func (c container) start(dir string, argv ...string) *server {
	c.t.Helper()
	s := &server{cmd: c.command(dir, nil, argv...), out: &testenv.LogBuffer{}, done: make(chan error, 1)}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", argv[0], err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	c.t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		if c.t.Failed() {
			c.t.Logf("%s output:\n%s", argv[0], s.out.String())
		}
	})
	return s
}

// stop sends SIGTERM, as the kubelet does, and fails unless the process exits 0.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("%s exited with %v on SIGTERM, want status 0\n%s", s.cmd.Path, err, s.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s still running 60s after SIGTERM", s.cmd.Path)
	}
}

// eventually retries f every 200ms for up to a minute (the machine may be busy).
func eventually(t *testing.T, what string, s *server, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case werr := <-s.done:
			t.Fatalf("%s exited (%v) while waiting for %s\n%s", s.cmd.Path, werr, what, s.out.String())
		default:
		}
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("timed out waiting for %s: %v", what, err)
}

// freePort is a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestRedisImageRuns: redis-server starts in the Redis image as uid 999 with a password
// (as the operator's pod runs it, but with the port given), redis-cli authenticates
// with REDISCLI_AUTH and gets PONG, the server reports the version the image's label
// says, and on SIGTERM it saves to /data and exits 0.
func TestRedisImageRuns(t *testing.T) {
	img, cf := openArchive(t, "redis.tar", redisRef)
	c := container{t: t, root: testenv.UnpackImage(t, img), cf: cf}
	port := freePort(t)
	srv := c.start(cf.Config.WorkingDir, "/usr/bin/redis-server", "--port", port, "--bind", "127.0.0.1", "--requirepass", "s3cret")
	auth := []string{"REDISCLI_AUTH=s3cret"}
	eventually(t, "redis-cli PING to answer PONG", srv, func() error {
		out, err := c.try(auth, "", "/usr/bin/redis-cli", "-p", port, "PING")
		if err == nil && strings.TrimSpace(out) != "PONG" {
			err = errors.New(strings.TrimSpace(out))
		}
		return err
	})
	if out, _ := c.try(nil, "", "/usr/bin/redis-cli", "-p", port, "PING"); !strings.Contains(out, "NOAUTH") {
		t.Errorf("PING without the password answered %q, want NOAUTH", out)
	}
	info := c.run(auth, "", "/usr/bin/redis-cli", "-p", port, "INFO", "server")
	want := "redis_version:" + cf.Config.Labels["org.opencontainers.image.version"] + "\r\n"
	if !strings.Contains(info, want) {
		t.Errorf("INFO server does not say %q:\n%s", want, info)
	}
	c.run(auth, "", "/usr/bin/redis-cli", "-p", port, "SET", "photo:1", "labelled")
	srv.stop(t)
	fi, err := os.Stat(filepath.Join(c.root, "data", "dump.rdb"))
	if err != nil {
		t.Fatalf("redis-server saved nothing to /data on shutdown: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 999 {
		t.Errorf("/data/dump.rdb is owned by uid %d, want 999", st.Uid)
	}
}

// TestMariaDBImageRuns: as uid 999 in the MariaDB image, the steps the operator's pod
// takes work with the image's commands alone: mariadb-install-db (a shell script, so
// also dash, coreutils and sed) initialises /var/lib/mysql, mariadbd --bootstrap applies
// SQL from stdin creating the application's user, mariadbd serves on a port and on the
// socket in /run/mysqld, mariadb-admin ping and mariadb -e answer over the socket, a
// client connects over TCP, and SIGTERM stops the server with status 0; in each MariaDB
// image, bookworm's and trixie's.
func TestMariaDBImageRuns(t *testing.T) {
	t.Run("mariadb.tar", func(t *testing.T) {
		img, cf := openArchive(t, "mariadb.tar", mariadbRef)
		testMariaDBImageRuns(t, img, cf)
	})
	t.Run("mariadb-next.tar", func(t *testing.T) {
		img, cf, _ := openMariaDBNext(t)
		testMariaDBImageRuns(t, img, cf)
	})
}

func testMariaDBImageRuns(t *testing.T, img v1.Image, cf *v1.ConfigFile) {
	c := container{t: t, root: testenv.UnpackImage(t, img), cf: cf}

	install := c.run(nil, "", "/usr/bin/mariadb-install-db", "--datadir=/var/lib/mysql", "--skip-test-db", "--skip-name-resolve")
	if strings.Contains(install, "not found") {
		t.Errorf("mariadb-install-db lacks a command:\n%s", install)
	}
	if _, err := os.Stat(filepath.Join(c.root, "var/lib/mysql/mysql/global_priv.MAI")); err != nil {
		t.Fatalf("mariadb-install-db made no system tables: %v", err)
	}
	c.run(nil, strings.Join([]string{
		"FLUSH PRIVILEGES;",
		"CREATE DATABASE gallery;",
		"CREATE USER 'gallery'@'%' IDENTIFIED BY 's3cret';",
		"CREATE USER 'gallery'@'localhost' IDENTIFIED BY 's3cret';",
		"GRANT ALL ON gallery.* TO 'gallery'@'%';",
		"GRANT ALL ON gallery.* TO 'gallery'@'localhost';",
	}, "\n"), "/usr/sbin/mariadbd", "--bootstrap", "--datadir=/var/lib/mysql")

	port := freePort(t)
	srv := c.start("/", "/usr/sbin/mariadbd", "--datadir=/var/lib/mysql", "--skip-networking=0",
		"--bind-address=127.0.0.1", "--port="+port, "--socket=/run/mysqld/mysqld.sock")
	login := []string{"--socket=/run/mysqld/mysqld.sock", "--user=gallery", "--password=s3cret"}
	eventually(t, "mariadb-admin ping over the socket", srv, func() error {
		out, err := c.try(nil, "", append([]string{"/usr/bin/mariadb-admin"}, append(login, "ping")...)...)
		if err == nil && !strings.Contains(out, "mysqld is alive") {
			err = errors.New(out)
		}
		return err
	})
	version := c.run(nil, "", append([]string{"/usr/bin/mariadb"}, append(login, "--skip-column-names", "-e", "SELECT VERSION()")...)...)
	if want := cf.Config.Labels["org.opencontainers.image.version"] + "-MariaDB"; !strings.HasPrefix(version, want) {
		t.Errorf("SELECT VERSION() = %q, want the label's %q", version, want)
	}
	tcp := c.run(nil, "", "/usr/bin/mariadb", "--protocol=tcp", "--host=127.0.0.1", "--port="+port, "--user=gallery", "--password=s3cret",
		"--skip-column-names", "-e", "CREATE TABLE gallery.photos (id INT PRIMARY KEY); INSERT INTO gallery.photos VALUES (1); SELECT COUNT(*) FROM gallery.photos")
	if strings.TrimSpace(tcp) != "1" {
		t.Errorf("over TCP, the inserted row counts %q, want 1", tcp)
	}
	srv.stop(t)
}

// TestPauseImageRuns: /pause starts in the pause image as its user (65535), as PID 1 of
// its own PID namespace like a sandbox, reaps an orphan, and exits 0 on SIGTERM.
func TestPauseImageRuns(t *testing.T) {
	img, cf := openArchive(t, "pause.tar", pauseRef)
	c := container{t: t, root: testenv.UnpackImage(t, img), cf: cf, ownPIDNamespace: true}
	srv := c.start("/", cf.Config.Entrypoint...)
	pid := srv.cmd.Process.Pid
	// Reaping the orphan also shows that /pause handles signals: a SIGTERM sent before
	// would meet the Go runtime's default and end it with status 2.
	enter := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--pid", "--", "/bin/sh", "-c", "sleep 1 </dev/null >/dev/null 2>&1 & exit 0")
	if b, err := enter.CombinedOutput(); err != nil {
		t.Fatalf("nsenter: %v\n%s", err, b)
	}
	var orphan int
	eventually(t, "the orphaned sleep to be reparented to /pause", srv, func() error {
		if orphan = childNamed(pid, "sleep"); orphan == 0 {
			return errors.New("no sleep among its children")
		}
		return nil
	})
	eventually(t, "/pause to reap the orphan once it exits", srv, func() error {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(orphan)))
		if err == nil {
			return errors.New("still there")
		}
		return nil
	})
	srv.stop(t)
}

// childNamed is the process ID of a child of parent with the given name, 0 if none.
func childNamed(parent int, name string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		status := "\n" + string(b)
		if strings.Contains(status, "\nName:\t"+name+"\n") && strings.Contains(status, "\nPPid:\t"+strconv.Itoa(parent)+"\n") {
			return pid
		}
	}
	return 0
}
