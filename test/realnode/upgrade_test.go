package realnode

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/testenv"
)

const upgradeNamespace = "upgrade"

// small keeps two Galleries within the node's two CPUs.
const small = `resources: {requests: {cpu: 50m, memory: 128Mi}, limits: {memory: 1Gi}}`

// TestUpgradeFromThePreviousRelease installs the previous release (its chart and images,
// built from its commit by hack/previous-release.sh and pushed to the node's registry),
// creates an unpinned and a pinned Gallery under it, and `helm upgrade`s to this chart
// while a client keeps uploading and browsing. The unpinned Gallery's migration Job runs
// first — and fails, because a table by the name its new migration (0004_app_versions)
// creates is already there, which stops the roll with the old pods serving and the
// reason in status — then, once the table is gone and the Job deleted, runs again and the
// server and workers roll onto this release's image, the old pods serving on the
// migrated schema until they are replaced; the pinned Gallery never rolls. The client
// sees no failed request throughout.
// It runs last (the file's name): it replaces the operator the other tests used.
func TestUpgradeFromThePreviousRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("a real node needs root, containerd and minutes: not in -short")
	}
	prev, err := env.script("hack/previous-release.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runTool("go", "", "run", filepath.Join(env.root, "hack", "push"), "-registry", nodeRegistry, "-insecure", "-keep-path",
		filepath.Join(prev, "manager.tar"), filepath.Join(prev, "gallery.tar"))
	if err != nil {
		t.Fatalf("push the previous release's images: %v\n%s", err, out)
	}
	t.Logf("previous release's images in the node's registry:\n%s", out)
	// The other tests' Galleries are done; their pods would only slow this one down.
	kubectl(t, "", "delete", "galleries", "--all", "-A", "--wait", "--timeout=3m")

	// The previous release, as an admin installed it: its chart (whose image.repository is
	// a whole reference) and its CRD, which writes its default gallery image into every
	// Gallery created under it.
	helm(t, "upgrade", releaseName, filepath.Join(prev, "chart"), "-n", releaseNamespace, "--wait", "--timeout", "3m",
		"--set", "image.repository="+nodeRegistry+"/sortographer/sortographer-operator")
	kubectl(t, "", "create", "namespace", upgradeNamespace)
	kubectl(t, `apiVersion: sortographer.io/v1alpha1
kind: Gallery
metadata: {name: unpinned}
spec:
  server: {`+small+`}
  workers: {`+small+`}
---
apiVersion: sortographer.io/v1alpha1
kind: Gallery
metadata: {name: pinned}
spec:
  server: {image: `+nodeRegistry+`/sortographer/sortographer:v0.2.0, `+small+`}
  database: {embedded: {}}
`, "apply", "-n", upgradeNamespace, "-f", "-")
	kubectl(t, "", "wait", "-n", upgradeNamespace, "--for=condition=Ready", "gallery/unpinned", "gallery/pinned", "--timeout=6m")
	unpinned, pinned := upgradeGallery("unpinned"), upgradeGallery("pinned")
	oldImage := serverImage(t, unpinned)
	if oldImage != "ghcr.io/sortographer/sortographer:v0.2.0" {
		t.Fatalf("under the previous release the unpinned Gallery runs %s, want its CRD's default", oldImage)
	}
	pinnedPods := podNames(t, pinned, galleryv1alpha1.ComponentServer)

	// A client uploads and browses through everything that follows.
	user := signUp(t, unpinned)
	c := startClient(t, user)
	c.enter(phaseOperatorUpgrade)

	// A table by the name the new release's migration creates is already there (left by
	// a tool, or an admin): the migration cannot run.
	mariadbSQL(t, unpinned, "CREATE TABLE sortographer.app_versions (note TEXT)")
	helm(t, append([]string{"upgrade", releaseName, filepath.Join(env.root, "charts", "sortographer"), "-n", releaseNamespace,
		"--wait", "--timeout", "3m"}, chartImageValues...)...)
	newImage := nodeRegistry + "/sortographer/sortographer:v0.3.0"

	var failed *galleryv1alpha1.Gallery
	testenv.Eventually(t, 4*time.Minute, "the migration fails and stops the roll", func() error {
		failed = getUpgradeGallery(t, unpinned)
		u := failed.Status.Upgrade
		if u == nil || u.Phase != galleryv1alpha1.UpgradeFailed {
			return fmt.Errorf("status.upgrade = %+v", u)
		}
		return nil
	})
	up := condition(failed, galleryv1alpha1.ConditionUpgraded)
	if up == nil || up.Reason != galleryv1alpha1.ReasonMigrationFailed || !strings.Contains(up.Message, "already exists") {
		t.Errorf("Upgraded = %+v: want MigrationFailed with the database's refusal", up)
	}
	if r := condition(failed, galleryv1alpha1.ConditionReady); r == nil || r.Reason != galleryv1alpha1.ReasonMigrationFailed {
		t.Errorf("Ready = %+v, want MigrationFailed", r)
	}
	if img := serverImage(t, unpinned); img != oldImage {
		t.Errorf("after the failed migration the server runs %s, want still %s", img, oldImage)
	}
	t.Logf("FIGURE failed migration reported as: %s", up.Message)
	// The old pods serve on, held there; give the client a few seconds of it.
	c.enter(phaseHeld)
	time.Sleep(5 * time.Second)

	// The stray table goes; deleting the failed Job retries the upgrade.
	mariadbSQL(t, unpinned, "DROP TABLE sortographer.app_versions")
	job := failed.Status.Upgrade.Job
	c.enter(phaseRoll)
	kubectl(t, "", "delete", "job", "-n", upgradeNamespace, job, "--wait")
	start := time.Now()
	testenv.Eventually(t, 6*time.Minute, "the unpinned Gallery upgraded", func() error {
		g := getUpgradeGallery(t, unpinned)
		if g.Status.AppVersion != "v0.3.0" || g.Status.Upgrade != nil {
			return fmt.Errorf("appVersion %q upgrade %+v", g.Status.AppVersion, g.Status.Upgrade)
		}
		if c := condition(g, galleryv1alpha1.ConditionUpgraded); c == nil || c.Reason != galleryv1alpha1.ReasonUpToDate {
			return fmt.Errorf("Upgraded = %+v", c)
		}
		if c := condition(g, galleryv1alpha1.ConditionReady); c == nil || c.Status != "True" {
			return fmt.Errorf("Ready = %+v", c)
		}
		for _, component := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers} {
			for _, p := range componentPods(t, unpinned, component) {
				if p.Spec.Containers[0].Image != newImage || !podReady(p) {
					return fmt.Errorf("pod %s runs %s (ready %v)", p.Name, p.Spec.Containers[0].Image, podReady(p))
				}
			}
		}
		return nil
	})
	t.Logf("FIGURE migration retried → every pod on the new release: %s", time.Since(start).Round(100*time.Millisecond))
	requests, failures := c.stop()
	// The operator's own upgrade restarts the managed Redis and MariaDB when their pod
	// templates change (here their images move to the node's registry, and MariaDB's
	// init container gained mariadb-upgrade): one pod each, so for those seconds the
	// gallery answers 503 with Retry-After, as it does whenever its database is away, or,
	// once its readiness fails too, the Service refuses connections; for 30 s at most.
	// Anything else, and any failure while the old pods are held or the app rolls, is a bug.
	var window []time.Time
	for _, f := range failures {
		switch {
		case f.phase == phaseOperatorUpgrade && strings.Contains(f.err.Error(), `answered 503: {"error":{"code":"unavailable"`),
			// While the database is away the servers' readiness fails too, and with no
			// ready endpoint the Service refuses connections.
			f.phase == phaseOperatorUpgrade && strings.Contains(f.err.Error(), "connect: connection refused"):
			window = append(window, f.at)
		default:
			t.Errorf("%s: %s: %v", f.phase, f.at.Format(time.TimeOnly), f.err)
		}
	}
	if d := spanOf(window); d > 30*time.Second {
		t.Errorf("the managed Redis and MariaDB restart at the operator's upgrade kept the gallery away for %s, want at most 30s", d)
	}
	t.Logf("FIGURE client through the upgrade: %d requests (%d while held, %d during the app roll, %d failed, %d signed out by the roll and signed in again); the operator's upgrade restarted Redis and MariaDB: %d requests answered 503 or were refused over %s",
		requests[phaseOperatorUpgrade]+requests[phaseHeld]+requests[phaseRoll], requests[phaseHeld], requests[phaseRoll], len(failures)-len(window), c.signedOut, len(window), spanOf(window))
	if requests[phaseHeld] < 10 || requests[phaseRoll] < 20 {
		t.Errorf("requests while held %d, during the roll %d: the client was not exercising them", requests[phaseHeld], requests[phaseRoll])
	}
	// The migration ran before any pod of the new image: the Job's successful pod
	// started before the new ReplicaSet existed.
	if migrated, rolled := migrationStarted(t, job), newReplicaSetCreated(t, unpinned, newImage); !migrated.Before(rolled) {
		t.Errorf("the migration pod started at %s, the new ReplicaSet at %s: the migration must come first", migrated, rolled)
	}
	// Everything uploaded through the upgrade is there and labelled.
	user.waitLabelled(t, 3*time.Minute)

	// The pinned Gallery stayed on its image, with the same pods.
	if img := serverImage(t, pinned); img != nodeRegistry+"/sortographer/sortographer:v0.2.0" {
		t.Errorf("the pinned Gallery now runs %s", img)
	}
	if now := podNames(t, pinned, galleryv1alpha1.ComponentServer); !slices.Equal(now, pinnedPods) {
		t.Errorf("the pinned Gallery's server pods changed: %v -> %v", pinnedPods, now)
	}
	if g := getUpgradeGallery(t, pinned); g.Status.AppVersion != "v0.2.0" {
		t.Errorf("the pinned Gallery reports app version %q, want v0.2.0", g.Status.AppVersion)
	}

	upgradeManagedMariaDB(t, unpinned, user)
}

