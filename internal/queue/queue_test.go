package queue_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// queueUnderTest is one implementation, with how to make a second worker's consumer on
// the same queue.
type queueUnderTest interface {
	queue.Producer
	queue.Consumer
}

type impl struct {
	name string
	// open returns a producer/consumer and a constructor of further consumers sharing
	// its jobs.
	open func(t *testing.T, opts queue.Options) (queueUnderTest, func(consumer string) queueUnderTest)
}

func impls() []impl {
	return []impl{
		{"memory", func(_ *testing.T, opts queue.Options) (queueUnderTest, func(string) queueUnderTest) {
			m := queue.NewMemory(opts)
			return m, func(string) queueUnderTest { return m }
		}},
		{"redis", func(t *testing.T, opts queue.Options) (queueUnderTest, func(string) queueUnderTest) {
			srv := testservers.Redis(t)
			client := newClient(t, srv.Addr())
			opts.Consumer = "first"
			q := queue.NewRedis(client, "photos", opts)
			return q, func(name string) queueUnderTest {
				o := opts
				o.Consumer = name
				return queue.NewRedis(client, "photos", o)
			}
		}},
	}
}

func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func job(id string, p queue.Priority) queue.Job {
	return queue.Job{ImageID: id, OwnerID: 7, Priority: p}
}

