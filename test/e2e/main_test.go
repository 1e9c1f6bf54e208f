// Package e2e runs Sortographer end to end, as a cluster admin would: a local kwok
// cluster (hack/cluster.sh, three simulated nodes in three zones, metrics-server), the
// Helm chart installed with helm, and the operator built from this tree running as local
// processes with the chart's ServiceAccount token, so the chart's least-privilege RBAC is
// what they get. kwok's pods do not execute anything: the chart's operator Deployment is
// scheduled but simulated, and the operator runs beside the cluster.
//
// `make e2e` runs it alone; `make test` runs it with the rest. The cluster is private to
// the run (its own name and state folder under the temp dir) and is deleted at the end,
// failed or not.
package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testenv"
)

const (
	// releaseNamespace and releaseName of the Helm release; the chart names its
	// ServiceAccount <release>-operator (the release name already holds the chart name).
	releaseNamespace = "sortographer-system"
	releaseName      = "sortographer"
	serviceAccount   = "sortographer-operator"
	// leaseName is cmd/manager's LeaderElectionID.
	leaseName = "sortographer.io"
)

// cluster is what every test uses: paths of the tools and of the cluster's kubeconfig,
// and a client with the cluster admin's rights (the operator gets the chart's).
type cluster struct {
	root       string
	name       string // the kwok cluster's name: sortographer-e2e-<pid>
	tmp        string // this run's folder: /tmp/sortographer-e2e-<pid>
	kubeconfig string
	kubectlBin string
	helmBin    string
	managerBin string
	// releasedManagerBin is the operator of chart 0.1.0, built from the commit the
	// chart was packaged at (testdata/sortographer-0.1.0.commit).
	releasedManagerBin string
	client             client.WithWatch

	mu        sync.Mutex
	operators []*operator
}

var env *cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // TestEndToEnd skips itself under -short only
	}
	start := time.Now()
	c, err := setUp()
	if c != nil {
		// Deleted on every path out: failure, success, Ctrl-C.
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-stop
			c.tearDown()
			os.Exit(130)
		}()
		defer c.tearDown()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: set-up failed:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: cluster, chart tools and operator ready in %s\n", time.Since(start).Round(time.Second))
	env = c
	code := m.Run()
	fmt.Fprintf(os.Stderr, "e2e: finished in %s\n", time.Since(start).Round(time.Second))
	if code != 0 {
		c.keepLogs()
	}
	return code
}

// setUp starts the cluster and builds the operator. Clusters left by runs that were
// killed (go test's timeout, SIGKILL) are deleted first.
func setUp() (*cluster, error) {
	root := testenv.RepoRoot()
	c := &cluster{root: root, name: fmt.Sprintf("sortographer-e2e-%d", os.Getpid())}
	c.tmp = filepath.Join(os.TempDir(), c.name)
	var err error
	if c.kubectlBin, err = k8sTool(root, "kubectl"); err != nil {
		return nil, err
	}
	if c.helmBin, err = helmTool(root); err != nil {
		return nil, err
	}
	metricsServer, err := c.script("hack/metrics-server.sh")
	if err != nil {
		return nil, fmt.Errorf("build metrics-server: %w", err)
	}
	c.deleteOrphans()
	if err := os.MkdirAll(c.tmp, 0o755); err != nil {
		return nil, err
	}
	if err := c.writeKwokConfig(metricsServer); err != nil {
		return nil, err
	}
	build := make(chan error, 1)
	c.managerBin = filepath.Join(c.tmp, "manager")
	c.releasedManagerBin = filepath.Join(c.tmp, "manager-0.1.0")
	go func() {
		err := goBuild(root, c.managerBin)
		build <- errors.Join(err, c.buildReleasedOperator())
	}()
	kubeconfig, err := c.script("hack/cluster.sh", "up")
	if err != nil {
		return c, errors.Join(fmt.Errorf("start the cluster: %w", err), <-build)
	}
	c.kubeconfig = kubeconfig
	if err := <-build; err != nil {
		return c, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return c, fmt.Errorf("load kubeconfig: %w", err)
	}
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(galleryv1alpha1.AddToScheme(s))
	if c.client, err = client.NewWithWatch(cfg, client.Options{Scheme: s}); err != nil {
		return c, fmt.Errorf("client: %w", err)
	}
	return c, nil
}

// goBuild builds cmd/manager of the module in dir.
func goBuild(dir, out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/manager")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the operator in %s: %w\n%s", dir, err, b)
	}
	return nil
}

// buildReleasedOperator builds the operator of chart 0.1.0 from the commit the chart was
// packaged at: the source is read from git (git archive, nothing in the checkout moves).
func (c *cluster) buildReleasedOperator() error {
	raw, err := os.ReadFile(filepath.Join(c.root, "test", "e2e", "testdata", "sortographer-0.1.0.commit"))
	if err != nil {
		return err
	}
	commit := strings.TrimSpace(string(raw))
	src := filepath.Join(c.tmp, "src-0.1.0")
	git := exec.Command("git", "-C", c.root, "archive", "--format=tar", commit, "--", "go.mod", "go.sum", "api", "cmd", "controllers", "internal")
	var stderr strings.Builder
	git.Stderr = &stderr
	archive, err := git.Output()
	if err != nil {
		return fmt.Errorf("git archive %s (the operator of chart 0.1.0; a shallow clone needs `git fetch --unshallow`): %w\n%s", commit, err, stderr.String())
	}
	if err := untar(bytes.NewReader(archive), src); err != nil {
		return fmt.Errorf("unpack the source of %s: %w", commit, err)
	}
	return goBuild(src, c.releasedManagerBin)
}

