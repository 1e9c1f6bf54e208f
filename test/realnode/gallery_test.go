package realnode

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/testenv"
)

const (
	namespace = "real"
	name      = "photos"
	// photoDir is darknet's sample photos (hack/install-deps.sh installs darknet); the
	// built-in model labels each with the class in wantLabel.
	photoDir = "/usr/share/darknet/data"
)

var wantLabel = map[string]string{"dog.jpg": "dog", "eagle.jpg": "bird", "horses.jpg": "horse"}

// TestDefaultGalleryRunsForReal walks a `spec: {}` Gallery through what a cluster admin
// and its users would do to it, in order; each step builds on the one before.
func TestDefaultGalleryRunsForReal(t *testing.T) {
	if testing.Short() {
		t.Skip("a real node needs root, containerd and minutes: not in -short")
	}
	g := &galleryv1alpha1.Gallery{}
	g.Namespace, g.Name = namespace, name
	var (
		user *galleryUser
		prom *prometheus
	)
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Ready", func(t *testing.T) { testReady(t) }},
		{"NonRootReadOnly", testNonRootReadOnly},
		{"UploadsLabelled", func(t *testing.T) { user = testUploadsLabelled(t, g) }},
		{"PrometheusScrapes", func(st *testing.T) { prom = testPrometheusScrapes(st, t) }},
		{"SmallNodeSettings", testSmallNodeSettings},
		{"PodsKilledLoseNothing", func(t *testing.T) { testPodsKilledLoseNothing(t, g, user) }},
		{"RotatedSecretsRoll", func(t *testing.T) { testRotatedSecretsRoll(t, g, user) }},
		{"MemoryLimitEnforced", func(t *testing.T) { testMemoryLimitEnforced(t, g, prom) }},
		{"BacklogAlertFires", func(t *testing.T) { testBacklogAlertFires(t, prom, user) }},
		{"BackupAndRestore", func(t *testing.T) { testBackupAndRestore(t, g, user) }},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.Fatalf("step %s failed; the later steps build on it", s.name)
		}
	}
}

func testReady(t *testing.T) {
	kubectl(t, "", "create", "namespace", namespace)
	start := time.Now()
	kubectl(t, "apiVersion: sortographer.io/v1alpha1\nkind: Gallery\nmetadata: {name: "+name+"}\nspec: {}\n", "apply", "-n", namespace, "-f", "-")
	kubectl(t, "", "wait", "-n", namespace, "--for=condition=Ready", "gallery/"+name, "--timeout=5m")
	t.Logf("FIGURE spec: {} applied → Ready on the real node: %s", time.Since(start).Round(100*time.Millisecond))
	for _, component := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers, galleryv1alpha1.ComponentRedis, galleryv1alpha1.ComponentDatabase} {
		pods := podsOf(t, component)
		if len(pods) == 0 {
			t.Fatalf("no %s pod", component)
		}
		for _, p := range pods {
			if p.Spec.NodeName != "sortographer-node" || p.Status.PodIP == "" {
				t.Errorf("pod %s is on node %q with IP %q; want the real node and an address of its bridge", p.Name, p.Spec.NodeName, p.Status.PodIP)
			}
			if !podReady(p) {
				t.Errorf("pod %s is not Ready through its probes", p.Name)
			}
			// Pulled from the registry the chart named, not imported: the runtime
			// records the repository digest it pulled.
			for _, cs := range p.Status.ContainerStatuses {
				if !strings.HasPrefix(cs.ImageID, nodeRegistry+"/") || !strings.Contains(cs.ImageID, "@sha256:") {
					t.Errorf("pod %s container %s runs image %s (%s): want one pulled from %s", p.Name, cs.Name, cs.Image, cs.ImageID, nodeRegistry)
				}
			}
		}
	}
	// The operator's default images (the chart's RELATED_IMAGE_*), shown in status.
	live := &galleryv1alpha1.Gallery{}
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: namespace, Name: name}, live); err != nil {
		t.Fatal(err)
	}
	if im := live.Status.Images; im == nil || im.Gallery != nodeRegistry+"/sortographer/sortographer:v0.3.0" ||
		im.Database != nodeRegistry+"/library/mariadb:11.4" || live.Status.AppVersion != "v0.3.0" {
		t.Errorf("status.images %+v appVersion %q: want the chart's defaults from %s, v0.3.0", im, live.Status.AppVersion, nodeRegistry)
	}
}

