package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/store"
)

func withQuota(bytes, photos *int64) option {
	return func(d *api.Deps) { d.Quota = store.Quota{Bytes: bytes, Photos: photos} }
}

func ptr64(v int64) *int64 { return &v }

// meQuota mirrors GET /api/me's quota.
type meQuota struct {
	UsedBytes    int64
	UsedPhotos   int64
	StorageBytes *int64
	Photos       *int64
}

func (u *user) quota() meQuota {
	u.g.t.Helper()
	var me struct{ Quota meQuota }
	u.g.mustDo(u, "GET", "/api/me", nil, http.StatusOK, &me)
	return me.Quota
}

// storedTotal sums the sizes of u's images as the database lists them.
func (g *gallery) storedTotal(ownerID int64) (bytes, photos int64) {
	g.t.Helper()
	p, err := g.store.ListImages(store.WithPrimaryReads(context.Background()), ownerID, storePage())
	if err != nil {
		g.t.Fatal(err)
	}
	for _, img := range p.Images {
		bytes += img.SizeBytes
	}
	return bytes, int64(len(p.Images))
}

// TestQuotaHoldsUnder50ConcurrentUploads: fifty uploads of different photos by one user
// at once, on each database, against a storage quota that fits about half of them:
// the usage never passes the quota, it equals the total of the images stored, every
// refused upload is a 507 with nothing kept, and every accepted one is stored.
func TestQuotaHoldsUnder50ConcurrentUploads(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			const uploads = 50
			files := make([][]byte, uploads)
			var all int64
			for i := range files {
				files[i] = photo(t, 48+i%7, 40+i%5, uint64(9000+i))
				all += int64(len(files[i]))
			}
			quota := all / 2
			g := newGallery(t, b.db, b.storage, withQuota(ptr64(quota), nil))
			ann := g.signUp("ann")
			before := g.countObjects()

			// While the uploads run, the usage is read again and again: it must never be
			// over the quota, not even for a moment.
			var peak atomic.Int64
			watching, watched := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(watched)
				for {
					if u, err := g.store.UserByID(context.Background(), ann.id); err == nil && u.UsedBytes > peak.Load() {
						peak.Store(u.UsedBytes)
					}
					select {
					case <-watching:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
			}()
			statuses := make([]int, uploads)
			var wg sync.WaitGroup
			for i := range uploads {
				wg.Go(func() {
					res, data := g.do(ann, "POST", "/api/images", multipartBody(t, file{fmt.Sprintf("p%d.jpg", i), files[i]}))
					statuses[i] = res.StatusCode
					if res.StatusCode == http.StatusInsufficientStorage {
						if code := errorCode(t, data); code != "quota_exceeded" {
							t.Errorf("upload %d: code %q, want quota_exceeded", i, code)
						}
					}
				})
			}
			wg.Wait()
			close(watching)
			<-watched
			if peak.Load() > quota {
				t.Errorf("the usage reached %d bytes during the uploads, over the quota of %d", peak.Load(), quota)
			}
			accepted, refused := 0, 0
			for i, s := range statuses {
				switch s {
				case http.StatusAccepted:
					accepted++
				case http.StatusInsufficientStorage:
					refused++
				default:
					t.Errorf("upload %d answered %d", i, s)
				}
			}
			if accepted == 0 || refused == 0 {
				t.Fatalf("%d accepted, %d refused: the quota of half the photos should split them", accepted, refused)
			}
			q := ann.quota()
			storedBytes, storedPhotos := g.storedTotal(ann.id)
			if q.UsedBytes > quota {
				t.Errorf("usage %d bytes passed the quota of %d", q.UsedBytes, quota)
			}
			if q.UsedBytes != storedBytes || q.UsedPhotos != storedPhotos || storedPhotos != int64(accepted) {
				t.Errorf("usage %d bytes, %d photos; stored %d bytes, %d photos; %d uploads accepted", q.UsedBytes, q.UsedPhotos, storedBytes, storedPhotos, accepted)
			}
			if got, want := g.countObjects()-before, 2*accepted; got != want {
				t.Errorf("storage holds %d new objects, want %d (an original and a thumbnail per accepted photo): refused uploads left some", got, want)
			}
		})
	}
}

// TestUploadOverQuota: one photo larger than the whole storage quota is a 413, a full
// quota a 507 (before and after a request's photos are read), a request whose photos
// together do not fit keeps none of them, and the photo-count quota counts too.
func TestUploadOverQuota(t *testing.T) {
	a, b, c := photo(t, 64, 48, 1), photo(t, 64, 48, 2), photo(t, 64, 48, 3)
	big := photo(t, 400, 300, 4)
	room := int64(len(a) + len(b) + len(c) + 10)
	g := newGallery(t, sqlite, filesystem, withQuota(ptr64(room), ptr64(3)))
	ann := g.signUp("ann")

	res, data := g.do(ann, "POST", "/api/images", multipartBody(t, file{"big.jpg", big}))
	if res.StatusCode != http.StatusRequestEntityTooLarge || errorCode(t, data) != "larger_than_quota" {
		t.Fatalf("a photo larger than the quota answered %d %s, want 413 larger_than_quota", res.StatusCode, data)
	}
	ann.upload(file{"a.jpg", a})
	// b, c and a fourth do not fit in photos (3) nor bytes: nothing of them is kept.
	res, data = g.do(ann, "POST", "/api/images", multipartBody(t, file{"b.jpg", b}, file{"c.jpg", c}, file{"d.jpg", photo(t, 64, 48, 5)}))
	if res.StatusCode != http.StatusInsufficientStorage || errorCode(t, data) != "quota_exceeded" {
		t.Fatalf("a request over the quota answered %d %s, want 507 quota_exceeded", res.StatusCode, data)
	}
	if q := ann.quota(); q.UsedPhotos != 1 || q.UsedBytes != int64(len(a)) {
		t.Fatalf("after a refused request the usage is %+v, want only a", q)
	}
	if n := g.countObjects(); n != 2 {
		t.Errorf("storage holds %d objects, want a's 2", n)
	}
	ann.upload(file{"b.jpg", b}, file{"c.jpg", c})
	// Full on photos: a new photo is refused, with nothing stored; one the user already
	// has takes no room and is answered as the duplicate it is.
	objectsWhenFull := g.countObjects()
	res, data = g.do(ann, "POST", "/api/images", multipartBody(t, file{"e.jpg", photo(t, 8, 8, 6)}))
	if res.StatusCode != http.StatusInsufficientStorage || errorCode(t, data) != "quota_exceeded" {
		t.Fatalf("an upload to a full quota answered %d %s, want 507", res.StatusCode, data)
	}
	g.mustDo(ann, "POST", "/api/images", multipartBody(t, file{"a-again.jpg", a}), http.StatusOK, nil)
	if n := g.countObjects(); n != objectsWhenFull {
		t.Errorf("refused and duplicate uploads to a full quota changed the objects from %d to %d", objectsWhenFull, n)
	}
	// Deleting a photo makes room again.
	var imgs pageJSON
	g.mustDo(ann, "GET", "/api/images", nil, http.StatusOK, &imgs)
	g.mustDo(ann, "DELETE", "/api/images/"+imgs.Images[0].ID, nil, http.StatusNoContent, nil)
	q := ann.quota()
	if q.UsedPhotos != 2 || *q.StorageBytes != room || *q.Photos != 3 {
		t.Fatalf("after a delete the quota shows %+v", q)
	}
	ann.upload(file{"e.jpg", photo(t, 8, 8, 6)})
}
