package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// upload is imageJSON with the upload-only duplicate flag.
type uploadedJSON struct {
	imageJSON
	Duplicate bool
}

// uploadAs sends files and returns the images, failing unless the status is want.
func (u *user) uploadAs(want int, files ...file) []uploadedJSON {
	u.g.t.Helper()
	var p struct{ Images []uploadedJSON }
	u.g.mustDo(u, "POST", "/api/images", multipartBody(u.g.t, files...), want, &p)
	if len(p.Images) != len(files) {
		u.g.t.Fatalf("uploaded %d files, got %d images", len(files), len(p.Images))
	}
	return p.Images
}

func (g *gallery) imageCount(u *user) int {
	g.t.Helper()
	var p pageJSON
	g.mustDo(u, "GET", "/api/images?limit=500", nil, http.StatusOK, &p)
	return len(p.Images)
}

func (g *gallery) queueDepth() int64 {
	g.t.Helper()
	n, err := g.queue.Depth(context.Background())
	if err != nil {
		g.t.Fatal(err)
	}
	return n
}

// TestDuplicateUploads: the same bytes from the same user return the existing image
// (200, duplicate true) and store nothing: no object, row or job. Another user's copy is
// their own image.
func TestDuplicateUploads(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			g := newGallery(t, b.db, b.storage)
			alice, bob := g.signUp("alice"), g.signUp("bob")
			p, q := photo(t, 64, 48, 1), photo(t, 64, 48, 2)

			first := alice.uploadAs(http.StatusAccepted, file{"p.jpg", p})[0]
			if first.Duplicate {
				t.Fatal("a first upload is flagged duplicate")
			}
			objects, depth := g.countObjects(), g.queueDepth()
			again := alice.uploadAs(http.StatusOK, file{"copy of p.jpg", p})[0]
			if !again.Duplicate || again.ID != first.ID {
				t.Errorf("second upload = %s duplicate %v; want the existing %s", again.ID, again.Duplicate, first.ID)
			}
			if g.countObjects() != objects || g.queueDepth() != depth || g.imageCount(alice) != 1 {
				t.Errorf("a duplicate stored something: objects %d→%d, jobs %d→%d, images %d",
					objects, g.countObjects(), depth, g.queueDepth(), g.imageCount(alice))
			}
			// Once labelled, the duplicate answer carries the labels.
			g.label(first.ID, "dog")
			labelled := alice.uploadAs(http.StatusOK, file{"p.jpg", p})[0]
			if labelled.Status != "labelled" || len(labelled.Labels) != 1 || labelled.Labels[0].Name != "dog" {
				t.Errorf("duplicate of a labelled image = %+v", labelled)
			}
			// A new photo with a duplicate: 202, each image as it is.
			mixed := alice.uploadAs(http.StatusAccepted, file{"p.jpg", p}, file{"q.jpg", q})
			if !mixed[0].Duplicate || mixed[0].ID != first.ID || mixed[1].Duplicate || mixed[1].Status != "queued" {
				t.Errorf("mixed upload = %+v", mixed)
			}
			// The same photo twice in one request is one image.
			r := photo(t, 64, 48, 3)
			twice := alice.uploadAs(http.StatusAccepted, file{"r.jpg", r}, file{"r again.jpg", r})
			if twice[0].Duplicate || !twice[1].Duplicate || twice[1].ID != twice[0].ID {
				t.Errorf("one photo twice in a request = %+v", twice)
			}
			// A refused request that holds a duplicate removes nothing of the existing image.
			objects = g.countObjects()
			g.mustDo(alice, "POST", "/api/images", multipartBody(t, file{"p.jpg", p}, file{"notes.txt", []byte("not a photo")}), http.StatusUnsupportedMediaType, nil)
			g.mustDo(alice, "GET", "/api/images/"+first.ID+"/original", nil, http.StatusOK, nil)
			if g.countObjects() != objects || g.imageCount(alice) != 3 {
				t.Errorf("a refused request with a duplicate changed storage (%d→%d objects) or images (%d)", objects, g.countObjects(), g.imageCount(alice))
			}
			// Bob's copy is Bob's image.
			bobs := bob.uploadAs(http.StatusAccepted, file{"p.jpg", p})[0]
			if bobs.Duplicate || bobs.ID == first.ID {
				t.Errorf("another user's upload of the same photo = %+v", bobs)
			}
			if !strings.Contains(g.metrics(), `sortographer_uploads_total{result="duplicate"} 4`) {
				t.Error("the duplicate uploads are not counted in sortographer_uploads_total")
			}
		})
	}
}

