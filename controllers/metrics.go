package controllers

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
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

// galleryMetrics holds the operator's per-Gallery metrics.
type galleryMetrics struct {
	condition     *prometheus.GaugeVec
	phase         *prometheus.GaugeVec
	replicas      *prometheus.GaugeVec
	queueBacklog  *prometheus.GaugeVec
	lastSuccess   *prometheus.GaugeVec
	applyFailures *prometheus.CounterVec
	reconciles    *prometheus.CounterVec
	podInfo       *prometheus.GaugeVec
	volumeInfo    *prometheus.GaugeVec

	mu sync.Mutex
	// pods and volumes are the pod_info and volume_info series last set for each
	// Gallery, so that a pass deletes only those that went: an alert that joins on them
	// never sees a pod without its series.
	pods    map[types.NamespacedName]map[podSeries]bool
	volumes map[types.NamespacedName]map[string]bool
}

type podSeries struct{ component, pod string }

// operatorMetrics are registered once, in controller-runtime's registry, and shared by
// every reconciler of the process.
var operatorMetrics = newGalleryMetrics()

func init() { ctrlmetrics.Registry.MustRegister(operatorMetrics.collectors()...) }

func newGalleryMetrics() *galleryMetrics {
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sortographer_gallery_" + name, Help: help},
			append([]string{labelNamespace, labelGallery}, labels...))
	}
	return &galleryMetrics{
		condition: gauge("condition", "A condition of the Gallery's status: 1 for its current status (true, false or unknown), 0 for the other two.",
			"condition", "status"),
		phase: gauge("phase", "The Gallery's status.phase: 1 for the current phase, 0 for the others.", "phase"),
		replicas: gauge("replicas", "Pods of the Gallery's server and workers Deployments: desired (by the spec or the autoscaler) and ready.",
			"component", "state"),
		queueBacklog: gauge("queue_backlog", "Classification jobs waiting or in a worker's hands, as the operator's backlog scaler last read them (status.queueBacklog)."),
		lastSuccess:  gauge("last_reconcile_success_timestamp_seconds", "When the operator last reconciled the Gallery without an error (Unix seconds)."),
		applyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_gallery_apply_failures_total",
			Help: "Failed writes (server-side apply or delete) of the Gallery's children, by kind.",
		}, []string{labelNamespace, labelGallery, "kind"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sortographer_gallery_reconciles_total",
			Help: "Passes of the reconciler over the Gallery (each reads its children and may apply them): a converged Gallery gains none until something changes.",
		}, []string{labelNamespace, labelGallery}),
		podInfo: gauge("pod_info", "1 for each pod of the Gallery: joins pod metrics (cAdvisor, kube-state-metrics) to the Gallery on namespace and pod.",
			"component", "pod"),
		volumeInfo: gauge("volume_info", "1 for each PersistentVolumeClaim of the Gallery: joins kubelet_volume_stats_* to the Gallery on namespace and persistentvolumeclaim.",
			"persistentvolumeclaim"),
		pods:    map[types.NamespacedName]map[podSeries]bool{},
		volumes: map[types.NamespacedName]map[string]bool{},
	}
}

func (m *galleryMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.condition, m.phase, m.replicas, m.queueBacklog, m.lastSuccess, m.applyFailures, m.reconciles, m.podInfo, m.volumeInfo}
}

func galleryLabels(key types.NamespacedName) prometheus.Labels {
	return prometheus.Labels{labelNamespace: key.Namespace, labelGallery: key.Name}
}

