package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sortographer/sortographer/internal/queue"
)

// metrics are the server's Prometheus metrics, all named sortographer_*.
type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	uploads     *prometheus.CounterVec
	uploadBytes prometheus.Counter
	// signInRefused counts sign-ins and sign-ups a limit refused, by limit: an attack
	// shows here before anyone complains.
	signInRefused *prometheus.CounterVec
}

// Upload results, the "result" label of sortographer_uploads_total.
const (
	uploadAccepted  = "accepted"
	uploadRejected  = "rejected"
	uploadFailed    = "failed"
	uploadDuplicate = "duplicate"
	// uploadCancelled: the client went away before the upload was read and stored.
	uploadCancelled = "cancelled"
)

// queueDepthTimeout bounds the queue read a scrape makes.
const queueDepthTimeout = 2 * time.Second

func newMetrics(reg *prometheus.Registry, q queue.Producer, st usageReader, log *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_http_requests_total",
			Help: "HTTP requests served, by method, route and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sortographer_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by method and route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_uploads_total",
			Help: "Photos uploaded: accepted and queued, rejected (bad file), failed (server error), or duplicate (the user's existing image returned), or cancelled (the client went away mid-upload; nothing kept).",
		}, []string{"result"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sortographer_upload_bytes_total",
			Help: "Bytes of accepted photos.",
		}),
		signInRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_sign_in_refused_total",
			Help: "Sign-ins and sign-ups refused by a rate limit, by limit (global, known_devices_global, address, address_failures, account_failures, device_failures, address_sign_ups; limiter_failed when the limiter itself failed).",
		}, []string{"limit"}),
	}
	for _, r := range []string{uploadAccepted, uploadRejected, uploadFailed, uploadDuplicate, uploadCancelled} {
		m.uploads.WithLabelValues(r) // present at zero, so rates work from the start
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: queue.DepthMetricName,
		Help: queue.DepthMetricHelp + " -1 when the queue cannot be read.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), queueDepthTimeout)
		defer cancel()
		n, err := q.Depth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	// Registering twice (a registry shared with a worker in the same process) is
	// harmless for the standard collectors, so those errors are ignored.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(m.requests, m.latency, m.uploads, m.uploadBytes, m.signInRefused, depth, newUsageCollector(q, st, log))
	return m
}

func (m *metrics) observe(method, route string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

func (m *metrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
