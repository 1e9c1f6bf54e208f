package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

func withRecentWrites(m api.RecentWrites) option {
	return func(d *api.Deps) { d.RecentWrites = m }
}

// listedIDs lists u's images through g.
func (g *gallery) listedIDs(u *user) []string {
	g.t.Helper()
	var p pageJSON
	g.mustDo(u, "GET", "/api/images", nil, http.StatusOK, &p)
	ids := make([]string, len(p.Images))
	for i, img := range p.Images {
		ids[i] = img.ID
	}
	return ids
}

// waitReaderUp waits until g's store sends lag-tolerant reads to its replica.
func (g *gallery) waitReaderUp() {
	g.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		states := store.ReaderStates(g.store)
		if len(states) == 1 && states[0].Usable {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("reader never usable: %+v", states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadYourWritesWithReplicas runs two server replicas (one, two) behind an imagined
// load balancer, sharing a database with a real read replica and a Redis, and a third
// server (unmarked) without recent-writes marks, on the same database. Replication is
// paused, so whether a listing shows a new photo tells which database server answered.
func TestReadYourWritesWithReplicas(t *testing.T) {
	for _, b := range []struct {
		name  string
		start func(testing.TB) *testservers.Replicated
	}{
		{"mariadb", testservers.ReplicatedMariaDB},
		{"postgres", testservers.ReplicatedPostgres},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			rep := b.start(t)
			db := func(*testing.T) (config.Database, string) { return rep.Config(), "" }
			redisServer := testservers.Redis(t)
			const window = 2 * time.Second
			marks := func() api.RecentWrites {
				rc := redis.NewClient(&redis.Options{Addr: redisServer.Addr()})
				t.Cleanup(func() { _ = rc.Close() })
				return cache.NewRedisRecentWrites(rc, "test-gallery", window, 0, nil)
			}
			one := newGallery(t, db, filesystem, withRecentWrites(marks()))
			two := newGallery(t, db, filesystem, withRecentWrites(marks()))
			unmarked := newGallery(t, db, filesystem)
			for _, g := range []*gallery{one, two, unmarked} {
				g.waitReaderUp()
			}
			alice := one.signUp("alice")
			rep.WaitReplicated(t)

			rep.PauseReplication(t)
			t.Cleanup(func() { rep.ResumeReplication(t) })
			uploaded := alice.upload(file{"cat.jpg", photo(t, 64, 48, 1)})[0].ID
			marked := time.Now()
			if got := two.listedIDs(alice); !slices.Equal(got, []string{uploaded}) {
				t.Errorf("alice's listing on the other server right after her upload = %v, want %s", got, uploaded)
			}
			if got := one.listedIDs(alice); !slices.Equal(got, []string{uploaded}) {
				t.Errorf("alice's listing on the server she uploaded to = %v, want %s", got, uploaded)
			}
			// Without the marks the same request is served by the lagging replica.
			if got := unmarked.listedIDs(alice); len(got) != 0 {
				t.Errorf("alice's listing on a server without marks = %v, want nothing: the replica is paused", got)
			}
			// After the window her reads go back to the replica.
			time.Sleep(time.Until(marked.Add(window + 100*time.Millisecond)))
			if got := two.listedIDs(alice); len(got) != 0 {
				t.Errorf("alice's listing after the window = %v, want nothing from the paused replica", got)
			}

			rep.ResumeReplication(t)
			rep.WaitReplicated(t)
			if got := unmarked.listedIDs(alice); !slices.Equal(got, []string{uploaded}) {
				t.Fatalf("alice's listing once the replica caught up = %v, want %s", got, uploaded)
			}

			// A delete is a write too: gone at once for her, on every server.
			rep.PauseReplication(t)
			one.mustDo(alice, "DELETE", "/api/images/"+uploaded, nil, http.StatusNoContent, nil)
			if got := two.listedIDs(alice); len(got) != 0 {
				t.Errorf("alice's listing on the other server right after her delete = %v, want nothing", got)
			}
			if got := unmarked.listedIDs(alice); !slices.Equal(got, []string{uploaded}) {
				t.Errorf("alice's listing on a server without marks = %v, want the deleted %s still on the paused replica", got, uploaded)
			}
			rep.ResumeReplication(t)
			rep.WaitReplicated(t)

			// What a share link shows is read from the writer, as the link itself is: a
			// photo taken out of a shared album stops showing at once, whoever asks.
			kept := alice.upload(file{"dog.jpg", photo(t, 64, 48, 2)})[0]
			takenOut := alice.upload(file{"owl.jpg", photo(t, 64, 48, 3)})[0]
			shared := alice.createAlbum("Shared")
			alice.addToAlbum(shared, kept, takenOut)
			link := alice.share(map[string]any{"albumId": shared.ID})
			rep.WaitReplicated(t)
			rep.PauseReplication(t)
			one.mustDo(alice, "DELETE", "/api/albums/"+shared.ID+"/images/"+takenOut.ID, nil, http.StatusNoContent, nil)
			if got := unmarked.pageIDs(nil, "/api/shared/"+link.Token+"/images"); !slices.Equal(got, []string{kept.ID}) {
				t.Errorf("the shared album right after a photo was taken out = %v, want only %s", got, kept.ID)
			}
			unmarked.mustDo(nil, "GET", "/api/shared/"+link.Token+"/images/"+takenOut.ID+"/thumbnail", nil, http.StatusNotFound, nil)
			rep.ResumeReplication(t)
			rep.WaitReplicated(t)

			// Readiness depends on the writer only, and a stopped replica costs no read.
			rep.StopReplica(t)
			t.Cleanup(func() { rep.StartReplica(t) })
			unmarked.mustDo(nil, "GET", config.ReadinessPath, nil, http.StatusOK, nil)
			if got := unmarked.listedIDs(alice); !slices.Equal(got, []string{takenOut.ID, kept.ID}) {
				t.Errorf("alice's listing with the replica stopped = %v, want %s and %s", got, takenOut.ID, kept.ID)
			}
		})
	}
}

// TestMarksFollowWrites: a write request marks its user, a read does not; another user
// stays unmarked.
func TestMarksFollowWrites(t *testing.T) {
	marks := cache.NewMemoryRecentWrites(time.Minute)
	g := newGallery(t, sqlite, filesystem, withRecentWrites(marks))
	reader, writer := g.signUp("reader"), g.signUp("writer")
	ctx := context.Background()
	g.listedIDs(reader)
	if recent, _ := marks.WroteRecently(ctx, reader.id); recent {
		t.Error("a listing marked its user as having written")
	}
	writer.upload(file{"dog.jpg", photo(t, 64, 48, 2)})
	if recent, _ := marks.WroteRecently(ctx, writer.id); !recent {
		t.Error("an upload did not mark its user")
	}
	if recent, _ := marks.WroteRecently(ctx, reader.id); recent {
		t.Error("another user's upload marked the reader")
	}
}
