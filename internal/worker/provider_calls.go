package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
)

// providers are the classifier providers, whose sortographer_provider_calls_total
// series exist from the start (a provider's name is its SORTOGRAPHER_CLASSIFIER value).
var providers = []string{config.ClassifierBuiltin, config.ClassifierRekognition}

func newProviderCalls() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sortographer_provider_calls_total",
		Help: "Requests the classifier made to its provider, by provider (builtin, rekognition) and result (ok, throttled, error); every Rekognition request counts, retries included, as each is billed.",
	}, []string{"provider", "result"})
}

// initProviderCalls makes every provider and result series exist at zero, so that
// rates and alerts work from the first scrape.
func initProviderCalls(v *prometheus.CounterVec) {
	for _, p := range providers {
		for _, r := range classify.CallResults {
			v.WithLabelValues(p, r)
		}
	}
}

// CountCall implements classify.CallCounter: the classifier reports each request it
// makes to its provider (Run puts the metrics in the context it hands the classifier).
func (m *metrics) CountCall(provider, result string) {
	m.providerCalls.WithLabelValues(provider, result).Inc()
}
