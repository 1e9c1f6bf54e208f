package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testenv"
)

// spreadGallery is an offline Gallery with three server and three worker pods, managed
// Redis and MariaDB and a volume: every kind of child the operator makes by default.
// Zone spread is hard (DoNotSchedule) so that "one pod per zone" is exact.
func spreadGallery(name string) string {
	return fmt.Sprintf(`apiVersion: sortographer.io/v1alpha1
kind: Gallery
metadata: {name: %s}
spec:
  server: {replicas: 3}
  workers: {replicas: 3, concurrency: 2, classifier: {provider: builtin}}
  cache: {managed: {memory: 128Mi}}
  database: {managed: {storageSize: 1Gi}}
  storage: {volume: {size: 1Gi}}
  placement: {zoneSpread: {whenUnsatisfiable: DoNotSchedule}}
`, name)
}

// scaleGallery has an HPA on the server, 2 to 4 replicas at 70% CPU. testdata/kwok.yaml
// makes its server pods (namespace e2e-scale) use 300% of their CPU request.
const scaleGallery = `apiVersion: sortographer.io/v1alpha1
kind: Gallery
metadata: {name: scale}
spec:
  workers: {replicas: 1}
  database: {managed: {storageSize: 1Gi}}
  storage: {volume: {size: 1Gi}}
  autoscaling:
    server: {minReplicas: 2, maxReplicas: 4, cpu: {targetUtilization: 70}}
`

const (
	nsReady   = "e2e-ready"
	nsScale   = "e2e-scale"
	nsGitOps  = "e2e-gitops"
	nsDoomed  = "e2e-doomed"
	nsUpgrade = "e2e-upgrade"
	// nsTeam is the namespace-scoped release's own; it watches nsWatched only.
	nsTeam, nsWatched, nsUnwatched = "sortographer-team", "e2e-team-a", "e2e-team-b"
)

// figures are the durations measured on the way, printed at the end.
var figures = struct {
	sync.Mutex
	lines []string
}{}

func record(t *testing.T, what string, d time.Duration) {
	t.Logf("FIGURE %s: %s", what, d.Round(10*time.Millisecond))
	figures.Lock()
	figures.lines = append(figures.lines, fmt.Sprintf("%-45s %s", what, d.Round(10*time.Millisecond)))
	figures.Unlock()
}

// TestEndToEnd runs the scenarios in order on one cluster: each builds on the state the
// previous ones left (one release, one running operator).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end tests start a cluster; only -short skips them")
	}
	t.Cleanup(func() {
		figures.Lock()
		defer figures.Unlock()
		fmt.Fprintf(os.Stderr, "e2e figures:\n  %s\n", strings.Join(figures.lines, "\n  "))
	})
	ok := t.Run("HelmInstallAndReady", testHelmInstallAndReady)
	if !ok {
		t.Fatal("the install failed; the other scenarios need it")
	}
	t.Run("GitOpsServerSideApply", testGitOps)
	t.Run("RollingUpdate", testRollingUpdate)
	t.Run("HPAScaleOut", testScaleOut)
	t.Run("LeaderFailoverAndRestart", testFailover)
	t.Run("Deletion", testDeletion)
	t.Run("NamespaceScoped", testNamespaceScoped)
	t.Run("HelmUpgradeAddsCRDField", testHelmUpgrade)
}

var current *operator // the operator process the scenarios rely on

