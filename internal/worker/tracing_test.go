package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/tracing"
	"github.com/sortographer/sortographer/internal/worker"
)

// A job that fails once and then succeeds: both deliveries are spans of the upload's
// trace, children of its enqueue; the failed one and its classify span are marked
// failed; and the worker's lines about the job carry the upload's request id.
func TestJobSpansAndRequestIDAcrossRetries(t *testing.T) {
	fastTiming(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()); _ = tp.Shutdown(context.Background()) })

	f := newFixture(t, config.Database{})
	q := queue.NewMemory(queue.Options{VisibilityTimeout: workersConfig(f).Workers.VisibilityTimeout})
	cls := newColourClassifier(0)
	id := f.addImages(1)[0]
	cls.on(id, func(call int) error {
		if call == 1 {
			return errors.New("provider hiccup")
		}
		return nil
	})
	ctx, upload := tracing.Tracer("test").Start(context.Background(), "POST /api/images")
	if err := q.Enqueue(ctx, queue.Job{ImageID: id, OwnerID: f.owner.ID, RequestID: "req-7"}); err != nil {
		t.Fatal(err)
	}
	upload.End()

	var logs testenv.LogBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := start(t, worker.Deps{Config: workersConfig(f), Store: f.st, Objects: f.obj, Queue: q, Classifier: cls, Logger: log})
	f.waitSettled([]string{id}, 10*time.Second)
	if err := w.stop(t, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f.checkLabelled([]string{id})

	var enqueue sdktrace.ReadOnlySpan
	var jobs, classifies, commits []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case tracing.SpanEnqueue:
			enqueue = s
		case tracing.SpanJob:
			jobs = append(jobs, s)
		case tracing.SpanClassify:
			classifies = append(classifies, s)
		case tracing.SpanCommit:
			commits = append(commits, s)
		}
	}
	if enqueue == nil || len(jobs) != 2 || len(classifies) != 2 || len(commits) != 1 {
		t.Fatalf("spans: enqueue %v, %d jobs, %d classify, %d commit; want 1, 2, 2, 1", enqueue != nil, len(jobs), len(classifies), len(commits))
	}
	for i, want := range []struct {
		outcome string
		status  codes.Code
	}{{"retried", codes.Error}, {"labelled", codes.Unset}} {
		j := jobs[i]
		attrs := attributes(j)
		if j.Parent().SpanID() != enqueue.SpanContext().SpanID() || j.SpanContext().TraceID() != upload.SpanContext().TraceID() || j.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("job span %d: parent %s of trace %s, kind %s; want the enqueue %s of trace %s, consumer", i,
				j.Parent().SpanID(), j.SpanContext().TraceID(), j.SpanKind(), enqueue.SpanContext().SpanID(), upload.SpanContext().TraceID())
		}
		if attrs[tracing.JobOutcome] != want.outcome || attrs[tracing.RequestID] != "req-7" || j.Status().Code != want.status {
			t.Errorf("job span %d: %v, status %v; want outcome %s, request req-7, status %v", i, attrs, j.Status(), want.outcome, want.status)
		}
		c := classifies[i]
		if c.Parent().SpanID() != j.SpanContext().SpanID() || c.Status().Code != want.status {
			t.Errorf("classify span %d: parent %s, status %v; want job %s, status %v", i, c.Parent().SpanID(), c.Status(), j.SpanContext().SpanID(), want.status)
		}
	}
	if c := commits[0]; c.Parent().SpanID() != jobs[1].SpanContext().SpanID() || attributes(c)[tracing.CommitAttempts] != "1" {
		t.Errorf("commit span: parent %s, %v; want the second job %s, one attempt", c.Parent().SpanID(), attributes(c), jobs[1].SpanContext().SpanID())
	}

	// Both the retry's warning and the success's line name the request.
	seen := map[string]bool{}
	for line := range strings.SplitSeq(logs.String(), "\n") {
		var l struct {
			Msg, RequestID string
			ImageID        string `json:"imageId"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.ImageID == id {
			seen[l.Msg] = true
			if l.RequestID != "req-7" {
				t.Errorf("worker logged %s without requestId req-7", line)
			}
		}
	}
	for _, msg := range []string{"classification failed, will retry", "labelled image"} {
		if !seen[msg] {
			t.Errorf("worker logged no %q line for the image:\n%s", msg, logs.String())
		}
	}
}

func attributes(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	out := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value.String()
	}
	return out
}