// testNonRootReadOnly reads every running container's process from this machine's /proc,
// as the kernel sees it: no UID is 0, and the root filesystem is mounted read-only, so
// nothing can write outside the container's declared volumes.
func testNonRootReadOnly(t *testing.T) {
	var pods corev1.PodList
	if err := env.client.List(ctx(t), &pods); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running == nil {
				continue
			}
			pid := containerPID(t, strings.TrimPrefix(cs.ContainerID, "containerd://"))
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(status), "\n") {
				if ids, ok := strings.CutPrefix(line, "Uid:"); ok && slices.Contains(strings.Fields(ids), "0") {
					t.Errorf("%s/%s container %s runs with uid 0: %s", p.Namespace, p.Name, cs.Name, line)
				}
			}
			if opts := rootMountOptions(t, pid); !slices.Contains(strings.Split(opts, ","), "ro") {
				t.Errorf("%s/%s container %s: root filesystem mounted %q, want ro", p.Namespace, p.Name, cs.Name, opts)
			}
			checked++
		}
	}
	// operator + 2 servers + 1 worker + Redis + MariaDB
	if checked < 6 {
		t.Fatalf("checked %d running containers, want at least 6 (operator, servers, worker, Redis, MariaDB)", checked)
	}
}

// containerPID asks containerd for a container's process on this machine.
func containerPID(t *testing.T, id string) int {
	t.Helper()
	out, err := runTool(env.ctrBin, "", "--address", env.containerdSocket(t), "-n", "k8s.io", "tasks", "ls")
	if err != nil {
		t.Fatalf("ctr tasks ls: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("container %s has no task in containerd:\n%s", id, out)
	return 0
}

// rootMountOptions is the per-mount options of "/" in a process's mount namespace.
func rootMountOptions(t *testing.T, pid int) string {
	t.Helper()
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			return f[5]
		}
	}
	t.Fatalf("no / mount in /proc/%d/mountinfo", pid)
	return ""
}

func testUploadsLabelled(t *testing.T, g *galleryv1alpha1.Gallery) *galleryUser {
	u := signUp(t, g)
	start := time.Now()
	var ids []string
	for photo := range wantLabel {
		ids = append(ids, u.upload(t, filepath.Join(photoDir, photo)))
	}
	// An iPhone's HEIC: the server pod thumbnails it and the worker pod classifies it with
	// the libvips and HEIF module the gallery image ships.
	heic := filepath.Join(t.TempDir(), "dog.heic")
	if out, err := runTool("heif-enc", "", "-q", "80", filepath.Join(photoDir, "dog.jpg"), "-o", heic); err != nil {
		t.Fatalf("heif-enc: %v\n%s", err, out)
	}
	ids = append(ids, u.upload(t, heic))
	u.waitLabelled(t, 3*time.Minute)
	t.Logf("FIGURE 3 photos and a HEIC uploaded → labelled by the worker pod: %s", time.Since(start).Round(100*time.Millisecond))
	for _, img := range u.images(t) {
		photo := u.names[img.ID]
		want := wantLabel[photo]
		if jpeg, ok := strings.CutSuffix(photo, ".heic"); ok {
			want = wantLabel[jpeg+".jpg"]
		}
		if !slices.ContainsFunc(img.Labels, func(l label) bool { return l.Name == want }) {
			t.Errorf("%s labelled %v, want %q among them", photo, img.Labels, want)
		}
	}
	if len(ids) != 4 {
		t.Fatalf("uploaded %d photos", len(ids))
	}
	return u
}