// metrics scrapes the server's metrics handler.
func (g *gallery) metrics() string {
	g.t.Helper()
	res, err := http.Get(g.metricsURL + "/metrics")
	if err != nil {
		g.t.Fatalf("scrape metrics: %v", err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		g.t.Fatalf("scrape metrics: %s, %v", res.Status, err)
	}
	return string(data)
}

// TestConcurrentDuplicateUploads: one user sending the same photo eight times at once
// ends with one image, one job and one original and thumbnail in storage; every request
// answers that image.
func TestConcurrentDuplicateUploads(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			const uploads = 8
			// Every upload passes the duplicate check before any records its image, so
			// all but one meet the database's unique index: the race happens every run.
			g := newGallery(t, b.db, filesystem, withDuplicateCheckBarrier(uploads))
			u := g.signUp("racer")
			p := photo(t, 800, 600, 4)
			ids := make([]string, uploads)
			codes := make([]int, uploads)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range uploads {
				wg.Go(func() {
					<-start
					res, data := g.do(u, "POST", "/api/images", multipartBody(t, file{"p.jpg", p}))
					codes[i] = res.StatusCode
					var page struct{ Images []uploadedJSON }
					if err := json.Unmarshal(data, &page); err == nil && len(page.Images) == 1 {
						ids[i] = page.Images[0].ID
					}
				})
			}
			close(start)
			wg.Wait()
			created := 0
			for i, c := range codes {
				switch {
				case c == http.StatusAccepted:
					created++
				case c != http.StatusOK:
					t.Errorf("upload %d answered %d", i, c)
				}
				if ids[i] != ids[0] || ids[i] == "" {
					t.Errorf("upload %d answered image %q, upload 0 %q", i, ids[i], ids[0])
				}
			}
			// All of them passed the duplicate check together; all but one met at the
			// unique index.
			if n := strings.Count(g.logs.String(), "was recorded first"); n != uploads-1 {
				t.Errorf("%d uploads met another at the database's unique index, want %d", n, uploads-1)
			}
			if created != 1 || g.imageCount(u) != 1 || g.queueDepth() != 1 || g.countObjects() != 2 {
				t.Errorf("%d concurrent uploads of one photo: %d created, %d images, %d jobs, %d objects; want 1, 1, 1, 2",
					uploads, created, g.imageCount(u), g.queueDepth(), g.countObjects())
			}
		})
	}
}

// withDuplicateCheckBarrier holds the first n duplicate checks (ImageBySHA256 on the
// real store) until all n have looked, or 10 s have passed.
func withDuplicateCheckBarrier(n int32) option {
	return func(d *api.Deps) {
		d.Store = &barrierStore{Store: d.Store, n: n, all: make(chan struct{})}
	}
}

type barrierStore struct {
	api.Store
	n, arrived int32
	all        chan struct{}
}

func (b *barrierStore) ImageBySHA256(ctx context.Context, ownerID int64, sha256 string) (store.Image, error) {
	img, err := b.Store.ImageBySHA256(ctx, ownerID, sha256)
	// Wait after the real lookup, so every held upload has seen no duplicate.
	if k := atomic.AddInt32(&b.arrived, 1); k <= b.n {
		if k == b.n {
			close(b.all)
		}
		select {
		case <-b.all:
		case <-time.After(10 * time.Second):
		}
	}
	return img, err
}

// TestReclassifyAPI: one image or all of them; a queued image cannot be, another user's
// is not found; the images keep their labels until new ones land.
func TestReclassifyAPI(t *testing.T) {
	g := newGallery(t, postgres, filesystem)
	alice, bob := g.signUp("alice"), g.signUp("bob")
	imgs := alice.upload(file{"1.jpg", photo(t, 32, 32, 1)}, file{"2.jpg", photo(t, 32, 32, 2)}, file{"3.jpg", photo(t, 32, 32, 3)})
	g.label(imgs[0].ID, "cat")
	g.label(imgs[1].ID, "dog")
	depth := g.queueDepth()

	var one imageJSON
	g.mustDo(alice, "POST", "/api/images/"+imgs[0].ID+"/reclassify", nil, http.StatusAccepted, &one)
	if one.ID != imgs[0].ID || one.Status != "labelled" || len(one.Labels) != 1 || one.Labels[0].Name != "cat" {
		t.Errorf("reclassify one answered %+v; want the image, still labelled cat", one)
	}
	g.mustDo(alice, "POST", "/api/images/"+imgs[2].ID+"/reclassify", nil, http.StatusConflict, nil)
	g.mustDo(bob, "POST", "/api/images/"+imgs[0].ID+"/reclassify", nil, http.StatusNotFound, nil)
	g.mustDo(nil, "POST", "/api/images/"+imgs[0].ID+"/reclassify", nil, http.StatusUnauthorized, nil)

	var all struct{ Images int64 }
	g.mustDo(alice, "POST", "/api/images/reclassify", nil, http.StatusAccepted, &all)
	if all.Images != 2 {
		t.Errorf("reclassify all answered %d images, want the 2 labelled", all.Images)
	}
	g.mustDo(bob, "POST", "/api/images/reclassify", nil, http.StatusAccepted, &all)
	if all.Images != 0 {
		t.Errorf("bob's reclassify all answered %d images, want 0", all.Images)
	}
	pending, err := g.store.PendingReclassification(context.Background(), time.Now(), 10)
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending reclassification = %+v, %v; want alice's 2 labelled images", pending, err)
	}
	// Requests wait in the database for the workers' drain, not in the queue.
	if d := g.queueDepth(); d != depth {
		t.Errorf("queue holds %d jobs, %d before the requests; want no new one", d, depth)
	}
}

