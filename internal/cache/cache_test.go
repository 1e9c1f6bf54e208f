package cache_test

import (
	"context"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

const gallery = "test-gallery"

// backend makes the caches of one Gallery: newCache may be called several times, each
// call standing for another process (a server replica, a worker) sharing the Gallery.
type backend struct {
	name     string
	newCache func(t *testing.T, o cache.Options) func() cache.LabelCounts
}

var backends = []backend{
	{"memory", func(t *testing.T, o cache.Options) func() cache.LabelCounts {
		// One process: everyone shares the one cache.
		m := cache.NewMemory(o)
		return func() cache.LabelCounts { return m }
	}},
	{"redis", func(t *testing.T, o cache.Options) func() cache.LabelCounts {
		srv := testservers.Redis(t)
		return func() cache.LabelCounts { return cache.NewRedis(redisClient(t, srv.Addr()), gallery, o, nil) }
	}},
}

func redisClient(t *testing.T, addr string) *redis.Client {
	rc := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// countingStore counts the label count queries that reach the database.
type countingStore struct {
	store.Store
	queries atomic.Int64
}

func (s *countingStore) LabelCounts(ctx context.Context, ownerID int64) ([]store.LabelCount, error) {
	s.queries.Add(1)
	return s.Store.LabelCounts(ctx, ownerID)
}

// fixture is a database with one user, and a cached store in front of it.
type fixture struct {
	t      *testing.T
	db     *countingStore
	cached *cache.Store
	owner  int64
	// newCache makes another process's cache of the same Gallery.
	newCache func() cache.LabelCounts
}

func newFixture(t *testing.T, b backend, o cache.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, config.Database{Driver: config.DriverSQLite}, filepath.Join(t.TempDir(), "gallery.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: "owner@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	db := &countingStore{Store: st}
	newCache := b.newCache(t, o)
	return &fixture{t: t, db: db, cached: cache.NewStore(db, newCache(), nil), owner: u.ID, newCache: newCache}
}

// upload records a queued image through the cached store.
func (f *fixture) upload() string {
	f.t.Helper()
	img, err := f.cached.CreateImage(context.Background(), store.Image{OwnerID: f.owner, ObjectKey: "o", ThumbnailKey: "t", ContentType: "image/jpeg"})
	if err != nil {
		f.t.Fatalf("create image: %v", err)
	}
	return img.ID
}

// label commits labels as a worker in another process would: through its own cache.
func (f *fixture) label(id string, names ...string) {
	f.t.Helper()
	worker := cache.NewStore(f.db.Store, f.newCache(), nil)
	c := store.Classification{Provider: "test", Model: "test"}
	for _, n := range names {
		c.Labels = append(c.Labels, store.Label{Name: n, Confidence: 90})
	}
	if err := worker.SetLabels(context.Background(), id, c); err != nil {
		f.t.Fatalf("set labels: %v", err)
	}
}

// expect reads the counts through the cache and checks them, and how many queries
// reached the database so far.
func (f *fixture) expect(want map[string]int64, wantQueries int64) {
	f.t.Helper()
	counts, err := f.cached.LabelCounts(context.Background(), f.owner)
	if err != nil {
		f.t.Fatalf("label counts: %v", err)
	}
	got := map[string]int64{}
	for _, c := range counts {
		got[c.Name] = c.Images
	}
	if !reflect.DeepEqual(got, want) {
		f.t.Errorf("label counts = %v, want %v", got, want)
	}
	if n := f.db.queries.Load(); n != wantQueries {
		f.t.Errorf("database queries = %d, want %d", n, wantQueries)
	}
}

func TestStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("serves cached counts", func(t *testing.T) {
				f := newFixture(t, b, cache.Options{})
				f.label(f.upload(), "cat", "sofa")
				f.expect(map[string]int64{"cat": 1, "sofa": 1}, 1)
				f.expect(map[string]int64{"cat": 1, "sofa": 1}, 1)
				f.expect(map[string]int64{"cat": 1, "sofa": 1}, 1)
			})
			t.Run("writes invalidate", func(t *testing.T) {
				f := newFixture(t, b, cache.Options{})
				f.expect(map[string]int64{}, 1)
				first := f.upload()
				f.expect(map[string]int64{}, 2)
				f.label(first, "cat")
				f.expect(map[string]int64{"cat": 1}, 3)
				second := f.upload()
				f.expect(map[string]int64{"cat": 1}, 4)
				f.label(second, "cat", "dog")
				f.expect(map[string]int64{"cat": 2, "dog": 1}, 5)
				f.expect(map[string]int64{"cat": 2, "dog": 1}, 5)
				if _, err := f.cached.DeleteImage(context.Background(), f.owner, first); err != nil {
					t.Fatal(err)
				}
				f.expect(map[string]int64{"cat": 1, "dog": 1}, 6)
			})
			t.Run("owners are apart", func(t *testing.T) {
				f := newFixture(t, b, cache.Options{})
				f.label(f.upload(), "cat")
				f.expect(map[string]int64{"cat": 1}, 1)
				other, err := f.db.CreateUser(context.Background(), store.NewUser{Email: "other@example.com", PasswordHash: "x"})
				if err != nil {
					t.Fatal(err)
				}
				counts, err := f.cached.LabelCounts(context.Background(), other.ID)
				if err != nil || len(counts) != 0 {
					t.Fatalf("other user's counts = %v, %v; want none", counts, err)
				}
				f.expect(map[string]int64{"cat": 1}, 2)
			})
			t.Run("entries expire", func(t *testing.T) {
				ttl := 300 * time.Millisecond
				f := newFixture(t, b, cache.Options{TTL: ttl})
				id := f.upload()
				f.expect(map[string]int64{}, 1)
				// A write that bypasses the cache (an invalidation lost) shows after the TTL.
				if err := f.db.SetLabels(context.Background(), id, store.Classification{Labels: []store.Label{{Name: "cat"}}}); err != nil {
					t.Fatal(err)
				}
				f.expect(map[string]int64{}, 1)
				time.Sleep(ttl + 100*time.Millisecond)
				f.expect(map[string]int64{"cat": 1}, 2)
			})
		})
	}
}