// testHelmInstallAndReady: the chart installs as a user would (CRD included), the
// operator runs with the chart's RBAC, and a Gallery with every default child becomes
// Ready, with its server and worker pods one per zone.
func testHelmInstallAndReady(t *testing.T) {
	start := time.Now()
	helm(t, "install", releaseName, "charts/sortographer", "-n", releaseNamespace, "--create-namespace",
		"--set", "crds.install=true", "--set", "replicas=2", "--wait", "--timeout=2m")
	record(t, "helm install (with --wait)", time.Since(start))
	if out := helm(t, "list", "-n", releaseNamespace, "-o", "json"); !strings.Contains(out, `"chart":"sortographer-`+chartVersion(t)+`"`) || !strings.Contains(out, `"status":"deployed"`) {
		t.Fatalf("helm list: want sortographer-%s deployed, got %s", chartVersion(t), out)
	}
	// The chart's own operator Deployment is scheduled (kwok simulates its pods).
	d := getDeployment(t, releaseNamespace, "sortographer-operator")
	if d.Status.ReadyReplicas != 2 || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--leader-elect") {
		t.Fatalf("chart's operator deployment: ready %d, args %v", d.Status.ReadyReplicas, d.Spec.Template.Spec.Containers[0].Args)
	}

	// The operators run as the chart's ServiceAccount: its RBAC is all they have.
	as := "--as=system:serviceaccount:" + releaseNamespace + ":" + serviceAccount
	for _, tc := range []struct {
		verb, resource string
		want           string
	}{
		{"update", "galleries.sortographer.io/status", "yes"},
		{"patch", "deployments.apps", "yes"},
		{"create", "leases.coordination.k8s.io", "yes"},
		{"delete", "secrets", "no"}, // generated Secrets are never deleted by the operator
		{"create", "clusterrolebindings.rbac.authorization.k8s.io", "no"},
		{"delete", "nodes", "no"},
		{"create", "pods", "no"},
	} {
		out, _ := kubectlErr("", "auth", "can-i", tc.verb, tc.resource, as, "-n", releaseNamespace)
		if got := strings.TrimSpace(out); got != tc.want {
			t.Errorf("operator can-i %s %s: %q, want %q", tc.verb, tc.resource, got, tc.want)
		}
	}

	current = startOperator(t, "a")
	testenv.Eventually(t, 30*time.Second, "operator a leads", func() error {
		if !current.isLeader() {
			return fmt.Errorf("not leader yet; log:\n%s", current.logTail())
		}
		return nil
	})

	createNamespace(t, nsScale) // the HPA needs a while: start it now, check it later
	applyGallery(t, nsScale, scaleGallery)
	scaleCreated = time.Now()

	createNamespace(t, nsReady)
	start = time.Now()
	applyGallery(t, nsReady, spreadGallery("spread"))
	waitReady(t, nsReady, "spread")
	record(t, "gallery apply -> Ready (kubectl wait)", time.Since(start))

	zones := nodeZones(t)
	for _, component := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers} {
		perZone := map[string]int{}
		pods := podsOf(t, nsReady, "spread", component)
		for _, p := range pods {
			if p.Spec.NodeName == "" {
				t.Errorf("%s pod %s is not scheduled", component, p.Name)
			}
			perZone[zones[p.Spec.NodeName]]++
		}
		if len(pods) != 3 || perZone["zone-a"] != 1 || perZone["zone-b"] != 1 || perZone["zone-c"] != 1 {
			t.Errorf("%s pods per zone = %v (%d pods), want one in each of zone-a, zone-b, zone-c", component, perZone, len(pods))
		}
	}
}

// nodeZones maps node name to its topology.kubernetes.io/zone label.
func nodeZones(t *testing.T) map[string]string {
	t.Helper()
	var nodes corev1.NodeList
	if err := env.client.List(ctx(t), &nodes); err != nil {
		t.Fatal(err)
	}
	zones := map[string]string{}
	for _, n := range nodes.Items {
		zones[n.Name] = n.Labels[corev1.LabelTopologyZone]
	}
	if len(zones) != 3 {
		t.Fatalf("want 3 nodes, have %v", zones)
	}
	return zones
}

