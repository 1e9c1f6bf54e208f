package controllers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

// The suite runs the real reconciler in a real manager against a real kube-apiserver.
// No Deployment or StatefulSet controller runs in envtest, so tests that need a child to
// be "ready" write its status themselves, as those controllers would.
var (
	env        *testenv.Env
	k8s        client.Client // direct, uncached
	testScheme = runtime.NewScheme()
	writes     writeCounter
	// suiteManager is the manager the suite's reconciler runs in (its cache is the
	// operator's, CacheOptions).
	suiteManager ctrl.Manager
)

// writeCounter counts the write requests the manager's client sends to the API server.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
	total  atomic.Int64
}

func (w *writeCounter) RoundTrip(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		switch req.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			w.total.Add(1)
			w.mu.Lock()
			w.counts[req.Method+" "+req.URL.Path]++
			w.mu.Unlock()
		}
		return next.RoundTrip(req)
	})
}

func (w *writeCounter) snapshot() (int64, map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := make(map[string]int, len(w.counts))
	for k, v := range w.counts {
		c[k] = v
	}
	return w.total.Load(), c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestMain(m *testing.M) {
	code, err := runSuite(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runSuite(m *testing.M) (int, error) {
	// Tests talk to loopback only: never let the AWS SDK probe the EC2 metadata address.
	if err := os.Setenv("AWS_EC2_METADATA_DISABLED", "true"); err != nil {
		return 0, err
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))
	utilruntime.Must(clientgoscheme.AddToScheme(testScheme))
	utilruntime.Must(galleryv1alpha1.AddToScheme(testScheme))
	var err error
	env, err = testenv.Start("test/crds")
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	k8s, err = client.New(env.Config, client.Options{Scheme: testScheme})
	if err != nil {
		return 0, fmt.Errorf("direct client: %w", err)
	}

	writes.counts = map[string]int{}
	mgrConfig := rest.CopyConfig(env.Config)
	mgrConfig.WrapTransport = writes.RoundTrip
	mgr, err := ctrl.NewManager(mgrConfig, ctrl.Options{
		Scheme:  testScheme,
		Cache:   suiteCacheOptions(),
		Client:  ClientOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		return 0, fmt.Errorf("manager: %w", err)
	}
	suiteManager = mgr
	serverMinor = env.ServerMinor
	// As cmd/manager does: ask the API server whether HPAs keep a tolerance.
	served, err := HPAToleranceServed(context.Background(), k8s, "default")
	if err != nil {
		return 0, err
	}
	hpaToleranceUnsupported = !served
	r := &GalleryReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("sortographer-operator"), Preflight: NetPreflighter{Timeout: 2 * time.Second},
		HPAToleranceUnsupported: hpaToleranceUnsupported}
	if err := r.SetupWithManager(mgr); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// Run stops the shared MariaDB and PostgreSQL servers the tests started.
	code := testservers.Run(m)
	cancel()
	if err := <-done; err != nil {
		return code, fmt.Errorf("manager: %w", err)
	}
	return code, nil
}

// serverMinor is the suite's API server's minor version: the suite runs on the oldest
// supported Kubernetes as well as the pinned one (make test).
var serverMinor int

// hpaToleranceUnsupported is what HPAToleranceServed found on the suite's API server;
// every reconciler a test makes takes it, as cmd/manager's does.
var hpaToleranceUnsupported bool

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// eventually retries check until it passes or the deadline (20 s) passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after 20s: %v", what, err)
}

// countedClient is a direct client whose writes are counted at the transport.
type countedClient struct {
	client.Client
	counter *writeCounter
}

func countingClient(t *testing.T) client.Client {
	t.Helper()
	wc := &writeCounter{counts: map[string]int{}}
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = wc.RoundTrip
	c, err := client.New(cfg, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	return &countedClient{Client: c, counter: wc}
}

// countingRecorder counts events instead of sending them.
type countingRecorder struct{ n atomic.Int64 }

func (r *countingRecorder) Eventf(_, _ runtime.Object, _, _, _, _ string, _ ...any) { r.n.Add(1) }

// labelOwnReconciler marks a Gallery that a test reconciles with its own reconciler
// (another KEDA setting, say); the suite's manager does not see it.
const labelOwnReconciler = "test.sortographer.io/own-reconciler"

func suiteCacheOptions() cache.Options {
	o := CacheOptions(nil)
	notOwn, err := labels.Parse("!" + labelOwnReconciler)
	if err != nil {
		panic(err)
	}
	o.ByObject[&galleryv1alpha1.Gallery{}] = cache.ByObject{Label: notOwn}
	return o
}
