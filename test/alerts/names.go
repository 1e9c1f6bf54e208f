// Package alerts checks the chart's alert rules (charts/sortographer/templates/
// prometheusrule.yaml) and Grafana dashboard (charts/sortographer/dashboards/gallery.json)
// with the pinned promtool: the rules pass `promtool check rules`, every alert fires and
// stays quiet in `promtool test rules` unit tests (testdata/*.yaml), every dashboard query
// parses, and every metric either reads is listed here with where it comes from.
//
// MetricNames is for the tests that scrape the real binaries (test/realnode): every
// sortographer_* name it returns must be exported by our server, workers or operator.
//
// The tools come from the Makefile (HELM, PROMTOOL); run through `make test`.
package alerts

import (
	"sort"
	"strings"
)

// Where a metric comes from. Ours are the gallery binary's `serve` and `work` (and the
// workers that `serve` runs in-process with an embedded database) and the operator; the
// others must be installed beside the cluster's Prometheus (docs/alerts.md).
const (
	SourceServer           = "server"
	SourceWorkers          = "workers"
	SourceServerAndWorkers = "server and workers"
	SourceOperator         = "operator"
	SourceCAdvisor         = "cAdvisor (the kubelet's /metrics/cadvisor)"
	SourceKubelet          = "kubelet (/metrics)"
	SourceKubeStateMetrics = "kube-state-metrics"
	SourcePrometheus       = "Prometheus (every scrape target's health)"
)

// metricSources are the metric names the rules and the dashboard read, as Prometheus
// stores them (a histogram's _bucket series), with where each comes from. The tests fail
// when the rules or the dashboard read a name missing here, or when a name here is no
// longer read.
var metricSources = map[string]string{
	// The operator's view of each Gallery.
	"sortographer_gallery_condition":                                SourceOperator,
	"sortographer_gallery_phase":                                    SourceOperator,
	"sortographer_gallery_replicas":                                 SourceOperator,
	"sortographer_gallery_last_reconcile_success_timestamp_seconds": SourceOperator,
	"sortographer_gallery_apply_failures_total":                     SourceOperator,
	"sortographer_gallery_pod_info":                                 SourceOperator,
	"sortographer_gallery_volume_info":                              SourceOperator,

	// The gallery server.
	"sortographer_http_requests_total":                  SourceServer,
	"sortographer_http_request_duration_seconds_bucket": SourceServer,
	"sortographer_uploads_total":                        SourceServer,
	"sortographer_upload_bytes_total":                   SourceServer,
	"sortographer_queue_oldest_job_age_seconds":         SourceServer,
	"sortographer_queue_dead_letters":                   SourceServer,
	"sortographer_storage_bytes":                        SourceServer,
	"sortographer_images":                               SourceServer,
	"sortographer_queue_depth":                          SourceServerAndWorkers,

	// The workers.
	"sortographer_worker_jobs_total":                    SourceWorkers,
	"sortographer_worker_job_duration_seconds_bucket":   SourceWorkers,
	"sortographer_worker_classify_failures_total":       SourceWorkers,
	"sortographer_worker_jobs_in_flight":                SourceWorkers,
	"sortographer_worker_rate_limit_wait_seconds_total": SourceWorkers,
	"sortographer_provider_calls_total":                 SourceWorkers,

	// Not ours.
	"up":                                        SourcePrometheus,
	"container_memory_working_set_bytes":        SourceCAdvisor,
	"container_spec_memory_limit_bytes":         SourceCAdvisor,
	"container_cpu_usage_seconds_total":         SourceCAdvisor,
	"container_cpu_cfs_throttled_periods_total": SourceCAdvisor,
	"container_cpu_cfs_periods_total":           SourceCAdvisor,
	"kubelet_volume_stats_available_bytes":      SourceKubelet,
	"kubelet_volume_stats_capacity_bytes":       SourceKubelet,
	"kube_pod_container_status_restarts_total":  SourceKubeStateMetrics,
	"kube_pod_container_resource_requests":      SourceKubeStateMetrics,
}

// MetricNames are the names of every metric the chart's alert rules and dashboard read,
// sorted. Those starting with sortographer_ are exported by our binaries (always, at 0
// when nothing happened); the others come from Prometheus, cAdvisor, the kubelet and
// kube-state-metrics (MetricSource).
func MetricNames() []string {
	names := make([]string, 0, len(metricSources))
	for n := range metricSources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MetricSource says where a metric MetricNames lists comes from ("" for any other name).
func MetricSource(name string) string { return metricSources[name] }

// Ours says whether our binaries export the metric (rather than Prometheus, cAdvisor, the
// kubelet or kube-state-metrics).
func Ours(name string) bool { return strings.HasPrefix(name, "sortographer_") }
