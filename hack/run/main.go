// Command run is `make run`: a local cluster with simulated nodes, the operator, the
// offline sample Gallery until it is Ready, and then the gallery itself on this machine,
// started with the configuration the operator generated for that Gallery. Ctrl-C stops
// everything and deletes the cluster, so the next `make run` starts fresh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/podenv"
)

const (
	namespace   = "gallery"
	galleryName = "photos-offline"
	sample      = "config/samples/gallery_offline.yaml"
)

func main() {
	port := flag.Int("port", 8080, "local port of the gallery (the next free one if taken)")
	keep := flag.Bool("keep-cluster", false, "leave the cluster running on exit")
	flag.Parse()
	root, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &runner{root: root, port: *port}
	err = r.run(ctx)
	r.shutdown(*keep)
	if err != nil && !errors.Is(err, context.Canceled) {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "make run:", err)
	os.Exit(1)
}

type runner struct {
	root       string
	port       int
	kubeconfig string
	kubectl    string
	procs      []*exec.Cmd
}

func say(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func (r *runner) run(ctx context.Context) error {
	say("starting the local cluster (kwok, 3 nodes in 3 zones)")
	out, err := r.output("hack/cluster.sh", "up")
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	r.kubeconfig = lastLine(out)
	bin, err := r.output("hack/k8s-bin.sh")
	if err != nil {
		return err
	}
	r.kubectl = filepath.Join(lastLine(bin), "kubectl")

	say("building the operator and the gallery")
	if err := r.runCmd("go", "build", "-o", "bin/manager", "./cmd/manager"); err != nil {
		return err
	}
	if err := r.runCmd("go", "build", "-o", "bin/sortographer", "./cmd/sortographer"); err != nil {
		return err
	}

	say("installing the CRD")
	if err := r.kubectlRun("apply", "--server-side", "-f", "config/crd/bases"); err != nil {
		return err
	}
	if err := r.kubectlRun("wait", "--for=condition=Established", "crd/galleries.sortographer.io", "--timeout=60s"); err != nil {
		return err
	}

	say("running the operator (log: .cache/run/manager.log)")
	logDir := filepath.Join(r.root, ".cache", "run")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	if err := r.start(filepath.Join(logDir, "manager.log"), nil, "bin/manager",
		"--metrics-bind-address=0", "--health-probe-bind-address=0"); err != nil {
		return err
	}

	say("applying %s in namespace %s", sample, namespace)
	_ = r.kubectlRun("create", "namespace", namespace)
	if err := r.kubectlRun("apply", "-n", namespace, "-f", sample); err != nil {
		return err
	}
	say("waiting for gallery/%s to be Ready", galleryName)
	if err := r.kubectlRun("wait", "-n", namespace, "--for=condition=Ready", "gallery/"+galleryName, "--timeout=300s"); err != nil {
		_ = r.kubectlRun("get", "-n", namespace, "gallery", galleryName, "-o", "yaml")
		return fmt.Errorf("gallery not Ready: %w", err)
	}
	_ = r.kubectlRun("get", "-n", namespace, "galleries,deploy,statefulsets,hpa,pdb,svc,ingress,pvc")

	url, err := r.startGallery(ctx, logDir)
	if err != nil {
		return err
	}
	fmt.Printf(`
The gallery is running: %s
  sign up, upload photos and watch them get labels.

The cluster:  export KUBECONFIG=%s
              kubectl get gallery -n %s
Logs:         .cache/run/manager.log, .cache/run/gallery.log
Stop:         Ctrl-C (stops everything and deletes the cluster)
`, url, r.kubeconfig, namespace)
	<-ctx.Done()
	return ctx.Err()
}

// startGallery runs `sortographer serve` with the environment the operator generated
// for the server pod. The cluster's pods are simulated, so the in-cluster Redis and
// MariaDB do not really exist: locally the gallery uses its embedded backends (SQLite,
// files, in-process queue and workers) and keeps every other generated setting, the
// generated JWT key included.
func (r *runner) startGallery(ctx context.Context, logDir string) (string, error) {
	c, err := r.client()
	if err != nil {
		return "", err
	}
	d := &appsv1.Deployment{}
	g := &galleryv1alpha1.Gallery{}
	g.Name = galleryName
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: g.ServerName()}, d); err != nil {
		return "", fmt.Errorf("read the server deployment: %w", err)
	}
	ctr := d.Spec.Template.Spec.Containers[0]
	vars, err := podenv.Resolve(ctx, c, namespace, ctr)
	if err != nil {
		return "", err
	}
	// Every run starts fresh, like its cluster: the Gallery's generated Secrets (the
	// session key among them) are new, so an earlier run's accounts and photos go too.
	dataRoot := filepath.Join(r.root, ".cache", "run", "gallery")
	if err := os.RemoveAll(dataRoot); err != nil {
		return "", fmt.Errorf("clear the previous run's gallery data: %w", err)
	}
	if err := podenv.Remap(vars, ctr, dataRoot, specs.DataDir); err != nil {
		return "", err
	}
	port := freePortFrom(r.port)
	local := map[string]string{
		config.EnvListenAddr:       fmt.Sprintf("127.0.0.1:%d", port),
		config.EnvDatabaseDriver:   config.DriverSQLite,
		config.EnvSQLitePath:       filepath.Join(dataRoot, "sortographer.db"),
		config.EnvStorageBackend:   config.StorageFilesystem,
		config.EnvStoragePath:      filepath.Join(dataRoot, "photos"),
		config.EnvRedisAddr:        "",
		config.EnvInProcessWorkers: "true",
		config.EnvLogFormat:        "text",
	}
	for k, v := range local {
		vars[k] = v
	}
	for _, k := range []string{config.EnvDatabaseHost, config.EnvDatabaseUser, config.EnvDatabasePassword, config.EnvRedisPassword} {
		delete(vars, k)
	}
	if dir := r.modelDir(); dir != "" {
		vars[config.EnvModelDir] = dir
	}
	environ := podenv.Environ([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, vars)
	say("starting the gallery with the operator's configuration for %s (log: .cache/run/gallery.log)", g.ServerName())
	if err := r.start(filepath.Join(logDir, "gallery.log"), environ, "bin/sortographer", "serve"); err != nil {
		return "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + specs.ReadinessPath) //nolint:noctx // local readiness poll
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, nil
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	return "", fmt.Errorf("the gallery did not become ready at %s; see .cache/run/gallery.log", url)
}

// modelDir is where hack/model.sh keeps the built-in model, when it has fetched it.
func (r *runner) modelDir() string {
	if _, err := os.Stat(filepath.Join(r.root, "hack", "model.sh")); err != nil {
		return ""
	}
	out, err := r.output("hack/model.sh")
	if err != nil {
		return ""
	}
	return lastLine(out)
}

func (r *runner) client() (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", r.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(galleryv1alpha1.AddToScheme(s))
	return client.New(cfg, client.Options{Scheme: s})
}

func (r *runner) start(logPath string, environ []string, name string, args ...string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(r.root, name), args...)
	cmd.Dir = r.root
	cmd.Stdout, cmd.Stderr = f, f
	if environ != nil {
		cmd.Env = environ
	} else {
		cmd.Env = append(os.Environ(), "KUBECONFIG="+r.kubeconfig)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	r.procs = append(r.procs, cmd)
	return nil
}

func (r *runner) shutdown(keepCluster bool) {
	say("stopping")
	for i := len(r.procs) - 1; i >= 0; i-- {
		p := r.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.Process.Kill()
		}
	}
	if !keepCluster && r.kubeconfig != "" {
		_ = r.runCmd("hack/cluster.sh", "down")
	}
}

func (r *runner) kubectlRun(args ...string) error {
	return r.runCmd(r.kubectl, append([]string{"--kubeconfig", r.kubeconfig}, args...)...)
}

func (r *runner) runCmd(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = r.root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func (r *runner) output(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(r.root, name), args...)
	cmd.Dir = r.root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func freePortFrom(p int) int {
	for ; p < 65535; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			_ = l.Close()
			return p
		}
	}
	return 0
}
