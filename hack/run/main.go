// Command run is `make run`: a local cluster with a real node (hack/cluster.sh with
// REAL_NODE=1: containerd, runc, the kubelet, kube-proxy and CoreDNS on this machine), our
// images and the Redis, MariaDB and pause images built from Debian's packages pushed to
// its registry, which the node pulls from; the operator, and the sample `spec: {}` Gallery — its server, workers, Redis and
// MariaDB all running for real in containers. The URL it prints is a port-forward to the
// real server pods. Ctrl-C stops everything and deletes the cluster, so the next
// `make run` starts fresh.
//
// The Makefile builds the images and checks that this machine can run containers before
// this starts (make node-check images images-base).
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

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

const (
	namespace   = "gallery"
	galleryName = "photos"
	sample      = "config/samples/gallery_minimal.yaml"
	// readyTimeout covers a cold node: the first pods start MariaDB's data directory.
	readyTimeout = 5 * time.Minute
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
	r := &runner{root: root, port: *port, start: time.Now()}
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
	start      time.Time
	kubeconfig string
	kubectl    string
	procs      []*exec.Cmd
}

func (r *runner) say(format string, args ...any) {
	fmt.Printf("==> [%4.1fs] "+format+"\n", append([]any{time.Since(r.start).Seconds()}, args...)...)
}

func (r *runner) run(ctx context.Context) error {
	r.say("starting the local cluster with a real node (containerd, kubelet, kube-proxy, CoreDNS)")
	out, err := r.output([]string{"REAL_NODE=1"}, "hack/cluster.sh", "up")
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	r.kubeconfig = lastLine(out)
	bin, err := r.output(nil, "hack/k8s-bin.sh")
	if err != nil {
		return err
	}
	r.kubectl = filepath.Join(lastLine(bin), "kubectl")

	// The operator binary `make images` just built for its image; `make run` builds it
	// once, not again here.
	manager := filepath.Join(r.root, "dist", "bin", "manager")
	if _, err := os.Stat(manager); err != nil {
		return fmt.Errorf("the operator binary (make images builds it; run through make run): %w", err)
	}
	r.say("installing the CRD")
	if err := r.kubectlRun("apply", "--server-side", "-f", "config/crd/bases"); err != nil {
		return err
	}
	if err := r.waitEstablished(ctx); err != nil {
		return err
	}
	logDir := filepath.Join(r.root, ".cache", "run")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	r.say("running the operator (log: .cache/run/manager.log)")
	if err := r.startProc(filepath.Join(logDir, "manager.log"), manager,
		"--metrics-bind-address=0", "--health-probe-bind-address=0"); err != nil {
		return err
	}

	r.say("applying %s (spec: {}) in namespace %s", sample, namespace)
	_ = r.kubectlQuiet("create", "namespace", namespace)
	if err := r.kubectlRun("apply", "-n", namespace, "-f", sample); err != nil {
		return err
	}
	r.say("waiting for gallery/%s to be Ready: its pods start on the real node", galleryName)
	if err := r.kubectlRun("wait", "-n", namespace, "--for=condition=Ready", "gallery/"+galleryName,
		fmt.Sprintf("--timeout=%ds", int(readyTimeout.Seconds()))); err != nil {
		_ = r.kubectlRun("get", "-n", namespace, "gallery,pods", "-o", "wide")
		return fmt.Errorf("gallery not Ready: %w", err)
	}
	_ = r.kubectlRun("get", "-n", namespace, "pods", "-o", "wide")

	url, err := r.portForward(ctx, logDir)
	if err != nil {
		return err
	}
	r.say("ready")
	fmt.Printf(`
The gallery is running: %s
  served by the real server pods of gallery/%s; sign up, upload photos and watch
  the worker pod label them.

The cluster:  export KUBECONFIG=%s
              kubectl get gallery,pods -n %s
Logs:         .cache/run/manager.log; kubectl logs -n %s deploy/%s-server
Stop:         Ctrl-C (stops everything and deletes the cluster)
`, url, galleryName, r.kubeconfig, namespace, namespace, galleryName)
	<-ctx.Done()
	return ctx.Err()
}

// waitEstablished polls until the CRD is Established. `kubectl wait
// --for=condition=Established` fails outright on a CRD applied a moment ago, before the
// API server has written any condition.
func (r *runner) waitEstablished(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := exec.CommandContext(ctx, r.kubectl, "--kubeconfig", r.kubeconfig, "get", "crd", "galleries.sortographer.io",
			"-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`).Output()
		if err == nil && strings.TrimSpace(string(out)) == "True" {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("the Gallery CRD was not Established within a minute: %w", err)
			}
			return fmt.Errorf("the Gallery CRD was not Established within a minute (Established=%q)", out)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// portForward forwards a local port to the server Service and waits until the gallery
// answers its readiness check through it.
func (r *runner) portForward(ctx context.Context, logDir string) (string, error) {
	g := &galleryv1alpha1.Gallery{}
	g.Name = galleryName
	port := freePortFrom(r.port)
	if err := r.startProc(filepath.Join(logDir, "port-forward.log"), r.kubectl, "--kubeconfig", r.kubeconfig,
		"port-forward", "-n", namespace, "--address", "127.0.0.1", "svc/"+g.ServerName(), fmt.Sprintf("%d:http", port)); err != nil {
		return "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+specs.ReadinessPath, nil)
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, nil
			}
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		time.Sleep(300 * time.Millisecond)
	}
	return "", fmt.Errorf("the gallery did not answer at %s; see .cache/run/port-forward.log", url)
}

func (r *runner) startProc(logPath string, name string, args ...string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = r.root
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "KUBECONFIG="+r.kubeconfig)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	r.procs = append(r.procs, cmd)
	return nil
}

func (r *runner) shutdown(keepCluster bool) {
	r.say("stopping")
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
	// Also after a start that failed half-way (no kubeconfig yet): down is idempotent.
	if !keepCluster {
		_ = r.runCmd("hack/cluster.sh", "down")
	}
}

func (r *runner) kubectlRun(args ...string) error {
	return r.runCmd(r.kubectl, append([]string{"--kubeconfig", r.kubeconfig}, args...)...)
}

func (r *runner) kubectlQuiet(args ...string) error {
	return exec.Command(r.kubectl, append([]string{"--kubeconfig", r.kubeconfig}, args...)...).Run()
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

// output runs a script of the repository with extra environment and returns its stdout.
func (r *runner) output(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(r.root, name), args...)
	cmd.Dir = r.root
	cmd.Env = append(os.Environ(), env...)
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
