package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// kubectl runs the pinned kubectl as the cluster admin and returns its stdout.
func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectlErr(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kubectlErr(stdin string, args ...string) (string, error) {
	return runTool(env.kubectlBin, stdin, args...)
}

// helm runs the pinned helm against the cluster.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runTool(env.helmBin, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runTool(bin, stdin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = env.root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig, "HELM_CACHE_HOME="+filepath.Join(env.tmp, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(env.tmp, "helm-config"), "HELM_DATA_HOME="+filepath.Join(env.tmp, "helm-data"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.client.Create(ctx(t), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// applyGallery applies a Gallery manifest as an admin would, with kubectl.
func applyGallery(t *testing.T, namespace, manifest string) {
	t.Helper()
	kubectl(t, manifest, "apply", "-n", namespace, "-f", "-")
}

func getGallery(t *testing.T, namespace, name string) *galleryv1alpha1.Gallery {
	t.Helper()
	g := &galleryv1alpha1.Gallery{}
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: namespace, Name: name}, g); err != nil {
		t.Fatalf("get gallery %s/%s: %v", namespace, name, err)
	}
	return g
}

// ready says whether the Gallery's Ready condition is True for its current generation.
func ready(g *galleryv1alpha1.Gallery) error {
	c := meta.FindStatusCondition(g.Status.Conditions, galleryv1alpha1.ConditionReady)
	switch {
	case c == nil:
		return errors.New("no Ready condition yet")
	case c.Status != metav1.ConditionTrue:
		return fmt.Errorf("Ready=%s (%s: %s)", c.Status, c.Reason, c.Message)
	case g.Status.ObservedGeneration != g.Generation:
		return fmt.Errorf("observed generation %d, want %d", g.Status.ObservedGeneration, g.Generation)
	}
	return nil
}

// waitReady waits with `kubectl wait`, as a user or a pipeline would.
func waitReady(t *testing.T, namespace, name string) time.Duration {
	t.Helper()
	start := time.Now()
	kubectl(t, "", "wait", "-n", namespace, "--for=condition=Ready", "gallery/"+name, "--timeout=120s")
	g := getGallery(t, namespace, name)
	if err := ready(g); err != nil {
		t.Fatalf("gallery %s/%s after kubectl wait: %v", namespace, name, err)
	}
	return time.Since(start)
}

func getDeployment(t *testing.T, namespace, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
		t.Fatalf("get deployment %s/%s: %v", namespace, name, err)
	}
	return d
}

// touchGallery changes a label of the Gallery: no spec change, but a reconcile.
func touchGallery(t *testing.T, namespace, name string, n int) {
	t.Helper()
	kubectl(t, "", "label", "--overwrite", "-n", namespace, "gallery/"+name, fmt.Sprintf("e2e-touch=%d", n))
}

// podsOf lists the pods of one component of a Gallery.
func podsOf(t *testing.T, namespace, gallery, component string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: gallery}}
	if err := env.client.List(ctx(t), &pods, client.InNamespace(namespace), client.MatchingLabels(g.SelectorLabels(component))); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// replicaSetsOf lists the ReplicaSets of a Deployment (by its selector).
