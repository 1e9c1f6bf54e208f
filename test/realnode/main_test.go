// Package realnode runs the default install for real. It starts a local cluster with a
// real node (REAL_NODE=1 hack/cluster.sh: containerd, Debian's runc, the kubelet,
// kube-proxy and CoreDNS on this machine, and a registry the node pulls from), into which
// it pushed our images and the Redis, MariaDB and pause images built from Debian's
// packages (make images images-base); installs the Helm chart pointed at that registry —
// the operator runs as a pod from its own image — and checks a `spec: {}` Gallery
// end to end: real probes, non-root containers with read-only roots, uploads labelled by a
// worker pod through the managed Redis into the managed MariaDB, pods killed one at a time,
// every generated Secret rotated, and a memory limit the kernel enforces. A real Prometheus
// (hack/prometheus.sh) scrapes it all with the chart's alert rules, and its alerts fire.
//
// It needs root and cgroups (`make node-check` says what is missing); `make test` and
// `make e2e` run it. Only one real node can run on a machine at a time (kube-proxy's
// iptables chains are machine-wide), so do not run it beside `make run`.
package realnode

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
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
	releaseNamespace = "sortographer-system"
	releaseName      = "sortographer"
	// nodeRegistry is the node's registry (hack/node.sh), where it pushed every image of
	// dist/images, and where the chart is told to pull from.
	nodeRegistry = "127.0.0.1:5000"
)

// chartImageValues point the chart's images at the node's registry, as an admin points
// them at theirs after `make push`.
var chartImageValues = []string{"--set", "image.registry=" + nodeRegistry, "--set", "managedImages.registry=" + nodeRegistry}

// cluster is the real-node cluster every test uses.
type cluster struct {
	root       string
	name       string // sortographer-real-<pid>
	tmp        string
	kubeconfig string
	kubectlBin string
	helmBin    string
	ctrBin     string
	nodeDir    string // hack/node.sh's state: logs, and where containerd's socket is
	downOnce   sync.Once
	client     client.Client
}

var env *cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	c, err := setUp()
	if c != nil {
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
		fmt.Fprintln(os.Stderr, "realnode: set-up failed:", err)
		if c != nil {
			c.keepLogs()
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "realnode: cluster with a real node and the chart's operator pod ready in %s\n", time.Since(start).Round(time.Second))
	env = c
	code := m.Run()
	if code != 0 {
		c.keepLogs()
	}
	fmt.Fprintf(os.Stderr, "realnode: finished in %s\n", time.Since(start).Round(time.Second))
	return code
}

func setUp() (*cluster, error) {
	root := testenv.RepoRoot()
	c := &cluster{root: root, name: fmt.Sprintf("sortographer-real-%d", os.Getpid())}
	c.tmp = filepath.Join(os.TempDir(), c.name)
	c.nodeDir = filepath.Join(c.tmp, "kwok", "clusters", c.name, "node")
	for _, img := range []string{"manager", "gallery", "redis", "mariadb", "pause"} {
		if _, err := os.Stat(filepath.Join(root, "dist", "images", img+".tar")); err != nil {
			return nil, fmt.Errorf("image archive %s missing: run make images images-base (make test does): %w", img, err)
		}
	}
	bin, err := c.script("hack/k8s-bin.sh")
	if err != nil {
		return nil, err
	}
	c.kubectlBin = filepath.Join(bin, "kubectl")
	nodeBin, err := c.script("hack/node-bin.sh")
	if err != nil {
		return nil, err
	}
	c.ctrBin = filepath.Join(nodeBin, "ctr")
	if c.helmBin = os.Getenv("HELM"); c.helmBin == "" {
		return nil, errors.New("HELM is not set: run through make test or make e2e, which build the pinned helm")
	}
	c.deleteOrphans()
	if err := os.MkdirAll(c.tmp, 0o755); err != nil {
		return nil, err
	}
	if c.kubeconfig, err = c.script("hack/cluster.sh", "up"); err != nil {
		return c, fmt.Errorf("start the cluster: %w", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return c, fmt.Errorf("load kubeconfig: %w", err)
	}
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(galleryv1alpha1.AddToScheme(s))
	if c.client, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
		return c, fmt.Errorf("client: %w", err)
	}
	// The chart as an admin installs it: the operator image, pulled from the node's
	// registry, runs as a pod on the real node.
	// Helm's caches and settings stay in this run's folder, not the user's home.
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		if err := os.Setenv(v, filepath.Join(c.tmp, strings.ToLower(v))); err != nil {
			return c, err
		}
	}
	if out, err := runTool(c.helmBin, "", append([]string{"--kubeconfig", c.kubeconfig, "install", releaseName,
		filepath.Join(root, "charts", "sortographer"), "-n", releaseNamespace, "--create-namespace",
		"--wait", "--timeout", "3m"}, chartImageValues...)...); err != nil {
		return c, fmt.Errorf("helm install: %w\n%s", err, out)
	}
	return c, nil
}

