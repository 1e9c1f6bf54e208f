package worker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sortographer/sortographer/internal/queue"
)

// Job outcomes, the "outcome" label of sortographer_worker_jobs_total.
const (
	outcomeLabelled     = "labelled"      // labels committed
	outcomeDuplicate    = "duplicate"     // the image was already labelled or failed: nothing written
	outcomeGone         = "gone"          // the image was deleted meanwhile
	outcomeFailed       = "failed"        // permanent error: marked failed, not retried
	outcomeRetried      = "retried"       // transient error: handed back for another attempt
	outcomeDeadLettered = "dead_lettered" // too many attempts: marked failed, dead-lettered
	outcomeReleased     = "released"      // shutdown: handed back without counting an attempt
)

// Failure kinds, the "kind" label of sortographer_worker_classify_failures_total, and
// limiters, the "limiter" label of the rate-limit series.
const (
	failurePermanent = "permanent"
	failureTransient = "transient"
	limiterProvider  = "provider" // Gallery-wide provider calls
	limiterIntake    = "intake"   // job intake
)

// Text reads, the "result" label of sortographer_worker_text_reads_total.
const (
	textFound  = "found"  // the reader found words
	textNone   = "none"   // the reader found no legible text
	textFailed = "failed" // the reader failed (retried, or the photo labelled without text)
)

// metrics are the worker's Prometheus series.
type metrics struct {
	jobs          *prometheus.CounterVec
	duration      prometheus.Histogram
	failures      *prometheus.CounterVec
	inFlight      prometheus.Gauge
	rateWaits     *prometheus.CounterVec
	rateWaitSecs  *prometheus.CounterVec
	queueDepth    prometheus.Gauge
	sweepRequeued prometheus.Counter
	providerCalls *prometheus.CounterVec // provider_calls.go
	textReads     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_worker_jobs_total",
			Help: "Classification jobs handled, by outcome (labelled, duplicate, gone, failed, retried, dead_lettered, released).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sortographer_worker_job_duration_seconds",
			Help:    "Time from taking a job to committing its outcome.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_worker_classify_failures_total",
			Help: "Failed classifications, by kind (permanent, transient).",
		}, []string{"kind"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sortographer_worker_jobs_in_flight",
			Help: "Jobs this worker holds now.",
		}),
		rateWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_worker_rate_limit_waits_total",
			Help: "Times a worker waited for a rate limit, by limiter (provider: Gallery-wide provider calls; intake: job intake).",
		}, []string{"limiter"}),
		rateWaitSecs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_worker_rate_limit_wait_seconds_total",
			Help: "Time spent waiting for a rate limit, by limiter.",
		}, []string{"limiter"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: queue.DepthMetricName,
			Help: queue.DepthMetricHelp + " -1 when the queue cannot be read.",
		}),
		sweepRequeued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sortographer_worker_sweep_requeued_total",
			Help: "Images found queued for too long with no job, and enqueued again.",
		}),
		providerCalls: newProviderCalls(),
		textReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_worker_text_reads_total",
			Help: "Photos the text reader read, by result (found: words; none: no legible text; failed: the reader failed, and the job was retried or the photo labelled without text).",
		}, []string{"result"}),
	}
	// On the vectors registered, which may be another worker's in the same registry:
	// every known label value is present at zero, so rates and increase() see the first
	// event (a first dead letter, say) and every name is exported from the start.
	defer func() {
		initProviderCalls(m.providerCalls)
		for _, o := range []string{outcomeLabelled, outcomeDuplicate, outcomeGone, outcomeFailed, outcomeRetried, outcomeDeadLettered, outcomeReleased} {
			m.jobs.WithLabelValues(o)
		}
		for _, k := range []string{failurePermanent, failureTransient} {
			m.failures.WithLabelValues(k)
		}
		for _, r := range []string{textFound, textNone, textFailed} {
			m.textReads.WithLabelValues(r)
		}
		for _, l := range []string{limiterProvider, limiterIntake} {
			m.rateWaits.WithLabelValues(l)
			m.rateWaitSecs.WithLabelValues(l)
		}
	}()
	if reg == nil {
		return m
	}
	m.jobs = register(reg, m.jobs)
	m.duration = register(reg, m.duration)
	m.failures = register(reg, m.failures)
	m.inFlight = register(reg, m.inFlight)
	m.rateWaits = register(reg, m.rateWaits)
	m.rateWaitSecs = register(reg, m.rateWaitSecs)
	m.queueDepth = register(reg, m.queueDepth)
	m.sweepRequeued = register(reg, m.sweepRequeued)
	m.providerCalls = register(reg, m.providerCalls)
	m.textReads = register(reg, m.textReads)
	return m
}

// register registers c, or returns the collector already registered under its name
// (several in-process workers, or a restart of Run, share one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
