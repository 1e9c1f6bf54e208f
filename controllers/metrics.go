package controllers

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// The operator's own view of each Gallery, served on its metrics endpoint beside
// controller-runtime's metrics (the registry of sigs.k8s.io/controller-runtime/pkg/metrics).
// Every series is labelled namespace and gallery: the chart's ServiceMonitor sets
// honorLabels, so these win over the namespace of the operator's own pod. All of a
// Gallery's series are deleted when it goes.

// Label names of the operator's metrics.
const (
	labelNamespace = "namespace"
	labelGallery   = "gallery"
)

// galleryPhases are every value of status.phase, so each phase series is 0 or 1.
var galleryPhases = []galleryv1alpha1.GalleryPhase{
	galleryv1alpha1.PhasePending, galleryv1alpha1.PhaseProgressing, galleryv1alpha1.PhaseReady,
	galleryv1alpha1.PhaseDegraded, galleryv1alpha1.PhaseSuspended, galleryv1alpha1.PhaseFailed,
}

// conditionStatuses are the values of a condition's status label.
var conditionStatuses = []string{"true", "false", "unknown"}

// galleryMetrics holds the operator's view of each Gallery in a few hundred bytes a
// Gallery and makes the series from it when Prometheus scrapes (a collector, as
// kube-state-metrics does). Kept as client_golang vectors, the same 55 or so series a
// Gallery took about 40 KiB of label pairs and maps: 40 MiB at a thousand Galleries
// (docs/operator.md, Scale).
type galleryMetrics struct {
	mu        sync.Mutex
	galleries map[types.NamespacedName]*gallerySeries
}

// gallerySeries is what one Gallery's series say.
type gallerySeries struct {
	// observed: the status was recorded at least once (phase series exist from then).
	observed   bool
	conditions []conditionSeries
	phase      galleryv1alpha1.GalleryPhase
	// server and workers are nil when status has no replica counts for them.
	server, workers *galleryv1alpha1.ReplicaStatus
	backlog         *int64
	volumes         []string
	pods            []podSeries
	// lastSuccess is zero until a pass ends without an error.
	lastSuccess float64
	reconciles  uint64
	// applyFailures counts failed writes by kind; a kind is present, at 0, from the
	// first apply of one.
	applyFailures map[string]uint64
}

type conditionSeries struct{ typ, status string }

type podSeries struct{ component, pod string }

// Descriptions of the series, in the order Collect emits them.
var (
	conditionDesc = galleryDesc("condition", "A condition of the Gallery's status: 1 for its current status (true, false or unknown), 0 for the other two.",
		"condition", "status")
	phaseDesc    = galleryDesc("phase", "The Gallery's status.phase: 1 for the current phase, 0 for the others.", "phase")
	replicasDesc = galleryDesc("replicas", "Pods of the Gallery's server and workers Deployments: desired (by the spec or the autoscaler) and ready.",
		"component", "state")
	queueBacklogDesc  = galleryDesc("queue_backlog", "Classification jobs waiting or in a worker's hands, as the operator's backlog scaler last read them (status.queueBacklog).")
	lastSuccessDesc   = galleryDesc("last_reconcile_success_timestamp_seconds", "When the operator last reconciled the Gallery without an error (Unix seconds).")
	applyFailuresDesc = galleryDesc("apply_failures_total", "Failed writes (server-side apply or delete) of the Gallery's children, by kind.", "kind")
	reconcilesDesc    = galleryDesc("reconciles_total", "Passes of the reconciler over the Gallery (each reads its children and may apply them): a converged Gallery gains none until something changes.")
	podInfoDesc       = galleryDesc("pod_info", "1 for each pod of the Gallery: joins pod metrics (cAdvisor, kube-state-metrics) to the Gallery on namespace and pod.",
		"component", "pod")
	volumeInfoDesc = galleryDesc("volume_info", "1 for each PersistentVolumeClaim of the Gallery: joins kubelet_volume_stats_* to the Gallery on namespace and persistentvolumeclaim.",
		"persistentvolumeclaim")
	allDescs = []*prometheus.Desc{conditionDesc, phaseDesc, replicasDesc, queueBacklogDesc, lastSuccessDesc, applyFailuresDesc, reconcilesDesc, podInfoDesc, volumeInfoDesc}
)

func galleryDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("sortographer_gallery_"+name, help, append([]string{labelNamespace, labelGallery}, labels...), nil)
}

// operatorMetrics are registered once, in controller-runtime's registry, and shared by
// every reconciler of the process.
var operatorMetrics = newGalleryMetrics()

func init() { ctrlmetrics.Registry.MustRegister(operatorMetrics.collectors()...) }

func newGalleryMetrics() *galleryMetrics {
	return &galleryMetrics{galleries: map[types.NamespacedName]*gallerySeries{}}
}

func (m *galleryMetrics) collectors() []prometheus.Collector { return []prometheus.Collector{m} }

