package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/queue"
)

// TestOldestAges: the age of the oldest job per priority counts waiting jobs and jobs in
// a worker's hands, not acknowledged or dead-lettered ones, on both implementations.
func TestOldestAges(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			q, _ := im.open(t, queue.Options{})
			in := q.(queue.Inspector)
			ages := func() queue.Ages {
				t.Helper()
				a, err := in.OldestAges(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			if a := ages(); a != (queue.Ages{}) {
				t.Fatalf("ages of an empty queue = %+v, want zero", a)
			}
			now := time.Now()
			enqueued := func(id string, p queue.Priority, ago time.Duration) queue.Job {
				j := job(id, p)
				j.EnqueuedAt = now.Add(-ago)
				return j
			}
			mustEnqueue(t, q, enqueued("n1", queue.PriorityNormal, 90*time.Second),
				enqueued("n2", queue.PriorityNormal, 30*time.Second),
				enqueued("n3", queue.PriorityNormal, 10*time.Second))
			a := ages()
			if a.Normal < 90*time.Second || a.Normal > 100*time.Second || a.Low != 0 {
				t.Fatalf("ages = %+v; want normal 90s (n1), low 0", a)
			}

			// In a worker's hands still counts.
			ds := take(t, q, 2) // n1, n2
			if a := ages(); a.Normal < 90*time.Second {
				t.Errorf("ages with n1 in hand = %+v; want normal still 90s", a)
			}
			// Acknowledged and dead-lettered jobs do not.
			if err := ds[0].Ack(ctx); err != nil {
				t.Fatal(err)
			}
			if a := ages(); a.Normal < 30*time.Second || a.Normal >= 90*time.Second {
				t.Errorf("ages after n1's ack = %+v; want normal 30s (n2, in hand)", a)
			}
			if err := q.DeadLetter(ctx, ds[1], "gave up"); err != nil {
				t.Fatal(err)
			}
			if a := ages(); a.Normal < 10*time.Second || a.Normal >= 30*time.Second {
				t.Errorf("ages after n2's dead letter = %+v; want normal 10s (n3, waiting)", a)
			}

			// Low priority is its own.
			mustEnqueue(t, q, enqueued("l1", queue.PriorityLow, 5*time.Minute))
			if a := ages(); a.Low < 5*time.Minute || a.Normal >= 30*time.Second {
				t.Errorf("ages with a reclassification waiting = %+v; want low 5m, normal 10s", a)
			}
			for _, d := range append(take(t, q, 1), take(t, q, 1)...) { // n3, then l1
				if err := d.Ack(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if a := ages(); a != (queue.Ages{}) {
				t.Errorf("ages with everything acknowledged = %+v, want zero", a)
			}
		})
	}
}
