// Package tracing names the spans and attributes that the server, the queue and the
// workers share, and hands out their tracers. One upload is one trace:
//
//	POST /api/images   server span (internal/api): the upload request
//	└─ enqueue         producer span (internal/queue): its classification job entering the queue
//	   └─ job          consumer span (internal/worker), often in another process: a worker handling the job
//	      ├─ classify  the classifier provider's call
//	      └─ commit    the labels' database commit
//
// The trace context crosses the queue inside the job (W3C traceparent and tracestate,
// queue.Job), with the upload's request id, so a job's spans and log lines lead back to
// the request that caused it.
//
// Where spans go is internal/tracing/otlp's decision (the OTLP exporter and the SDK);
// this package needs only the OpenTelemetry API, so what imports it (the queue, and
// through it the operator) does not carry an exporter it never starts.
package tracing

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is the tracer of an instrumentation scope (the package's import path), from
// the provider installed last. Take it at each use rather than keep it: a tracer kept
// from before a later otlp.Setup keeps sending to the provider it came from (the tests
// run serve and work in one process, each with its own Setup).
func Tracer(scope string) trace.Tracer { return otel.Tracer(scope) }