// Describe implements prometheus.Collector.
func (m *galleryMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: every Gallery's series, from what the
// reconciler last observed.
func (m *galleryMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for key, g := range m.galleries {
		ns, name := key.Namespace, key.Name
		for _, c := range g.conditions {
			for _, s := range conditionStatuses {
				gauge(conditionDesc, boolFloat(s == c.status), ns, name, c.typ, s)
			}
		}
		if g.observed {
			for _, p := range galleryPhases {
				gauge(phaseDesc, boolFloat(p == g.phase), ns, name, string(p))
			}
		}
		for _, r := range []struct {
			component string
			status    *galleryv1alpha1.ReplicaStatus
		}{{galleryv1alpha1.ComponentServer, g.server}, {galleryv1alpha1.ComponentWorkers, g.workers}} {
			if r.status != nil {
				gauge(replicasDesc, float64(r.status.Replicas), ns, name, r.component, "desired")
				gauge(replicasDesc, float64(r.status.ReadyReplicas), ns, name, r.component, "ready")
			}
		}
		if g.backlog != nil {
			gauge(queueBacklogDesc, float64(*g.backlog), ns, name)
		}
		if g.lastSuccess != 0 {
			gauge(lastSuccessDesc, g.lastSuccess, ns, name)
		}
		for kind, n := range g.applyFailures {
			ch <- prometheus.MustNewConstMetric(applyFailuresDesc, prometheus.CounterValue, float64(n), ns, name, kind)
		}
		if g.reconciles > 0 {
			ch <- prometheus.MustNewConstMetric(reconcilesDesc, prometheus.CounterValue, float64(g.reconciles), ns, name)
		}
		for _, p := range g.pods {
			gauge(podInfoDesc, 1, ns, name, p.component, p.pod)
		}
		for _, v := range g.volumes {
			gauge(volumeInfoDesc, 1, ns, name, v)
		}
	}
}

// series is g's entry, made on first use; the caller holds m.mu.
func (m *galleryMetrics) series(g *galleryv1alpha1.Gallery) *gallerySeries {
	key := keyOfGallery(g)
	s := m.galleries[key]
	if s == nil {
		s = &gallerySeries{}
		m.galleries[key] = s
	}
	return s
}

// observe records what the status says (conditions, phase, replicas, backlog), the
// Gallery's volumes, and, when the pods could be listed, its pods.
func (m *galleryMetrics) observe(g *galleryv1alpha1.Gallery, o *observed) {
	conds := make([]conditionSeries, 0, len(g.Status.Conditions))
	for _, c := range g.Status.Conditions {
		conds = append(conds, conditionSeries{typ: c.Type, status: strings.ToLower(string(c.Status))})
	}
	replicas := func(r *galleryv1alpha1.ReplicaStatus) *galleryv1alpha1.ReplicaStatus {
		if r == nil {
			return nil
		}
		return &galleryv1alpha1.ReplicaStatus{Replicas: r.Replicas, ReadyReplicas: r.ReadyReplicas}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series(g)
	s.observed, s.conditions, s.phase = true, conds, g.Status.Phase
	s.server, s.workers = replicas(g.Status.Server), replicas(g.Status.Workers)
	s.backlog = nil
	if b := g.Status.QueueBacklog; b != nil {
		s.backlog = ptr.To(*b)
	}
	s.volumes = specs.ClaimNames(g)
	if o != nil && !o.podsUnread {
		s.pods = podsOf(o.pods)
	}
}

func podsOf(pods []corev1.Pod) []podSeries {
	out := make([]podSeries, 0, len(pods))
	for i := range pods {
		out = append(out, podSeries{component: pods[i].Labels[galleryv1alpha1.LabelComponent], pod: pods[i].Name})
	}
	return out
}

// reconciled records a pass that ended without an error.
func (m *galleryMetrics) reconciled(g *galleryv1alpha1.Gallery, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.series(g).lastSuccess = float64(at.UnixNano()) / 1e9
}

// applying makes the failure counter of a kind the Gallery has exist, at 0 until a
// write of that kind fails.
func (m *galleryMetrics) applying(g *galleryv1alpha1.Gallery, kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series(g)
	if _, ok := s.applyFailures[kind]; !ok {
		if s.applyFailures == nil {
			s.applyFailures = map[string]uint64{}
		}
		s.applyFailures[kind] = 0
	}
}

// reconciling counts one pass over g.
func (m *galleryMetrics) reconciling(g *galleryv1alpha1.Gallery) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.series(g).reconciles++
}

// passes is how many passes went over the Gallery key.
func (m *galleryMetrics) passes(key types.NamespacedName) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.galleries[key]; s != nil {
		return float64(s.reconciles)
	}
	return 0
}

// applyFailed counts a failed write of a child of kind.
func (m *galleryMetrics) applyFailed(g *galleryv1alpha1.Gallery, kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series(g)
	if s.applyFailures == nil {
		s.applyFailures = map[string]uint64{}
	}
	s.applyFailures[kind]++
}

// forget deletes every series of a Gallery that is gone.
func (m *galleryMetrics) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.galleries, key)
}

func keyOfGallery(g *galleryv1alpha1.Gallery) types.NamespacedName {
	return types.NamespacedName{Namespace: g.Namespace, Name: g.Name}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
