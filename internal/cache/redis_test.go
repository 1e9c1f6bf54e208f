package cache_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/testservers"
)

// redisFixture is a fixture whose cache is in a Redis server the test controls.
func redisFixture(t *testing.T, o cache.Options) (*fixture, *testservers.RedisServer) {
	t.Helper()
	var srv *testservers.RedisServer
	f := newFixture(t, backend{"redis", func(t *testing.T, o cache.Options) func() cache.LabelCounts {
		srv = testservers.Redis(t)
		return func() cache.LabelCounts { return cache.NewRedis(redisClient(t, srv.Addr()), gallery, o, nil) }
	}}, o)
	return f, srv
}

// TestRedisStopped: with Redis gone every answer comes from the database, and when it
// is back the counts a lost invalidation left stale heal within the TTL.
func TestRedisStopped(t *testing.T) {
	ttl := time.Second
	f, srv := redisFixture(t, cache.Options{TTL: ttl})
	first := f.upload()
	f.label(first, "cat")
	f.expect(map[string]int64{"cat": 1}, 1)
	f.expect(map[string]int64{"cat": 1}, 1)

	srv.Stop()
	f.expect(map[string]int64{"cat": 1}, 2)
	second := f.upload() // its invalidation fails, the upload does not
	f.label(second, "dog")
	f.expect(map[string]int64{"cat": 1, "dog": 1}, 3)
	f.expect(map[string]int64{"cat": 1, "dog": 1}, 4)
	if _, err := f.cached.DeleteImage(context.Background(), f.owner, first); err != nil {
		t.Fatalf("delete with Redis stopped: %v", err)
	}
	f.expect(map[string]int64{"dog": 1}, 5)

	// Redis keeps its data across the restart, so the counts cached before the stop
	// may be served until they expire; after the TTL they are the database's.
	srv.Restart()
	time.Sleep(ttl + 200*time.Millisecond)
	f.expect(map[string]int64{"dog": 1}, 6)
	// And they are cached again: a read that reaches the database fills the cache, so
	// the next one does not. On a loaded machine the first fill after the restart may
	// still time out (100 ms), so a few reads may go to the database first.
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := f.db.queries.Load()
		counts, err := f.cached.LabelCounts(context.Background(), f.owner)
		if err != nil || len(counts) != 1 || counts[0].Name != "dog" {
			t.Fatalf("label counts after the restart = %v, %v", counts, err)
		}
		if f.db.queries.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the counts are not cached again 10 s after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRedisSlow: a Redis that accepts connections and never answers costs each request
// at most the timeout, and the rest after a failure spares the requests that follow.
func TestRedisSlow(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan []net.Conn, 1)
	go func() {
		var conns []net.Conn
		defer func() { accepted <- conns }()
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		for _, c := range <-accepted {
			_ = c.Close()
		}
	})
	timeout := 50 * time.Millisecond
	f := newFixture(t, backend{"silent redis", func(t *testing.T, o cache.Options) func() cache.LabelCounts {
		return func() cache.LabelCounts {
			return cache.NewRedis(redisClient(t, silent.Addr().String()), gallery, o, nil)
		}
	}}, cache.Options{Timeout: timeout})

	start := time.Now()
	id := f.upload()
	f.label(id, "cat")
	for i := range 10 {
		f.expect(map[string]int64{"cat": 1}, int64(i+1))
	}
	// Upload and label commit each wait out one invalidation, the first read one Get.
	if took, limit := time.Since(start), 10*timeout+time.Second; took > limit {
		t.Errorf("upload, label and 10 reads took %s with Redis silent, want under %s", took, limit)
	}
}
