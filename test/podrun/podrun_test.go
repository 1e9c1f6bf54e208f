// Package podrun proves that the operator and the gallery app agree: it lets the real
// reconciler build a Gallery's server and worker Deployments, resolves their environment
// from the ConfigMap and Secrets the operator generated (as the kubelet would), starts
// the gallery binary with exactly those commands against real Redis, MariaDB and S3
// servers, and checks that the processes answer their health endpoints. It runs the
// managed MariaDB's pod the same way, on the host's Debian MariaDB (mariadb_test.go).
package podrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/podenv"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := testservers.Run(m)
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

// buildGallery builds cmd/sortographer once.
func buildGallery(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sortographer")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sortographer")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the gallery binary: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

type noEventsRecorder struct{}

func (noEventsRecorder) Eventf(_, _ runtime.Object, _, _, _, _ string, _ ...any) {}

func TestGeneratedPodsRunAndAnswerHealth(t *testing.T) {
	ctx := context.Background()
	redis := testservers.Redis(t)
	db := testservers.MariaDB(t)
	s3 := testservers.S3(t)
	bucket := s3.Bucket(t)
	bin := buildGallery(t)
	port := freePort(t)
	workerPort := freePort(t)
	serverMetricsPort, workerMetricsPort := freePort(t), freePort(t)
	rekognition := fakeRekognition(t)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "podrun"}}
	c := env.Client
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns.Name}, StringData: map[string]string{"username": db.User, "password": db.Password}},
		{ObjectMeta: metav1.ObjectMeta{Name: "s3", Namespace: ns.Name}, StringData: map[string]string{"accessKeyId": s3.AccessKey, "secretAccessKey": s3.SecretKey}},
	}
	for _, s := range secrets {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	dbPort := int32(db.Port)
	g := &galleryv1alpha1.Gallery{
		ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: ns.Name},
		Spec: galleryv1alpha1.GallerySpec{
			Server: galleryv1alpha1.ServerSpec{Port: port},
			Cache:  galleryv1alpha1.CacheSpec{External: &galleryv1alpha1.ExternalRedisSpec{Address: redis.Addr()}},
			Database: galleryv1alpha1.DatabaseSpec{External: &galleryv1alpha1.ExternalDatabaseSpec{
				Engine: galleryv1alpha1.DatabaseMySQL, Host: db.Host, Port: &dbPort, Name: db.Name,
				CredentialsSecret: galleryv1alpha1.CredentialsSecretRef{Name: "db"}, TLSMode: "disable",
			}},
			Storage: galleryv1alpha1.StorageSpec{S3: &galleryv1alpha1.S3StorageSpec{
				Bucket: bucket, Region: s3.Region, Endpoint: s3.Endpoint, ForcePathStyle: true, CredentialsSecret: "s3",
			}},
			Workers: galleryv1alpha1.WorkersSpec{Classifier: galleryv1alpha1.ClassifierSpec{
				Provider:    galleryv1alpha1.ClassifierRekognition,
				Rekognition: &galleryv1alpha1.RekognitionSpec{Region: "us-east-1", Endpoint: rekognition},
			}},
		},
	}
	if err := c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	r := &controllers.GalleryReconciler{Client: c, Scheme: scheme.Scheme, Recorder: events.EventRecorder(noEventsRecorder{})}
	for range 2 {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(g)}); err != nil {
			t.Fatal(err)
		}
	}

	server := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: g.ServerName()}, server); err != nil {
		t.Fatal(err)
	}
	workers := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: g.WorkersName()}, workers); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()

	// The init container first, as the kubelet runs it: it must finish successfully.
	for _, ic := range server.Spec.Template.Spec.InitContainers {
		cmd := command(t, bin, ns.Name, ic, root, nil)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("init container %s (%v): %v\n%s", ic.Name, ic.Args, err, out)
		}
	}
	// The app serves its metrics on the container port named "metrics", which only the
	// operator's configuration tells it.
	for _, c := range []corev1.Container{server.Spec.Template.Spec.Containers[0], workers.Spec.Template.Spec.Containers[0]} {
		vars, err := podenv.Resolve(ctx, env.Client, ns.Name, c)
		if err != nil {
			t.Fatal(err)
		}
		// Unset means the app's default (the operator writes only a port other than it).
		got, set := vars[config.EnvMetricsAddr]
		if !set {
			got = config.DefaultMetricsAddr
		}
		if want := fmt.Sprintf(":%d", containerPort(c, specs.MetricsPortName)); got != want {
			t.Errorf("container %s: %s=%q (set: %v), want %q, its %q port", c.Name, config.EnvMetricsAddr, got, set, want, specs.MetricsPortName)
		}
	}
	// Locally the two processes cannot share ports: only the addresses move.
	serverProc := start(t, command(t, bin, ns.Name, server.Spec.Template.Spec.Containers[0], root,
		map[string]string{config.EnvMetricsAddr: fmt.Sprintf("127.0.0.1:%d", serverMetricsPort)}))
	workerProc := start(t, command(t, bin, ns.Name, workers.Spec.Template.Spec.Containers[0], root,
		map[string]string{config.EnvListenAddr: fmt.Sprintf("127.0.0.1:%d", workerPort), config.EnvMetricsAddr: fmt.Sprintf("127.0.0.1:%d", workerMetricsPort)}))

	for _, p := range []struct {
		name              string
		port, metricsPort int32
		c                 corev1.Container
		proc              *process
	}{
		{"server", port, serverMetricsPort, server.Spec.Template.Spec.Containers[0], serverProc},
		{"worker", workerPort, workerMetricsPort, workers.Spec.Template.Spec.Containers[0], workerProc},
	} {
		for _, probe := range []*corev1.Probe{p.c.LivenessProbe, p.c.ReadinessProbe} {
			if probe == nil || probe.HTTPGet == nil {
				t.Fatalf("%s has no HTTP probe", p.name)
			}
			url := fmt.Sprintf("http://127.0.0.1:%d%s", p.port, probe.HTTPGet.Path)
			if err := waitOK(url, 30*time.Second); err != nil {
				t.Fatalf("%s: %v\nlog:\n%s", p.name, err, p.proc.log())
			}
		}
		// Metrics on the metrics port, not on the one the probes (and the Ingress) use.
		if err := waitOK(fmt.Sprintf("http://127.0.0.1:%d/metrics", p.metricsPort), 10*time.Second); err != nil {
			t.Errorf("%s metrics: %v\nlog:\n%s", p.name, err, p.proc.log())
		}
		if code := status(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", p.port)); code != http.StatusNotFound {
			t.Errorf("%s answers /metrics on its listen port with %d, want 404", p.name, code)
		}
	}

	// The whole pipeline across the two processes: upload through the server (S3,
	// MariaDB, the Redis stream), labelled by the worker through the provider.
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	token := signUp(t, base)
	id := upload(t, base, token, testJPEG(t))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var img struct {
			Status string
			Labels []struct {
				Name        string
				Confidence  float64
				DerivedFrom string
			}
		}
		getJSON(t, base+"/api/images/"+id, token, &img)
		if img.Status == "labelled" {
			// Normalised, best first, and Rekognition's parent of the dog derived from it.
			if len(img.Labels) != 3 || img.Labels[0].Name != "dog" || img.Labels[1].Name != "animal" ||
				img.Labels[1].DerivedFrom != "dog" || img.Labels[2].Name != "bicycle" {
				t.Fatalf("labels = %+v, want dog, animal (from dog) and bicycle, normalised", img.Labels)
			}
			break
		}
		if img.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("image %s is %s after %v\nserver log:\n%s\nworker log:\n%s", id, img.Status, 30*time.Second, serverProc.log(), workerProc.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var found struct{ Images []struct{ ID string } }
	getJSON(t, base+"/api/search?label=dog", token, &found)
	if len(found.Images) != 1 || found.Images[0].ID != id {
		t.Fatalf("search by dog = %+v, want the uploaded image", found)
	}
}

