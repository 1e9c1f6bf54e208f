package controllers

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
	labelCondition = "condition"
	labelStatus    = "status"
	labelPhase     = "phase"
	labelComponent = "component"
	labelState     = "state"
	labelKind      = "kind"
	labelPod       = "pod"
	labelClaim     = "persistentvolumeclaim"
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
//
// A scrape makes every series at once (client_golang gathers them all before it writes
// the first), so what a series costs while it is gathered adds to the operator's peak
// memory: a ConstMetric's own label pairs and strings held about 530 bytes a series
// until the scrape was written, 29 MiB at a thousand Galleries. Here a series is one
// sample (its value, gauge and label pointers in one allocation of 112 bytes) beside
// the registry's dto.Metric, about 240 bytes, 13 MiB at a thousand
// (BenchmarkScrapeGalleries). Its label pairs are shared: the namespace and Gallery
// pairs are made once a Gallery, those of pods and claims when they are observed, and
// those whose values come from a small set (condition types and statuses, phases,
// components, states, kinds) once for the process. client_golang never modifies a
// written metric's label pairs.
type galleryMetrics struct {
	mu        sync.Mutex
	galleries map[types.NamespacedName]*gallerySeries
	pairs     sharedPairs
}

// gallerySeries is what one Gallery's series say.
type gallerySeries struct {
	// namespace and gallery are the label pairs every series of the Gallery has.
	namespace, gallery *dto.LabelPair
	// observed: the status was recorded at least once (phase series exist from then).
	observed   bool
	conditions []conditionSeries
	phase      galleryv1alpha1.GalleryPhase
	// server and workers are nil when status has no replica counts for them.
	server, workers *galleryv1alpha1.ReplicaStatus
	backlog         *int64
	volumes         []*dto.LabelPair
	pods            []podSeries
	// lastSuccess is zero until a pass ends without an error.
	lastSuccess float64
	reconciles  uint64
	// applyFailures counts failed writes by kind; a kind is present, at 0, from the
	// first apply of one.
	applyFailures map[string]uint64
}

// conditionSeries is a condition: its type's label pair, and its status (true, false or
// unknown).
type conditionSeries struct {
	typ    *dto.LabelPair
	status string
}

// podSeries are the label pairs of a pod's pod_info series.
type podSeries struct{ component, pod *dto.LabelPair }

// Descriptions of the series, in the order Collect emits them.
var (
	conditionDesc = galleryDesc("condition", "A condition of the Gallery's status: 1 for its current status (true, false or unknown), 0 for the other two.",
		labelCondition, labelStatus)
	phaseDesc    = galleryDesc("phase", "The Gallery's status.phase: 1 for the current phase, 0 for the others.", labelPhase)
	replicasDesc = galleryDesc("replicas", "Pods of the Gallery's server and workers Deployments: desired (by the spec or the autoscaler) and ready.",
		labelComponent, labelState)
	queueBacklogDesc  = galleryDesc("queue_backlog", "Classification jobs waiting or in a worker's hands, as the operator's backlog scaler last read them (status.queueBacklog).")
	lastSuccessDesc   = galleryDesc("last_reconcile_success_timestamp_seconds", "When the operator last reconciled the Gallery without an error (Unix seconds).")
	applyFailuresDesc = galleryDesc("apply_failures_total", "Failed writes (server-side apply or delete) of the Gallery's children, by kind.", labelKind)
	reconcilesDesc    = galleryDesc("reconciles_total", "Passes of the reconciler over the Gallery (each reads its children and may apply them): a converged Gallery gains none until something changes.")
	podInfoDesc       = galleryDesc("pod_info", "1 for each pod of the Gallery: joins pod metrics (cAdvisor, kube-state-metrics) to the Gallery on namespace and pod.",
		labelComponent, labelPod)
	volumeInfoDesc = galleryDesc("volume_info", "1 for each PersistentVolumeClaim of the Gallery: joins kubelet_volume_stats_* to the Gallery on namespace and persistentvolumeclaim.",
		labelClaim)
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
	return &galleryMetrics{galleries: map[types.NamespacedName]*gallerySeries{}, pairs: sharedPairs{}}
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
	for _, g := range m.galleries {
		gauge := func(d *prometheus.Desc, v float64, pairs ...*dto.LabelPair) {
			ch <- newSample(d, v, false, g.namespace, g.gallery, pairs...)
		}
		for _, c := range g.conditions {
			for _, s := range conditionStatuses {
				gauge(conditionDesc, boolFloat(s == c.status), c.typ, m.pairs.of(labelStatus, s))
			}
		}
		if g.observed {
			for _, p := range galleryPhases {
				gauge(phaseDesc, boolFloat(p == g.phase), m.pairs.of(labelPhase, string(p)))
			}
		}
		for _, r := range []struct {
			component string
			status    *galleryv1alpha1.ReplicaStatus
		}{{galleryv1alpha1.ComponentServer, g.server}, {galleryv1alpha1.ComponentWorkers, g.workers}} {
			if r.status != nil {
				component := m.pairs.of(labelComponent, r.component)
				gauge(replicasDesc, float64(r.status.Replicas), component, m.pairs.of(labelState, "desired"))
				gauge(replicasDesc, float64(r.status.ReadyReplicas), component, m.pairs.of(labelState, "ready"))
			}
		}
		if g.backlog != nil {
			gauge(queueBacklogDesc, float64(*g.backlog))
		}
		if g.lastSuccess != 0 {
			gauge(lastSuccessDesc, g.lastSuccess)
		}
		for kind, n := range g.applyFailures {
			ch <- newSample(applyFailuresDesc, float64(n), true, g.namespace, g.gallery, m.pairs.of(labelKind, kind))
		}
		if g.reconciles > 0 {
			ch <- newSample(reconcilesDesc, float64(g.reconciles), true, g.namespace, g.gallery)
		}
		for _, p := range g.pods {
			gauge(podInfoDesc, 1, p.component, p.pod)
		}
		for _, v := range g.volumes {
			gauge(volumeInfoDesc, 1, v)
		}
	}
}

