package otlp_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sortographer/sortographer/internal/tracing"
	"github.com/sortographer/sortographer/internal/tracing/otlp"
	"github.com/sortographer/sortographer/internal/tracing/otlptest"
)

// clearEnv unsets, for the test, every variable that could turn export on or shape it.
func clearEnv(t *testing.T) {
	for _, k := range []string{otlp.EnvEndpoint, otlp.EnvTracesEndpoint, otlp.EnvSDKDisabled,
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"} {
		t.Setenv(k, "")
	}
}

func setup(t *testing.T) func(context.Context) error {
	t.Helper()
	shutdown, err := otlp.Setup(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return shutdown
}

// Without an endpoint: the no-op provider, no span recorded, no trace context written
// anywhere, and nothing sent (with OTEL_SDK_DISABLED, not even to a set endpoint).
func TestSetupWithoutEndpointExportsNothing(t *testing.T) {
	receiver := otlptest.NewReceiver(t)
	for name, env := range map[string]map[string]string{
		"no endpoint":  {},
		"sdk disabled": {otlp.EnvEndpoint: receiver.URL(), otlp.EnvSDKDisabled: "true"},
	} {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range env {
				t.Setenv(k, v)
			}
			shutdown := setup(t)
			if _, ok := otel.GetTracerProvider().(noop.TracerProvider); !ok {
				t.Errorf("global tracer provider is %T, want the no-op provider", otel.GetTracerProvider())
			}
			ctx, span := tracing.Tracer("test").Start(context.Background(), "upload")
			if span.IsRecording() || span.SpanContext().IsValid() {
				t.Errorf("span recording %v, valid context %v: want neither", span.IsRecording(), span.SpanContext().IsValid())
			}
			span.End()
			carrier := propagation.MapCarrier{}
			otel.GetTextMapPropagator().Inject(ctx, carrier)
			if len(carrier) != 0 {
				t.Errorf("propagator wrote %v", carrier)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := receiver.Requests(); n != 0 {
				t.Errorf("receiver got %d export requests", n)
			}
		})
	}
}

// With an endpoint: spans are exported on shutdown, with the resource and the sampler
// the OTEL_* environment describes, and the W3C propagator is installed.
func TestSetupExportsWithEnvironment(t *testing.T) {
	clearEnv(t)
	receiver := otlptest.NewReceiver(t)
	t.Setenv(otlp.EnvEndpoint, receiver.URL())
	t.Setenv("OTEL_SERVICE_NAME", "sortographer-server")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.namespace.name=photos,sortographer.gallery=family")
	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "1")
	var logs bytes.Buffer
	shutdown, err := otlp.Setup(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tracing.Tracer("test").Start(context.Background(), "upload")
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if carrier["traceparent"] == "" {
		t.Errorf("propagator wrote %v, want a traceparent", carrier)
	}
	span.End()
	if n := len(receiver.Spans()); n != 0 {
		t.Fatalf("receiver has %d spans before the batch was flushed", n)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := receiver.Spans()
	if len(spans) != 1 {
		t.Fatalf("received %v, want the one span", spans)
	}
	s := spans[0]
	if s.Name != "upload" || s.TraceID != span.SpanContext().TraceID().String() {
		t.Errorf("received %v, want span upload of trace %s", s, span.SpanContext().TraceID())
	}
	want := map[string]string{"service.name": "sortographer-server", "k8s.namespace.name": "photos",
		"sortographer.gallery": "family", "telemetry.sdk.language": "go"}
	for k, v := range want {
		if s.Resource[k] != v {
			t.Errorf("resource %s = %q, want %q (resource %v)", k, s.Resource[k], v, s.Resource)
		}
	}
	if !bytes.Contains(logs.Bytes(), []byte("exporting traces over OTLP/HTTP")) {
		t.Errorf("Setup logged %q", logs.String())
	}

	// The sampler comes from the environment too: always_off records nothing.
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	shutdown = setup(t)
	_, span = tracing.Tracer("test").Start(context.Background(), "unsampled")
	if span.IsRecording() {
		t.Error("span recording with OTEL_TRACES_SAMPLER=always_off")
	}
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(receiver.Spans()); n != 1 {
		t.Errorf("receiver has %d spans, want only the first one", n)
	}

	// Without a service name in the environment, the default.
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	t.Setenv("OTEL_SERVICE_NAME", "")
	shutdown = setup(t)
	_, span = tracing.Tracer("test").Start(context.Background(), "named")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if spans := receiver.Spans(); len(spans) != 2 || spans[1].Service != otlp.DefaultServiceName {
		t.Errorf("received %v, want a second span from service %s", spans, otlp.DefaultServiceName)
	}
}
