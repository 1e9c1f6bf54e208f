package podrun

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/podenv"
)

// imagePath is the PATH of the images (Debian's default for root): the pod's commands
// are found on it, here among the host's Debian mariadb-server binaries.
const imagePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// TestManagedMariaDBPodRunsOnDebianMariaDB runs the managed MariaDB pod that the real
// reconciler builds for a `spec: {}` Gallery, container by container, as host processes
// on Debian's mariadb-server (the binaries an image assembled from those packages has):
// the init container, then the server and its probes, with the environment resolved
// from the generated Secret. The pod's mount paths are moved under a temporary folder
// and the port to a free one; nothing else in the commands changes. Then it rotates both
// passwords and starts the pod again on the same data.
func TestManagedMariaDBPodRunsOnDebianMariaDB(t *testing.T) {
	for _, b := range []string{"mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin"} {
		if _, err := lookPathIn(imagePath, b); err != nil {
			t.Fatalf("%v: run hack/install-deps.sh (it installs mariadb-server)", err)
		}
	}
	ctx := context.Background()
	c := env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "podrun-mariadb"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: ns.Name}}
	if err := c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	r := &controllers.GalleryReconciler{Client: c, Scheme: scheme.Scheme, Recorder: events.EventRecorder(noEventsRecorder{})}
	statefulSet := func() *appsv1.StatefulSet {
		t.Helper()
		for range 2 {
			if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(g)}); err != nil {
				t.Fatal(err)
			}
		}
		sts := &appsv1.StatefulSet{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: g.DatabaseName()}, sts); err != nil {
			t.Fatal(err)
		}
		return sts
	}
	sts := statefulSet()
	p := newMariaDBPod(t, ns.Name, sts.Spec.Template.Spec)

	// A first start interrupted half-way through moving the new data directory in: a
	// staging folder and a stray file are left. The init container installs again.
	for _, f := range []string{".sortographer-install/ibdata1", "ibdata1"} {
		path := filepath.Join(p.dataDir(), f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("left by an interrupted first start"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.chown(t)

	first := p.secretValues(t)
	out := p.runInit(t, first)
	if !strings.Contains(out, "Installing MariaDB/MySQL system tables") {
		t.Errorf("first start: the init container did not install a data directory:\n%s", out)
	}
	p.startServer(t)
	p.checkProbes(t)

	app := p.connect(t, "tcp", specs.ManagedDatabaseUser, first.password)
	for _, stmt := range []string{
		"CREATE TABLE kept (id INT PRIMARY KEY, note VARCHAR(100))",
		"INSERT INTO kept VALUES (1, 'written before the rotation')",
	} {
		if _, err := app.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	p.connect(t, "tcp", "root", first.root)
	p.connect(t, "unix", "root", first.root)
	p.refused(t, "tcp", p.probeUser(t), "") // the probe account is the socket's only
	p.refused(t, "tcp", "root", "")         // no passwordless root left by mariadb-install-db
	p.refused(t, "tcp", specs.ManagedDatabaseUser, "")
	p.stopServer(t)
	p.probesFail(t)

	// Rotate both passwords, with the characters SQL and the shell care about. The
	// reconciler rolls the pod (a new template hash); its init container applies them.
	rotated := mariadbPasswords{
		password: "it's a \\ \"new\" one;\n-- not a comment\r\n%_`$(id)`",
		root:     "root's \\' new\tpassword ' OR '1'='1",
	}
	hashBefore := sts.Spec.Template.Annotations[specs.AnnotationConfigHash]
	changeSecretData(t, ns.Name, g.DatabaseSecretName(), map[string]string{
		specs.SecretKeyDatabasePassword: rotated.password, specs.SecretKeyDatabaseRootPassword: rotated.root,
	})
	sts = statefulSet()
	if sts.Spec.Template.Annotations[specs.AnnotationConfigHash] == hashBefore {
		t.Fatal("rotating the database passwords left the MariaDB pod template as it was: the pod would not roll")
	}
	p = p.withPod(sts.Spec.Template.Spec)
	if got := p.secretValues(t); got != rotated {
		t.Fatalf("the init container's environment has %+v, want the rotated %+v", got, rotated)
	}
	out = p.runInit(t, rotated)
	if strings.Contains(out, "Installing MariaDB/MySQL system tables") {
		t.Errorf("second start: the init container installed over an initialised data directory:\n%s", out)
	}
	p.startServer(t)
	p.checkProbes(t)

	app = p.connect(t, "tcp", specs.ManagedDatabaseUser, rotated.password)
	var note string
	if err := app.QueryRowContext(ctx, "SELECT note FROM kept WHERE id = 1").Scan(&note); err != nil || note != "written before the rotation" {
		t.Fatalf("the row written before the rotation: %q, %v", note, err)
	}
	p.connect(t, "tcp", "root", rotated.root)
	p.connect(t, "unix", "root", rotated.root)
	p.refused(t, "tcp", specs.ManagedDatabaseUser, first.password)
	p.refused(t, "tcp", "root", first.root)
	p.refused(t, "unix", "root", first.root)
	p.stopServer(t)
}

// mariadbPasswords are the database Secret's two values.
type mariadbPasswords struct{ password, root string }

// mariadbPod runs a MariaDB pod's containers as host processes: mount paths under root,
// and, when the test runs as root (as CI does), as the pod's user, group and fsGroup,
// which may have no name on this machine, as in an image without that account. (mariadbd
// refuses to run as root without --user=root, which the pod never passes.)
type mariadbPod struct {
	ns     string
	pod    corev1.PodSpec
	root   string
	port   int32
	cred   *syscall.Credential
	server *process
}

func newMariaDBPod(t *testing.T, ns string, pod corev1.PodSpec) *mariadbPod {
	t.Helper()
	if len(pod.InitContainers) != 1 || len(pod.Containers) != 1 {
		t.Fatalf("MariaDB pod has %d init containers and %d containers, want 1 and 1", len(pod.InitContainers), len(pod.Containers))
	}
	// Not t.TempDir: its parent is private to root, and the mysql account must reach
	// the folders. A short path, too: a socket's path is at most 107 bytes.
	root, err := os.MkdirTemp("", "podrun-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &mariadbPod{ns: ns, pod: pod, root: root, port: freePort(t)}
	for _, m := range pod.Containers[0].VolumeMounts {
		if err := os.MkdirAll(filepath.Join(root, m.MountPath), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		sc := pod.SecurityContext
		if sc == nil || sc.RunAsUser == nil || sc.RunAsGroup == nil || sc.FSGroup == nil {
			t.Fatalf("the MariaDB pod sets no runAsUser, runAsGroup and fsGroup: %+v", sc)
		}
		p.cred = &syscall.Credential{Uid: uint32(*sc.RunAsUser), Gid: uint32(*sc.RunAsGroup), Groups: []uint32{uint32(*sc.FSGroup)}}
	}
	p.chown(t)
	return p
}

// withPod is the same volumes and port with another revision of the pod.
func (p *mariadbPod) withPod(pod corev1.PodSpec) *mariadbPod {
	next := *p
	next.pod = pod
	next.server = nil
	return &next
}

// probeUser is the account the probes log in as.
func (p *mariadbPod) probeUser(t *testing.T) string {
	t.Helper()
	for _, a := range p.pod.Containers[0].StartupProbe.Exec.Command {
		if u, ok := strings.CutPrefix(a, "--user="); ok {
			return u
		}
	}
	t.Fatal("the startup probe names no --user")
	return ""
}

func (p *mariadbPod) dataDir() string { return filepath.Join(p.root, specs.MariaDBDataDir) }

// chown hands the volumes to the pod's user, as the kubelet does with fsGroup.
func (p *mariadbPod) chown(t *testing.T) {
	t.Helper()
	if p.cred == nil {
		return
	}
	err := filepath.Walk(p.root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if path == p.root {
			return nil
		}
		return os.Lchown(path, int(p.cred.Uid), int(p.cred.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hostArgs is a container's (or probe's) command line on this host: every mount path
// moved under root, the port moved to p.port and bound to loopback only.
func (p *mariadbPod) hostArgs(t *testing.T, c corev1.Container, argv []string) []string {
	t.Helper()
	var mounts []string
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, m.MountPath)
	}
	out := make([]string, len(argv))
	for i, a := range argv {
		switch a {
		case "--port=" + strconv.Itoa(specs.MariaDBPort):
			a = fmt.Sprintf("--port=%d", p.port)
		case "--bind-address=*":
			a = "--bind-address=127.0.0.1"
		}
		out[i] = movePaths(a, mounts, p.root)
	}
	return out
}

// movePaths puts every absolute path in s that is one of prefixes, or under one, under
// root, in one pass (so a path already moved is never moved again).
func movePaths(s string, prefixes []string, root string) string {
	isPathByte := func(b byte) bool {
		return b == '/' || b == '.' || b == '_' || b == '-' || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || ('0' <= b && b <= '9')
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		moved := false
		if s[i] == '/' && (i == 0 || !isPathByte(s[i-1])) {
			for _, p := range prefixes {
				end := i + len(p)
				if strings.HasPrefix(s[i:], p) && (end == len(s) || s[end] == '/' || !isPathByte(s[end])) {
					b.WriteString(root + p)
					i = end
					moved = true
					break
				}
			}
		}
		if !moved {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

func (p *mariadbPod) command(ctx context.Context, t *testing.T, c corev1.Container, argv []string, vars map[string]string) *exec.Cmd {
	t.Helper()
	args := p.hostArgs(t, c, argv)
	bin, err := lookPathIn(imagePath, args[0])
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Env = podenv.Environ([]string{imagePath}, vars)
	cmd.Dir = p.root
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// secretValues resolves the init container's environment as the kubelet would.
func (p *mariadbPod) secretValues(t *testing.T) mariadbPasswords {
	t.Helper()
	vars, err := podenv.Resolve(context.Background(), env.Client, p.ns, p.pod.InitContainers[0])
	if err != nil {
		t.Fatal(err)
	}
	return mariadbPasswords{password: vars["DATABASE_PASSWORD"], root: vars["DATABASE_ROOT_PASSWORD"]}
}

// runInit runs the init container to completion and returns its output. Meanwhile it
// watches every process on the machine: no command line may hold a password, and no
// process but the init container's shell (and its forks) may have one in its
// environment.
func (p *mariadbPod) runInit(t *testing.T, want mariadbPasswords) string {
	t.Helper()
	ic := p.pod.InitContainers[0]
	vars, err := podenv.Resolve(context.Background(), env.Client, p.ns, ic)
	if err != nil {
		t.Fatal(err)
	}
	cmd := p.command(context.Background(), t, ic, append(append([]string{}, ic.Command...), ic.Args...), vars)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := watchProcesses(strings.Join(cmd.Args, "\x00"), p.root, want.password, want.root)
	err = cmd.Wait()
	leaks, sawServer := w.stop()
	if err != nil {
		t.Fatalf("init container %s: %v\n%s", ic.Name, err, out.String())
	}
	for _, l := range leaks {
		t.Errorf("a password is visible to other processes: %s", l)
	}
	if !sawServer {
		t.Error("the process watch never saw mariadbd run: it checked nothing")
	}
	return out.String()
}

func (p *mariadbPod) startServer(t *testing.T) {
	t.Helper()
	c := p.pod.Containers[0]
	vars, err := podenv.Resolve(context.Background(), env.Client, p.ns, c)
	if err != nil {
		t.Fatal(err)
	}
	p.server = start(t, p.command(context.Background(), t, c, append(append([]string{}, c.Command...), c.Args...), vars))
}

// stopServer sends SIGTERM, as the kubelet does, and waits for a clean exit.
func (p *mariadbPod) stopServer(t *testing.T) {
	t.Helper()
	cmd := p.server.cmd
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mariadbd did not stop cleanly on SIGTERM: %v\n%s", err, p.server.log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mariadbd still running 60 s after SIGTERM\n%s", p.server.log())
	}
}

// checkProbes waits for the startup probe to pass, then runs readiness and liveness
// once each; all are run as the kubelet would, in the container's environment.
func (p *mariadbPod) checkProbes(t *testing.T) {
	t.Helper()
	c := p.pod.Containers[0]
	run := func(name string, probe *corev1.Probe) error {
		if probe == nil || probe.Exec == nil {
			t.Fatalf("%s probe is not an exec probe: %+v", name, probe)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(probe.TimeoutSeconds)*time.Second)
		defer cancel()
		out, err := p.command(ctx, t, c, probe.Exec.Command, nil).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s probe %q: %w\n%s", name, probe.Exec.Command, err, out)
		}
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := run("startup", c.StartupProbe)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v\nserver log:\n%s", err, p.server.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if err := run(name, probe); err != nil {
			t.Fatal(err)
		}
	}
}

// probesFail checks that each probe fails with the server stopped.
func (p *mariadbPod) probesFail(t *testing.T) {
	t.Helper()
	c := p.pod.Containers[0]
	for name, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if out, err := p.command(context.Background(), t, c, probe.Exec.Command, nil).CombinedOutput(); err == nil {
			t.Errorf("%s probe passed with the server stopped:\n%s", name, out)
		}
	}
}

// connectConfig is a client of the pod's server: over TCP, as the gallery and other
// pods connect, or over the socket in /run/mysqld, as a kubectl exec would.
func (p *mariadbPod) connectConfig(network, userName, password string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.Net = network
	cfg.Addr = fmt.Sprintf("127.0.0.1:%d", p.port)
	if network == "unix" {
		cfg.Addr = filepath.Join(p.root, specs.MariaDBSocket)
	}
	cfg.User = userName
	cfg.Passwd = password
	cfg.Timeout = 5 * time.Second
	if userName == specs.ManagedDatabaseUser {
		cfg.DBName = specs.ManagedDatabaseName
	}
	return cfg
}

func (p *mariadbPod) connect(t *testing.T, network, userName, password string) *sql.DB {
	t.Helper()
	connector, err := mysql.NewConnector(p.connectConfig(network, userName, password))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("%s over %s with the Secret's password: %v", userName, network, err)
	}
	return db
}

func (p *mariadbPod) refused(t *testing.T, network, userName, password string) {
	t.Helper()
	connector, err := mysql.NewConnector(p.connectConfig(network, userName, password))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer func() { _ = db.Close() }()
	err = db.PingContext(context.Background())
	var me *mysql.MySQLError
	switch {
	case err == nil:
		t.Errorf("%s over %s logged in with password %q; want it refused", userName, network, password)
	case !errors.As(err, &me) || (me.Number != 1045 && me.Number != 1130):
		t.Errorf("%s over %s: %v; want access denied", userName, network, err)
	}
}

func changeSecretData(t *testing.T, ns, name string, values map[string]string) {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		s.Data[k] = []byte(v)
	}
	if err := env.Client.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func lookPathIn(pathEnv, name string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	for _, dir := range filepath.SplitList(strings.TrimPrefix(pathEnv, "PATH=")) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on the images' %s", name, pathEnv)
}

// processWatch samples /proc while a command runs.
type processWatch struct {
	done   chan struct{}
	wg     sync.WaitGroup
	leaks  map[string]bool
	server bool
}

// watchProcesses looks at every process every few milliseconds for the secrets: in a
// command line, or in the environment of a process other than own (the command line of
// the process that was given them, and of its forks). It notes a mariadbd whose command
// line names root.
func watchProcesses(own, root string, secrets ...string) *processWatch {
	w := &processWatch{done: make(chan struct{}), leaks: map[string]bool{}}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			w.sample(own, root, secrets)
			select {
			case <-w.done:
				return
			case <-time.After(3 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *processWatch) sample(own, root string, secrets []string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		name := string(bytes.TrimRight(cmdline, "\x00"))
		if filepath.Base(strings.SplitN(name, "\x00", 2)[0]) == "mariadbd" && strings.Contains(name, root) {
			w.server = true
		}
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		for _, s := range secrets {
			switch {
			case strings.Contains(name, s):
				w.leaks[fmt.Sprintf("in the command line of %q", strings.ReplaceAll(name, "\x00", " "))] = true
			case name != own && bytes.Contains(environ, []byte(s)):
				w.leaks[fmt.Sprintf("in the environment of %q", strings.ReplaceAll(name, "\x00", " "))] = true
			}
		}
	}
}

func (w *processWatch) stop() (leaks []string, sawServer bool) {
	close(w.done)
	w.wg.Wait()
	for l := range w.leaks {
		leaks = append(leaks, l)
	}
	return leaks, w.server
}