// untar writes a tar stream's regular files under dir.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			return fmt.Errorf("archive entry %q escapes %s", h.Name, dir)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr) //nolint:gosec // our own repository's source, bounded by git
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}

// writeKwokConfig is the kwokctl configuration of the cluster: metrics-server built by
// hack/metrics-server.sh, its API registration from testdata (kwokctl would download
// the release manifest otherwise), this tree's kubectl, and the simulated resource use
// of testdata/kwok.yaml.
func (c *cluster) writeKwokConfig(metricsServer string) error {
	usage, err := os.ReadFile(filepath.Join(c.root, "test", "e2e", "testdata", "kwok.yaml"))
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  metricsServerBinary: %q
  metricsServerManifests: [%q]
  kubectlBinary: %q
---
%s`, metricsServer, filepath.Join(c.root, "test", "e2e", "testdata", "metrics-server"), c.kubectlBin, usage)
	return os.WriteFile(filepath.Join(c.tmp, "kwokctl.yaml"), []byte(conf), 0o644)
}

// script runs a hack/ script with the e2e cluster's name and state folder and returns
// the last line it printed.
func (c *cluster) script(name string, args ...string) (string, error) {
	return runScript(c.root, c.name, c.tmp, name, args...)
}

func runScript(root, clusterName, tmp, name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, name), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"CLUSTER_NAME="+clusterName,
		"KWOK_WORKDIR="+filepath.Join(tmp, "kwok"),
		"CLUSTER_EXTRA_ARGS=--enable metrics-server --config "+filepath.Join(tmp, "kwokctl.yaml"),
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// deleteOrphans deletes the clusters of earlier runs whose test process is gone, so a
// killed run leaves nothing behind for long, and concurrent runs leave each other alone.
func (c *cluster) deleteOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "sortographer-e2e-*"))
	for _, dir := range dirs {
		name := filepath.Base(dir)
		pid, err := strconv.Atoi(strings.TrimPrefix(name, "sortographer-e2e-"))
		if err != nil || pid <= 1 || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		killOrphanedOperators(dir)
		if _, err := runScript(c.root, name, dir, "hack/cluster.sh", "down"); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: deleting the orphaned cluster %s failed: %v\n", name, err)
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// killOrphanedOperators kills the operator processes a killed run left: those whose
// pid file is in dir and whose command is still a binary of dir.
func killOrphanedOperators(dir string) {
	pidFiles, _ := filepath.Glob(filepath.Join(dir, "operator-*.pid"))
	for _, f := range pidFiles {
		raw, _ := os.ReadFile(f)
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || pid <= 1 {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.HasPrefix(string(cmdline), dir+string(filepath.Separator)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// keepLogs copies the cluster's component logs (deleted with the cluster) next to the
// operators' logs, for a failed run.
func (c *cluster) keepLogs() {
	from := filepath.Join(c.tmp, "kwok", "clusters", c.name, "logs")
	to := filepath.Join(os.TempDir(), "sortographer-e2e-logs")
	_ = os.RemoveAll(to)
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: keeping the cluster's logs failed:", err)
	}
	ops, _ := filepath.Glob(filepath.Join(c.tmp, "operator-*.log"))
	for _, o := range ops {
		if b, err := os.ReadFile(o); err == nil {
			_ = os.WriteFile(filepath.Join(to, filepath.Base(o)), b, 0o644)
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: logs of the cluster and the operators are in %s\n", to)
}

func (c *cluster) tearDown() {
	c.mu.Lock()
	ops := c.operators
	c.operators = nil
	c.mu.Unlock()
	for _, o := range ops {
		o.kill()
	}
	if c.tmp == "" {
		return
	}
	if os.Getenv("E2E_KEEP_CLUSTER") != "" {
		fmt.Fprintf(os.Stderr, "e2e: E2E_KEEP_CLUSTER is set; the cluster keeps running: export KUBECONFIG=%s\n", c.kubeconfig)
		return
	}
	if _, err := c.script("hack/cluster.sh", "down"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: deleting the cluster failed:", err)
		return
	}
	_ = os.RemoveAll(c.tmp)
}

// k8sTool is a pinned Kubernetes binary: from KUBEBUILDER_ASSETS (the Makefile exports
// it), else bin/k8s/<version>/.
func k8sTool(root, name string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name), nil
		}
	}
	found, _ := filepath.Glob(filepath.Join(root, "bin", "k8s", "*", name))
	if len(found) == 0 {
		return "", fmt.Errorf("no %s: run `make k8s-bin` (or the tests through `make e2e`)", name)
	}
	return found[len(found)-1], nil
}

// helmTool is the pinned helm: $HELM (the Makefile exports it), else bin/helm-*.
func helmTool(root string) (string, error) {
	if h := os.Getenv("HELM"); h != "" {
		if _, err := os.Stat(h); err == nil {
			return h, nil
		}
	}
	found, _ := filepath.Glob(filepath.Join(root, "bin", "helm-*"))
	if len(found) == 0 {
		return "", errors.New("no helm under bin/: run the tests through `make e2e` or `make test`, which build it")
	}
	return found[len(found)-1], nil
}

// ctx is a context for one step of a test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return c
}
