package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/worker"
)

// waitAcknowledged waits until p holds no job, waiting or in a worker's hands: every
// job's outcome is committed and acknowledged, and the owner marked before that.
func waitAcknowledged(t *testing.T, p queue.Producer, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		depth, err := p.Depth(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if depth == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %d after %s", depth, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The owner of an image a worker labels, and the owner of one it marks failed, are
// marked in Redis as having written, as the servers' read-your-writes reads them; a
// user whose image is still queued is not, nor one whose image was only reclassified.
func TestWorkerMarksOwnersInRecentWrites(t *testing.T) {
	fastTiming(t)
	ctx := context.Background()
	srv := testservers.Redis(t)
	f := newFixture(t, config.Database{})
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	q := queue.NewRedis(rc, f.cfg.GalleryName, queue.Options{VisibilityTimeout: 2 * time.Second})
	// What a server of the same Gallery reads: another client, the same keys.
	marks := cache.NewRedisRecentWrites(rc, f.cfg.GalleryName, time.Minute, 0, nil)

	labelledOwner := f.owner
	labelled := f.addImages(1)
	failedOwner, err := f.st.CreateUser(ctx, store.NewUser{Email: "bea@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.owner = failedOwner
	failed := f.addImages(1)
	waitingOwner, err := f.st.CreateUser(ctx, store.NewUser{Email: "cy@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	reclassifiedOwner, err := f.st.CreateUser(ctx, store.NewUser{Email: "di@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.owner = reclassifiedOwner
	reclassified := f.addImages(1)
	if err := f.st.SetLabels(ctx, reclassified[0], store.Classification{Provider: "earlier", Model: "m0", Labels: []store.Label{{Name: "cat", Confidence: 90}}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{labelledOwner, failedOwner, waitingOwner, reclassifiedOwner} {
		if recent, err := marks.WroteRecently(ctx, u.ID); err != nil || recent {
			t.Fatalf("user %d marked before any job ran: %v, %v", u.ID, recent, err)
		}
	}

	classifier := newColourClassifier(0)
	classifier.on(failed[0], func(int) error { return fmt.Errorf("%w: not a photo", classify.ErrPermanent) })
	enqueueAll(t, q, labelledOwner.ID, labelled)
	enqueueAll(t, q, failedOwner.ID, failed)
	if err := q.Enqueue(ctx, queue.Job{ImageID: reclassified[0], OwnerID: reclassifiedOwner.ID, Priority: queue.PriorityLow}); err != nil {
		t.Fatal(err)
	}
	start(t, worker.Deps{
		Config: workersConfig(f), Store: f.st, Objects: f.obj, Queue: q, Classifier: classifier, Redis: rc,
		RecentWrites: cache.NewRedisRecentWrites(rc, f.cfg.GalleryName, time.Minute, 0, nil),
	})
	imgs := f.waitSettled(append(labelled, failed...), 10*time.Second)
	waitAcknowledged(t, q, 10*time.Second)
	if img, err := f.st.ImageForJob(ctx, reclassified[0]); err != nil || img.Provider == "earlier" {
		t.Fatalf("reclassified image %s: provider %q, %v; want the worker's new labels", reclassified[0], img.Provider, err)
	}
	if s := imgs[labelled[0]].Status; s != store.StatusLabelled {
		t.Fatalf("image %s is %s, want labelled", labelled[0], s)
	}
	if s := imgs[failed[0]].Status; s != store.StatusFailed {
		t.Fatalf("image %s is %s, want failed", failed[0], s)
	}
	for _, c := range []struct {
		who  string
		u    store.User
		want bool
	}{{"labelled image's owner", labelledOwner, true}, {"failed image's owner", failedOwner, true}, {"user with no image", waitingOwner, false}, {"reclassified image's owner", reclassifiedOwner, false}} {
		recent, err := marks.WroteRecently(ctx, c.u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if recent != c.want {
			t.Errorf("%s (user %d): marked %v, want %v", c.who, c.u.ID, recent, c.want)
		}
	}
}

// Marks that cannot be recorded (their Redis is down) fail no job: the image is
// labelled once and its job acknowledged, with no retry.
func TestWorkerLabelsWhenMarksAreDown(t *testing.T) {
	fastTiming(t)
	srv := testservers.Redis(t)
	f := newFixture(t, config.Database{})
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer rc.Close()
	srv.Stop()
	q := queue.NewMemory(queue.Options{VisibilityTimeout: 2 * time.Second})
	ids := f.addImages(2)
	classifier := newColourClassifier(0)
	enqueueAll(t, q, f.owner.ID, ids)
	start(t, worker.Deps{
		Config: workersConfig(f), Store: f.st, Objects: f.obj, Queue: q, Classifier: classifier,
		RecentWrites: cache.NewRedisRecentWrites(rc, f.cfg.GalleryName, time.Minute, 200*time.Millisecond, nil),
	})
	f.waitSettled(ids, 10*time.Second)
	waitAcknowledged(t, q, 10*time.Second)
	f.checkLabelled(ids)
	for _, id := range ids {
		if n := classifier.callsOf(id); n != 1 {
			t.Errorf("image %s classified %d times, want once", id, n)
		}
	}
	if dead, err := q.DeadLetters(context.Background()); err != nil || len(dead) != 0 {
		t.Errorf("dead letters %+v (%v), want none", dead, err)
	}
}