// testSmallNodeSettings fits the Gallery to this 2-core machine and this test's time:
//   - lower CPU requests for the server and workers: the defaults ask 1.7 of the 2 cores,
//     and a rolling update of the server needs room for one more server pod (its surge),
//     which would stay Pending; a real cluster's nodes have room;
//   - requeueAfter at its minimum, 1m instead of 10m: a photo uploaded to a server pod
//     that is already draining during a password rotation (kube-proxy's rules lag the
//     endpoints by a moment) cannot be enqueued in the new Redis; it is recorded as
//     queued and the workers' sweep enqueues it again after requeueAfter. Should that
//     happen, the test waits for it, so it must come sooner than 10 minutes.
func testSmallNodeSettings(t *testing.T) {
	kubectl(t, "", "patch", "gallery", "-n", namespace, name, "--type=merge", "-p",
		`{"spec":{"server":{"resources":{"requests":{"cpu":"100m","memory":"256Mi"},"limits":{"memory":"1Gi"}}},`+
			`"workers":{"resources":{"requests":{"cpu":"100m","memory":"256Mi"},"limits":{"memory":"1Gi"}},"jobs":{"requeueAfter":"1m"}}}}`)
	waitRolledOut(t)
}

// waitRolledOut waits until the Gallery is Ready for its latest generation with no pod
// left of an older template.
func waitRolledOut(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 5*time.Minute, "the Gallery rolled out and Ready", func() error {
		for _, component := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers} {
			hashes := map[string]bool{}
			pods, err := listPods(component)
			if err != nil {
				return err
			}
			for _, p := range pods {
				hashes[p.Labels["pod-template-hash"]] = true
				if !podReady(p) {
					return fmt.Errorf("%s pod %s not Ready", component, p.Name)
				}
			}
			if len(hashes) != 1 {
				return fmt.Errorf("%s pods of %d templates", component, len(hashes))
			}
		}
		return galleryReady()
	})
}

// testPodsKilledLoseNothing deletes the server pod, a worker pod in the middle of its
// jobs, the Redis pod and the MariaDB pod, one at a time, and after each checks that the
// account signs in, every photo and label is still there, and every job gets done.
func testPodsKilledLoseNothing(t *testing.T, g *galleryv1alpha1.Gallery, u *galleryUser) {
	for _, component := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers, galleryv1alpha1.ComponentRedis, galleryv1alpha1.ComponentDatabase} {
		t.Run(component, func(t *testing.T) {
			if component == galleryv1alpha1.ComponentWorkers {
				// Jobs in flight: photos the worker has not finished when it goes.
				for _, photo := range []string{"person.jpg", "giraffe.jpg", "kite.jpg"} {
					u.upload(t, filepath.Join(photoDir, photo))
				}
			}
			before := podsOf(t, component)
			start := time.Now()
			for _, p := range before {
				kubectl(t, "", "delete", "pod", "-n", namespace, p.Name, "--wait=false")
				break // one pod at a time
			}
			testenv.Eventually(t, 5*time.Minute, component+" replaced and the Gallery Ready", func() error {
				now, err := listPods(component)
				if err != nil {
					return err
				}
				if len(now) != len(before) {
					return fmt.Errorf("%d %s pods, want %d", len(now), component, len(before))
				}
				for _, p := range now {
					if p.Name == before[0].Name && p.UID == before[0].UID {
						return fmt.Errorf("pod %s still there", p.Name)
					}
					if !podReady(p) {
						return fmt.Errorf("pod %s not Ready", p.Name)
					}
				}
				return galleryReady()
			})
			t.Logf("FIGURE %s pod deleted → replaced and Ready: %s", component, time.Since(start).Round(100*time.Millisecond))
			testenv.Eventually(t, time.Minute, "sign in", u.trySignIn)
			u.waitLabelled(t, 3*time.Minute)
		})
	}
}

