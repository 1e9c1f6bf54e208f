package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

// TestServeMetricsOnTheirOwnPort: /metrics is served on the metrics address only; the
// listen address, the one the Ingress routes to, answers 404 for it (the web UI's), and
// the metrics address serves nothing else.
func TestServeMetricsOnTheirOwnPort(t *testing.T) {
	cfg := testConfig(t)
	base, _ := startServe(t, cfg)
	metrics := "http://" + cfg.MetricsAddr

	if code, body := get(t, base+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "sortographer_") {
		t.Errorf("GET /metrics on the listen address = %d %.200s, want 404", code, body)
	}
	code, body := get(t, metrics+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics on the metrics address = %d %.200s", code, body)
	}
	for _, want := range []string{
		`sortographer_http_requests_total{code="404",method="GET",route=`,
		`sortographer_queue_oldest_job_age_seconds{priority="normal"} 0`,
		`sortographer_queue_dead_letters 0`,
		`sortographer_storage_bytes 0`,
		`sortographer_images{status="queued"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, path := range []string{"/", config.ReadinessPath, "/api/me"} {
		if code, _ := get(t, metrics+path); code != http.StatusNotFound {
			t.Errorf("GET %s on the metrics address = %d, want 404", path, code)
		}
	}
}

// TestServeFailsWhenTheMetricsPortIsTaken: a server whose metrics cannot be scraped
// does not start; SORTOGRAPHER_METRICS_ADDR="" starts one without metrics.
func TestServeFailsWhenTheMetricsPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t, config.EnvMetricsAddr+"="+taken.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = serve(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), config.EnvMetricsAddr) || ctx.Err() != nil {
		t.Fatalf("serve with the metrics port taken = %v, want an error naming %s at once", err, config.EnvMetricsAddr)
	}

	off := testConfig(t, config.EnvMetricsAddr+"=")
	base, _ := startServe(t, off)
	if code, _ := get(t, base+config.ReadinessPath); code != http.StatusOK {
		t.Errorf("readyz with metrics off = %d, want 200", code)
	}
}

// TestWorkProbesAndMetrics: `work` answers its probes on the listen address and its
// metrics (the provider calls among them, at zero from the start) on the metrics
// address; with Redis down, readiness fails naming the check, and the error's text is
// logged, never answered.
func TestWorkProbesAndMetrics(t *testing.T) {
	redisServer := testservers.Redis(t)
	// Rekognition through the SDK, with made-up credentials and an endpoint nobody
	// serves: no job arrives, so no call is made.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	cfg := testConfig(t,
		config.EnvRedisAddr+"="+redisServer.Addr(),
		config.EnvClassifier+"="+config.ClassifierRekognition,
		config.EnvRekognitionRegion+"=eu-west-1",
		config.EnvRekognitionEndpoint+"=http://"+testenv.FreeAddr(t),
	)
	st, err := store.Open(context.Background(), cfg.Database, cfg.SQLiteFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	logs := &testenv.LogBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- work(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil))) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("work: %v", err)
		}
	})
	base, metrics := "http://"+cfg.ListenAddr, "http://"+cfg.MetricsAddr
	waitReady(t, base)

	var ready struct {
		Status string
		Checks map[string]string
	}
	code, body := get(t, base+config.ReadinessPath)
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != http.StatusOK ||
		ready.Status != "ok" || ready.Checks["database"] != "ok" || ready.Checks["redis"] != "ok" {
		t.Errorf("readyz = %d %s, want 200 with database and redis ok", code, body)
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the worker's listen address = %d, want 404", code)
	}
	code, body = get(t, metrics+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics on the worker's metrics address = %d %.200s", code, body)
	}
	for _, want := range []string{
		`sortographer_provider_calls_total{provider="rekognition",result="throttled"} 0`,
		`sortographer_provider_calls_total{provider="builtin",result="ok"} 0`,
		`sortographer_worker_jobs_in_flight 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("worker metrics lack %s", want)
		}
	}

	redisServer.Stop()
	code, body = get(t, base+config.ReadinessPath)
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != http.StatusServiceUnavailable ||
		ready.Status != "unavailable" || ready.Checks["redis"] != "unavailable" || ready.Checks["database"] != "ok" {
		t.Errorf("readyz with Redis down = %d %s, want 503 with redis unavailable and database ok", code, body)
	}
	port := redisServer.Addr()[strings.LastIndex(redisServer.Addr(), ":")+1:]
	for _, leak := range []string{"dial tcp", "refused", port} {
		if strings.Contains(body, leak) {
			t.Errorf("readyz answered %s, which holds the error's %q", body, leak)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"readiness check failed"`) || !strings.Contains(logs.String(), redisServer.Addr()) {
		t.Errorf("the failed check's error is not logged:\n%s", logs.String())
	}
}
