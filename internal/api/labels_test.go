package api_test

import (
	"context"
	"net/http"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/worker"
)

// countingStore counts the label count queries that reach the database.
type countingStore struct {
	store.Store
	queries atomic.Int64
}

func (s *countingStore) LabelCounts(ctx context.Context, ownerID int64) ([]store.LabelCount, error) {
	s.queries.Add(1)
	return s.Store.LabelCounts(ctx, ownerID)
}

// withLabelCache puts the cache in front of the database, as `serve` does, with db
// counting the queries that get through.
func withLabelCache(c cache.LabelCounts, db *countingStore) option {
	return func(d *api.Deps) {
		db.Store = d.Store.(store.Store) // the gallery's own: cache.NewStore wraps a whole store
		d.Store = cache.NewStore(db, c, nil)
	}
}

// catClassifier sees a cat in every photo.
type catClassifier struct{}

func (catClassifier) Provider() string { return "test" }
func (catClassifier) Model() string    { return "cats" }
func (catClassifier) Classify(context.Context, classify.Image) ([]classify.Label, error) {
	return []classify.Label{{Name: "cat", Confidence: 95}}, nil
}

// TestLabelCountsCache: GET /api/labels is served from the cache until an upload, a
// delete or a worker's label commit (in another process, with Redis) changes the user's
// labels, and answers from the database while Redis is down.
func TestLabelCountsCache(t *testing.T) {
	for _, b := range []struct {
		name string
		// caches returns the server's cache and a worker's: with Redis, another
		// process's, sharing only the Redis server.
		caches func(t *testing.T) (server, worker cache.LabelCounts, redisServer *testservers.RedisServer)
	}{
		{"memory", func(t *testing.T) (cache.LabelCounts, cache.LabelCounts, *testservers.RedisServer) {
			c := cache.NewMemory(cache.Options{})
			return c, c, nil
		}},
		{"redis", func(t *testing.T) (cache.LabelCounts, cache.LabelCounts, *testservers.RedisServer) {
			srv := testservers.Redis(t)
			newCache := func() cache.LabelCounts {
				rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				t.Cleanup(func() { _ = rc.Close() })
				// A second per call rather than the default 100 ms: this test is about
				// what is invalidated, and on a loaded machine (CI, parallel tests) an
				// invalidation abandoned at 100 ms lands after the next read.
				return cache.NewRedis(rc, "test-gallery", cache.Options{Timeout: time.Second}, nil)
			}
			return newCache(), newCache(), srv
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			serverCache, workerCache, redisServer := b.caches(t)
			db := &countingStore{}
			g := newGallery(t, sqlite, filesystem, withLabelCache(serverCache, db))
			workerStore := cache.NewStore(g.store, workerCache, nil)
			alice, bob := g.signUp("alice"), g.signUp("bob")
			expect := func(u *user, want map[string]int64, wantQueries int64) {
				t.Helper()
				var out struct {
					Labels []struct {
						Name   string
						Images int64
					}
				}
				g.mustDo(u, "GET", "/api/labels", nil, http.StatusOK, &out)
				got := map[string]int64{}
				for _, l := range out.Labels {
					got[l.Name] = l.Images
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s's labels = %v, want %v", u.email, got, want)
				}
				if n := db.queries.Load(); n != wantQueries {
					t.Errorf("label count queries = %d, want %d", n, wantQueries)
				}
			}

			first := alice.upload(file{"first.jpg", photo(t, 64, 48, 1)})[0]
			expect(alice, map[string]int64{}, 1)
			expect(alice, map[string]int64{}, 1)

			labelByWorker(t, g, workerStore, first.ID)
			expect(alice, map[string]int64{"cat": 1}, 2)
			expect(alice, map[string]int64{"cat": 1}, 2)
			expect(bob, map[string]int64{}, 3)

			second := alice.upload(file{"second.jpg", photo(t, 64, 48, 2)})[0]
			expect(alice, map[string]int64{"cat": 1}, 4)
			g.mustDo(alice, "DELETE", "/api/images/"+first.ID, nil, http.StatusNoContent, nil)
			expect(alice, map[string]int64{}, 5)
			expect(alice, map[string]int64{}, 5)

			if redisServer == nil {
				return
			}
			redisServer.Stop()
			expect(alice, map[string]int64{}, 6)
			c := store.Classification{Provider: "test", Model: "dogs", Labels: []store.Label{{Name: "dog", Confidence: 90}}}
			if err := workerStore.SetLabels(context.Background(), second.ID, c); err != nil {
				t.Fatalf("commit labels with Redis stopped: %v", err)
			}
			expect(alice, map[string]int64{"dog": 1}, 7)
			third := alice.upload(file{"third.jpg", photo(t, 64, 48, 3)})[0]
			g.mustDo(alice, "DELETE", "/api/images/"+second.ID, nil, http.StatusNoContent, nil)
			expect(alice, map[string]int64{}, 8)
			g.mustDo(alice, "DELETE", "/api/images/"+third.ID, nil, http.StatusNoContent, nil)
		})
	}
}

// labelByWorker runs a real worker on the gallery's queue, with its own store, until
// the image is labelled.
func labelByWorker(t *testing.T, g *gallery, st store.Store, imageID string) {
	t.Helper()
	cfg, err := config.Load([]string{config.EnvDataDir + "=" + t.TempDir(), config.EnvShutdownGrace + "=5s"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Deps{Config: cfg, Store: st, Objects: g.objects, Queue: g.queue, Classifier: catClassifier{}})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		img, err := g.store.ImageForJob(context.Background(), imageID)
		if err != nil {
			t.Fatalf("read image: %v", err)
		}
		if img.Status == store.StatusLabelled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("image still %s after 15s", img.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
