package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sortographer/sortographer/internal/classify/rekognition"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/worker"
)

// providerCalls is the value of sortographer_provider_calls_total{provider, result} in
// reg, and whether the series exists.
func providerCalls(t *testing.T, reg *prometheus.Registry, provider, result string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sortographer_provider_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == provider && labels["result"] == result {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestProviderCallsCounted: a worker labelling with Rekognition (the real SDK, against
// a DetectLabels endpoint on loopback that throttles the first request and fails the
// second) counts every request by result, retries included; every provider's series
// exist from the start.
func TestProviderCallsCounted(t *testing.T) {
	fastTiming(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch requests.Add(1) {
		case 1:
			w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
		case 2:
			w.Header().Set("X-Amzn-ErrorType", "InternalServerError")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"__type":"InternalServerError","message":"oops"}`))
		default:
			_, _ = w.Write([]byte(`{"Labels":[{"Name":"Colour","Confidence":99}]}`))
		}
	}))
	t.Cleanup(endpoint.Close)
	client, err := rekognition.NewClient(context.Background(), "eu-west-1", endpoint.URL,
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	cls := rekognition.New(client, rekognition.Options{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond})

	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	q := queue.NewMemory(queue.Options{VisibilityTimeout: cfg.Workers.VisibilityTimeout})
	reg := prometheus.NewRegistry()
	ids := f.addImages(3)
	enqueueAll(t, q, f.owner.ID, ids)
	w := start(t, worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: q, Classifier: cls, Metrics: reg})
	f.waitSettled(ids, 20*time.Second)
	if err := w.stop(t, 5*time.Second); err != nil {
		t.Errorf("Run returned %v", err)
	}

	for _, c := range []struct {
		provider, result string
		want             float64
	}{
		{"rekognition", "ok", 3},
		{"rekognition", "throttled", 1},
		{"rekognition", "error", 1},
		{"builtin", "ok", 0},
		{"builtin", "throttled", 0},
		{"builtin", "error", 0},
	} {
		got, ok := providerCalls(t, reg, c.provider, c.result)
		if !ok || got != c.want {
			t.Errorf("provider_calls_total{provider=%q,result=%q} = %v (exists: %v), want %v", c.provider, c.result, got, ok, c.want)
		}
	}
	if n := requests.Load(); n != 5 {
		t.Errorf("the endpoint served %d requests, want 5 (the metric must count each)", n)
	}
}
