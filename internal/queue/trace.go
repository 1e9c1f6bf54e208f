package queue

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/sortographer/sortographer/internal/tracing"
)

const tracerScope = "github.com/sortographer/sortographer/internal/queue"

// The job's trace context is always W3C Trace Context, whatever propagator the
// process installed for HTTP: it is our own format, read by our own workers.
var jobPropagator = propagation.TraceContext{}

// startEnqueueSpan starts the span of j's enqueue, a child of whatever ctx carries (the
// upload request), and writes its trace context into j for the worker. system and
// destination name the queue ("redis" and the stream, or "memory").
func startEnqueueSpan(ctx context.Context, j *Job, system, destination string) trace.Span {
	ctx, span := tracing.Tracer(tracerScope).Start(ctx, tracing.SpanEnqueue,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", system),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", destination),
		),
		trace.WithAttributes(j.SpanAttributes()...))
	carrier := propagation.MapCarrier{}
	jobPropagator.Inject(ctx, carrier)
	j.TraceParent, j.TraceState = carrier["traceparent"], carrier["tracestate"]
	return span
}

// ContextWithTrace returns ctx carrying the trace context of the job's enqueue, so
// that spans started from it join the trace of the request that caused the job. A job
// without one (tracing off, or an older job) leaves ctx as it is.
func (j Job) ContextWithTrace(ctx context.Context) context.Context {
	if j.TraceParent == "" {
		return ctx
	}
	return jobPropagator.Extract(ctx, propagation.MapCarrier{"traceparent": j.TraceParent, "tracestate": j.TraceState})
}

// SpanAttributes describe the job on the spans of its enqueue and of its handling.
func (j Job) SpanAttributes() []attribute.KeyValue {
	attrs := []attribute.KeyValue{tracing.ImageID.String(j.ImageID), tracing.JobPriority.String(priorityName(j.Priority))}
	if j.RequestID != "" {
		attrs = append(attrs, tracing.RequestID.String(j.RequestID))
	}
	return attrs
}

func priorityName(p Priority) string {
	if p == PriorityLow {
		return "low"
	}
	return "normal"
}