// rowCounts is the number of rows in every table of the application's database, one
// "table<TAB>rows" line each, counted exactly (information_schema's are estimates).
func rowCounts(t *testing.T, g *galleryv1alpha1.Gallery) string {
	t.Helper()
	tables := strings.Fields(mariadbSQL(t, g,
		"SELECT table_name FROM information_schema.tables WHERE table_schema = 'sortographer' ORDER BY table_name"))
	if len(tables) < 5 {
		t.Fatalf("the database has tables %v", tables)
	}
	counts := make([]string, len(tables))
	for i, table := range tables {
		counts[i] = fmt.Sprintf("SELECT '%s', COUNT(*) FROM sortographer.`%s`", table, table)
	}
	return mariadbSQL(t, g, strings.Join(counts, " UNION ALL ")+";")
}

// upgradeManagedMariaDB moves the Gallery's managed MariaDB to the next major version
// (the image hack/baseimages builds from Debian trixie's packages, mariadb-next.tar):
// the StatefulSet's pod restarts on the new image, its init step runs mariadb-upgrade
// once, every row is still there and the gallery serves them; going back is refused
// at admission. u uploaded photos before.
func upgradeManagedMariaDB(t *testing.T, g *galleryv1alpha1.Gallery, u *galleryUser) {
	t.Helper()
	before, oldVersion := rowCounts(t, g), mariadbSQL(t, g, "SELECT VERSION()")
	const next = "11.8"
	start := time.Now()
	kubectl(t, "", "patch", "gallery", g.Name, "-n", g.Namespace, "--type=merge",
		"-p", `{"spec":{"database":{"managed":{"version":"`+next+`"}}}}`)
	image := nodeRegistry + "/library/mariadb:" + next
	testenv.Eventually(t, 6*time.Minute, "MariaDB upgraded to "+next, func() error {
		var p corev1.Pod
		if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: g.Namespace, Name: g.DatabaseName() + "-0"}, &p); err != nil {
			return err
		}
		if p.Spec.Containers[0].Image != image || !podReady(p) {
			return fmt.Errorf("pod %s runs %s (ready %v)", p.Name, p.Spec.Containers[0].Image, podReady(p))
		}
		if c := condition(getUpgradeGallery(t, g), galleryv1alpha1.ConditionReady); c == nil || c.Status != "True" {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	took, newVersion := time.Since(start).Round(100*time.Millisecond), mariadbSQL(t, g, "SELECT VERSION()")
	t.Logf("FIGURE managed MariaDB %s → %s: pod on the new image and the Gallery Ready in %s", oldVersion, newVersion, took)
	if !strings.HasPrefix(newVersion, next+".") {
		t.Errorf("the server reports version %s, want %s.x", newVersion, next)
	}
	// mariadb-upgrade ran in the pod's bootstrap step, and recorded the version it
	// upgraded the data to (in mariadb_upgrade_info, as MariaDB 11 names the file).
	if log := kubectl(t, "", "logs", "-n", g.Namespace, g.DatabaseName()+"-0", "-c", "bootstrap"); !strings.Contains(log, "bootstrap: upgraded to "+next+".") {
		t.Errorf("the bootstrap step did not run mariadb-upgrade for %s:\n%s", next, log)
	}
	if info := kubectl(t, "", "exec", "-n", g.Namespace, g.DatabaseName()+"-0", "-c", "mariadb", "--",
		"cat", "/var/lib/mysql/mariadb_upgrade_info"); !strings.HasPrefix(strings.TrimSpace(info), next+".") {
		t.Errorf("mariadb_upgrade_info says %q: mariadb-upgrade did not record %s", info, next)
	}
	if after := rowCounts(t, g); after != before {
		t.Errorf("rows per table before the upgrade:\n%s\nafter:\n%s", before, after)
	}
	// The application reads them: every photo the user uploaded is listed and labelled.
	u.waitLabelled(t, 3*time.Minute)

	out, err := runTool(env.kubectlBin, "", "--kubeconfig", env.kubeconfig, "patch", "gallery", g.Name, "-n", g.Namespace,
		"--type=merge", "-p", `{"spec":{"database":{"managed":{"version":"11.4"}}}}`)
	if err == nil || !strings.Contains(out, "spec.database.managed.version cannot go down") {
		t.Errorf("a downgrade to 11.4 was not refused at admission: %v\n%s", err, out)
	}
}

func upgradeGallery(name string) *galleryv1alpha1.Gallery {
	g := &galleryv1alpha1.Gallery{}
	g.Namespace, g.Name = upgradeNamespace, name
	return g
}

func getUpgradeGallery(t *testing.T, g *galleryv1alpha1.Gallery) *galleryv1alpha1.Gallery {
	t.Helper()
	live := &galleryv1alpha1.Gallery{}
	if err := env.client.Get(ctx(t), client.ObjectKeyFromObject(g), live); err != nil {
		t.Fatal(err)
	}
	return live
}

func condition(g *galleryv1alpha1.Gallery, typ string) *struct{ Status, Reason, Message string } {
	for _, c := range g.Status.Conditions {
		if c.Type == typ {
			return &struct{ Status, Reason, Message string }{string(c.Status), c.Reason, c.Message}
		}
	}
	return nil
}

func helm(t *testing.T, args ...string) {
	t.Helper()
	if out, err := runTool(env.helmBin, "", append([]string{"--kubeconfig", env.kubeconfig}, args...)...); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func serverImage(t *testing.T, g *galleryv1alpha1.Gallery) string {
	t.Helper()
	var d appsv1.Deployment
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: g.Namespace, Name: g.ServerName()}, &d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func componentPods(t *testing.T, g *galleryv1alpha1.Gallery, component string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := env.client.List(ctx(t), &pods, client.InNamespace(g.Namespace), client.MatchingLabels(g.SelectorLabels(component))); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func podNames(t *testing.T, g *galleryv1alpha1.Gallery, component string) []string {
	var names []string
	for _, p := range componentPods(t, g, component) {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// mariadbSQL runs statement as root in the Gallery's managed MariaDB and returns what
// it printed, tab-separated without column names.
func mariadbSQL(t *testing.T, g *galleryv1alpha1.Gallery, statement string) string {
	t.Helper()
	var s corev1.Secret
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: g.Namespace, Name: g.DatabaseSecretName()}, &s); err != nil {
		t.Fatal(err)
	}
	// The password reaches mariadb in MYSQL_PWD, not on its command line.
	pw := string(s.Data[specs.SecretKeyDatabaseRootPassword])
	return strings.TrimSpace(kubectl(t, "", "exec", "-n", g.Namespace, g.DatabaseName()+"-0", "-c", "mariadb", "--",
		"env", "MYSQL_PWD="+pw, "mariadb", "--no-defaults", "--socket="+specs.MariaDBSocket, "-u", "root", "--skip-ssl",
		"--batch", "--skip-column-names", "--execute="+statement))
}

// migrationStarted is when the newest succeeded pod of Job job started its container.
func migrationStarted(t *testing.T, job string) time.Time {
	t.Helper()
	var pods corev1.PodList
	if err := env.client.List(ctx(t), &pods, client.InNamespace(upgradeNamespace), client.MatchingLabels{"batch.kubernetes.io/job-name": job}); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if p.Status.Phase == corev1.PodSucceeded && cs.State.Terminated != nil && cs.State.Terminated.StartedAt.After(at) {
				at = cs.State.Terminated.StartedAt.Time
			}
		}
	}
	if at.IsZero() {
		// The operator deletes the Job once the roll is done; its pods go with it.
		// Then the operator's event for the Job's creation (the newest, the retry's)
		// bounds it from below.
		out, _ := exec.Command(env.kubectlBin, "--kubeconfig", env.kubeconfig, "get", "events.events.k8s.io", "-n", upgradeNamespace, "-o", "jsonpath={range .items[*]}{.note}{\"|\"}{.eventTime}{\"\\n\"}{end}").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if note, when, ok := strings.Cut(line, "|"); ok && strings.Contains(note, "created Job "+job) {
				if t0, err := time.Parse(time.RFC3339Nano, when); err == nil && t0.After(at) {
					at = t0
				}
			}
		}
	}
	if at.IsZero() {
		t.Fatalf("no trace of migration Job %s (pods or event)", job)
	}
	return at
}

