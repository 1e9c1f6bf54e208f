package queue_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/tracing"
	"github.com/sortographer/sortographer/internal/tracing/otlp"
)

// recordSpans installs a tracer provider that keeps every span, for the test.
func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	// Back to tracing off, as otlp.Setup leaves it without an endpoint.
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()); _ = tp.Shutdown(context.Background()) })
	return rec
}

// A job carries the request id and the trace context of its enqueue span, a child of
// the enqueuing request's span, to the worker that takes it.
func TestJobCarriesRequestIDAndTraceContext(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			rec := recordSpans(t)
			q, _ := im.open(t, queue.Options{})
			ctx, upload := tracing.Tracer("test").Start(context.Background(), "POST /api/images")
			j := job("traced", queue.PriorityNormal)
			j.RequestID = "req-42"
			if err := q.Enqueue(ctx, j); err != nil {
				t.Fatal(err)
			}
			upload.End()

			var enqueue sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == tracing.SpanEnqueue {
					enqueue = s
				}
			}
			if enqueue == nil {
				t.Fatalf("no %s span among %d", tracing.SpanEnqueue, len(rec.Ended()))
			}
			if enqueue.Parent().SpanID() != upload.SpanContext().SpanID() || enqueue.SpanKind() != trace.SpanKindProducer {
				t.Errorf("enqueue span's parent %s kind %s, want the upload's %s, producer", enqueue.Parent().SpanID(), enqueue.SpanKind(), upload.SpanContext().SpanID())
			}

			ds := take(t, q, 1)
			if len(ds) != 1 {
				t.Fatal("took nothing")
			}
			got := ds[0].Job()
			if got.RequestID != "req-42" || got.TraceParent == "" {
				t.Errorf("job %+v, want request id req-42 and a traceparent", got)
			}
			remote := trace.SpanContextFromContext(got.ContextWithTrace(context.Background()))
			if remote.TraceID() != upload.SpanContext().TraceID() || remote.SpanID() != enqueue.SpanContext().SpanID() || !remote.IsSampled() || !remote.IsRemote() {
				t.Errorf("job's trace context %v, want the enqueue span %s of trace %s, sampled, remote",
					remote, enqueue.SpanContext().SpanID(), upload.SpanContext().TraceID())
			}
			_ = ds[0].Ack(context.Background())
		})
	}
}

// Jobs enqueued before the optional fields existed (or with tracing off) decode with
// them empty; with tracing off an enqueue writes none.
func TestRedisJobsWithoutOptionalFields(t *testing.T) {
	ctx := context.Background()
	srv := testservers.Redis(t)
	client := newClient(t, srv.Addr())
	stream := config.QueueStream("photos")
	// What the server wrote before: the four fields, under the counter's next id.
	if err := client.Incr(ctx, stream+":seq").Err(); err != nil {
		t.Fatal(err)
	}
	enqueued := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	err := client.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: "1-0",
		Values: []any{"image", "old", "owner", "7", "priority", "0", "enqueued", enqueued.UnixMicro()}}).Err()
	if err != nil {
		t.Fatal(err)
	}
	q := queue.NewRedis(client, "photos", queue.Options{Consumer: "w1"})
	// Tracing off, and no request id.
	t.Setenv(otlp.EnvEndpoint, "")
	t.Setenv(otlp.EnvTracesEndpoint, "")
	if _, err := otlp.Setup(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, q, job("new", queue.PriorityNormal))
	entries, err := client.XRange(ctx, stream, "2-0", "2-0").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("XRANGE = %v, %v", entries, err)
	}
	if len(entries[0].Values) != 4 {
		t.Errorf("untraced job without a request id has fields %v, want only image, owner, priority, enqueued", entries[0].Values)
	}

	ds := take(t, q, 2)
	if len(ds) != 2 {
		t.Fatalf("took %v, want both jobs", ids(ds))
	}
	for _, d := range ds {
		j := d.Job()
		if j.OwnerID != 7 || j.RequestID != "" || j.TraceParent != "" || j.TraceState != "" {
			t.Errorf("job %+v, want owner 7 and no request id or trace context", j)
		}
		if sc := trace.SpanContextFromContext(j.ContextWithTrace(ctx)); sc.IsValid() {
			t.Errorf("job %s's context has a span context %v", j.ImageID, sc)
		}
	}
	if old := ds[0].Job(); old.ImageID != "old" || !old.EnqueuedAt.Equal(enqueued) {
		t.Errorf("old job %+v, want image old enqueued at %s", old, enqueued)
	}
}
