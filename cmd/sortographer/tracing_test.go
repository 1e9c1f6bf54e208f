package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/tracing"
	"github.com/sortographer/sortographer/internal/tracing/otlp"
	"github.com/sortographer/sortographer/internal/tracing/otlptest"
)

// TestUploadIsOneTrace: `serve` and `work` (the built-in model) sharing Redis, each
// exporting to an OTLP receiver as the operator configures them. One upload is one
// trace: the upload's server span, its enqueue, the worker's job span (in the other
// service, through the job in Redis), and the job's classify and commit, each the
// child of the one before (classify and commit both of the job). The worker's log line
// for the job carries the upload's request id.
func TestUploadIsOneTrace(t *testing.T) {
	receiver := otlptest.NewReceiver(t)
	t.Setenv(otlp.EnvEndpoint, receiver.URL())
	t.Setenv(otlp.EnvTracesEndpoint, "")
	t.Setenv(otlp.EnvSDKDisabled, "")
	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "1")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "sortographer.gallery=traced")
	// Batches are due only after a minute: what the receiver gets, it gets from the
	// flush at shutdown.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")

	redisServer := testservers.Redis(t)
	cfg := testConfig(t,
		config.EnvRedisAddr+"="+redisServer.Addr(),
		config.EnvModelDir+"="+testservers.ModelDir(t),
		config.EnvMetricsAddr+"="+testenv.FreeAddr(t),
	)
	start := func(name string, cmd command, cfg config.Config, log *slog.Logger) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- cmd(ctx, cfg, log) }()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
		}
		t.Cleanup(stop)
		return stop
	}

	t.Setenv("OTEL_SERVICE_NAME", "sortographer-server")
	stopServe := start("serve", serve, cfg, slog.New(slog.DiscardHandler))
	base := "http://" + cfg.ListenAddr
	waitReady(t, base)
	token := signUpToken(t, base, "traced@example.com")

	const requestID = "upload-trace-1"
	photo, contentType := photoBody(t)
	req, _ := http.NewRequest("POST", base+"/api/images", photo)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(api.RequestIDHeader, requestID)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("upload = %d %s", res.StatusCode, body)
	}
	var uploaded struct{ Images []struct{ ID string } }
	if err := json.Unmarshal(body, &uploaded); err != nil || len(uploaded.Images) != 1 {
		t.Fatalf("upload answered %s", body)
	}
	imageID := uploaded.Images[0].ID

	// The workers are another service; the job waits in Redis meanwhile.
	t.Setenv("OTEL_SERVICE_NAME", "sortographer-workers")
	var workLog testenv.LogBuffer
	wcfg := cfg
	wcfg.ListenAddr, wcfg.MetricsAddr = testenv.FreeAddr(t), testenv.FreeAddr(t)
	stopWork := start("work", work, wcfg, slog.New(slog.NewJSONHandler(&workLog, &slog.HandlerOptions{Level: slog.LevelDebug})))
	waitLabelled(t, base, token, imageID)
	stopWork()
	stopServe()

	// The spans, by name, of the upload's trace.
	spans := receiver.Spans()
	byName := map[string]otlptest.Span{}
	var traceID string
	for _, s := range spans {
		if s.Name == "POST /api/images" {
			traceID = s.TraceID
		}
	}
	if traceID == "" {
		t.Fatalf("no span named %q among %d received:\n%s", "POST /api/images", len(spans), spanList(spans))
	}
	for _, s := range spans {
		if s.TraceID == traceID {
			if _, dup := byName[s.Name]; dup {
				t.Errorf("two %q spans in the trace:\n%s", s.Name, spanList(spans))
			}
			byName[s.Name] = s
		}
	}
	for _, c := range []struct {
		name, parent, service string
		kind                  tracepb.Span_SpanKind
		attrs                 map[string]string
	}{
		{"POST /api/images", "", "sortographer-server", tracepb.Span_SPAN_KIND_SERVER, map[string]string{
			"http.route": "/api/images", "http.request.method": "POST", "http.response.status_code": "202",
			string(tracing.RequestID): requestID,
		}},
		{tracing.SpanEnqueue, "POST /api/images", "sortographer-server", tracepb.Span_SPAN_KIND_PRODUCER, map[string]string{
			"messaging.system": "redis", string(tracing.ImageID): imageID, string(tracing.RequestID): requestID,
		}},
		{tracing.SpanJob, tracing.SpanEnqueue, "sortographer-workers", tracepb.Span_SPAN_KIND_CONSUMER, map[string]string{
			string(tracing.ImageID): imageID, string(tracing.RequestID): requestID, string(tracing.JobAttempt): "1",
			string(tracing.JobOutcome): "labelled", string(tracing.JobPriority): "normal",
		}},
		{tracing.SpanClassify, tracing.SpanJob, "sortographer-workers", tracepb.Span_SPAN_KIND_INTERNAL, map[string]string{
			string(tracing.Provider): config.ClassifierBuiltin,
		}},
		{tracing.SpanCommit, tracing.SpanJob, "sortographer-workers", tracepb.Span_SPAN_KIND_INTERNAL, map[string]string{
			string(tracing.ImageID): imageID, string(tracing.CommitAttempts): "1",
		}},
	} {
		s, ok := byName[c.name]
		if !ok {
			t.Errorf("no %q span in trace %s:\n%s", c.name, traceID, spanList(spans))
			continue
		}
		wantParent := ""
		if c.parent != "" {
			wantParent = byName[c.parent].SpanID
		}
		if s.ParentSpanID != wantParent || wantParent == "" && c.parent != "" {
			t.Errorf("%q span's parent is %q, want %q (%q)", c.name, s.ParentSpanID, c.parent, wantParent)
		}
		if s.Service != c.service || s.Resource["sortographer.gallery"] != "traced" {
			t.Errorf("%q span from service %q, resource %v; want %s and sortographer.gallery=traced", c.name, s.Service, s.Resource, c.service)
		}
		if s.Kind != c.kind || s.Failed {
			t.Errorf("%q span kind %s, failed %v; want %s, not failed", c.name, s.Kind, s.Failed, c.kind)
		}
		for k, v := range c.attrs {
			if s.Attributes[k] != v {
				t.Errorf("%q span's %s = %q, want %q (all: %v)", c.name, k, s.Attributes[k], v, s.Attributes)
			}
		}
	}
	if n, _ := byName[tracing.SpanClassify].Attributes[string(tracing.Labels)]; n == "" || n == "0" {
		t.Errorf("classify span's %s = %q, want the labels found", tracing.Labels, n)
	}

	// The worker's line about the job names the upload's request.
	var found bool
	for line := range strings.SplitSeq(workLog.String(), "\n") {
		var entry struct {
			Msg, RequestID string
			ImageID        string `json:"imageId"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "labelled image" && entry.ImageID == imageID {
			found = true
			if entry.RequestID != requestID {
				t.Errorf("worker logged %s, want requestId %q", line, requestID)
			}
		}
	}
	if !found {
		t.Errorf("worker logged no line for image %s:\n%s", imageID, workLog.String())
	}
}

func spanList(spans []otlptest.Span) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString("  " + s.String() + "\n")
	}
	return b.String()
}

// photoBody is an upload of one photo the built-in model labels (darknet's dog, from
// hack/install-deps.sh): the multipart body and its content type.
func photoBody(t *testing.T) (io.Reader, string) {
	t.Helper()
	jpg, err := os.ReadFile("/usr/share/darknet/data/dog.jpg")
	if err != nil {
		t.Fatal(err)
	}
	return multipartPhoto("dog.jpg", jpg)
}

// multipartPhoto is an upload's body of one file, and its content type.
func multipartPhoto(name string, data []byte) (io.Reader, string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", name)
	_, _ = part.Write(data)
	_ = mw.Close()
	return &body, mw.FormDataContentType()
}

// testPassword is the password of the tests' users.
const testPassword = "long enough!"

// signUpToken signs a new user up at base, signs them in and returns their session
// token (sign-up itself starts no session: it answers alike for a taken address).
func signUpToken(t *testing.T, base, email string) string {
	t.Helper()
	res, err := http.Post(base+"/api/auth/signup", "application/json", strings.NewReader(`{"email":"`+email+`","password":"`+testPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("sign up %s: %s", email, res.Status)
	}
	return sessionToken(t, base, "/api/auth/signin", email)
}

// sessionToken posts the test password for email to the sign-in endpoint and returns
// the session token.
func sessionToken(t *testing.T, base, path, email string) string {
	t.Helper()
	res, err := http.Post(base+path, "application/json", strings.NewReader(`{"email":"`+email+`","password":"`+testPassword+`","bearer":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var session struct{ Token string }
	_ = json.NewDecoder(res.Body).Decode(&session)
	if session.Token == "" {
		t.Fatalf("%s %s: %s, no token", path, email, res.Status)
	}
	return session.Token
}

// waitLabelled waits up to a minute for the worker to label the image.
func waitLabelled(t *testing.T, base, token, imageID string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var status store.ImageStatus
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", base+"/api/images/"+imageID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var img struct{ Status store.ImageStatus }
		_ = json.NewDecoder(res.Body).Decode(&img)
		res.Body.Close()
		if status = img.Status; status == store.StatusLabelled {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("image %s is %q a minute after the worker started, want labelled", imageID, status)
}
