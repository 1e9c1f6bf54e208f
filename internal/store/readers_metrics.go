package store

import (
	"github.com/prometheus/client_golang/prometheus"
)

// readerMetrics reports each read replica's state at scrape time.
type readerMetrics struct {
	st                 Store
	up, usable, lagSec *prometheus.Desc
}

// NewReaderMetrics is a Prometheus collector of st's read replicas, by reader host:
// sortographer_database_reader_up, sortographer_database_reader_usable (up, and
// within the maximum lag) and sortographer_database_reader_lag_seconds (where the
// database tells: PostgreSQL). A store without readers reports nothing.
func NewReaderMetrics(st Store) prometheus.Collector {
	labels := []string{"reader"}
	return &readerMetrics{
		st: st,
		up: prometheus.NewDesc("sortographer_database_reader_up",
			"1 when the read replica answered its last health check.", labels, nil),
		usable: prometheus.NewDesc("sortographer_database_reader_usable",
			"1 when lag-tolerant reads go to the read replica: up, and its lag within the maximum.", labels, nil),
		lagSec: prometheus.NewDesc("sortographer_database_reader_lag_seconds",
			"How far the read replica's data is behind the writer, at its last health check (PostgreSQL only).", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *readerMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.up
	ch <- m.usable
	ch <- m.lagSec
}

// Collect implements prometheus.Collector.
func (m *readerMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, r := range ReaderStates(m.st) {
		ch <- prometheus.MustNewConstMetric(m.up, prometheus.GaugeValue, boolValue(r.Up), r.Host)
		ch <- prometheus.MustNewConstMetric(m.usable, prometheus.GaugeValue, boolValue(r.Usable), r.Host)
		if r.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(m.lagSec, prometheus.GaugeValue, r.Lag.Seconds(), r.Host)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
