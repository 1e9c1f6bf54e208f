package api_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/testservers"
)

// metricValue is the value of one series in a scrape ("name" or `name{label="v"}`, the
// labels as the text format writes them, sorted); it fails the test when the series is
// absent.
func metricValue(t *testing.T, scrape, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(scrape))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("series %s has value %q: %v", series, v, err)
			}
			return f
		}
	}
	t.Fatalf("the scrape has no series %s:\n%s", series, scrape)
	return 0
}

// TestUsageMetrics: the oldest job's age per priority, the dead letters, the images by
// status and the bytes stored, as a scrape of the metrics handler shows them; the main
// handler does not serve /metrics.
func TestUsageMetrics(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	ctx := context.Background()
	g.mustDo(nil, "GET", "/metrics", nil, http.StatusNotFound, nil)

	u := g.signUp("usage")
	uploaded := u.upload(file{"a.jpg", photo(t, 64, 48, 1)}, file{"b.jpg", photo(t, 320, 200, 2)})
	stored := uploaded[0].SizeBytes + uploaded[1].SizeBytes
	if uploaded[0].SizeBytes == uploaded[1].SizeBytes || stored == 0 {
		t.Fatalf("uploaded sizes %d and %d: want two different, non-zero", uploaded[0].SizeBytes, uploaded[1].SizeBytes)
	}
	// A job that has waited 90 s, behind the uploads' fresh ones.
	if err := g.queue.Enqueue(ctx, queue.Job{ImageID: "waited", OwnerID: u.id, EnqueuedAt: time.Now().Add(-90 * time.Second)}); err != nil {
		t.Fatal(err)
	}

	m := g.metrics()
	if age := metricValue(t, m, `sortographer_queue_oldest_job_age_seconds{priority="normal"}`); age < 90 || age > 120 {
		t.Errorf("oldest normal job age = %v s, want the waiting job's 90", age)
	}
	if age := metricValue(t, m, `sortographer_queue_oldest_job_age_seconds{priority="low"}`); age != 0 {
		t.Errorf("oldest low job age = %v s, want 0 (no reclassification waits)", age)
	}
	if n := metricValue(t, m, `sortographer_queue_dead_letters`); n != 0 {
		t.Errorf("dead letters = %v, want 0", n)
	}
	if b := metricValue(t, m, `sortographer_storage_bytes`); b != float64(stored) {
		t.Errorf("storage bytes = %v, want %d, the two uploads' sizes", b, stored)
	}
	for status, want := range map[string]float64{"queued": 2, "labelled": 0, "failed": 0} {
		if n := metricValue(t, m, `sortographer_images{status="`+status+`"}`); n != want {
			t.Errorf("images %s = %v, want %v", status, n, want)
		}
	}

	// Dead letters are read at every scrape; the database's usage is not read again
	// within its cache's 30 s.
	ds, err := g.queue.Take(ctx, 3, time.Second)
	if err != nil || len(ds) != 3 {
		t.Fatalf("took %d jobs, %v; want 3", len(ds), err)
	}
	if err := g.queue.DeadLetter(ctx, ds[2], "gave up"); err != nil {
		t.Fatal(err)
	}
	u.upload(file{"c.jpg", photo(t, 32, 32, 3)})
	m = g.metrics()
	if n := metricValue(t, m, `sortographer_queue_dead_letters`); n != 1 {
		t.Errorf("dead letters = %v, want 1", n)
	}
	if b := metricValue(t, m, `sortographer_storage_bytes`); b != float64(stored) {
		t.Errorf("storage bytes right after another upload = %v, want the cached %d", b, stored)
	}
	if n := metricValue(t, m, `sortographer_images{status="queued"}`); n != 2 {
		t.Errorf("queued images right after another upload = %v, want the cached 2", n)
	}
}

// TestUsageMetricsUnknown: with Redis and the database gone, every usage series is
// still exposed, as -1.
func TestUsageMetricsUnknown(t *testing.T) {
	rs := testservers.Redis(t)
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rc.Close() })
	g := newGallery(t, sqlite, filesystem, func(d *api.Deps) { d.Queue = queue.NewRedis(rc, "unknown", queue.Options{}) })
	rs.Stop()
	if err := g.store.Close(); err != nil {
		t.Fatal(err)
	}
	m := g.metrics()
	for _, series := range []string{
		`sortographer_queue_oldest_job_age_seconds{priority="normal"}`,
		`sortographer_queue_oldest_job_age_seconds{priority="low"}`,
		`sortographer_queue_dead_letters`,
		`sortographer_storage_bytes`,
		`sortographer_images{status="queued"}`,
		`sortographer_images{status="labelled"}`,
		`sortographer_images{status="failed"}`,
	} {
		if v := metricValue(t, m, series); v != -1 {
			t.Errorf("%s = %v with Redis and the database down, want -1", series, v)
		}
	}
	if !strings.Contains(g.logs.String(), "reading the gallery's usage for metrics failed") {
		t.Errorf("the failed usage read is not logged:\n%s", g.logs.String())
	}
}
