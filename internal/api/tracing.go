package api

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/tracing"
)

const tracerScope = "github.com/sortographer/sortographer/internal/api"

// traced gives every request but the probes a server span, named "<method> <route>"
// once the mux has matched the route. It runs inside observe, so the request id is
// known, and continues a W3C trace context the request carries (from an ingress that
// traces) when tracing is on. With tracing off the span records nothing.
func (s *Server) traced(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == config.LivenessPath || r.URL.Path == config.ReadinessPath {
			next.ServeHTTP(w, r) // every few seconds from the kubelet: noise
			return
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracing.Tracer(tracerScope).Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", loggedPath(r.URL.Path)),
				tracing.RequestID.String(requestID(r.Context())),
			))
		outer := r
		r = r.WithContext(ctx)
		defer func() {
			// The mux sets the pattern on the request it is given (e.g. "POST
			// /api/images"): hand it back to observe's request, whose log line and
			// metrics read it there.
			outer.Pattern = r.Pattern
			if route := routePath(r.Pattern); route != "" {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
			if p := recover(); p != nil {
				span.SetStatus(codes.Error, "panic")
				span.End()
				panic(p) // observe recovers it, answers 500 and logs it
			}
			status := http.StatusOK
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				status = sw.status
			}
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= http.StatusInternalServerError {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}()
		next.ServeHTTP(w, r)
	})
}

// routePath is the path of a mux pattern ("POST /api/images" -> "/api/images").
func routePath(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}