// script runs a hack/ script for this cluster (its name, its state folder, a real node)
// and returns the last line it printed.
func (c *cluster) script(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.root, name), args...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "CLUSTER_NAME="+c.name, "KWOK_WORKDIR="+filepath.Join(c.tmp, "kwok"), "REAL_NODE=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// deleteOrphans deletes the real-node clusters of runs that were killed outright (go
// test's timeout, SIGKILL): only one real node can run on a machine.
func (c *cluster) deleteOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "sortographer-real-*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "sortographer-real-"))
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		orphan := &cluster{root: c.root, name: filepath.Base(dir), tmp: dir}
		fmt.Fprintln(os.Stderr, "realnode: deleting the cluster of an earlier run that was killed:", orphan.name)
		orphan.tearDown()
	}
}

// keepLogs copies the node's and the control plane's logs where a failed run can be read.
func (c *cluster) keepLogs() {
	dst := filepath.Join(os.TempDir(), "sortographer-realnode-logs")
	_ = os.RemoveAll(dst)
	_ = os.MkdirAll(dst, 0o755)
	_ = exec.Command("cp", "-r", filepath.Join(c.nodeDir, "logs"), filepath.Join(dst, "node")).Run()
	_ = exec.Command("cp", "-r", filepath.Join(c.tmp, "kwok", "clusters", c.name, "logs"), filepath.Join(dst, "cluster")).Run()
	if c.kubeconfig != "" {
		out, _ := runTool(c.kubectlBin, "", "--kubeconfig", c.kubeconfig, "get", "galleries,pods,events", "-A", "-o", "wide")
		_ = os.WriteFile(filepath.Join(dst, "objects.txt"), []byte(out), 0o644)
		out, _ = runTool(c.kubectlBin, "", "--kubeconfig", c.kubeconfig, "logs", "-n", releaseNamespace, "deploy/sortographer-operator", "--tail=500")
		_ = os.WriteFile(filepath.Join(dst, "operator.log"), []byte(out), 0o644)
	}
	fmt.Fprintln(os.Stderr, "realnode: logs kept in", dst)
}

// tearDown deletes the cluster, once: Ctrl-C and the end of the run may both ask.
func (c *cluster) tearDown() {
	c.downOnce.Do(func() {
		if _, err := c.script("hack/cluster.sh", "down"); err != nil {
			fmt.Fprintln(os.Stderr, "realnode: delete the cluster:", err)
		}
		_ = os.RemoveAll(c.tmp)
	})
}

// containerdSocket is the node's containerd address, as hack/node.sh recorded it.
func (c *cluster) containerdSocket(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.nodeDir, "containerd.address"))
	if err != nil {
		t.Fatalf("the node's containerd address: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func runTool(bin, stdin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := runTool(env.kubectlBin, stdin, append([]string{"--kubeconfig", env.kubeconfig}, args...)...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return c
}