// observe sets what the status says (conditions, phase, replicas, backlog), the
// Gallery's volumes, and, when the pods could be listed, its pods.
func (m *galleryMetrics) observe(g *galleryv1alpha1.Gallery, o *observed) {
	ns, name := g.Namespace, g.Name
	for _, c := range g.Status.Conditions {
		current := strings.ToLower(string(c.Status))
		for _, s := range conditionStatuses {
			m.condition.WithLabelValues(ns, name, c.Type, s).Set(boolFloat(s == current))
		}
	}
	// Conditions the spec may drop (BackupReady with spec.backup) leave no series.
	for _, typ := range []string{galleryv1alpha1.ConditionBackupReady, galleryv1alpha1.ConditionRestored} {
		if meta.FindStatusCondition(g.Status.Conditions, typ) == nil {
			m.condition.DeletePartialMatch(prometheus.Labels{labelNamespace: ns, labelGallery: name, "condition": typ})
		}
	}
	for _, p := range galleryPhases {
		m.phase.WithLabelValues(ns, name, string(p)).Set(boolFloat(p == g.Status.Phase))
	}
	for component, r := range map[string]*galleryv1alpha1.ReplicaStatus{
		galleryv1alpha1.ComponentServer: g.Status.Server, galleryv1alpha1.ComponentWorkers: g.Status.Workers,
	} {
		if r == nil {
			m.replicas.DeletePartialMatch(prometheus.Labels{labelNamespace: ns, labelGallery: name, "component": component})
			continue
		}
		m.replicas.WithLabelValues(ns, name, component, "desired").Set(float64(r.Replicas))
		m.replicas.WithLabelValues(ns, name, component, "ready").Set(float64(r.ReadyReplicas))
	}
	if b := g.Status.QueueBacklog; b != nil {
		m.queueBacklog.WithLabelValues(ns, name).Set(float64(*b))
	} else {
		m.queueBacklog.DeleteLabelValues(ns, name)
	}
	m.observeVolumes(g)
	if o != nil && !o.podsUnread {
		m.observePods(g, o.pods)
	}
}

// observeVolumes sets volume_info for the PVCs the spec gives the Gallery.
func (m *galleryMetrics) observeVolumes(g *galleryv1alpha1.Gallery) {
	key := keyOfGallery(g)
	now := map[string]bool{}
	for _, c := range specs.ClaimNames(g) {
		now[c] = true
		m.volumeInfo.WithLabelValues(g.Namespace, g.Name, c).Set(1)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := range m.volumes[key] {
		if !now[c] {
			m.volumeInfo.DeleteLabelValues(g.Namespace, g.Name, c)
		}
	}
	m.volumes[key] = now
}

// observePods sets pod_info for the Gallery's pods (from the operator's pod cache).
func (m *galleryMetrics) observePods(g *galleryv1alpha1.Gallery, pods []corev1.Pod) {
	key := keyOfGallery(g)
	now := map[podSeries]bool{}
	for i := range pods {
		p := podSeries{component: pods[i].Labels[galleryv1alpha1.LabelComponent], pod: pods[i].Name}
		now[p] = true
		m.podInfo.WithLabelValues(g.Namespace, g.Name, p.component, p.pod).Set(1)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.pods[key] {
		if !now[p] {
			m.podInfo.DeleteLabelValues(g.Namespace, g.Name, p.component, p.pod)
		}
	}
	m.pods[key] = now
}

// reconciled records a pass that ended without an error.
func (m *galleryMetrics) reconciled(g *galleryv1alpha1.Gallery, at time.Time) {
	m.lastSuccess.WithLabelValues(g.Namespace, g.Name).Set(float64(at.UnixNano()) / 1e9)
}

// applying makes the failure counter of a kind the Gallery has exist, at 0 until a
// write of that kind fails.
func (m *galleryMetrics) applying(g *galleryv1alpha1.Gallery, kind string) {
	m.applyFailures.WithLabelValues(g.Namespace, g.Name, kind)
}

// reconciling counts one pass over g.
func (m *galleryMetrics) reconciling(g *galleryv1alpha1.Gallery) {
	m.reconciles.WithLabelValues(g.Namespace, g.Name).Inc()
}

// applyFailed counts a failed write of a child of kind.
func (m *galleryMetrics) applyFailed(g *galleryv1alpha1.Gallery, kind string) {
	m.applyFailures.WithLabelValues(g.Namespace, g.Name, kind).Inc()
}

// forget deletes every series of a Gallery that is gone.
func (m *galleryMetrics) forget(key types.NamespacedName) {
	for _, c := range m.collectors() {
		switch v := c.(type) {
		case *prometheus.GaugeVec:
			v.DeletePartialMatch(galleryLabels(key))
		case *prometheus.CounterVec:
			v.DeletePartialMatch(galleryLabels(key))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pods, key)
	delete(m.volumes, key)
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