// TestRacingFill: a database read that began before a write must not cache what the
// write replaced.
func TestRacingFill(t *testing.T) {
	ctx := context.Background()
	stale := []store.LabelCount{{Name: "stale", Images: 1}}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			newCache := b.newCache(t, cache.Options{})
			reader, writer := newCache(), newCache()
			for _, previously := range []string{"nothing", "invalidated"} {
				owner := int64(len(previously))
				if previously == "invalidated" {
					if err := writer.Invalidate(ctx, owner); err != nil {
						t.Fatal(err)
					}
				}
				_, token, hit, err := reader.Get(ctx, owner)
				if err != nil || hit {
					t.Fatalf("get = hit %v, %v; want a miss", hit, err)
				}
				if err := writer.Invalidate(ctx, owner); err != nil {
					t.Fatal(err)
				}
				if err := reader.Put(ctx, owner, token, stale); err != nil {
					t.Fatal(err)
				}
				if got, _, hit, _ := reader.Get(ctx, owner); hit {
					t.Errorf("previously %s: a fill begun before an invalidation was cached: %v", previously, got)
				}
				// The next fill is kept.
				_, token, _, _ = reader.Get(ctx, owner)
				if err := reader.Put(ctx, owner, token, stale); err != nil {
					t.Fatal(err)
				}
				if _, _, hit, _ := reader.Get(ctx, owner); !hit {
					t.Errorf("previously %s: a fill after the invalidation was not cached", previously)
				}
			}
		})
	}
}

func TestMemoryIsBounded(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(cache.Options{MaxEntries: 3})
	counts := []store.LabelCount{{Name: "cat", Images: 1}}
	put := func(owner int64) {
		_, token, _, _ := m.Get(ctx, owner)
		if err := m.Put(ctx, owner, token, counts); err != nil {
			t.Fatal(err)
		}
	}
	// A fill that will race an invalidation whose entry is then evicted.
	_, racing, _, _ := m.Get(ctx, 100)
	if err := m.Invalidate(ctx, 100); err != nil {
		t.Fatal(err)
	}
	// Enough that the invalidation's entry is surely among those evicted.
	for owner := range int64(30) {
		put(owner)
	}
	hits := 0
	for owner := range int64(30) {
		if _, _, hit, _ := m.Get(ctx, owner); hit {
			hits++
		}
	}
	if hits > 3 {
		t.Errorf("%d owners cached, want at most 3", hits)
	}
	if _, _, hit, _ := m.Get(ctx, 29); !hit {
		t.Error("the newest entry was evicted")
	}
	if err := m.Put(ctx, 100, racing, counts); err != nil {
		t.Fatal(err)
	}
	if _, _, hit, _ := m.Get(ctx, 100); hit {
		t.Error("a fill begun before an evicted invalidation was cached")
	}
}