// testRotatedSecretsRoll changes each generated Secret value and checks that exactly
// the pods that consume it are replaced, and that the gallery works afterwards.
func testRotatedSecretsRoll(t *testing.T, g *galleryv1alpha1.Gallery, u *galleryUser) {
	all := []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers, galleryv1alpha1.ComponentRedis, galleryv1alpha1.ComponentDatabase}
	cases := []struct {
		secret, key string
		consumers   []string
	}{
		{g.GeneratedSecretName(), specs.SecretKeyRedisPassword, []string{galleryv1alpha1.ComponentRedis, galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers}},
		{g.DatabaseSecretName(), specs.SecretKeyDatabasePassword, []string{galleryv1alpha1.ComponentDatabase, galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers}},
		{g.DatabaseSecretName(), specs.SecretKeyDatabaseRootPassword, []string{galleryv1alpha1.ComponentDatabase}},
		{g.GeneratedSecretName(), specs.SecretKeyJWT, []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers}},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			before := map[string][]string{}
			for _, component := range all {
				uids, err := podUIDs(component)
				if err != nil {
					t.Fatal(err)
				}
				before[component] = uids
			}
			start := time.Now()
			kubectl(t, "", "patch", "secret", "-n", namespace, c.secret, "--type=merge",
				"-p", fmt.Sprintf(`{"data":{%q:%q}}`, c.key, base64.StdEncoding.EncodeToString([]byte(randomValue(t)))))
			testenv.Eventually(t, 5*time.Minute, "the consumers of "+c.key+" rolled and the Gallery Ready", func() error {
				for _, component := range c.consumers {
					now, err := podUIDs(component)
					if err != nil {
						return err
					}
					if len(now) == 0 {
						return fmt.Errorf("no %s pod", component)
					}
					for _, uid := range now {
						if slices.Contains(before[component], uid) {
							return fmt.Errorf("%s pod %s not replaced yet", component, uid)
						}
					}
					pods, err := listPods(component)
					if err != nil {
						return err
					}
					for _, p := range pods {
						if !podReady(p) {
							return fmt.Errorf("%s pod %s not Ready", component, p.Name)
						}
					}
				}
				return galleryReady()
			})
			t.Logf("FIGURE %s rotated → its consumers rolled, Ready: %s", c.key, time.Since(start).Round(100*time.Millisecond))
			for _, component := range all {
				if slices.Contains(c.consumers, component) {
					continue
				}
				if now, err := podUIDs(component); err != nil || !slices.Equal(now, before[component]) {
					t.Errorf("%s pods rolled (%v → %v) although they do not use %s", component, before[component], now, c.key)
				}
			}
			// A session signed just before the rotation, by a server pod still draining
			// behind kube-proxy's lagging rules, is refused by the new pods (the point
			// of rotating the key): the user signs in again, as a real one would.
			photo := newPhoto(t)
			testenv.Eventually(t, time.Minute, "sign in and upload after the rotation", func() error {
				if err := u.trySignIn(); err != nil {
					return err
				}
				_, err := u.tryUpload(photo)
				return err
			})
			u.waitLabelled(t, 3*time.Minute)
		})
	}
}

