package tracing

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span names (the HTTP server span is named "<method> <route>", as the HTTP semantic
// conventions say).
const (
	SpanEnqueue  = "enqueue"
	SpanJob      = "job"
	SpanClassify = "classify"
	SpanReadText = "read text"
	SpanCommit   = "commit"
)

// Attributes of our own, next to the semantic conventions' http.*, url.* and
// messaging.* ones.
const (
	// RequestID is the request's id: X-Request-Id, the requestId of its log lines. On
	// a job's span it is the id of the request that enqueued the job.
	RequestID = attribute.Key("sortographer.request.id")
	ImageID   = attribute.Key("sortographer.image.id")
	// JobPriority is "normal" (an upload) or "low" (reclassification).
	JobPriority = attribute.Key("sortographer.job.priority")
	// JobAttempt is the delivery's attempt: 1 first, more after failures and crashes.
	JobAttempt = attribute.Key("sortographer.job.attempt")
	// JobOutcome is what became of the job, as sortographer_worker_jobs_total{outcome}
	// counts it.
	JobOutcome = attribute.Key("sortographer.job.outcome")
	// Provider and Model name the classifier (on a "read text" span, the text reader).
	Provider = attribute.Key("sortographer.classifier.provider")
	Model    = attribute.Key("sortographer.classifier.model")
	// ProviderWait is how long the job waited for the Gallery-wide provider rate limit
	// before the call, in seconds.
	ProviderWait = attribute.Key("sortographer.classifier.rate_limit_wait_seconds")
	// TextBytes is how long the text the text reader found is, in bytes.
	TextBytes = attribute.Key("sortographer.text.bytes")
	// Labels is how many labels the classifier returned, or the commit wrote.
	Labels = attribute.Key("sortographer.labels")
	// CommitAttempts is how many transactions the commit took (a busy database
	// refuses some).
	CommitAttempts = attribute.Key("sortographer.commit.attempts")
)

// Fail records err on span and marks it failed; a nil err does nothing.
func Fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}