// containerPort is the number of c's port named name.
func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// status is the status code of a GET of url.
func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // local test server
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func signUp(t *testing.T, base string) string {
	t.Helper()
	creds := `{"email":"ada@example.com","password":"correct horse battery","bearer":true}`
	resp, err := http.Post(base+"/api/auth/signup", "application/json", strings.NewReader(creds)) //nolint:noctx // local test server
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sign up: status %d", resp.StatusCode)
	}
	// Sign-up starts no session (it answers alike for a taken address): sign in.
	resp, err = http.Post(base+"/api/auth/signin", "application/json", strings.NewReader(creds)) //nolint:noctx // local test server
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Token == "" {
		t.Fatalf("sign in: status %d, err %v", resp.StatusCode, err)
	}
	return out.Token
}

func upload(t *testing.T, base, token string, photo []byte) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "holiday.jpg")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(photo)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/images", &body) //nolint:noctx // local test server
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct{ Images []struct{ ID string } }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusAccepted || len(out.Images) != 1 {
		t.Fatalf("upload: status %d, err %v, %+v", resp.StatusCode, err, out)
	}
	return out.Images[0].ID
}

func getJSON(t *testing.T, url, token string, into any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil) //nolint:noctx // local test server
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

// testJPEG is a small photo made here.
func testJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 120, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// command builds the process a container would be: its args, its environment resolved
// from the ConfigMap and Secrets (as the kubelet does), and every mount path moved under
// root (a read-only image has them as volumes; this machine has no /var/lib/sortographer).
func command(t *testing.T, bin, ns string, c corev1.Container, root string, override map[string]string) *exec.Cmd {
	t.Helper()
	vars, err := podenv.Resolve(context.Background(), env.Client, ns, c)
	if err != nil {
		t.Fatalf("container %s: %v", c.Name, err)
	}
	if err := podenv.Remap(vars, c, root, specs.DataDir); err != nil {
		t.Fatal(err)
	}
	for k, v := range override {
		vars[k] = v
	}
	if !strings.HasPrefix(vars["SORTOGRAPHER_LISTEN_ADDR"], "127.0.0.1") {
		vars["SORTOGRAPHER_LISTEN_ADDR"] = "127.0.0.1" + vars["SORTOGRAPHER_LISTEN_ADDR"]
	}
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root, "TMPDIR=" + filepath.Join(root, "tmp"), "AWS_EC2_METADATA_DISABLED=true"}
	cmd := exec.Command(bin, append(append([]string{}, c.Command...), c.Args...)...)
	cmd.Env = podenv.Environ(base, vars)
	cmd.Dir = root
	return cmd
}

type process struct {
	cmd *exec.Cmd
	out *strings.Builder
}

func (p *process) log() string { return p.out.String() }

func start(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, out: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return p
}

func waitOK(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url) //nolint:noctx // a local health check
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = "status " + strconv.Itoa(resp.StatusCode)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within %v (last: %s)", url, within, last)
}

// fakeRekognition is a local endpoint that answers DetectLabels (the real service is out
// of reach here); the worker process labels the uploaded photo through it.
func fakeRekognition(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"Labels":[{"Name":"Dog","Confidence":98.5,"Parents":[{"Name":"Animal"}]},{"Name":"Bicycle","Confidence":91}]}`))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}
