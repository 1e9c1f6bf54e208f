package queue_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/testservers"
)

// The operator's backlog scaler and KEDA count reclassification on
// config.QueueLowStream: low-priority jobs must land there, uploads on
// config.QueueStream, both read by config.QueueGroup.
func TestRedisLowPriorityJobsUseTheLowStream(t *testing.T) {
	ctx := context.Background()
	srv := testservers.Redis(t)
	client := newClient(t, srv.Addr())
	q := queue.NewRedis(client, "photos", queue.Options{Consumer: "w1"})
	for i := range 3 {
		mustEnqueue(t, q, job(fmt.Sprint("re", i), queue.PriorityLow))
	}
	mustEnqueue(t, q, job("new", queue.PriorityNormal))
	for stream, want := range map[string]int64{config.QueueStream("photos"): 1, config.QueueLowStream("photos"): 3} {
		if n, err := client.XLen(ctx, stream).Result(); err != nil || n != want {
			t.Errorf("XLEN %s = %d, %v; want %d", stream, n, err, want)
		}
	}

	// The upload goes first; then reclassification, from the low stream's group.
	first := take(t, q, 1)
	if len(first) != 1 || first[0].Job().ImageID != "new" {
		t.Fatalf("first take %v, want the upload", ids(first))
	}
	held := take(t, q, 2)
	if len(held) != 2 || held[0].Job().Priority != queue.PriorityLow {
		t.Fatalf("second take %v, want two reclassification jobs", ids(held))
	}
	groups, err := client.XInfoGroups(ctx, config.QueueLowStream("photos")).Result()
	if err != nil || len(groups) != 1 {
		t.Fatalf("XINFO GROUPS %s = %v, %v", config.QueueLowStream("photos"), groups, err)
	}
	if g := groups[0]; g.Name != config.QueueGroup || g.Lag != 1 || g.Pending != 2 {
		t.Errorf("low stream group %+v: want %s with lag 1 and 2 pending", g, config.QueueGroup)
	}
	for _, d := range append(first, held...) {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
