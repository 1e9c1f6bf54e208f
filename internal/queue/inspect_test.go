package queue_test

import (
	"context"
	"testing"

	"github.com/sortographer/sortographer/internal/queue"
)

// TestInspector: depths by priority count waiting and in-hand jobs, and the dead-letter
// list is counted and listed newest first, on both implementations.
func TestInspector(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			q, _ := im.open(t, queue.Options{})
			in, ok := q.(queue.Inspector)
			if !ok {
				t.Fatalf("%T is not a queue.Inspector", q)
			}
			if d, err := in.Depths(ctx); err != nil || d != (queue.Depths{}) {
				t.Fatalf("depths of an empty queue = %+v, %v", d, err)
			}
			mustEnqueue(t, q, job("n1", queue.PriorityNormal), job("n2", queue.PriorityNormal),
				job("l1", queue.PriorityLow), job("l2", queue.PriorityLow), job("l3", queue.PriorityLow))
			if d, err := in.Depths(ctx); err != nil || d != (queue.Depths{Normal: 2, Low: 3}) {
				t.Fatalf("depths = %+v, %v; want 2 normal, 3 low", d, err)
			}
			// In a worker's hands still counts; acknowledged does not.
			ds := take(t, q, 3) // n1, n2: uploads before reclassification
			if d, err := in.Depths(ctx); err != nil || d != (queue.Depths{Normal: 2, Low: 3}) {
				t.Fatalf("depths with two uploads in hand = %+v, %v; want 2 normal, 3 low", d, err)
			}
			if err := ds[0].Ack(ctx); err != nil {
				t.Fatal(err)
			}
			if err := q.DeadLetter(ctx, ds[1], "first reason"); err != nil {
				t.Fatal(err)
			}
			low := take(t, q, 1)
			if err := q.DeadLetter(ctx, low[0], "second reason"); err != nil {
				t.Fatal(err)
			}
			if d, err := in.Depths(ctx); err != nil || d != (queue.Depths{Normal: 0, Low: 2}) {
				t.Errorf("depths after ack and dead letters = %+v, %v; want 0 normal, 2 low", d, err)
			}
			if n, err := in.DeadLetterCount(ctx); err != nil || n != 2 {
				t.Errorf("dead letters = %d, %v; want 2", n, err)
			}
			dl, err := in.RecentDeadLetters(ctx, 1)
			if err != nil || len(dl) != 1 || dl[0].Reason != "second reason" || dl[0].Job.ImageID != "l1" || dl[0].Job.Priority != queue.PriorityLow {
				t.Errorf("most recent dead letter = %+v, %v; want l1's", dl, err)
			}
		})
	}
}