// series is g's entry, made on first use; the caller holds m.mu.
func (m *galleryMetrics) series(g *galleryv1alpha1.Gallery) *gallerySeries {
	key := keyOfGallery(g)
	s := m.galleries[key]
	if s == nil {
		s = &gallerySeries{namespace: newLabelPair(labelNamespace, key.Namespace), gallery: newLabelPair(labelGallery, key.Name)}
		m.galleries[key] = s
	}
	return s
}

// observe records what the status says (conditions, phase, replicas, backlog), the
// Gallery's volumes, and, when the pods could be listed, its pods.
func (m *galleryMetrics) observe(g *galleryv1alpha1.Gallery, o *observed) {
	replicas := func(r *galleryv1alpha1.ReplicaStatus) *galleryv1alpha1.ReplicaStatus {
		if r == nil {
			return nil
		}
		return &galleryv1alpha1.ReplicaStatus{Replicas: r.Replicas, ReadyReplicas: r.ReadyReplicas}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	conds := make([]conditionSeries, 0, len(g.Status.Conditions))
	for _, c := range g.Status.Conditions {
		conds = append(conds, conditionSeries{typ: m.pairs.of(labelCondition, c.Type), status: strings.ToLower(string(c.Status))})
	}
	s := m.series(g)
	s.observed, s.conditions, s.phase = true, conds, g.Status.Phase
	s.server, s.workers = replicas(g.Status.Server), replicas(g.Status.Workers)
	s.backlog = nil
	if b := g.Status.QueueBacklog; b != nil {
		s.backlog = ptr.To(*b)
	}
	s.volumes = s.volumes[:0]
	for _, claim := range specs.ClaimNames(g) {
		s.volumes = append(s.volumes, newLabelPair(labelClaim, claim))
	}
	if o != nil && !o.podsUnread {
		s.pods = m.podsOf(o.pods)
	}
}

// podsOf are the pods' series; the caller holds m.mu.
func (m *galleryMetrics) podsOf(pods []corev1.Pod) []podSeries {
	out := make([]podSeries, 0, len(pods))
	for i := range pods {
		out = append(out, podSeries{
			component: m.pairs.of(labelComponent, pods[i].Labels[galleryv1alpha1.LabelComponent]),
			pod:       newLabelPair(labelPod, pods[i].Name),
		})
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

// sharedPairs are the label pairs whose values come from a small set, one for each
// name and value, made on first use and kept for the life of the process; the caller
// holds galleryMetrics.mu.
type sharedPairs map[[2]string]*dto.LabelPair

func (p sharedPairs) of(name, value string) *dto.LabelPair {
	key := [2]string{name, value}
	pair := p[key]
	if pair == nil {
		pair = newLabelPair(name, value)
		p[key] = pair
	}
	return pair
}

func newLabelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: &name, Value: &value}
}

// maxSeriesLabels is the most labels a series of the operator has (namespace, gallery
// and two of its own).
const maxSeriesLabels = 4

// sample is one series as a scrape gathers it: its value, its label pairs (shared,
// never modified) sorted by name as client_golang expects them, and the gauge the
// written metric points at, all in one allocation.
type sample struct {
	desc    *prometheus.Desc
	value   float64
	counter bool
	n       int
	labels  [maxSeriesLabels]*dto.LabelPair
	gauge   dto.Gauge
}

func newSample(desc *prometheus.Desc, value float64, counter bool, namespace, gallery *dto.LabelPair, pairs ...*dto.LabelPair) *sample {
	s := &sample{desc: desc, value: value, counter: counter}
	s.labels[0], s.labels[1] = namespace, gallery
	s.n = 2 + copy(s.labels[2:], pairs)
	labels := s.labels[:s.n]
	// Insertion sort: at most four pairs, and no allocation.
	for i := 1; i < len(labels); i++ {
		for j := i; j > 0 && labels[j].GetName() < labels[j-1].GetName(); j-- {
			labels[j], labels[j-1] = labels[j-1], labels[j]
		}
	}
	return s
}

// Desc implements prometheus.Metric.
func (s *sample) Desc() *prometheus.Desc { return s.desc }

// Write implements prometheus.Metric.
func (s *sample) Write(out *dto.Metric) error {
	out.Label = s.labels[:s.n:s.n]
	if s.counter {
		out.Counter = &dto.Counter{Value: &s.value}
		return nil
	}
	s.gauge.Value = &s.value
	out.Gauge = &s.gauge
	return nil
}
