package classify

import "context"

// Results of one request to a classifier's provider: the "result" label of
// sortographer_provider_calls_total.
const (
	CallOK = "ok"
	// CallThrottled: the provider asked to slow down (Rekognition's throttling).
	CallThrottled = "throttled"
	CallError     = "error"
)

// CallResults are every call result, so that a metric can expose each from the start.
var CallResults = []string{CallOK, CallThrottled, CallError}

// CallCounter counts the requests classifiers make to their providers.
type CallCounter interface {
	CountCall(provider, result string)
}

type callCounterKey struct{}

// WithCallCounter returns a context under which classifiers report every request they
// make to their provider to c. Only the classifier sees each request (Rekognition's
// retries happen inside one Classify, and each is billed), so, as with
// net/http/httptrace, the hook travels in the context rather than giving every
// classifier metrics of its own.
func WithCallCounter(ctx context.Context, c CallCounter) context.Context {
	return context.WithValue(ctx, callCounterKey{}, c)
}

// CountCall reports one request to provider, with its result, to the counter in ctx;
// without one it does nothing.
func CountCall(ctx context.Context, provider, result string) {
	if c, ok := ctx.Value(callCounterKey{}).(CallCounter); ok {
		c.CountCall(provider, result)
	}
}
