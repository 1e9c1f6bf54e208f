package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/store"
)

// pageCallsStore counts the store calls a page of images makes: the listing itself, the
// signed-in user, the labels, one image at a time or all at once, and (a search by q)
// the texts.
type pageCallsStore struct {
	api.Store
	users, pages, imageLabels, labelsOfImages, texts atomic.Int64
}

func (s *pageCallsStore) Search(ctx context.Context, ownerID int64, terms []string, p store.PageRequest) (store.SearchPage, error) {
	s.pages.Add(1)
	return s.Store.Search(ctx, ownerID, terms, p)
}

func (s *pageCallsStore) TextsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string]store.Text, error) {
	s.texts.Add(1)
	return s.Store.TextsOfImages(ctx, ownerID, imageIDs)
}

func (s *pageCallsStore) UserByID(ctx context.Context, id int64) (store.User, error) {
	s.users.Add(1)
	return s.Store.UserByID(ctx, id)
}

func (s *pageCallsStore) ListImages(ctx context.Context, ownerID int64, p store.PageRequest) (store.Page, error) {
	s.pages.Add(1)
	return s.Store.ListImages(ctx, ownerID, p)
}

func (s *pageCallsStore) SearchByLabels(ctx context.Context, ownerID int64, labels []string, p store.PageRequest) (store.Page, error) {
	s.pages.Add(1)
	return s.Store.SearchByLabels(ctx, ownerID, labels, p)
}

func (s *pageCallsStore) AlbumImages(ctx context.Context, ownerID int64, albumID string, p store.PageRequest) (store.Page, error) {
	s.pages.Add(1)
	return s.Store.AlbumImages(ctx, ownerID, albumID, p)
}

func (s *pageCallsStore) ImageLabels(ctx context.Context, ownerID int64, imageID string) ([]store.Label, error) {
	s.imageLabels.Add(1)
	return s.Store.ImageLabels(ctx, ownerID, imageID)
}

func (s *pageCallsStore) LabelsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string][]store.Label, error) {
	s.labelsOfImages.Add(1)
	return s.Store.LabelsOfImages(ctx, ownerID, imageIDs)
}

// calls is the count of each, in the order of the fields.
func (s *pageCallsStore) calls() [5]int64 {
	return [5]int64{s.users.Swap(0), s.pages.Swap(0), s.imageLabels.Swap(0), s.labelsOfImages.Swap(0), s.texts.Swap(0)}
}

// TestPageCostIsFixed: a page of the listing, a search or an album costs the same few
// store calls whether it holds 1 image or 40 — the labels of all its images come from
// one LabelsOfImages, never from ImageLabels per image — and still shows each image's
// own labels, most confident first, and none of another user's.
func TestPageCostIsFixed(t *testing.T) {
	calls := &pageCallsStore{}
	g := newGallery(t, mariadb, filesystem, func(d *api.Deps) {
		calls.Store = d.Store
		d.Store = calls
	})
	ctx := context.Background()
	alice, bob := g.signUp("alice"), g.signUp("bob")
	const many = 40
	created := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var imgs []store.Image
	wantLabels := map[string][]string{}
	for i := range many {
		img, err := g.store.CreateImage(ctx, store.Image{
			OwnerID: alice.id, ObjectKey: fmt.Sprintf("originals/%d", i), ContentType: "image/jpeg",
			SizeBytes: 100, Width: 8, Height: 8, SHA256: fmt.Sprintf("%064x", i), CreatedAt: created.Add(time.Duration(i) * time.Second),
		})
		if err != nil {
			t.Fatalf("create image: %v", err)
		}
		imgs = append(imgs, img)
		// Every third image stays unlabelled; the others get "cat" and a label of
		// their own, less confident.
		if i%3 != 0 {
			own := fmt.Sprintf("thing-%02d", i)
			g.label(img.ID, "cat", own)
			wantLabels[img.ID] = []string{"cat", own}
		}
	}
	bobs, err := g.store.CreateImage(ctx, store.Image{OwnerID: bob.id, ObjectKey: "originals/bob", ContentType: "image/jpeg", SizeBytes: 100, Width: 8, Height: 8, SHA256: fmt.Sprintf("%064x", 999)})
	if err != nil {
		t.Fatalf("create bob's image: %v", err)
	}
	g.label(bobs.ID, "cat", "bobs-secret")
	album, err := g.store.CreateAlbum(ctx, alice.id, "All")
	if err != nil {
		t.Fatalf("create album: %v", err)
	}
	var allIDs []string
	for _, img := range imgs {
		allIDs = append(allIDs, img.ID)
	}
	if err := g.store.AddToAlbum(ctx, alice.id, album.ID, allIDs); err != nil {
		t.Fatalf("add to album: %v", err)
	}

	for _, page := range []struct {
		name, path string
		// labelled is whether the page holds only labelled images (a search).
		labelled bool
	}{
		{"list", "/api/images", false},
		{"search", "/api/search?label=cat", true},
		{"find", "/api/search?q=cat", true},
		{"album", "/api/albums/" + album.ID + "/images", false},
	} {
		for _, limit := range []int{1, many} {
			calls.calls()
			var p pageJSON
			sep := "?"
			if page.labelled {
				sep = "&"
			}
			g.mustDo(alice, "GET", page.path+sep+"limit="+fmt.Sprint(limit), nil, http.StatusOK, &p)
			got := calls.calls()
			// One user, one page, no ImageLabels, one LabelsOfImages, and for a search by
			// q one TextsOfImages.
			want := [5]int64{1, 1, 0, 1, 0}
			if page.name == "find" {
				want[4] = 1
			}
			if got != want {
				t.Errorf("%s, limit %d: store calls (user, page, ImageLabels, LabelsOfImages, TextsOfImages) = %v, want %v", page.name, limit, got, want)
			}
			wantImages := limit
			if page.labelled && limit == many {
				wantImages = len(wantLabels)
			}
			if len(p.Images) != wantImages {
				t.Fatalf("%s, limit %d: %d images, want %d", page.name, limit, len(p.Images), wantImages)
			}
			for _, img := range p.Images {
				names := []string{}
				for _, l := range img.Labels {
					names = append(names, l.Name)
				}
				want := wantLabels[img.ID]
				if want == nil {
					want = []string{}
				}
				if !reflect.DeepEqual(names, want) {
					t.Errorf("%s, limit %d: image %s labels %v, want %v", page.name, limit, img.ID, names, want)
				}
			}
		}
	}
	// Bob's labels show on no page of alice's, and bob's search finds only his image.
	var p pageJSON
	g.mustDo(bob, "GET", "/api/search?"+url.Values{"label": {"cat"}}.Encode(), nil, http.StatusOK, &p)
	if len(p.Images) != 1 || p.Images[0].ID != bobs.ID || len(p.Images[0].Labels) != 2 {
		t.Errorf("bob's search = %+v, want his one image with two labels", p.Images)
	}
}
