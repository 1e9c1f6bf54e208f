package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/testservers"
)

// queueJobs enqueues n jobs for the Gallery, as uploads do.
func queueJobs(t *testing.T, rdb *redis.Client, gallery string, n int) {
	t.Helper()
	q := queue.NewRedis(rdb, gallery, queue.Options{})
	for i := range n {
		if err := q.Enqueue(context.Background(), queue.Job{ImageID: fmt.Sprintf("img-%d-%d", time.Now().UnixNano(), i), OwnerID: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

// drainJobs takes and acknowledges every waiting job, as workers do.
func drainJobs(t *testing.T, rdb *redis.Client, gallery string) {
	t.Helper()
	ctx := context.Background()
	q := queue.NewRedis(rdb, gallery, queue.Options{Consumer: "w1"})
	for {
		ds, err := q.Take(ctx, 100, 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return
		}
		for _, d := range ds {
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func withExternalRedisAt(addr string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Cache = galleryv1alpha1.CacheSpec{External: &galleryv1alpha1.ExternalRedisSpec{Address: addr}}
	}
}

func workerReplicas(t *testing.T, g *galleryv1alpha1.Gallery) int32 {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: g.Namespace, Name: g.WorkersName()}, d); err != nil {
		t.Fatal(err)
	}
	return ptr.Deref(d.Spec.Replicas, -1)
}

func TestBacklogScalerSetsWorkersFromTheQueue(t *testing.T) {
	srv := testservers.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })

	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled, withExternalRedisAt(srv.Addr()), withBacklogScaling(false))
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}, Clock: clock}

	queueJobs(t, rdb, g.Name, 35)
	reconcileTimes(t, r, g, 1)
	if got := workerReplicas(t, g); got != 4 {
		t.Fatalf("35 jobs at 10 per worker: %d workers, want 4", got)
	}
	if b := mustGet(t, g).Status.QueueBacklog; b == nil || *b != 35 {
		t.Fatalf("status.queueBacklog = %v, want 35", b)
	}

	// More work: out at once, capped at maxReplicas (8).
	queueJobs(t, rdb, g.Name, 100)
	res, err := r.Reconcile(context.Background(), requestFor(g))
	if err != nil {
		t.Fatal(err)
	}
	if got := workerReplicas(t, g); got != 8 {
		t.Fatalf("135 jobs: %d workers, want the maximum 8", got)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > backlogPollInterval {
		t.Errorf("RequeueAfter = %v, want the backlog poll (%v)", res.RequeueAfter, backlogPollInterval)
	}

	// Queue drained: nothing scales in before the 300 s window has passed…
	drainJobs(t, rdb, g.Name)
	clock.SetTime(clock.Now().Add(200 * time.Second))
	reconcileTimes(t, r, g, 1)
	if got := workerReplicas(t, g); got != 8 {
		t.Fatalf("scaled in to %d inside the stabilization window", got)
	}
	// …then in to the minimum.
	clock.SetTime(clock.Now().Add(301 * time.Second))
	reconcileTimes(t, r, g, 1)
	if got := workerReplicas(t, g); got != 1 {
		t.Fatalf("after the window: %d workers, want the minimum 1", got)
	}

	// Redis gone: the count is kept, never scaled in blind.
	queueJobs(t, rdb, g.Name, 50)
	reconcileTimes(t, r, g, 1)
	before := workerReplicas(t, g)
	srv.Stop()
	clock.SetTime(clock.Now().Add(time.Hour))
	reconcileTimes(t, r, g, 1)
	if got := workerReplicas(t, g); got != before {
		t.Fatalf("with Redis down the workers went from %d to %d", before, got)
	}
}

func TestBacklogRaisesTheWorkersHPAMinimum(t *testing.T) {
	srv := testservers.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })

	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled, withExternalRedisAt(srv.Addr()), withBacklogScaling(true))
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}}
	queueJobs(t, rdb, g.Name, 55)
	reconcileTimes(t, r, g, 1)

	h := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.WorkersName()}, h); err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(h.Spec.MinReplicas, 0); got != 6 {
		t.Fatalf("HPA minReplicas = %d, want 6 for 55 jobs at 10 per worker", got)
	}
	// The HPA owns the count: the operator leaves spec.replicas alone.
	if got := workerReplicas(t, g); got != -1 {
		d := &appsv1.Deployment{}
		_ = k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.WorkersName()}, d)
		for _, mf := range d.ManagedFields {
			if mf.Manager == FieldOwner && containsField(mf.FieldsV1.GetRawString(), "replicas") {
				t.Fatalf("the operator set the workers' replicas (%d) beside an HPA", got)
			}
		}
	}
}

// A "reclassify all" queues only low-priority jobs, which the workers read when no upload
// waits: the backlog scaler must count them, summed with the uploads. (Upload-only
// backlogs, with the low stream never created, are TestBacklogScalerSetsWorkersFromTheQueue.)
func TestBacklogScalerCountsReclassification(t *testing.T) {
	ctx := context.Background()
	srv := testservers.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })

	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled, withExternalRedisAt(srv.Addr()), withBacklogScaling(false))
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}}
	// The gallery's own queue writes the jobs, so the operator reads what the server writes.
	q := queue.NewRedis(rdb, g.Name, queue.Options{Consumer: "worker-1"})
	enqueue := func(p queue.Priority, n int) {
		t.Helper()
		for i := range n {
			if err := q.Enqueue(ctx, queue.Job{ImageID: fmt.Sprintf("img-%d-%d", p, i), OwnerID: 1, Priority: p}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Only reclassification waits; the upload stream does not even exist.
	enqueue(queue.PriorityLow, 35)
	reconcileTimes(t, r, g, 1)
	if got := workerReplicas(t, g); got != 4 {
		t.Fatalf("35 reclassification jobs at 10 per worker: %d workers, want 4", got)
	}
	if b := mustGet(t, g).Status.QueueBacklog; b == nil || *b != 35 {
		t.Fatalf("status.queueBacklog = %v, want 35", b)
	}

	// A worker holds 10 of them (pending, not acknowledged), then 20 uploads arrive:
	// 20 + 25 waiting + 10 in hand = 55, so 6 workers (the larger stream alone needs 4).
	held, err := q.Take(ctx, 10, 0)
	if err != nil || len(held) != 10 {
		t.Fatalf("took %d jobs, %v; want 10", len(held), err)
	}
	t.Cleanup(func() {
		for _, d := range held {
			_ = d.Release(context.Background())
		}
	})
	if p := held[0].Job().Priority; p != queue.PriorityLow {
		t.Fatalf("took a job of priority %d, want reclassification", p)
	}
	enqueue(queue.PriorityNormal, 20)
	reconcileTimes(t, r, g, 1)
	if b := mustGet(t, g).Status.QueueBacklog; b == nil || *b != 55 {
		t.Fatalf("status.queueBacklog = %v, want 55 (uploads + reclassification waiting + in hand)", b)
	}
	if got := workerReplicas(t, g); got != 6 {
		t.Fatalf("55 jobs across both streams: %d workers, want 6", got)
	}
}