// newReplicaSetCreated is when the server's ReplicaSet of image was created.
func newReplicaSetCreated(t *testing.T, g *galleryv1alpha1.Gallery, image string) time.Time {
	t.Helper()
	var sets appsv1.ReplicaSetList
	if err := env.client.List(ctx(t), &sets, client.InNamespace(g.Namespace), client.MatchingLabels(g.SelectorLabels(galleryv1alpha1.ComponentServer))); err != nil {
		t.Fatal(err)
	}
	for _, rs := range sets.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs.CreationTimestamp.Time
		}
	}
	t.Fatalf("no server ReplicaSet of %s", image)
	return time.Time{}
}

// Phases of the upgrade, as the client counts its requests.
const (
	phaseOperatorUpgrade = "operator upgrade"
	phaseHeld            = "held after the failed migration"
	phaseRoll            = "app roll"
)

// trafficClient keeps listing the gallery four times a second and uploading a new photo
// every two seconds, one request at a time, each on a new connection, and records every
// request that did not get its 2xx, with the phase it was sent in.
type trafficClient struct {
	stopOnce sync.Once
	done     chan struct{}
	finished chan struct{}
	mu       sync.Mutex
	phase    string
	requests map[string]int
	failures []failedRequest
	// signedOut counts the requests refused 401 during the app roll: this release keeps
	// sessions in the database, so the previous release's tokens end with it and the
	// client signs in again, as a user would once (docs/operator.md, Upgrades).
	signedOut int
}

