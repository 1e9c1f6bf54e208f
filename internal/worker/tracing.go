package worker

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/tracing"
)

const tracerScope = "github.com/sortographer/sortographer/internal/worker"

// jobLog is the logger for one job's lines: the image, the attempt, and the id of the
// request that caused the job under the key the server logs it with, so that a search
// for an upload's requestId finds what the workers did with it.
func (w *worker) jobLog(d queue.Delivery) *slog.Logger {
	j := d.Job()
	log := w.log.With("imageId", j.ImageID, "attempt", d.Attempt())
	if j.RequestID != "" {
		log = log.With("requestId", j.RequestID)
	}
	return log
}

// startJobSpan starts the span of one delivery, a child of the job's enqueue (and so
// of the upload request) when the job carries a trace context.
func startJobSpan(ctx context.Context, d queue.Delivery) (context.Context, trace.Span) {
	j := d.Job()
	return tracing.Tracer(tracerScope).Start(j.ContextWithTrace(ctx), tracing.SpanJob,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.operation.type", "process"), tracing.JobAttempt.Int(d.Attempt())),
		trace.WithAttributes(j.SpanAttributes()...))
}

// endJobSpan records the job's outcome (and its error) and ends its span.
func endJobSpan(span trace.Span, outcome string, err error) {
	span.SetAttributes(tracing.JobOutcome.String(outcome))
	tracing.Fail(span, err)
	span.End()
}

// startClassifySpan starts the span of the provider's call.
func (w *worker) startClassifySpan(ctx context.Context, waited time.Duration) (context.Context, trace.Span) {
	return tracing.Tracer(tracerScope).Start(ctx, tracing.SpanClassify, trace.WithAttributes(
		tracing.Provider.String(w.Classifier.Provider()),
		tracing.Model.String(w.Classifier.Model()),
		tracing.ProviderWait.Float64(waited.Seconds()),
	))
}

// startReadTextSpan starts the span of the text reader's call.
func (w *worker) startReadTextSpan(ctx context.Context, waited time.Duration) (context.Context, trace.Span) {
	return tracing.Tracer(tracerScope).Start(ctx, tracing.SpanReadText, trace.WithAttributes(
		tracing.Provider.String(w.TextReader.Provider()),
		tracing.Model.String(w.TextReader.Model()),
		tracing.ProviderWait.Float64(waited.Seconds()),
	))
}

// startCommitSpan starts the span of the labels' commit.
func startCommitSpan(ctx context.Context, imageID string, labels int) (context.Context, trace.Span) {
	return tracing.Tracer(tracerScope).Start(ctx, tracing.SpanCommit, trace.WithAttributes(
		tracing.ImageID.String(imageID),
		tracing.Labels.Int(labels),
	))
}