func replicaSetsOf(t *testing.T, d *appsv1.Deployment) []appsv1.ReplicaSet {
	t.Helper()
	var rs appsv1.ReplicaSetList
	if err := env.client.List(ctx(t), &rs, client.InNamespace(d.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
		t.Fatal(err)
	}
	return rs.Items
}

// operator is one local process of the operator (cmd/manager), running with the chart's
// ServiceAccount token and leader election on, as the chart's Deployment runs it.
type operator struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startOperator starts an operator process of this tree; it is killed at the end of the
// run.
func startOperator(t *testing.T, name string) *operator {
	t.Helper()
	return startOperatorBinary(t, name, env.managerBin, "--leader-elect", "--leader-election-namespace="+releaseNamespace)
}

// startReleasedOperator starts the operator of chart 0.1.0. It runs alone, without
// leader election: outside a cluster that needs --leader-election-namespace, which 0.1.0
// does not have.
func startReleasedOperator(t *testing.T, name string) *operator {
	t.Helper()
	return startOperatorBinary(t, name, env.releasedManagerBin)
}

func startOperatorBinary(t *testing.T, name, bin string, args ...string) *operator {
	t.Helper()
	return startOperatorAs(t, name, releaseNamespace, serviceAccount, bin, args...)
}

// startOperatorAs starts an operator process with the rights of ServiceAccount sa of
// namespace ns (a chart release's).
func startOperatorAs(t *testing.T, name, ns, sa, bin string, args ...string) *operator {
	t.Helper()
	kubeconfig := serviceAccountKubeconfig(t, ns, sa, name)
	o := &operator{name: name, log: filepath.Join(env.tmp, "operator-"+name+".log"), done: make(chan struct{})}
	f, err := os.Create(o.log)
	if err != nil {
		t.Fatal(err)
	}
	o.cmd = exec.Command(bin, append(args, "--metrics-bind-address=0", "--health-probe-bind-address=0")...)
	o.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	o.cmd.Stdout, o.cmd.Stderr = f, f
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := o.cmd.Start(); err != nil {
		t.Fatalf("start operator %s: %v", name, err)
	}
	// For the next run, should this one be killed before it stops the process.
	_ = os.WriteFile(filepath.Join(env.tmp, "operator-"+name+".pid"), []byte(strconv.Itoa(o.cmd.Process.Pid)), 0o644)
	go func() {
		_ = o.cmd.Wait()
		_ = f.Close()
		close(o.done)
	}()
	env.mu.Lock()
	env.operators = append(env.operators, o)
	env.mu.Unlock()
	t.Logf("operator %s started (pid %d, log %s)", name, o.cmd.Process.Pid, o.log)
	return o
}

// stop sends SIGTERM (the operator releases its lease) and waits for the exit.
func (o *operator) stop(t *testing.T) {
	t.Helper()
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.done:
	case <-time.After(30 * time.Second):
		o.kill()
		t.Fatalf("operator %s did not stop within 30s of SIGTERM", o.name)
	}
}

// kill sends SIGKILL: no clean-up at all, as when a node dies.
func (o *operator) kill() {
	if o.cmd.Process != nil {
		_ = o.cmd.Process.Kill()
		<-o.done
	}
}

// isLeader says whether this process has acquired the leader lease (its log says so:
// every process of one host has the same hostname prefix in the Lease's holder).
func (o *operator) isLeader() bool {
	b, _ := os.ReadFile(o.log)
	return bytes.Contains(b, []byte("Successfully acquired lease"))
}

func (o *operator) logTail() string {
	b, _ := os.ReadFile(o.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// serviceAccountKubeconfig is a kubeconfig for the cluster with a token of the chart's
// ServiceAccount: the operator gets exactly the chart's RBAC, no more.
func serviceAccountKubeconfig(t *testing.T, ns, sa, operatorName string) string {
	t.Helper()
	token := strings.TrimSpace(kubectl(t, "", "create", "token", sa, "-n", ns, "--duration=2h"))
	server := kubectl(t, "", "config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.server}")
	ca := kubectl(t, "", "config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}")
	if server == "" || ca == "" || token == "" {
		t.Fatalf("cannot build the operator's kubeconfig: server %q, CA %q, token %d bytes", server, ca, len(token))
	}
	conf := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: operator, user: {token: %q}}]
contexts: [{name: e2e, context: {cluster: e2e, user: operator}}]
current-context: e2e
`, server, ca, token)
	path := filepath.Join(env.tmp, "operator-"+operatorName+".kubeconfig")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// leaseHolder is the holder of the operator's leader-election Lease ("" when none).
func leaseHolder(ctx context.Context) (string, error) {
	l := &coordinationv1.Lease{}
	if err := env.client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: leaseName}, l); err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}
