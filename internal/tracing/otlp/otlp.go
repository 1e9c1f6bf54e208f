// Package otlp sets up where a gallery process's spans go: OTLP over HTTP (protobuf),
// configured by the standard environment that the operator sets from a Gallery's
// spec.monitoring.tracing: OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, read by the SDK itself. Without an
// endpoint nothing is recorded and nothing leaves the process. The spans themselves are
// named in internal/tracing.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The environment that turns export on (the OpenTelemetry specification's names).
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
)

// DefaultServiceName is service.name when neither OTEL_SERVICE_NAME nor
// OTEL_RESOURCE_ATTRIBUTES names the service (the operator sets sortographer-server and
// sortographer-workers).
const DefaultServiceName = "sortographer"

// Enabled reports whether the environment asks for traces to be exported.
func Enabled() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv(EnvSDKDisabled)), "true") {
		return false
	}
	return os.Getenv(EnvEndpoint) != "" || os.Getenv(EnvTracesEndpoint) != ""
}

// Setup installs this process's global tracer provider and propagator, and returns
// shutdown, which exports the spans still buffered and stops the exporter: call it once
// the server and the workers have stopped.
//
// When Enabled, spans go through a batch span processor to an OTLP/HTTP exporter, with
// the sampler and the resource the environment describes, and the W3C trace context is
// read from requests and written into jobs. Otherwise the no-op provider is installed:
// no span is recorded, no trace context is read or written, and shutdown does nothing.
func Setup(ctx context.Context, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	if !Enabled() {
		// Explicitly, not the SDK's default: a process (a test binary) that set up
		// tracing before must not keep exporting.
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		return func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("start OTLP trace exporter: %w", err)
	}
	// Later detectors win: the default name, then the SDK's own attributes, then
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. Not resource.Default(), which is
	// computed once per process.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", DefaultServiceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES entry: the others still apply.
		log.Warn("ignored part of the tracing resource attributes", "error", err)
	} else if err != nil {
		_ = exporter.Shutdown(ctx)
		return nil, fmt.Errorf("describe this process for tracing: %w", err)
	}
	// No WithSampler: the SDK reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
	// (parent-based, always on, when unset), and OTEL_BSP_* for the batcher.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing failed", "error", err)
	}))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	service, _ := res.Set().Value("service.name")
	log.Info("exporting traces over OTLP/HTTP", "endpoint", endpointForLog(), "service", service.AsString())
	return tp.Shutdown, nil
}

// endpointForLog is where traces go, without anything secret a URL could carry.
func endpointForLog() string {
	raw := os.Getenv(EnvTracesEndpoint)
	if raw == "" {
		raw = os.Getenv(EnvEndpoint)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsed)"
	}
	return u.Scheme + "://" + u.Host
}
