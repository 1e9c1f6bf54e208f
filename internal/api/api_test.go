package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/jpeg"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
)

// backends are the database and storage pairs every endpoint is tested on.
var backends = []struct {
	name    string
	db      database
	storage storage
}{
	{"sqlite+filesystem", sqlite, filesystem},
	{"mariadb+s3", mariadb, s3Storage},
	{"postgres+filesystem", postgres, filesystem},
}

// TestEndpoints walks a user through every image endpoint on each backend.
func TestEndpoints(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testEndpoints(t, newGallery(t, b.db, b.storage))
		})
	}
}

func testEndpoints(t *testing.T, g *gallery) {
	u := g.signUp("alice")

	var me struct {
		ID      int64
		Email   string
		IsAdmin bool
	}
	g.mustDo(u, "GET", "/api/me", nil, http.StatusOK, &me)
	if me.ID != u.id || me.Email != u.email || me.IsAdmin {
		t.Errorf("me = %+v", me)
	}

	// Upload: one request with two photos, then one with an EXIF photo.
	exif := exifPhoto(t)
	first := u.upload(file{"beach.jpg", photo(t, 640, 480, 1)}, file{"dog.jpg", photo(t, 300, 200, 2)})
	third := u.upload(file{"exif.jpg", exif})[0]
	for i, img := range append(first, third) {
		if img.Status != "queued" || img.QueuePosition == nil || *img.QueuePosition != int64(i) {
			t.Errorf("upload %d: status %q, position %v; want queued at %d", i, img.Status, img.QueuePosition, i)
		}
	}
	if d, _ := g.queue.Depth(context.Background()); d != 3 {
		t.Errorf("queue depth %d, want 3", d)
	}
	// EXIF: orientation 6 turns 40×20 upright to 20×40; taken 09:30 at +02:00.
	if third.Width != 20 || third.Height != 40 || third.TakenAt == nil || !third.TakenAt.Equal(time.Date(2021, 7, 14, 7, 30, 0, 0, time.UTC)) {
		t.Errorf("EXIF photo: %dx%d taken %v", third.Width, third.Height, third.TakenAt)
	}
	if g.countObjects() != 6 {
		t.Errorf("storage holds %d objects, want 6 (3 originals, 3 thumbnails)", g.countObjects())
	}

	// List: newest first, paged by cursor.
	var ids []string
	path := "/api/images?limit=2"
	for pages := 0; ; pages++ {
		var p pageJSON
		g.mustDo(u, "GET", path, nil, http.StatusOK, &p)
		for _, img := range p.Images {
			ids = append(ids, img.ID)
		}
		if p.Next == nil {
			break
		}
		path = "/api/images?limit=2&cursor=" + *p.Next
	}
	if want := []string{third.ID, first[1].ID, first[0].ID}; !slices.Equal(ids, want) {
		t.Errorf("listing %v, want newest first %v", ids, want)
	}
	g.mustDo(u, "GET", "/api/images?cursor=forged", nil, http.StatusBadRequest, nil)
	g.mustDo(u, "GET", "/api/images?limit=0", nil, http.StatusBadRequest, nil)

	// Original: byte for byte, with its type. Thumbnail: a JPEG within 400 px.
	res, data := g.do(u, "GET", first[0].OriginalURL, nil)
	if res.StatusCode != http.StatusOK || !bytes.Equal(data, photo(t, 640, 480, 1)) || res.Header.Get("Content-Type") != "image/jpeg" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("original: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(data))
	}
	res, data = g.do(u, "GET", first[0].ThumbnailURL, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("thumbnail: %d %s", res.StatusCode, data)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data)); err != nil || cfg.Width != 400 || cfg.Height != 300 {
		t.Errorf("thumbnail: %+v, %v; want a 400×300 JPEG", cfg, err)
	}

	// Labels, as the worker would write them; then one image, search and counts.
	g.label(first[0].ID, "beach", "dog", "sky")
	g.label(first[1].ID, "dog")
	var one imageJSON
	g.mustDo(u, "GET", "/api/images/"+first[0].ID, nil, http.StatusOK, &one)
	if one.Status != "labelled" || len(one.Labels) != 3 || one.Labels[0].Name != "beach" || one.Labels[0].Confidence != 90 || one.QueuePosition != nil {
		t.Errorf("labelled image: %+v", one)
	}
	search := func(q string) []string {
		var p pageJSON
		g.mustDo(u, "GET", "/api/search?"+q, nil, http.StatusOK, &p)
		var got []string
		for _, img := range p.Images {
			got = append(got, img.ID)
		}
		return got
	}
	if got := search("label=dog"); !slices.Equal(got, []string{first[1].ID, first[0].ID}) {
		t.Errorf("search dog: %v", got)
	}
	if got := search("label=dog&label=Beach"); !slices.Equal(got, []string{first[0].ID}) {
		t.Errorf("search dog and beach: %v", got)
	}
	if got := search("labels=dog,sky"); !slices.Equal(got, []string{first[0].ID}) {
		t.Errorf("search labels=dog,sky: %v", got)
	}
	if got := search("label=cat"); len(got) != 0 {
		t.Errorf("search cat: %v", got)
	}
	g.mustDo(u, "GET", "/api/search", nil, http.StatusBadRequest, nil)
	var counts struct {
		Labels []struct {
			Name   string
			Images int64
		}
	}
	g.mustDo(u, "GET", "/api/labels", nil, http.StatusOK, &counts)
	if len(counts.Labels) != 3 || counts.Labels[0].Name != "dog" || counts.Labels[0].Images != 2 {
		t.Errorf("label counts: %+v", counts.Labels)
	}

	// Delete: the object, the thumbnail and the rows go.
	img, err := g.store.Image(context.Background(), u.id, first[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	g.mustDo(u, "DELETE", "/api/images/"+first[0].ID, nil, http.StatusNoContent, nil)
	for _, k := range []string{img.ObjectKey, img.ThumbnailKey} {
		if _, err := g.objects.Head(context.Background(), k); !errors.Is(err, objects.ErrNotFound) {
			t.Errorf("after delete, %s: %v", k, err)
		}
	}
	if _, err := g.store.Image(context.Background(), u.id, first[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete, row: %v", err)
	}
	if n := g.countObjects(); n != 4 {
		t.Errorf("after delete, storage holds %d objects, want 4", n)
	}
	for _, p := range []string{"", "/original", "/thumbnail"} {
		g.mustDo(u, "GET", "/api/images/"+first[0].ID+p, nil, http.StatusNotFound, nil)
	}
	g.mustDo(u, "DELETE", "/api/images/"+first[0].ID, nil, http.StatusNotFound, nil)
	if got := search("label=beach"); len(got) != 0 {
		t.Errorf("search beach after delete: %v", got)
	}
}

// TestIsolation tries every endpoint of user A's image as user B: each answers exactly
// as for an image that does not exist, and A's image is untouched.
func TestIsolation(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	a, b := g.signUp("a"), g.signUp("b")
	img := a.upload(file{"a.jpg", photo(t, 64, 64, 3)})[0]
	g.label(img.ID, "secret")
	missing := strings.Repeat("0", 32)

	for _, id := range []string{img.ID, missing} {
		for _, req := range []struct{ method, path string }{
			{"GET", "/api/images/" + id},
			{"GET", "/api/images/" + id + "/original"},
			{"GET", "/api/images/" + id + "/thumbnail"},
			{"DELETE", "/api/images/" + id},
		} {
			res, data := g.do(b, req.method, req.path, nil)
			var e struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(data, &e)
			if res.StatusCode != http.StatusNotFound || e.Error.Code != "not_found" || e.Error.Message != "no such image" {
				t.Errorf("B %s %s = %d %s, want the plain 404 of a missing image", req.method, req.path, res.StatusCode, data)
			}
		}
	}
	var p pageJSON
	g.mustDo(b, "GET", "/api/images", nil, http.StatusOK, &p)
	if len(p.Images) != 0 {
		t.Errorf("B lists %d images", len(p.Images))
	}
	g.mustDo(b, "GET", "/api/search?label=secret", nil, http.StatusOK, &p)
	if len(p.Images) != 0 {
		t.Errorf("B finds %d images labelled secret", len(p.Images))
	}
	var counts struct{ Labels []any }
	g.mustDo(b, "GET", "/api/labels", nil, http.StatusOK, &counts)
	if len(counts.Labels) != 0 {
		t.Errorf("B sees labels %v", counts.Labels)
	}
	// A still has everything.
	g.mustDo(a, "GET", "/api/images/"+img.ID, nil, http.StatusOK, nil)
	g.mustDo(a, "GET", img.OriginalURL, nil, http.StatusOK, nil)
	g.mustDo(a, "GET", "/api/search?label=secret", nil, http.StatusOK, &p)
	if len(p.Images) != 1 {
		t.Errorf("A finds %d images labelled secret, want 1", len(p.Images))
	}
	if n := g.countObjects(); n != 2 {
		t.Errorf("storage holds %d objects, want A's 2", n)
	}
}

// TestUnauthenticated: every user endpoint wants a session.
func TestUnauthenticated(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	id := strings.Repeat("a", 32)
	for _, req := range []struct{ method, path string }{
		{"GET", "/api/me"}, {"GET", "/api/images"}, {"POST", "/api/images"},
		{"GET", "/api/images/" + id}, {"DELETE", "/api/images/" + id},
		{"GET", "/api/images/" + id + "/original"}, {"GET", "/api/images/" + id + "/thumbnail"},
		{"GET", "/api/search?label=x"}, {"GET", "/api/labels"},
	} {
		g.mustDo(nil, req.method, req.path, nil, http.StatusUnauthorized, nil)
	}
	g.mustDo(nil, "GET", "/api/nothing-here", nil, http.StatusNotFound, nil)
}