// testMemoryLimitEnforced gives the workers a memory limit below what the built-in model
// needs: the kernel OOM-kills the container, the kubelet restarts it, and the Gallery's
// status says so. Then the limit goes back and the workers recover.
func testMemoryLimitEnforced(t *testing.T, g *galleryv1alpha1.Gallery, prom *prometheus) {
	kubectl(t, "", "patch", "gallery", "-n", namespace, name, "--type=merge",
		"-p", `{"spec":{"workers":{"resources":{"requests":{"cpu":"100m","memory":"40Mi"},"limits":{"memory":"40Mi"}}}}}`)
	start := time.Now()
	testenv.Eventually(t, 5*time.Minute, "a worker container OOM-killed by the kernel", func() error {
		pods, err := listPods(galleryv1alpha1.ComponentWorkers)
		if err != nil {
			return err
		}
		for _, p := range pods {
			for _, cs := range p.Status.ContainerStatuses {
				if term := cs.LastTerminationState.Terminated; term != nil && term.Reason == "OOMKilled" && cs.RestartCount > 0 {
					return nil
				}
			}
		}
		return fmt.Errorf("no worker container has been OOM-killed yet")
	})
	t.Logf("FIGURE workers limited to 40Mi → OOM-killed and restarted: %s", time.Since(start).Round(100*time.Millisecond))
	testenv.Eventually(t, 2*time.Minute, "the Gallery's status names the OOM kill", func() error {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var cur galleryv1alpha1.Gallery
		if err := env.client.Get(c, client.ObjectKeyFromObject(g), &cur); err != nil {
			return err
		}
		for _, c := range cur.Status.Conditions {
			if c.Type == galleryv1alpha1.ConditionMemoryPressure && c.Status == "True" && c.Reason == "OOMKilled" && strings.Contains(c.Message, "workers") {
				return nil
			}
		}
		return fmt.Errorf("no MemoryPressure=True condition with reason OOMKilled naming the workers: %+v", cur.Status.Conditions)
	})
	// Prometheus reads the condition from the operator and fires the chart's alert.
	prom.waitAlert(t, "SortographerContainerOOMKilled", "firing", start)
	kubectl(t, "", "patch", "gallery", "-n", namespace, name, "--type=merge",
		"-p", `{"spec":{"workers":{"resources":{"requests":{"cpu":"100m","memory":"256Mi"},"limits":{"memory":"1Gi"}}}}}`)
	waitRolledOut(t)
}

func podsOf(t *testing.T, component string) []corev1.Pod {
	t.Helper()
	pods, err := listPods(component)
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

// listPods is the Gallery's live pods of a component; checks polled with
// testenv.Eventually use it, so that a slow API server is retried, not fatal.
func listPods(component string) ([]corev1.Pod, error) {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pods corev1.PodList
	if err := env.client.List(c, &pods, client.InNamespace(namespace),
		client.MatchingLabels{galleryv1alpha1.LabelGallery: name, galleryv1alpha1.LabelComponent: component}); err != nil {
		return nil, fmt.Errorf("list %s pods: %w", component, err)
	}
	live := pods.Items[:0]
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			live = append(live, p)
		}
	}
	return live, nil
}