// testGitOps: a GitOps tool applying the same Gallery twice with server-side apply sees
// no conflict and no diff, and the operator owns no field of the Gallery's spec.
func testGitOps(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join(env.root, "config", "samples", "gallery_offline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	createNamespace(t, nsGitOps)
	apply := []string{"apply", "--server-side", "--field-manager=argocd", "-n", nsGitOps, "-f", "-"}
	kubectl(t, string(sample), apply...)
	waitReady(t, nsGitOps, "photos-offline")
	// The operator's status writes settle; then the object stays put.
	var before *galleryv1alpha1.Gallery
	testenv.Eventually(t, 30*time.Second, "gallery settles", func() error {
		a := getGallery(t, nsGitOps, "photos-offline")
		time.Sleep(2 * time.Second)
		b := getGallery(t, nsGitOps, "photos-offline")
		if a.ResourceVersion != b.ResourceVersion {
			return fmt.Errorf("resourceVersion moved %s -> %s", a.ResourceVersion, b.ResourceVersion)
		}
		before = b
		return nil
	})

	out := kubectl(t, string(sample), apply...)
	if !strings.Contains(out, "serverside-applied") {
		t.Errorf("second apply: %q", out)
	}
	after := getGallery(t, nsGitOps, "photos-offline")
	if after.ResourceVersion != before.ResourceVersion || after.Generation != before.Generation {
		t.Errorf("second apply changed the Gallery: resourceVersion %s -> %s, generation %d -> %d",
			before.ResourceVersion, after.ResourceVersion, before.Generation, after.Generation)
	}
	if diff, err := kubectlErr(string(sample), "diff", "--server-side", "--field-manager=argocd", "-n", nsGitOps, "-f", "-"); err != nil || diff != "" {
		t.Errorf("kubectl diff --server-side --field-manager=argocd: want no diff, got %v\n%s", err, diff)
	}

	var argocdOwnsSpec, operatorWritesStatus bool
	for _, mf := range after.ManagedFields {
		fields := ""
		if mf.FieldsV1 != nil {
			fields = mf.FieldsV1.GetRawString()
		}
		ownsSpec := strings.Contains(fields, `"f:spec"`)
		switch {
		case mf.Manager == "argocd" && ownsSpec && mf.Operation == metav1.ManagedFieldsOperationApply:
			argocdOwnsSpec = true
		case ownsSpec: // the operator (controllers.FieldOwner, or its status writer) above all
			t.Errorf("manager %q (%s, subresource %q) owns spec fields: %s", mf.Manager, mf.Operation, mf.Subresource, fields)
		case mf.Subresource == "status":
			operatorWritesStatus = true
		}
	}
	if !argocdOwnsSpec || !operatorWritesStatus {
		t.Errorf("managedFields: argocd owns spec %v, someone writes status %v: %+v", argocdOwnsSpec, operatorWritesStatus, after.ManagedFields)
	}
}

// rolloutWatch watches a Deployment during a rollout and keeps the worst status it saw.
type rolloutWatch struct {
	stop  func()
	done  chan struct{}
	worst struct {
		unavailable, available int32 // most unavailable, fewest available
	}
	updates int
}

// watchRollout starts a watch on the Deployment: every status the Deployment controller
// writes is seen, not a sample.
func watchRollout(t *testing.T, namespace, name string) *rolloutWatch {
	t.Helper()
	c, cancel := context.WithCancel(context.Background())
	w := &rolloutWatch{stop: cancel, done: make(chan struct{})}
	w.worst.available = 1 << 30
	watch, err := env.client.Watch(c, &appsv1.DeploymentList{}, client.InNamespace(namespace),
		client.MatchingFields{"metadata.name": name})
	if err != nil {
		cancel()
		t.Fatalf("watch deployment %s: %v", name, err)
	}
	go func() {
		defer close(w.done)
		defer watch.Stop()
		for {
			select {
			case <-c.Done():
				return
			case ev, ok := <-watch.ResultChan():
				if !ok {
					return
				}
				d, isDeployment := ev.Object.(*appsv1.Deployment)
				if !isDeployment {
					continue
				}
				w.updates++
				w.worst.unavailable = max(w.worst.unavailable, d.Status.UnavailableReplicas)
				w.worst.available = min(w.worst.available, d.Status.AvailableReplicas)
			}
		}
	}()
	return w
}

func (w *rolloutWatch) finish() { w.stop(); <-w.done }

// rolledOut: the Deployment's controller has caught up, every replica is updated and
// available, and no pod of an older template is left.
func rolledOut(t *testing.T, namespace, name string) error {
	d := getDeployment(t, namespace, name)
	s := d.Status
	want := *d.Spec.Replicas
	if s.ObservedGeneration != d.Generation || s.UpdatedReplicas != want || s.AvailableReplicas != want || s.Replicas != want {
		return fmt.Errorf("generation %d observed %d, replicas %d updated %d available %d, want %d",
			d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.AvailableReplicas, want)
	}
	return nil
}

// testRollingUpdate: a new server image rolls the pods with no unavailable replica; a
// changed Secret the Gallery consumes rolls them too.
func testRollingUpdate(t *testing.T) {
	const newImage = "ghcr.io/sortographer/sortographer:v0.1.1"
	server := getGallery(t, nsReady, "spread").ServerName()
	before := getDeployment(t, nsReady, server)
	oldRS := replicaSetsOf(t, before)

	w := watchRollout(t, nsReady, server)
	start := time.Now()
	kubectl(t, "", "patch", "-n", nsReady, "gallery/spread", "--type=merge", "-p", `{"spec":{"server":{"image":"`+newImage+`"}}}`)
	testenv.Eventually(t, 90*time.Second, "image rollout", func() error {
		d := getDeployment(t, nsReady, server)
		if d.Spec.Template.Spec.Containers[0].Image != newImage {
			return fmt.Errorf("deployment image still %s", d.Spec.Template.Spec.Containers[0].Image)
		}
		return rolledOut(t, nsReady, server)
	})
	record(t, "rollout of 3 server pods (image change)", time.Since(start))
	w.finish()
	// status.unavailableReplicas counts every pod of the Deployment that is not available,
	// the surge pod that is starting included; what must never happen is fewer available
	// than the 3 asked for (maxUnavailable 0), or more than the one surge pod starting.
	if w.updates < 3 || w.worst.available < 3 || w.worst.unavailable > 1 {
		t.Errorf("during the rollout (%d updates watched): down to %d available, up to %d unavailable; want at least 3 available and at most the 1 surge pod unavailable",
			w.updates, w.worst.available, w.worst.unavailable)
	}
	after := getDeployment(t, nsReady, server)
	rs := replicaSetsOf(t, after)
	if len(rs) != len(oldRS)+1 {
		t.Errorf("replicaSets %d -> %d, want one new", len(oldRS), len(rs))
	}
	for _, p := range podsOf(t, nsReady, "spread", galleryv1alpha1.ComponentServer) {
		if p.Spec.Containers[0].Image != newImage {
			t.Errorf("pod %s still runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}

	// The generated JWT key is the Secret the pods read; an admin rotates it.
	g := getGallery(t, nsReady, "spread")
	hashBefore := after.Spec.Template.Annotations[specs.AnnotationConfigHash]
	key := make([]byte, 48)
	_, _ = rand.Read(key)
	newKey := base64.StdEncoding.EncodeToString([]byte(base64.RawURLEncoding.EncodeToString(key)))
	w = watchRollout(t, nsReady, server)
	start = time.Now()
	kubectl(t, "", "patch", "-n", nsReady, "secret/"+g.GeneratedSecretName(), "--type=merge", "-p", `{"data":{"`+specs.SecretKeyJWT+`":"`+newKey+`"}}`)
	testenv.Eventually(t, 60*time.Second, "secret rollout", func() error {
		d := getDeployment(t, nsReady, server)
		if h := d.Spec.Template.Annotations[specs.AnnotationConfigHash]; h == hashBefore {
			return fmt.Errorf("config hash still %s", h)
		}
		return rolledOut(t, nsReady, server)
	})
	record(t, "secret change -> pods rolled", time.Since(start))
	w.finish()
	if w.updates < 3 || w.worst.available < 3 || w.worst.unavailable > 1 {
		t.Errorf("during the Secret rollout (%d updates watched): down to %d available, up to %d unavailable", w.updates, w.worst.available, w.worst.unavailable)
	}
	if rs2 := replicaSetsOf(t, getDeployment(t, nsReady, server)); len(rs2) != len(rs)+1 {
		t.Errorf("after the Secret change: replicaSets %d -> %d, want one new", len(rs), len(rs2))
	}
	sec := &corev1.Secret{}
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: nsReady, Name: g.GeneratedSecretName()}, sec); err != nil {
		t.Fatal(err)
	}
	if base64.StdEncoding.EncodeToString(sec.Data[specs.SecretKeyJWT]) != newKey {
		t.Errorf("the operator rewrote the admin's new JWT key")
	}
}

var scaleCreated time.Time

// testScaleOut: with simulated load the server HPA scales the Deployment above its
// minimum, never above its maximum, and reconciles do not reset the count.
func testScaleOut(t *testing.T) {
	g := getGallery(t, nsScale, "scale")
	name := g.ServerName()
	testenv.Eventually(t, 3*time.Minute, "HPA scales the server out", func() error {
		d := getDeployment(t, nsScale, name)
		if *d.Spec.Replicas <= 2 {
			return fmt.Errorf("server replicas %d", *d.Spec.Replicas)
		}
		return nil
	})
	record(t, "HPA: gallery created -> above min", time.Since(scaleCreated))
	testenv.Eventually(t, 2*time.Minute, "HPA reaches max", func() error {
		d := getDeployment(t, nsScale, name)
		if *d.Spec.Replicas != 4 {
			return fmt.Errorf("server replicas %d", *d.Spec.Replicas)
		}
		return rolledOut(t, nsScale, name)
	})
	record(t, "HPA: gallery created -> max (4) running", time.Since(scaleCreated))
	// The load asks for more (300% against a 70% target): the HPA holds at its maximum.
	testenv.Eventually(t, time.Minute, "the HPA reports it is capped at maxReplicas", func() error {
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: nsScale, Name: name}, h); err != nil {
			return err
		}
		for _, c := range h.Status.Conditions {
			if c.Type == autoscalingv2.ScalingLimited && c.Status == corev1.ConditionTrue && c.Reason == "TooManyReplicas" {
				return nil
			}
		}
		return fmt.Errorf("HPA conditions %+v, current %d desired %d", h.Status.Conditions, h.Status.CurrentReplicas, h.Status.DesiredReplicas)
	})

	// Reconciles: label touches, and a spec change the HPA gets (its scale-in rate).
	stop := make(chan struct{})
	seen := make(chan []int32, 1)
	go func() {
		var counts []int32
		for {
			select {
			case <-stop:
				seen <- counts
				return
			case <-time.After(100 * time.Millisecond):
			}
			d := &appsv1.Deployment{}
			if err := env.client.Get(t.Context(), client.ObjectKey{Namespace: nsScale, Name: name}, d); err == nil {
				counts = append(counts, *d.Spec.Replicas)
			}
		}
	}()
	for i := range 3 {
		touchGallery(t, nsScale, "scale", i)
		time.Sleep(time.Second)
	}
	kubectl(t, "", "patch", "-n", nsScale, "gallery/scale", "--type=merge", "-p", `{"spec":{"autoscaling":{"server":{"scaleDownMaxPodsPerMinute":2}}}}`)
	testenv.Eventually(t, 30*time.Second, "the spec change is reconciled", func() error {
		if err := ready(getGallery(t, nsScale, "scale")); err != nil {
			return err
		}
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: nsScale, Name: name}, h); err != nil {
			return err
		}
		if p := h.Spec.Behavior.ScaleDown.Policies; len(p) == 0 || p[0].Value != 2 {
			return fmt.Errorf("HPA scale-down policies %+v", p)
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	close(stop)
	counts := <-seen
	if len(counts) < 20 {
		t.Fatalf("only %d samples of the replica count", len(counts))
	}
	for _, c := range counts {
		if c != 4 {
			t.Fatalf("server replicas went to %d during reconciles (samples %v); the HPA's 4 must stay", c, counts)
		}
	}
}

// testFailover: two operators with leader election; the leader is SIGKILLed, the other
// takes over and reconciles a change made after the kill, and nothing is duplicated.
// Then a plain restart: a change made while no operator runs is reconciled at start.
func testFailover(t *testing.T) {
	g := getGallery(t, nsReady, "spread")
	standby := startOperator(t, "b")
	testenv.Eventually(t, 30*time.Second, "operator b is a standby", func() error {
		if b, _ := os.ReadFile(standby.log); !strings.Contains(string(b), "Attempting to acquire leader lease") {
			return fmt.Errorf("operator b has not started its election yet")
		}
		return nil
	})
	if standby.isLeader() || !current.isLeader() {
		t.Fatalf("want a leading and b standing by: a leader %v, b leader %v", current.isLeader(), standby.isLeader())
	}
	oldHolder, err := leaseHolder(ctx(t))
	if err != nil || oldHolder == "" {
		t.Fatalf("lease holder %q: %v", oldHolder, err)
	}
	server := getDeployment(t, nsReady, g.ServerName())
	workers := getDeployment(t, nsReady, g.WorkersName())
	eventsBefore := galleryEvents(t, nsReady, "spread")

	killed := time.Now()
	current.kill()
	kubectl(t, "", "patch", "-n", nsReady, "gallery/spread", "--type=merge", "-p", `{"spec":{"server":{"replicas":4}}}`)
	testenv.Eventually(t, 60*time.Second, "operator b takes the lease", func() error {
		h, err := leaseHolder(ctx(t))
		if err != nil {
			return err
		}
		if h == oldHolder || !standby.isLeader() {
			return fmt.Errorf("holder %q, b leader %v", h, standby.isLeader())
		}
		return nil
	})
	record(t, "failover: SIGKILL -> new leader", time.Since(killed))
	testenv.Eventually(t, 60*time.Second, "operator b reconciles the change", func() error {
		if err := ready(getGallery(t, nsReady, "spread")); err != nil {
			return err
		}
		if d := getDeployment(t, nsReady, g.ServerName()); *d.Spec.Replicas != 4 {
			return fmt.Errorf("server replicas %d", *d.Spec.Replicas)
		}
		return rolledOut(t, nsReady, g.ServerName())
	})
	record(t, "failover: SIGKILL -> change reconciled", time.Since(killed))
	current = standby

	// Nothing duplicated: one Deployment per role, the replica change bumped the server
	// Deployment once and the workers not at all, one live ReplicaSet each, no event storm.
	time.Sleep(2 * time.Second)
	for _, component := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers} {
		var ds appsv1.DeploymentList
		if err := env.client.List(ctx(t), &ds, client.InNamespace(nsReady), client.MatchingLabels(g.ChildLabels(component))); err != nil {
			t.Fatal(err)
		}
		if len(ds.Items) != 1 {
			t.Errorf("%d %s Deployments, want 1", len(ds.Items), component)
		}
	}
	if d := getDeployment(t, nsReady, g.ServerName()); d.Generation != server.Generation+1 {
		t.Errorf("server deployment generation %d -> %d, want exactly one change", server.Generation, d.Generation)
	}
	if d := getDeployment(t, nsReady, g.WorkersName()); d.Generation != workers.Generation {
		t.Errorf("workers deployment generation %d -> %d, want unchanged", workers.Generation, d.Generation)
	}
	for _, name := range []string{g.ServerName(), g.WorkersName()} {
		live, hashes := 0, map[string]bool{}
		for _, rs := range replicaSetsOf(t, getDeployment(t, nsReady, name)) {
			h := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
			if hashes[h] {
				t.Errorf("%s: two ReplicaSets with template hash %s", name, h)
			}
			hashes[h] = true
			if *rs.Spec.Replicas > 0 {
				live++
			}
		}
		if live != 1 {
			t.Errorf("%s: %d ReplicaSets with replicas, want 1", name, live)
		}
	}
	if n := galleryEvents(t, nsReady, "spread") - eventsBefore; n > 5 {
		t.Errorf("%d new events about the Gallery during the failover, want at most 5", n)
	}

	// A plain restart: stop the operator, change the Gallery, start it again.
	current.stop(t)
	kubectl(t, "", "patch", "-n", nsReady, "gallery/spread", "--type=merge", "-p", `{"spec":{"server":{"replicas":3}}}`)
	time.Sleep(2 * time.Second)
	if d := getDeployment(t, nsReady, g.ServerName()); *d.Spec.Replicas != 4 {
		t.Fatalf("server replicas %d with no operator running; want 4 until it starts", *d.Spec.Replicas)
	}
	started := time.Now()
	current = startOperator(t, "c")
	testenv.Eventually(t, 60*time.Second, "the restarted operator reconciles", func() error {
		if d := getDeployment(t, nsReady, g.ServerName()); *d.Spec.Replicas != 3 {
			return fmt.Errorf("server replicas %d", *d.Spec.Replicas)
		}
		return ready(getGallery(t, nsReady, "spread"))
	})
	record(t, "restart: start -> change reconciled", time.Since(started))
}