// TestAdminStats: admins see the Gallery's totals; other users get 403, anonymous
// requests 401; failures name ids, never emails.
func TestAdminStats(t *testing.T) {
	ctx := context.Background()
	g := newGallery(t, mariadb, filesystem)
	alice := g.signUp("alice")
	var s struct{ Token string }
	bossCreds := map[string]any{"email": "boss@example.com", "password": passwordOf("boss"), "bearer": true}
	g.mustDo(nil, "POST", "/api/auth/signup", jsonBody(bossCreds), http.StatusAccepted, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(bossCreds), http.StatusOK, &s)
	boss := &user{g: g, email: "boss@example.com", token: s.Token}

	imgs := alice.upload(file{"1.jpg", photo(t, 32, 32, 1)}, file{"2.jpg", photo(t, 32, 32, 2)}, file{"3.jpg", photo(t, 32, 32, 3)})
	g.label(imgs[0].ID, "cat", "sofa")
	if err := g.store.MarkFailed(ctx, imgs[1].ID, "not a photo"); err != nil {
		t.Fatal(err)
	}
	// A worker gave up on one job.
	ds, err := g.queue.Take(ctx, 1, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("take = %d, %v", len(ds), err)
	}
	if err := g.queue.DeadLetter(ctx, ds[0], "gave up after 5 attempts"); err != nil {
		t.Fatal(err)
	}
	if err := g.queue.Enqueue(ctx, queue.Job{ImageID: imgs[0].ID, OwnerID: alice.id, Priority: queue.PriorityLow}); err != nil {
		t.Fatal(err)
	}

	g.mustDo(nil, "GET", "/api/admin/stats", nil, http.StatusUnauthorized, nil)
	g.mustDo(alice, "GET", "/api/admin/stats", nil, http.StatusForbidden, nil)
	var me struct{ IsAdmin bool }
	if g.mustDo(boss, "GET", "/api/me", nil, http.StatusOK, &me); !me.IsAdmin {
		t.Fatal("boss@example.com is not an admin")
	}
	res, data := g.do(boss, "GET", "/api/admin/stats", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("admin stats = %d %s", res.StatusCode, data)
	}
	var st struct {
		Users, Images, Labels int64
		ImagesByStatus        struct{ Queued, Labelled, Failed int64 }
		ReclassifyPending     int64
		Queue                 *struct {
			Total       int64
			Normal, Low *int64
			DeadLetters *int64
		}
		RecentFailures []struct {
			ImageID string
			OwnerID int64
			Reason  string
			At      time.Time
		}
		RecentDeadLetters []struct {
			ImageID, Priority, Reason string
			OwnerID                   int64
		}
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Users != 2 || st.Images != 3 || st.Labels != 2 || st.ImagesByStatus.Queued != 1 || st.ImagesByStatus.Labelled != 1 || st.ImagesByStatus.Failed != 1 {
		t.Errorf("totals = %s", data)
	}
	if q := st.Queue; q == nil || q.Total != 3 || q.Normal == nil || *q.Normal != 2 || q.Low == nil || *q.Low != 1 || q.DeadLetters == nil || *q.DeadLetters != 1 {
		t.Errorf("queue = %s; want 2 uploads and 1 reclassification waiting, 1 dead letter", data)
	}
	if f := st.RecentFailures; len(f) != 1 || f[0].ImageID != imgs[1].ID || f[0].OwnerID != alice.id || f[0].Reason != "not a photo" || time.Since(f[0].At) > time.Minute {
		t.Errorf("recent failures = %+v", f)
	}
	if d := st.RecentDeadLetters; len(d) != 1 || d[0].ImageID != imgs[0].ID || d[0].Priority != "normal" || d[0].Reason != "gave up after 5 attempts" {
		t.Errorf("recent dead letters = %+v", d)
	}
	if strings.Contains(string(data), alice.email) {
		t.Errorf("admin stats show a user's email: %s", data)
	}
}
