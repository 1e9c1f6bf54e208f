package controllers

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// constMetricsOf is the reference the scrape benchmark measures the operator's
// collector against: the same series made the usual client_golang way, one
// ConstMetric (with label pairs of its own) each.
type constMetricsOf struct{ m *galleryMetrics }

func (r constMetricsOf) Describe(ch chan<- *prometheus.Desc) { r.m.Describe(ch) }

func (r constMetricsOf) Collect(ch chan<- prometheus.Metric) {
	samples := make(chan prometheus.Metric)
	go func() {
		r.m.Collect(samples)
		close(samples)
	}()
	for s := range samples {
		s := s.(*sample)
		var buf [maxSeriesLabels]string
		values := buf[:0]
		for _, name := range []string{labelNamespace, labelGallery} {
			values = append(values, labelValue(s, name))
		}
		for _, lp := range s.labels[:s.n] {
			if n := lp.GetName(); n != labelNamespace && n != labelGallery {
				values = append(values, lp.GetValue())
			}
		}
		kind := prometheus.GaugeValue
		if s.counter {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(s.desc, kind, s.value, values...)
	}
}

func labelValue(s *sample, name string) string {
	for _, lp := range s.labels[:s.n] {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// scrapeGalleries are a thousand Galleries' metrics as a converged operator holds
// them: nine conditions, a phase, replicas, backlog, three pods, two claims, and a
// failure counter for each of twelve kinds (about 60 series a Gallery).
func scrapeGalleries(n int) *galleryMetrics {
	m := newGalleryMetrics()
	kinds := []string{"Deployment", "StatefulSet", "Service", "ConfigMap", "Secret", "ServiceAccount",
		"PersistentVolumeClaim", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "CronJob"}
	conditions := []string{galleryv1alpha1.ConditionReady, galleryv1alpha1.ConditionServer, galleryv1alpha1.ConditionWorkers,
		galleryv1alpha1.ConditionCache, galleryv1alpha1.ConditionDatabase, galleryv1alpha1.ConditionStorage,
		galleryv1alpha1.ConditionIngress, galleryv1alpha1.ConditionMemoryPressure, galleryv1alpha1.ConditionBackupReady}
	for i := range n {
		g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("team-%d", i%10), Name: fmt.Sprintf("gallery-%04d", i)}}
		for _, c := range conditions {
			g.Status.Conditions = append(g.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue})
		}
		g.Status.Phase = galleryv1alpha1.PhaseReady
		g.Status.Server = &galleryv1alpha1.ReplicaStatus{Replicas: 2, ReadyReplicas: 2}
		g.Status.Workers = &galleryv1alpha1.ReplicaStatus{Replicas: 1, ReadyReplicas: 1}
		g.Status.QueueBacklog = ptr.To[int64](0)
		var pods []corev1.Pod
		for _, c := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers} {
			pods = append(pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("%s-%s-%d", g.Name, c, len(pods)), Labels: map[string]string{galleryv1alpha1.LabelComponent: c},
			}})
		}
		m.observe(g, &observed{pods: pods})
		for _, k := range kinds {
			m.applying(g, k)
		}
		m.reconciling(g)
		m.reconciled(g, time.Unix(1_800_000_000, 0))
	}
	return m
}

// BenchmarkScrapeGalleries scrapes the operator's metrics of a thousand Galleries
// (gather and write the text format) against the same series as ConstMetrics, in the
// same run. held-MiB is what the gathered series hold until the scrape is written —
// it adds to the operator's peak memory, since client_golang gathers every series
// before it writes one; alloc-MiB is all a scrape allocates.
func BenchmarkScrapeGalleries(b *testing.B) {
	m := scrapeGalleries(1000)
	results := map[string][2]float64{}
	for _, c := range []struct {
		name      string
		collector prometheus.Collector
	}{{"const-metrics", constMetricsOf{m}}, {"shared-pairs", m}} {
		b.Run(c.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(c.collector)
			var held, allocated float64
			for b.Loop() {
				h, a, err := scrape(reg)
				if err != nil {
					b.Fatal(err)
				}
				held, allocated = held+h, allocated+a
			}
			held, allocated = held/float64(b.N)/(1<<20), allocated/float64(b.N)/(1<<20)
			b.ReportMetric(held, "held-MiB")
			b.ReportMetric(allocated, "alloc-MiB")
			results[c.name] = [2]float64{held, allocated}
			if ref, ok := results["const-metrics"]; ok && c.name != "const-metrics" {
				b.ReportMetric(held/ref[0], "held/ref")
				b.ReportMetric(allocated/ref[1], "alloc/ref")
			}
		})
	}
}

// scrape gathers reg and writes the text format: the bytes the gathered families hold
// and the bytes the whole scrape allocates.
func scrape(reg prometheus.Gatherer) (held, allocated float64, err error) {
	var before, gathered, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	families, err := reg.Gather()
	if err != nil {
		return 0, 0, err
	}
	runtime.GC()
	runtime.ReadMemStats(&gathered)
	enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return 0, 0, err
		}
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(families)
	return float64(gathered.HeapAlloc) - float64(before.HeapAlloc), float64(after.TotalAlloc - before.TotalAlloc), nil
}
