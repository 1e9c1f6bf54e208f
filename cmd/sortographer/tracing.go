package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/sortographer/sortographer/internal/tracing/otlp"
)

// tracingFlushTimeout bounds the export of the spans still buffered at exit.
const tracingFlushTimeout = 5 * time.Second

// startTracing sets up trace export (internal/tracing: OTEL_EXPORTER_OTLP_ENDPOINT, or
// nothing) and returns what flushes it: defer it, so it runs once the server and the
// workers have stopped and their last spans have ended.
func startTracing(ctx context.Context, log *slog.Logger) (flush func(), err error) {
	shutdown, err := otlp.Setup(ctx, log)
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingFlushTimeout)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Warn("exported not all spans at exit", "error", err)
		}
	}, nil
}