func mustEnqueue(t *testing.T, q queue.Producer, jobs ...queue.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := q.Enqueue(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(ds []queue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Job().ImageID
	}
	return out
}

func take(t *testing.T, q queue.Consumer, n int) []queue.Delivery {
	t.Helper()
	ds, err := q.Take(context.Background(), n, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestContract(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			t.Run("uploads before reclassification, in order, with positions", func(t *testing.T) {
				q, _ := im.open(t, queue.Options{})
				mustEnqueue(t, q, job("r1", queue.PriorityLow), job("a", queue.PriorityNormal), job("b", queue.PriorityNormal), job("r2", queue.PriorityLow), job("c", queue.PriorityNormal))
				for id, want := range map[string]int64{"a": 0, "b": 1, "c": 2, "r1": 3, "r2": 4} {
					got, err := q.Position(ctx, id)
					if err != nil || got != want {
						t.Errorf("Position(%s) = %d, %v; want %d", id, got, err, want)
					}
				}
				if _, err := q.Position(ctx, "nobody"); !errors.Is(err, queue.ErrNotQueued) {
					t.Errorf("Position(unknown) error = %v, want ErrNotQueued", err)
				}
				if d, _ := q.Depth(ctx); d != 5 {
					t.Errorf("Depth = %d, want 5", d)
				}
				first := take(t, q, 2)
				if fmt.Sprint(ids(first)) != "[a b]" {
					t.Fatalf("took %v, want [a b]", ids(first))
				}
				if got, _ := q.Position(ctx, "c"); got != 0 {
					t.Errorf("Position(c) after two taken = %d, want 0", got)
				}
				if got, _ := q.Position(ctx, "r1"); got != 1 {
					t.Errorf("Position(r1) = %d, want 1", got)
				}
				// An upload never shares a batch with reclassification.
				if got := take(t, q, 5); fmt.Sprint(ids(got)) != "[c]" {
					t.Fatalf("took %v, want [c]", ids(got))
				}
				if got := take(t, q, 5); fmt.Sprint(ids(got)) != "[r1 r2]" {
					t.Fatalf("took %v, want [r1 r2]", ids(got))
				}
				if d, _ := q.Depth(ctx); d != 5 {
					t.Errorf("Depth with five in hand = %d, want 5", d)
				}
				for _, d := range first {
					if err := d.Ack(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if d, _ := q.Depth(ctx); d != 3 {
					t.Errorf("Depth after two acks = %d, want 3", d)
				}
				if _, err := q.Position(ctx, "a"); !errors.Is(err, queue.ErrNotQueued) {
					t.Errorf("Position(acked) error = %v, want ErrNotQueued", err)
				}
			})

			t.Run("release hands back without counting an attempt", func(t *testing.T) {
				q, _ := im.open(t, queue.Options{VisibilityTimeout: 400 * time.Millisecond})
				mustEnqueue(t, q, job("a", queue.PriorityNormal), job("b", queue.PriorityNormal))
				ds := take(t, q, 1)
				if len(ds) != 1 || ds[0].Attempt() != 1 {
					t.Fatalf("first take: %v", ids(ds))
				}
				if err := ds[0].Release(ctx); err != nil {
					t.Fatal(err)
				}
				// Another worker (or this one) gets it back, as a first attempt still.
				for _, d := range eventually(t, q, 2) {
					if d.Attempt() != 1 {
						t.Errorf("after release took %s attempt %d, want attempt 1", d.Job().ImageID, d.Attempt())
					}
				}
			})

			t.Run("dead letter", func(t *testing.T) {
				q, _ := im.open(t, queue.Options{})
				mustEnqueue(t, q, job("a", queue.PriorityNormal))
				ds := take(t, q, 1)
				if err := q.DeadLetter(ctx, ds[0], "unreadable"); err != nil {
					t.Fatal(err)
				}
				if d, _ := q.Depth(ctx); d != 0 {
					t.Errorf("Depth after dead letter = %d", d)
				}
				type lister interface {
					DeadLetters(context.Context, int64) ([]queue.DeadLetter, error)
				}
				var dls []queue.DeadLetter
				var err error
				switch q := q.(type) {
				case *queue.Memory:
					dls, err = q.DeadLetters(ctx)
				case lister:
					dls, err = q.DeadLetters(ctx, 10)
				}
				if err != nil || len(dls) != 1 || dls[0].Job.ImageID != "a" || dls[0].Reason != "unreadable" {
					t.Errorf("DeadLetters = %+v, %v", dls, err)
				}
			})

			t.Run("take waits for a job", func(t *testing.T) {
				q, _ := im.open(t, queue.Options{})
				go func() {
					time.Sleep(100 * time.Millisecond)
					_ = q.Enqueue(ctx, job("late", queue.PriorityLow))
				}()
				start := time.Now()
				ds, err := q.Take(ctx, 3, 3*time.Second)
				if err != nil || len(ds) != 1 || time.Since(start) > 2*time.Second {
					t.Fatalf("Take = %v, %v after %s", ids(ds), err, time.Since(start))
				}
			})
		})
	}
}

// eventually takes until n jobs came or two seconds passed.
func eventually(t *testing.T, q queue.Consumer, n int) []queue.Delivery {
	t.Helper()
	var out []queue.Delivery
	deadline := time.Now().Add(3 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		ds, err := q.Take(context.Background(), n-len(out), 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ds...)
	}
	if len(out) < n {
		t.Fatalf("took %d jobs in 3s, want %d", len(out), n)
	}
	return out
}

// A worker that dies holding a job (no heartbeat, no ack) loses it to another worker
// after the visibility timeout, and the delivery counts as a second attempt.
func TestRedisDeadWorkersJobsAreClaimed(t *testing.T) {
	ctx := context.Background()
	srv := testservers.Redis(t)
	opts := queue.Options{VisibilityTimeout: 300 * time.Millisecond}
	// The dead worker is a raw XREADGROUP: no heartbeat follows it.
	client := newClient(t, srv.Addr())
	producer := queue.NewRedis(client, "photos", opts)
	mustEnqueue(t, producer, job("a", queue.PriorityNormal))
	if _, err := producer.Take(ctx, 1, 0); err != nil { // makes the group
		t.Fatal(err)
	}
	// That take delivered the job to "producer"; simulate its death by a fresh client
	// and consumer that never heard of it.
	opts.Consumer = "survivor"
	survivor := queue.NewRedis(newClient(t, srv.Addr()), "photos", opts)
	// producer's heartbeat would keep the job: close its client so it cannot.
	_ = client.Close()
	ds := eventually(t, survivor, 1)
	if ds[0].Job().ImageID != "a" || ds[0].Attempt() != 2 {
		t.Fatalf("survivor took %s attempt %d, want a attempt 2", ds[0].Job().ImageID, ds[0].Attempt())
	}
	// The survivor's heartbeat keeps it: nobody else gets it while it works.
	opts.Consumer = "third"
	third := queue.NewRedis(newClient(t, srv.Addr()), "photos", opts)
	if got, _ := third.Take(ctx, 1, time.Second); len(got) != 0 {
		t.Fatalf("a live worker's job was claimed: %v", ids(got))
	}
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := survivor.Depth(ctx); d != 0 {
		t.Errorf("Depth after ack = %d", d)
	}
}

// A flushed (or replaced) Redis loses its jobs but the queue keeps working: new jobs
// are taken, and positions start again.
func TestRedisSurvivesFlushAndRestart(t *testing.T) {
	ctx := context.Background()
	srv := testservers.Redis(t)
	q := queue.NewRedis(newClient(t, srv.Addr()), "photos", queue.Options{})
	mustEnqueue(t, q, job("a", queue.PriorityNormal))
	take(t, q, 1)
	srv.Flush()
	mustEnqueue(t, q, job("b", queue.PriorityNormal))
	if p, err := q.Position(ctx, "b"); err != nil || p != 0 {
		t.Errorf("Position after flush = %d, %v", p, err)
	}
	if got := take(t, q, 1); fmt.Sprint(ids(got)) != "[b]" {
		t.Fatalf("after flush took %v", ids(got))
	}
	mustEnqueue(t, q, job("c", queue.PriorityNormal))
	srv.Restart()
	if got := eventually(t, q, 1); fmt.Sprint(ids(got)) != "[c]" {
		t.Fatalf("after restart took %v", ids(got))
	}
}

// The operator's backlog scaler and KEDA read the group's lag and pending count on
// config.QueueStream: acknowledged entries are trimmed without breaking the lag.
func TestRedisLagStaysReadable(t *testing.T) {
	ctx := context.Background()
	srv := testservers.Redis(t)
	client := newClient(t, srv.Addr())
	q := queue.NewRedis(client, "photos", queue.Options{VisibilityTimeout: 40 * time.Millisecond})
	for i := range 10 {
		mustEnqueue(t, q, job(fmt.Sprint("img", i), queue.PriorityNormal))
	}
	for _, d := range take(t, q, 4) {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	held := take(t, q, 2)
	time.Sleep(50 * time.Millisecond) // let the next Take trim
	if _, err := q.Take(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	groups, err := client.XInfoGroups(ctx, config.QueueStream("photos")).Result()
	if err != nil || len(groups) != 1 {
		t.Fatalf("XINFO GROUPS = %v, %v", groups, err)
	}
	g := groups[0]
	if g.Name != config.QueueGroup || g.Lag+g.Pending < 5 {
		t.Errorf("group %+v: want lag+pending counting the 4 undelivered and the held", g)
	}
	if n, _ := client.XLen(ctx, config.QueueStream("photos")).Result(); n > 6 {
		t.Errorf("stream length %d: acknowledged entries were not trimmed", n)
	}
	_ = held
}