// galleryEvents counts the Events about a Gallery (each repeat counts).
func galleryEvents(t *testing.T, namespace, name string) int {
	t.Helper()
	var events corev1.EventList
	if err := env.client.List(ctx(t), &events, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "Gallery" && e.InvolvedObject.Name == name {
			n += int(max(e.Count, 1))
		}
	}
	return n
}

// childKinds are every kind the operator makes (docs/operator.md), and what they make.
const childKinds = "deployments,replicasets,pods,statefulsets,services,configmaps,secrets,serviceaccounts," +
	"horizontalpodautoscalers,poddisruptionbudgets,ingresses,networkpolicies,persistentvolumeclaims"

// testDeletion: deleting a Gallery removes every child but the two kept on purpose (the
// MariaDB data claim and its passwords); deleting a namespace with a Gallery completes.
func testDeletion(t *testing.T) {
	g := getGallery(t, nsReady, "spread")
	selector := galleryv1alpha1.LabelGallery + "=spread"
	if before := strings.Fields(kubectl(t, "", "get", childKinds, "-n", nsReady, "-l", selector, "-o", "name")); len(before) < 20 {
		t.Fatalf("only %d children before deletion: %v", len(before), before)
	}
	start := time.Now()
	kubectl(t, "", "delete", "-n", nsReady, "gallery/spread", "--wait", "--timeout=60s")
	kept := []string{
		"persistentvolumeclaim/data-" + g.DatabaseName() + "-0",
		"secret/" + g.DatabaseSecretName(),
	}
	sort.Strings(kept)
	testenv.Eventually(t, 60*time.Second, "children removed", func() error {
		left := strings.Fields(kubectl(t, "", "get", childKinds, "-n", nsReady, "-l", selector, "-o", "name"))
		sort.Strings(left)
		if !slices.Equal(left, kept) {
			return fmt.Errorf("left %v, want only %v", left, kept)
		}
		return nil
	})
	record(t, "delete gallery -> children gone", time.Since(start))

	createNamespace(t, nsDoomed)
	applyGallery(t, nsDoomed, spreadGallery("doomed"))
	waitReady(t, nsDoomed, "doomed")
	start = time.Now()
	kubectl(t, "", "delete", "namespace", nsDoomed, "--wait", "--timeout=90s")
	testenv.Eventually(t, 10*time.Second, "namespace gone", func() error {
		err := env.client.Get(ctx(t), client.ObjectKey{Name: nsDoomed}, &corev1.Namespace{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return errors.New("namespace still there")
	})
	record(t, "delete namespace with a gallery", time.Since(start))
}

// testNamespaceScoped: a second release of the chart with rbac.scope=namespace and
// watchNamespaces, run as that release's ServiceAccount (Roles in the watched namespace,
// nothing cluster-wide): a Gallery in the watched namespace becomes Ready; one beside it
// in another namespace is left alone; the operator's log has no forbidden request.
func testNamespaceScoped(t *testing.T) {
	if current != nil {
		current.stop(t) // one operator per Gallery: the cluster-wide one steps aside
	}
	createNamespace(t, nsWatched)
	createNamespace(t, nsUnwatched)
	const release = "sortographer-team"
	helm(t, "install", release, "charts/sortographer", "-n", nsTeam, "--create-namespace",
		"--set", "crds.install=false", "--set", "rbac.scope=namespace", "--set", "watchNamespaces={"+nsWatched+"}",
		"--wait", "--timeout=2m")
	sa := release + "-operator"
	as := "--as=system:serviceaccount:" + nsTeam + ":" + sa
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"patch", "deployments.apps", "-n", nsWatched}, "yes"},
		{[]string{"update", "galleries.sortographer.io/status", "-n", nsWatched}, "yes"},
		{[]string{"get", "galleries.sortographer.io", "-n", nsUnwatched}, "no"},
		{[]string{"list", "galleries.sortographer.io", "--all-namespaces"}, "no"},
		{[]string{"create", "leases.coordination.k8s.io", "-n", nsTeam}, "yes"},
	} {
		out, _ := kubectlErr("", append([]string{"auth", "can-i", as}, tc.args...)...)
		if got := strings.TrimSpace(out); got != tc.want {
			t.Errorf("namespaced operator can-i %v: %q, want %q", tc.args, got, tc.want)
		}
	}

	op := startOperatorAs(t, "team", nsTeam, sa, env.managerBin,
		"--leader-elect", "--leader-election-namespace="+nsTeam, "--watch-namespaces="+nsWatched)
	applyGallery(t, nsUnwatched, spreadGallery("ignored"))
	applyGallery(t, nsWatched, spreadGallery("team"))
	start := time.Now()
	waitReady(t, nsWatched, "team")
	record(t, "namespace-scoped operator: gallery apply -> Ready", time.Since(start))
	if g := getGallery(t, nsUnwatched, "ignored"); g.Status.ObservedGeneration != 0 || len(g.Status.Conditions) != 0 || len(g.Finalizers) != 0 {
		t.Errorf("the Gallery outside the watched namespace was reconciled: status %+v, finalizers %v", g.Status, g.Finalizers)
	}
	if children := strings.Fields(kubectl(t, "", "get", childKinds, "-n", nsUnwatched, "-l", galleryv1alpha1.LabelGallery+"=ignored", "-o", "name")); len(children) != 0 {
		t.Errorf("children made outside the watched namespace: %v", children)
	}
	kubectl(t, "", "delete", "-n", nsWatched, "gallery/team", "--wait", "--timeout=60s")
	op.stop(t)
	if log, _ := os.ReadFile(op.log); bytes.Contains(bytes.ToLower(log), []byte("forbidden")) {
		t.Errorf("the namespace-scoped operator was refused a request; its log:\n%s", op.logTail())
	}
	kubectl(t, "", "delete", "-n", nsUnwatched, "gallery/ignored", "--wait", "--timeout=30s")
	helm(t, "uninstall", release, "-n", nsTeam, "--wait", "--timeout=2m")
}