func podUIDs(component string) ([]string, error) {
	pods, err := listPods(component)
	if err != nil {
		return nil, err
	}
	var uids []string
	for _, p := range pods {
		uids = append(uids, string(p.UID))
	}
	slices.Sort(uids)
	return uids, nil
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func galleryReady() error {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var g galleryv1alpha1.Gallery
	if err := env.client.Get(c, client.ObjectKey{Namespace: namespace, Name: name}, &g); err != nil {
		return err
	}
	for _, c := range g.Status.Conditions {
		if c.Type == "Ready" {
			if c.Status == "True" && c.ObservedGeneration == g.Generation {
				return nil
			}
			return fmt.Errorf("Gallery Ready=%s %s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return fmt.Errorf("Gallery has no Ready condition")
}

func randomValue(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newPhoto writes a copy of a sample photo with a few bytes appended, so the gallery
// does not answer it as a duplicate.
func newPhoto(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(photoDir, "dog.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dog.jpg")
	if err := os.WriteFile(path, append(b, []byte(randomValue(t))...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// noKeepAlive opens a connection a request, as a new visitor would: a kept-alive
// connection would go on reaching a server pod that is draining after a rollout.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// galleryUser talks to the gallery through its Service's cluster address, which
// kube-proxy's rules route from this machine to a server pod.
type galleryUser struct {
	base, email, password, token string
	names                        map[string]string // image id → photo file name
	uploaded                     []string
}

type label struct {
	Name string `json:"name"`
}

type image struct {
	ID     string  `json:"id"`
	Status string  `json:"status"`
	Labels []label `json:"labels"`
}

func signUp(t *testing.T, g *galleryv1alpha1.Gallery) *galleryUser {
	var svc corev1.Service
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: g.Namespace, Name: g.ServerName()}, &svc); err != nil {
		t.Fatal(err)
	}
	u := &galleryUser{
		base:  fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port),
		email: "admin-" + strconv.Itoa(os.Getpid()) + "@example.com", password: randomValue(t),
		names: map[string]string{},
	}
	// This release answers a sign-up 202 and starts no session (it answers alike for a
	// taken address); the previous one (TestUpgradeFromThePreviousRelease) answers 201
	// with one. Either way the user signs in next.
	if _, _, err := u.post("/api/auth/signup", http.StatusAccepted, http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	if err := u.trySignIn(); err != nil {
		t.Fatal(err)
	}
	return u
}

// trySignIn signs in as the web UI does, which both this release and the previous one
// understand, and keeps the session's token for Authorization: Bearer: the previous
// release returns it in the body, this one only in the HttpOnly cookie (whose value a
// bearer header may carry too).
func (u *galleryUser) trySignIn() error {
	res, body, err := u.post("/api/auth/signin", http.StatusOK)
	if err != nil {
		return err
	}
	var session struct{ Token string }
	_ = json.Unmarshal(body, &session)
	for _, c := range res.Cookies() {
		if session.Token == "" && (c.Name == "sortographer_session" || c.Name == "__Host-sortographer_session") {
			session.Token = c.Value
		}
	}
	if session.Token == "" {
		return fmt.Errorf("sign-in answered no session: %s", body)
	}
	u.token = session.Token
	return nil
}

// post posts the user's email and password to path and wants one of the statuses.
func (u *galleryUser) post(path string, want ...int) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.base+path,
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, u.email, u.password)))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := noKeepAlive.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(want, res.StatusCode) {
		return nil, nil, fmt.Errorf("POST %s answered %d: %s", path, res.StatusCode, body)
	}
	return res, body, nil
}

func (u *galleryUser) upload(t *testing.T, path string) string {
	t.Helper()
	id, err := u.tryUpload(path)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (u *galleryUser) tryUpload(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", filepath.Base(path))
	if err != nil {
		return "", err
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	var page struct{ Images []image }
	if err := u.try(http.MethodPost, "/api/images", mw.FormDataContentType(), &body, http.StatusAccepted, &page); err != nil {
		return "", err
	}
	if len(page.Images) != 1 {
		return "", fmt.Errorf("upload %s answered %d images", path, len(page.Images))
	}
	id := page.Images[0].ID
	u.names[id] = filepath.Base(path)
	u.uploaded = append(u.uploaded, id)
	return id, nil
}

func (u *galleryUser) images(t *testing.T) []image {
	t.Helper()
	var page struct{ Images []image }
	u.do(t, http.MethodGet, "/api/images?limit=100", "", nil, http.StatusOK, &page)
	return page.Images
}

// waitLabelled waits until every photo this user uploaded is there and labelled: none
// lost, no job dropped.
func (u *galleryUser) waitLabelled(t *testing.T, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, "every uploaded photo labelled", func() error {
		var page struct{ Images []image }
		if err := u.try(http.MethodGet, "/api/images?limit=100", "", nil, http.StatusOK, &page); err != nil {
			if strings.Contains(err.Error(), " answered 401") {
				// Signed in on a pod that was draining after a key rotation, whose
				// successor refuses the old key's session: sign in again, as a user would.
				return errors.Join(err, u.trySignIn())
			}
			return err
		}
		byID := map[string]image{}
		for _, img := range page.Images {
			byID[img.ID] = img
		}
		for _, id := range u.uploaded {
			img, ok := byID[id]
			if !ok {
				return fmt.Errorf("photo %s (%s) is gone", id, u.names[id])
			}
			if img.Status != "labelled" || len(img.Labels) == 0 {
				return fmt.Errorf("photo %s (%s) is %s with %d labels", id, u.names[id], img.Status, len(img.Labels))
			}
		}
		return nil
	})
}

func (u *galleryUser) do(t *testing.T, method, path, contentType string, body io.Reader, want int, out any) {
	t.Helper()
	if err := u.try(method, path, contentType, body, want, out); err != nil {
		t.Fatal(err)
	}
}

func (u *galleryUser) try(method, path, contentType string, body io.Reader, want int, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	res, err := noKeepAlive.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s answered %d: %s", method, path, res.StatusCode, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}
