package api

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// usageTTL is how long a reading of the database's usage serves scrapes. The reading
// scans the images table, and every server replica is scraped by every Prometheus
// replica every 15–30 s; the numbers it gives move slowly.
const usageTTL = 30 * time.Second

// usageReader is the part of the store the usage metrics read.
type usageReader interface {
	Usage(ctx context.Context) (store.Usage, error)
}

// usageCollector reports, at scrape time, what the queue and the database hold: the age
// of the oldest job per priority, the dead letters, the images by status and the bytes
// stored. A value that cannot be read is -1, so that the series never vanish and an
// alert can tell "unknown" from zero.
type usageCollector struct {
	queue queue.Inspector // nil: the queue cannot be inspected
	store usageReader
	log   *slog.Logger

	oldest, deadLetters, storageBytes, images *prometheus.Desc

	// The last reading of the store, served for usageTTL, whether it succeeded or not
	// (a database that is down is not asked again at every scrape either). mu also
	// makes concurrent scrapes share one reading.
	mu     sync.Mutex
	readAt time.Time
	usage  store.Usage
	err    error
}

var errNoInspector = errors.New("the queue cannot be inspected")

// Label values of the usage metrics, all reported at every scrape.
var (
	queuePriorities = []struct {
		label string
		age   func(queue.Ages) time.Duration
	}{
		{"normal", func(a queue.Ages) time.Duration { return a.Normal }},
		{"low", func(a queue.Ages) time.Duration { return a.Low }},
	}
	imageStatuses = []store.ImageStatus{store.StatusQueued, store.StatusLabelled, store.StatusFailed}
)

func newUsageCollector(q queue.Producer, st usageReader, log *slog.Logger) *usageCollector {
	in, _ := q.(queue.Inspector)
	return &usageCollector{
		queue: in, store: st, log: log,
		oldest: prometheus.NewDesc("sortographer_queue_oldest_job_age_seconds",
			"Age of the oldest classification job waiting or in a worker's hands, by priority (normal: uploads, low: reclassification); 0 when none, -1 when the queue cannot be read.",
			[]string{"priority"}, nil),
		deadLetters: prometheus.NewDesc("sortographer_queue_dead_letters",
			"Classification jobs in the dead-letter list (failed too often); -1 when the queue cannot be read.", nil, nil),
		storageBytes: prometheus.NewDesc("sortographer_storage_bytes",
			"Bytes of the stored original photos, from the database (thumbnails are not counted: their sizes are not recorded); read at most every 30 s, -1 when the database cannot be read.", nil, nil),
		images: prometheus.NewDesc("sortographer_images",
			"Images by classification status (queued, labelled, failed), from the database; read at most every 30 s, -1 when the database cannot be read.",
			[]string{"status"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.oldest
	ch <- c.deadLetters
	ch <- c.storageBytes
	ch <- c.images
}

// Collect implements prometheus.Collector.
func (c *usageCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueDepthTimeout)
	defer cancel()
	c.collectQueue(ctx, ch)
	c.collectStore(ctx, ch)
}

func (c *usageCollector) collectQueue(ctx context.Context, ch chan<- prometheus.Metric) {
	ages, agesErr := queue.Ages{}, errNoInspector
	dead, deadErr := int64(0), errNoInspector
	if c.queue != nil {
		ages, agesErr = c.queue.OldestAges(ctx)
		dead, deadErr = c.queue.DeadLetterCount(ctx)
	}
	for _, p := range queuePriorities {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, orUnknown(p.age(ages).Seconds(), agesErr), p.label)
	}
	ch <- prometheus.MustNewConstMetric(c.deadLetters, prometheus.GaugeValue, orUnknown(float64(dead), deadErr))
}

func (c *usageCollector) collectStore(ctx context.Context, ch chan<- prometheus.Metric) {
	u, err := c.read(ctx)
	ch <- prometheus.MustNewConstMetric(c.storageBytes, prometheus.GaugeValue, orUnknown(float64(u.OriginalBytes), err))
	for _, s := range imageStatuses {
		ch <- prometheus.MustNewConstMetric(c.images, prometheus.GaugeValue, orUnknown(float64(u.Images[s]), err), string(s))
	}
}

// read returns the store's usage, read again when the last reading is older than
// usageTTL, and that reading's error.
func (c *usageCollector) read(ctx context.Context) (store.Usage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAt.IsZero() && time.Since(c.readAt) < usageTTL {
		return c.usage, c.err
	}
	c.usage, c.err = c.store.Usage(ctx)
	c.readAt = time.Now()
	if c.err != nil {
		c.log.Warn("reading the gallery's usage for metrics failed", "error", c.err)
	}
	return c.usage, c.err
}

func orUnknown(v float64, err error) float64 {
	if err != nil {
		return -1
	}
	return v
}