const crdName = "galleries.sortographer.io"

// chartVersion is the version of this tree's chart.
func chartVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(env.root, "charts", "sortographer", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		Version string `json:"version"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil || chart.Version == "" || chart.Version == "0.1.0" {
		t.Fatalf("chart version %q (%v): want the version after 0.1.0", chart.Version, err)
	}
	return chart.Version
}

// sharingInCRD says whether the installed CRD's schema has spec.auth.sharing.
func sharingInCRD(t *testing.T) bool {
	t.Helper()
	out := kubectl(t, "", "get", "crd", crdName, "-o",
		`jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.auth.properties.sharing.properties.maxLinkLifetime.type}`)
	return out == "string"
}

// testHelmUpgrade: the previous release — chart 0.1.0 (testdata, packaged from git
// before spec.auth.sharing was added) and its operator (built from the same commit) —
// makes a Gallery Ready; then `helm upgrade` to this tree's chart adds the field to the
// CRD and this tree's operator takes over. The Gallery stays Ready with its ConfigMap
// and config hash untouched; its server and workers Deployments change only by the
// metrics container port that this tree's operator declares (the pods roll once for
// it), and a Gallery using the new field is accepted and configured; an invalid value
// is refused.
func testHelmUpgrade(t *testing.T) {
	if current != nil { // nil when run alone: go test -run TestEndToEnd/HelmUpgrade
		current.stop(t)
		helm(t, "uninstall", releaseName, "-n", releaseNamespace, "--wait", "--timeout=2m")
		if _, err := kubectlErr("", "get", "crd", crdName); err != nil {
			t.Errorf("helm uninstall deleted the CRD (crds.keep must keep it): %v", err)
		}
		kubectl(t, "", "delete", "crd", crdName, "--wait", "--timeout=90s")
	}

	helm(t, "install", releaseName, "test/e2e/testdata/sortographer-0.1.0.tgz", "-n", releaseNamespace, "--create-namespace",
		"--set", "crds.install=true", "--wait", "--timeout=2m")
	if sharingInCRD(t) {
		t.Fatal("the 0.1.0 chart already has spec.auth.sharing: testdata/sortographer-0.1.0.tgz is not the previous chart")
	}
	released := startReleasedOperator(t, "0.1.0")
	createNamespace(t, nsUpgrade)
	applyGallery(t, nsUpgrade, spreadGallery("legacy"))
	waitReady(t, nsUpgrade, "legacy")
	g := getGallery(t, nsUpgrade, "legacy")
	server, workers := getDeployment(t, nsUpgrade, g.ServerName()), getDeployment(t, nsUpgrade, g.WorkersName())
	cm := &corev1.ConfigMap{}
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: nsUpgrade, Name: g.ConfigMapName()}, cm); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	helm(t, "upgrade", releaseName, "charts/sortographer", "-n", releaseNamespace, "--set", "crds.install=true", "--wait", "--timeout=2m")
	record(t, "helm upgrade 0.1.0 -> "+chartVersion(t), time.Since(start))
	if out := helm(t, "list", "-n", releaseNamespace, "-o", "json"); !strings.Contains(out, `"chart":"sortographer-`+chartVersion(t)+`"`) || !strings.Contains(out, `"revision":"2"`) {
		t.Fatalf("helm list after upgrade: %s", out)
	}
	if !sharingInCRD(t) {
		t.Fatal("the upgraded CRD has no spec.auth.sharing.maxLinkLifetime")
	}
	// The upgrade replaces the operator's pods: here the 0.1.0 process by this tree's.
	released.stop(t)
	current = startOperator(t, "upgraded")
	touchGallery(t, nsUpgrade, "legacy", 1)
	time.Sleep(3 * time.Second)
	waitReady(t, nsUpgrade, "legacy")
	if got := getGallery(t, nsUpgrade, "legacy"); got.Spec.Auth.Sharing.Enabled == nil || !*got.Spec.Auth.Sharing.Enabled {
		t.Errorf("existing gallery: sharing.enabled = %v, want the default true", got.Spec.Auth.Sharing.Enabled)
	}
	for _, before := range []*appsv1.Deployment{server, workers} {
		after := getDeployment(t, nsUpgrade, before.Name)
		// The two changes: the container declares the metrics port (spec.monitoring's
		// default), which the PodMonitor scrapes by name (0.1.0 served metrics on http);
		// every container (the server's migrate too) has GOMEMLIMIT at 90% of its
		// memory limit, after the operator's other variables.
		want := before.Spec.Template.DeepCopy()
		c := &want.Spec.Containers[0]
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: specs.MetricsPortName, ContainerPort: galleryv1alpha1.DefaultMetricsPort, Protocol: corev1.ProtocolTCP})
		for _, cs := range [][]corev1.Container{want.Spec.InitContainers, want.Spec.Containers} {
			for i := range cs {
				if limit, ok := cs[i].Resources.Limits[corev1.ResourceMemory]; ok {
					cs[i].Env = append(cs[i].Env, corev1.EnvVar{Name: specs.EnvGoMemLimit, Value: strconv.FormatInt(specs.GoMemLimit(limit), 10)})
				}
			}
		}
		if after.Generation != before.Generation+1 || !equality.Semantic.DeepEqual(after.Spec.Template, *want) {
			t.Errorf("%s changed by the upgrade beyond the metrics port and GOMEMLIMIT (generation %d -> %d):\nbefore %+v\nafter  %+v", before.Name,
				before.Generation, after.Generation, before.Spec.Template, after.Spec.Template)
		}
	}
	cmAfter := &corev1.ConfigMap{}
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: nsUpgrade, Name: g.ConfigMapName()}, cmAfter); err != nil {
		t.Fatal(err)
	}
	if cmAfter.ResourceVersion != cm.ResourceVersion {
		var changed []string
		for k := range mapsUnion(cm.Data, cmAfter.Data) {
			if before, after := cm.Data[k], cmAfter.Data[k]; before != after {
				changed = append(changed, fmt.Sprintf("%s: %q -> %q", k, before, after))
			}
		}
		sort.Strings(changed)
		t.Errorf("the app ConfigMap was rewritten by the upgrade: %v", changed)
	}

	applyGallery(t, nsUpgrade, `apiVersion: sortographer.io/v1alpha1