type failedRequest struct {
	phase string
	at    time.Time
	err   error
}

// enter starts counting requests in phase.
func (c *trafficClient) enter(phase string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phase = phase
}

// spanOf is the time from the first to the last of at.
func spanOf(at []time.Time) time.Duration {
	if len(at) == 0 {
		return 0
	}
	return at[len(at)-1].Sub(at[0]).Round(100 * time.Millisecond)
}

func startClient(t *testing.T, u *galleryUser) *trafficClient {
	t.Helper()
	c := &trafficClient{done: make(chan struct{}), finished: make(chan struct{}), requests: map[string]int{}}
	// Each upload a new photo: the gallery answers a repeated one as a duplicate.
	photos := make([]string, 200)
	for i := range photos {
		photos[i] = newPhoto(t)
	}
	go func() {
		defer close(c.finished)
		for i := 0; ; i++ {
			select {
			case <-c.done:
				return
			case <-time.After(250 * time.Millisecond):
			}
			var err error
			if i%8 == 0 && i/8 < len(photos) {
				_, err = u.tryUpload(photos[i/8])
			} else {
				var page struct{ Images []image }
				err = u.try(http.MethodGet, "/api/images?limit=100", "", nil, http.StatusOK, &page)
			}
			c.mu.Lock()
			c.requests[c.phase]++
			if err != nil && c.phase == phaseRoll && strings.Contains(err.Error(), " answered 401") {
				c.signedOut++
				err = u.trySignIn()
			}
			if err != nil {
				c.failures = append(c.failures, failedRequest{phase: c.phase, at: time.Now(), err: err})
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *trafficClient) stop() (map[string]int, []failedRequest) {
	c.stopOnce.Do(func() { close(c.done) })
	<-c.finished
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.failures
}