kind: Gallery
metadata: {name: sharing}
spec:
  database: {embedded: {}}
  server: {replicas: 1}
  auth: {sharing: {enabled: false, maxLinkLifetime: 72h}}
`)
	waitReady(t, nsUpgrade, "sharing")
	shared := getGallery(t, nsUpgrade, "sharing")
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: nsUpgrade, Name: shared.ConfigMapName()}, cmAfter); err != nil {
		t.Fatal(err)
	}
	if cmAfter.Data[config.EnvSharingEnabled] != "false" || cmAfter.Data[config.EnvShareMaxLifetime] != "72h0m0s" {
		t.Errorf("the new Gallery's ConfigMap: %s=%q %s=%q, want false and 72h0m0s", config.EnvSharingEnabled,
			cmAfter.Data[config.EnvSharingEnabled], config.EnvShareMaxLifetime, cmAfter.Data[config.EnvShareMaxLifetime])
	}
	_, err := kubectlErr(`apiVersion: sortographer.io/v1alpha1
kind: Gallery
metadata: {name: bad-sharing}
spec: {auth: {sharing: {maxLinkLifetime: 0s}}}
`, "apply", "-n", nsUpgrade, "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "spec.auth.sharing.maxLinkLifetime") {
		t.Errorf("a zero maxLinkLifetime: want rejected naming the field, got %v", err)
	}
}

// mapsUnion is the set of keys of a and b.
func mapsUnion(a, b map[string]string) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}
