package api_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/store"
)

// albumJSON mirrors the API's album.
type albumJSON struct {
	ID                string
	Name              string
	Images            int64
	CoverImageID      *string
	CoverThumbnailURL *string
}

func (u *user) createAlbum(name string) albumJSON {
	u.g.t.Helper()
	var a albumJSON
	res := u.g.mustDo(u, "POST", "/api/albums", jsonBody(map[string]any{"name": name}), http.StatusCreated, &a)
	if res.Header.Get("Location") != "/api/albums/"+a.ID {
		u.g.t.Errorf("create album: Location %q", res.Header.Get("Location"))
	}
	return a
}

func (u *user) addToAlbum(a albumJSON, imgs ...imageJSON) albumJSON {
	u.g.t.Helper()
	var ids []string
	for _, img := range imgs {
		ids = append(ids, img.ID)
	}
	var out albumJSON
	u.g.mustDo(u, "POST", "/api/albums/"+a.ID+"/images", jsonBody(map[string]any{"imageIds": ids}), http.StatusOK, &out)
	return out
}

// pageIDs follows a listing's cursors and returns every image id.
func (g *gallery) pageIDs(u *user, path string) []string {
	g.t.Helper()
	ids := []string{}
	next := path
	for pages := 0; ; pages++ {
		var p pageJSON
		g.mustDo(u, "GET", next, nil, http.StatusOK, &p)
		for _, img := range p.Images {
			ids = append(ids, img.ID)
		}
		if p.Next == nil {
			return ids
		}
		if pages > 50 {
			g.t.Fatalf("%s: the cursor does not advance", path)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		next = path + sep + "cursor=" + *p.Next
	}
}

// TestAlbums walks a user through the album endpoints on each backend.
func TestAlbums(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testAlbums(t, newGallery(t, b.db, b.storage))
		})
	}
}

func testAlbums(t *testing.T, g *gallery) {
	u := g.signUp("albums")
	imgs := u.upload(file{"a.jpg", photo(t, 64, 48, 11)}, file{"b.jpg", photo(t, 64, 48, 12)}, file{"c.jpg", photo(t, 64, 48, 13)})
	a, b, c := imgs[0], imgs[1], imgs[2]

	// Automatic albums, one per label, with count and the newest image as cover.
	g.label(a.ID, "dog", "beach")
	g.label(c.ID, "dog")
	var labelAlbums struct {
		Albums []struct {
			Label             string
			Images            int64
			CoverImageID      string
			CoverThumbnailURL string
		}
	}
	g.mustDo(u, "GET", "/api/label-albums", nil, http.StatusOK, &labelAlbums)
	if got := labelAlbums.Albums; len(got) != 2 || got[0].Label != "dog" || got[0].Images != 2 || got[0].CoverImageID != c.ID ||
		got[0].CoverThumbnailURL != c.ThumbnailURL || got[1].Label != "beach" || got[1].CoverImageID != a.ID {
		t.Errorf("label albums = %+v, want dog (2, cover %s) then beach (1, cover %s)", got, c.ID, a.ID)
	}

	// Create, with names checked.
	trip := u.createAlbum("  Trip ")
	if trip.Name != "Trip" || trip.Images != 0 || trip.CoverImageID != nil || trip.CoverThumbnailURL != nil {
		t.Errorf("new album = %+v, want trimmed, empty, no cover", trip)
	}
	for _, bad := range []any{"", "  ", strings.Repeat("n", 101), "a\tb", 42} {
		res, data := g.do(u, "POST", "/api/albums", jsonBody(map[string]any{"name": bad}))
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), `"code":"bad`) {
			t.Errorf("create album named %q = %d %s, want 400", bad, res.StatusCode, data)
		}
	}
	g.mustDo(u, "POST", "/api/albums", jsonBody(map[string]any{"name": "x", "colour": "red"}), http.StatusBadRequest, nil)

	// Add: in one batch, again with a repeat, and an image in two albums.
	trip = u.addToAlbum(trip, a, b)
	if trip.Images != 2 || trip.CoverImageID == nil || *trip.CoverImageID != a.ID || *trip.CoverThumbnailURL != a.ThumbnailURL {
		t.Errorf("album after adding a, b = %+v, want 2 images with cover a (first given)", trip)
	}
	trip = u.addToAlbum(trip, c, a)
	if trip.Images != 3 {
		t.Errorf("album after adding c and a again = %d images, want 3", trip.Images)
	}
	other := u.createAlbum("Trip") // names need not be unique
	u.addToAlbum(other, b)
	if got, want := g.pageIDs(u, "/api/albums/"+trip.ID+"/images?limit=2"), []string{c.ID, a.ID, b.ID}; !slices.Equal(got, want) {
		t.Errorf("album images = %v, want newest added first %v", got, want)
	}
	var page pageJSON
	g.mustDo(u, "GET", "/api/albums/"+trip.ID+"/images", nil, http.StatusOK, &page)
	if len(page.Images) != 3 || page.Images[1].Labels == nil || len(page.Images[1].Labels) != 2 {
		t.Errorf("album page = %+v, want images with their labels", page.Images)
	}
	g.mustDo(u, "GET", "/api/albums/"+trip.ID+"/images?cursor=forged", nil, http.StatusBadRequest, nil)
	g.mustDo(u, "POST", "/api/albums/"+trip.ID+"/images", jsonBody(map[string]any{"imageIds": []string{}}), http.StatusBadRequest, nil)
	g.mustDo(u, "POST", "/api/albums/"+trip.ID+"/images", jsonBody(map[string]any{"imageIds": make([]string, 501)}), http.StatusBadRequest, nil)
	g.mustDo(u, "POST", "/api/albums/"+trip.ID+"/images", jsonBody(map[string]any{"imageIds": []string{strings.Repeat("0", 32)}}), http.StatusNotFound, nil)

	// List, get, rename.
	var list struct{ Albums []albumJSON }
	g.mustDo(u, "GET", "/api/albums", nil, http.StatusOK, &list)
	if len(list.Albums) != 2 || list.Albums[0].ID != other.ID || list.Albums[1].ID != trip.ID || list.Albums[1].Images != 3 || list.Albums[0].Images != 1 {
		t.Errorf("albums = %+v, want the last changed first, with counts", list.Albums)
	}
	var renamed albumJSON
	g.mustDo(u, "PATCH", "/api/albums/"+trip.ID, jsonBody(map[string]any{"name": "Trip 2025"}), http.StatusOK, &renamed)
	if renamed.Name != "Trip 2025" || renamed.Images != 3 {
		t.Errorf("renamed = %+v", renamed)
	}
	g.mustDo(u, "PATCH", "/api/albums/"+trip.ID, jsonBody(map[string]any{"name": strings.Repeat("é", 101)}), http.StatusBadRequest, nil)
	var got albumJSON
	g.mustDo(u, "GET", "/api/albums/"+trip.ID, nil, http.StatusOK, &got)
	if got.Name != "Trip 2025" {
		t.Errorf("album after a refused rename = %q", got.Name)
	}

	// Remove one image; it stays among the user's photos.
	g.mustDo(u, "DELETE", "/api/albums/"+trip.ID+"/images/"+c.ID, nil, http.StatusNoContent, nil)
	g.mustDo(u, "DELETE", "/api/albums/"+trip.ID+"/images/"+c.ID, nil, http.StatusNotFound, nil)
	g.mustDo(u, "GET", "/api/images/"+c.ID, nil, http.StatusOK, nil)
	if got := g.pageIDs(u, "/api/albums/"+trip.ID+"/images"); !slices.Equal(got, []string{a.ID, b.ID}) {
		t.Errorf("album after removing c = %v", got)
	}

	// Deleting an image takes it out of every album.
	g.mustDo(u, "DELETE", "/api/images/"+b.ID, nil, http.StatusNoContent, nil)
	if got := g.pageIDs(u, "/api/albums/"+trip.ID+"/images"); !slices.Equal(got, []string{a.ID}) {
		t.Errorf("album after deleting image b = %v, want [a]", got)
	}
	g.mustDo(u, "GET", "/api/albums/"+other.ID, nil, http.StatusOK, &got)
	if got.Images != 0 || got.CoverImageID != nil {
		t.Errorf("other album after deleting its only image = %+v, want empty", got)
	}

	// Deleting an album keeps its images.
	g.mustDo(u, "DELETE", "/api/albums/"+trip.ID, nil, http.StatusNoContent, nil)
	g.mustDo(u, "GET", "/api/albums/"+trip.ID, nil, http.StatusNotFound, nil)
	g.mustDo(u, "GET", "/api/albums/"+trip.ID+"/images", nil, http.StatusNotFound, nil)
	g.mustDo(u, "DELETE", "/api/albums/"+trip.ID, nil, http.StatusNotFound, nil)
	if got := g.pageIDs(u, "/api/images"); !slices.Equal(got, []string{c.ID, a.ID}) {
		t.Errorf("images after deleting the album = %v, want both left", got)
	}
	g.mustDo(nil, "GET", "/api/albums", nil, http.StatusUnauthorized, nil)
}

// TestAlbumIsolation: another user's album, and adding another user's image, are 404
// everywhere, and change nothing.
func TestAlbumIsolation(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	owner, other := g.signUp("owner"), g.signUp("intruder")
	mine := owner.upload(file{"m.jpg", photo(t, 32, 32, 21)})[0]
	theirs := other.upload(file{"t.jpg", photo(t, 32, 32, 22)})[0]
	al := owner.createAlbum("Private")
	owner.addToAlbum(al, mine)
	theirAlbum := other.createAlbum("Theirs")

	for _, r := range []struct {
		method, path string
		body         *body
	}{
		{"GET", "/api/albums/" + al.ID, nil},
		{"PATCH", "/api/albums/" + al.ID, jsonBody(map[string]any{"name": "Mine now"})},
		{"DELETE", "/api/albums/" + al.ID, nil},
		{"GET", "/api/albums/" + al.ID + "/images", nil},
		{"POST", "/api/albums/" + al.ID + "/images", jsonBody(map[string]any{"imageIds": []string{theirs.ID}})},
		{"DELETE", "/api/albums/" + al.ID + "/images/" + mine.ID, nil},
		// Someone else's image into one's own album.
		{"POST", "/api/albums/" + theirAlbum.ID + "/images", jsonBody(map[string]any{"imageIds": []string{mine.ID}})},
	} {
		res, data := g.do(other, r.method, r.path, r.body)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("intruder %s %s = %d %s, want 404", r.method, r.path, res.StatusCode, data)
		}
		if bytes.Contains(data, []byte(mine.ID)) && r.method == "GET" {
			t.Errorf("intruder %s %s leaks the image id: %s", r.method, r.path, data)
		}
	}
	var got albumJSON
	g.mustDo(owner, "GET", "/api/albums/"+al.ID, nil, http.StatusOK, &got)
	if got.Name != "Private" || got.Images != 1 {
		t.Errorf("album after the intruder = %+v", got)
	}
	if ids := g.pageIDs(other, "/api/albums/"+theirAlbum.ID+"/images"); len(ids) != 0 {
		t.Errorf("intruder's album holds %v, want nothing", ids)
	}
	var list struct{ Albums []albumJSON }
	g.mustDo(other, "GET", "/api/albums", nil, http.StatusOK, &list)
	if len(list.Albums) != 1 || list.Albums[0].ID != theirAlbum.ID {
		t.Errorf("intruder's album list = %+v", list.Albums)
	}
}

// ---- share links

type shareJSON struct {
	ID        string
	Kind      string
	ImageID   *string
	AlbumID   *string
	AlbumName *string
	CreatedAt time.Time
	ExpiresAt *time.Time
	Expired   bool
	Token     string
	URL       string
}

func (u *user) share(req map[string]any) shareJSON {
	u.g.t.Helper()
	var sh shareJSON
	u.g.mustDo(u, "POST", "/api/shares", jsonBody(req), http.StatusCreated, &sh)
	if len(sh.Token) != 43 || sh.URL != "/s/"+sh.Token {
		u.g.t.Fatalf("share answered token %q, url %q", sh.Token, sh.URL)
	}
	return sh
}

type sharedJSON struct {
	Kind      string
	ExpiresAt *time.Time
	Image     *sharedImageJSON
	Album     *struct {
		Name   string
		Images int64
	}
}

type sharedImageJSON struct {
	ID, ContentType                       string
	Width, Height                         int
	OriginalURL, ThumbnailURL, DisplayURL string
}

type sharedPageJSON struct {
	Images []sharedImageJSON
	Next   *string
}

func sharedIDs(p sharedPageJSON) []string {
	ids := []string{}
	for _, img := range p.Images {
		ids = append(ids, img.ID)
	}
	return ids
}

// TestShares: links to an image and to an album show exactly what was shared, to
// anyone, until revoked; on each backend.
func TestShares(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testShares(t, newGallery(t, b.db, b.storage))
		})
	}
}

func testShares(t *testing.T, g *gallery) {
	u := g.signUp("sharer")
	imgs := u.upload(file{"a.jpg", photo(t, 120, 80, 31)}, file{"b.jpg", photo(t, 120, 80, 32)}, file{"c.jpg", photo(t, 120, 80, 33)})
	a, b, c := imgs[0], imgs[1], imgs[2]
	g.label(a.ID, "secretlabel")
	stranger := g.signUp("stranger")
	foreign := stranger.upload(file{"f.jpg", photo(t, 40, 40, 34)})[0]

	// One image.
	imgShare := u.share(map[string]any{"imageId": a.ID})
	if imgShare.Kind != "image" || imgShare.ImageID == nil || *imgShare.ImageID != a.ID || imgShare.ExpiresAt != nil || imgShare.Expired {
		t.Errorf("image share = %+v", imgShare)
	}
	base := "/api/shared/" + imgShare.Token
	var sh sharedJSON
	res := g.mustDo(nil, "GET", base, nil, http.StatusOK, &sh)
	if sh.Kind != "image" || sh.Image == nil || sh.Image.ID != a.ID || sh.Image.Width != 120 || sh.Album != nil {
		t.Errorf("shared image = %+v", sh)
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("shared headers: Referrer-Policy %q, Cache-Control %q", res.Header.Get("Referrer-Policy"), res.Header.Get("Cache-Control"))
	}
	// The original as a link serves it: a copy without metadata (location stripped, by
	// default; TestShareLinkStripsLocation), the whole picture.
	res, data := g.do(nil, "GET", sh.Image.OriginalURL, nil)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if res.StatusCode != http.StatusOK || err != nil || cfg.Width != 120 || cfg.Height != 80 || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("shared original: %d %s, %d bytes, %d×%d (%v), want a 120×80 JPEG", res.StatusCode, res.Header.Get("Content-Type"), len(data), cfg.Width, cfg.Height, err)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "private") || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("shared original: Cache-Control %q, Referrer-Policy %q", cc, res.Header.Get("Referrer-Policy"))
	}
	if res, data := g.do(nil, "GET", sh.Image.ThumbnailURL, nil); res.StatusCode != http.StatusOK || len(data) == 0 || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("shared thumbnail: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var p sharedPageJSON
	g.mustDo(nil, "GET", base+"/images", nil, http.StatusOK, &p)
	if !slices.Equal(sharedIDs(p), []string{a.ID}) {
		t.Errorf("image share's images = %v", sharedIDs(p))
	}
	// Nothing else of the owner's through it: another image, another user's image.
	for _, id := range []string{b.ID, foreign.ID, strings.Repeat("0", 32)} {
		for _, kind := range []string{"original", "thumbnail"} {
			g.mustDo(nil, "GET", base+"/images/"+id+"/"+kind, nil, http.StatusNotFound, nil)
		}
	}
	// A cross-site GET, as when the link is opened from a mail or chat page, works.
	req, _ := http.NewRequest("GET", g.url+base, nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://mail.example.net")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("cross-site GET of a link = %v, %v; want 200", res.Status, err)
	} else {
		res.Body.Close()
	}

	// An album: live, and only its own images.
	al := u.createAlbum("Holiday")
	u.addToAlbum(al, b)
	albumShare := u.share(map[string]any{"albumId": al.ID, "expiresInSeconds": 3600})
	if albumShare.Kind != "album" || albumShare.AlbumName == nil || *albumShare.AlbumName != "Holiday" || albumShare.ExpiresAt == nil ||
		time.Until(*albumShare.ExpiresAt) < 59*time.Minute || time.Until(*albumShare.ExpiresAt) > time.Hour {
		t.Errorf("album share = %+v, want an hour's expiry", albumShare)
	}
	abase := "/api/shared/" + albumShare.Token
	sh = sharedJSON{}
	g.mustDo(nil, "GET", abase, nil, http.StatusOK, &sh)
	if sh.Kind != "album" || sh.Album == nil || sh.Album.Name != "Holiday" || sh.Album.Images != 1 || sh.Image != nil || sh.ExpiresAt == nil {
		t.Errorf("shared album = %+v", sh)
	}
	u.addToAlbum(al, c) // added after sharing: appears
	g.mustDo(nil, "GET", abase+"/images?limit=1", nil, http.StatusOK, &p)
	if !slices.Equal(sharedIDs(p), []string{c.ID}) || p.Next == nil {
		t.Fatalf("shared album page 1 = %v, next %v", sharedIDs(p), p.Next)
	}
	first := p.Images[0]
	g.mustDo(nil, "GET", abase+"/images?limit=1&cursor="+*p.Next, nil, http.StatusOK, &p)
	if !slices.Equal(sharedIDs(p), []string{b.ID}) || p.Next != nil {
		t.Errorf("shared album page 2 = %v, next %v", sharedIDs(p), p.Next)
	}
	if res, _ := g.do(nil, "GET", first.ThumbnailURL, nil); res.StatusCode != http.StatusOK {
		t.Errorf("album image thumbnail through the link = %d", res.StatusCode)
	}
	// The owner's other image (a), another user's, and one removed from the album: 404.
	g.mustDo(u, "DELETE", "/api/albums/"+al.ID+"/images/"+c.ID, nil, http.StatusNoContent, nil)
	for _, id := range []string{a.ID, foreign.ID, c.ID} {
		g.mustDo(nil, "GET", abase+"/images/"+id+"/original", nil, http.StatusNotFound, nil)
	}
	g.mustDo(nil, "GET", abase+"/images", nil, http.StatusOK, &p)
	if !slices.Equal(sharedIDs(p), []string{b.ID}) {
		t.Errorf("shared album after removing c = %v, want [b]", sharedIDs(p))
	}

	// Nothing of the owner's beyond the picture: not their email, not labels.
	for _, path := range []string{base, base + "/images", abase, abase + "/images"} {
		_, data := g.do(nil, "GET", path, nil)
		for _, secret := range []string{u.email, "secretlabel", `"ownerId"`, `"labels"`} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("GET %s shows %s: %s", path, secret, data)
			}
		}
	}

	// The owner's list: both links, without their tokens.
	var list struct{ Shares []shareJSON }
	_, data = g.do(u, "GET", "/api/shares", nil)
	g.mustDo(u, "GET", "/api/shares", nil, http.StatusOK, &list)
	if len(list.Shares) != 2 || list.Shares[0].ID != albumShare.ID || list.Shares[1].ID != imgShare.ID {
		t.Errorf("shares = %+v, want both, newest first", list.Shares)
	}
	if bytes.Contains(data, []byte(imgShare.Token)) || bytes.Contains(data, []byte(albumShare.Token)) || bytes.Contains(data, []byte(`"token"`)) {
		t.Errorf("the share list shows tokens: %s", data)
	}
	g.mustDo(stranger, "GET", "/api/shares", nil, http.StatusOK, &list)
	if len(list.Shares) != 0 {
		t.Errorf("a stranger sees %d of the owner's links", len(list.Shares))
	}

	// Revoke: the stranger cannot; the owner can, and the link stops at once.
	g.mustDo(stranger, "DELETE", "/api/shares/"+imgShare.ID, nil, http.StatusNotFound, nil)
	g.mustDo(nil, "GET", base, nil, http.StatusOK, nil)
	g.mustDo(u, "DELETE", "/api/shares/"+imgShare.ID, nil, http.StatusNoContent, nil)
	for _, path := range []string{base, base + "/images", base + "/images/" + a.ID + "/original", base + "/images/" + a.ID + "/thumbnail"} {
		g.mustDo(nil, "GET", path, nil, http.StatusNotFound, nil)
	}
	g.mustDo(u, "DELETE", "/api/shares/"+imgShare.ID, nil, http.StatusNotFound, nil)

	// Deleting the album ends its link.
	g.mustDo(u, "DELETE", "/api/albums/"+al.ID, nil, http.StatusNoContent, nil)
	g.mustDo(nil, "GET", abase, nil, http.StatusNotFound, nil)

	// Tokens are secrets: the request log shows none.
	for _, tok := range []string{imgShare.Token, albumShare.Token} {
		if strings.Contains(g.logs.String(), tok) {
			t.Errorf("the logs show the token %s", tok)
		}
	}
	if !strings.Contains(g.logs.String(), `"path":"/api/shared/…/images"`) {
		t.Error("no log line of a shared request with its token hidden")
	}

	// Tokens that were never made, of any shape.
	for _, tok := range []string{"x", strings.Repeat("A", 43), strings.Repeat("A", 44), "..%2F..%2Fapi%2Fme"} {
		if res, data := g.do(nil, "GET", "/api/shared/"+tok, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("made-up token %q = %d %s, want 404", tok, res.StatusCode, data)
		}
	}
}

// TestShareRequests: what creating a link refuses, and whose things may be shared.
func TestShareRequests(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u, stranger := g.signUp("asker"), g.signUp("other")
	img := u.upload(file{"a.jpg", photo(t, 32, 32, 41)})[0]
	al := u.createAlbum("Mine")
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, bad := range []map[string]any{
		{},
		{"imageId": img.ID, "albumId": al.ID},
		{"imageId": img.ID, "expiresAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)},
		{"imageId": img.ID, "expiresInSeconds": 0},
		{"imageId": img.ID, "expiresInSeconds": 60, "expiresAt": future},
		{"imageId": img.ID, "expiresAt": "tomorrow"},
		{"imageId": img.ID, "token": "mine"},
	} {
		if res, data := g.do(u, "POST", "/api/shares", jsonBody(bad)); res.StatusCode != http.StatusBadRequest {
			t.Errorf("share %v = %d %s, want 400", bad, res.StatusCode, data)
		}
	}
	// Someone else's image or album: 404, and no link made.
	g.mustDo(stranger, "POST", "/api/shares", jsonBody(map[string]any{"imageId": img.ID}), http.StatusNotFound, nil)
	g.mustDo(stranger, "POST", "/api/shares", jsonBody(map[string]any{"albumId": al.ID}), http.StatusNotFound, nil)
	var list struct{ Shares []shareJSON }
	g.mustDo(stranger, "GET", "/api/shares", nil, http.StatusOK, &list)
	if len(list.Shares) != 0 {
		t.Errorf("refused shares made %d links", len(list.Shares))
	}
	g.mustDo(nil, "POST", "/api/shares", jsonBody(map[string]any{"imageId": img.ID}), http.StatusUnauthorized, nil)
	sh := u.share(map[string]any{"imageId": img.ID, "expiresAt": future})
	if sh.ExpiresAt == nil || sh.ExpiresAt.UTC().Format(time.RFC3339) != future {
		t.Errorf("expiresAt = %v, want %s", sh.ExpiresAt, future)
	}
}

// TestShareExpiry: an expired link is 404, and its owner sees it as expired.
func TestShareExpiry(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("expirer")
	img := u.upload(file{"a.jpg", photo(t, 32, 32, 51)})[0]
	// A link made with a short expiry, through the store: the API refuses past ones.
	token, hash := store.NewShareToken()
	if _, err := g.store.CreateShare(context.Background(), store.NewShare{OwnerID: u.id, ImageID: img.ID, TokenHash: hash, ExpiresAt: time.Now().Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	g.mustDo(nil, "GET", "/api/shared/"+token, nil, http.StatusOK, nil)
	time.Sleep(400 * time.Millisecond)
	for _, path := range []string{"", "/images", "/images/" + img.ID + "/original"} {
		g.mustDo(nil, "GET", "/api/shared/"+token+path, nil, http.StatusNotFound, nil)
	}
	var list struct{ Shares []shareJSON }
	g.mustDo(u, "GET", "/api/shares", nil, http.StatusOK, &list)
	if len(list.Shares) != 1 || !list.Shares[0].Expired {
		t.Errorf("owner's list = %+v, want the link marked expired", list.Shares)
	}
}

func withSharingDisabled() option { return func(d *api.Deps) { d.SharingDisabled = true } }
func withShareMaxLifetime(l time.Duration) option {
	return func(d *api.Deps) { d.ShareMaxLifetime = l }
}
func withShareLimiter(l ratelimit.Limiter) option { return func(d *api.Deps) { d.ShareLimiter = l } }

// TestSharingDisabled: the switch refuses new links and stops existing ones, while the
// owner may still list and revoke them.
func TestSharingDisabled(t *testing.T) {
	dbc, dbFile := sqlite(t)
	db := func(*testing.T) (config.Database, string) { return dbc, dbFile }
	on := newGallery(t, db, filesystem)
	u := on.signUp("switch")
	img := u.upload(file{"a.jpg", photo(t, 32, 32, 61)})[0]
	sh := u.share(map[string]any{"imageId": img.ID})
	on.mustDo(nil, "GET", "/api/shared/"+sh.Token, nil, http.StatusOK, nil)

	// The same database, served with sharing turned off.
	off := newGallery(t, db, filesystem, withSharingDisabled())
	u.g = off
	res, data := off.do(u, "POST", "/api/shares", jsonBody(map[string]any{"imageId": img.ID}))
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(data), "sharing_disabled") {
		t.Errorf("share with sharing off = %d %s, want 403 sharing_disabled", res.StatusCode, data)
	}
	for _, path := range []string{"", "/images", "/images/" + img.ID + "/thumbnail"} {
		if res, data := off.do(nil, "GET", "/api/shared/"+sh.Token+path, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("existing link %s with sharing off = %d %s, want 403", path, res.StatusCode, data)
		}
	}
	var list struct{ Shares []shareJSON }
	off.mustDo(u, "GET", "/api/shares", nil, http.StatusOK, &list)
	if len(list.Shares) != 1 {
		t.Errorf("owner's links with sharing off = %d, want 1", len(list.Shares))
	}
	off.mustDo(u, "DELETE", "/api/shares/"+sh.ID, nil, http.StatusNoContent, nil)
}

// TestShareMaxLifetime: the gallery's cap shortens links without an expiry and longer
// ones, and leaves shorter ones alone.
func TestShareMaxLifetime(t *testing.T) {
	g := newGallery(t, sqlite, filesystem, withShareMaxLifetime(24*time.Hour))
	u := g.signUp("capped")
	img := u.upload(file{"a.jpg", photo(t, 32, 32, 71)})[0]
	limit := time.Now().Add(24 * time.Hour)
	near := func(got *time.Time, want time.Time) bool {
		return got != nil && got.Sub(want).Abs() < 10*time.Second
	}
	if sh := u.share(map[string]any{"imageId": img.ID}); !near(sh.ExpiresAt, limit) {
		t.Errorf("link without expiry expires %v, want capped to about %v", sh.ExpiresAt, limit)
	}
	if sh := u.share(map[string]any{"imageId": img.ID, "expiresInSeconds": 7 * 24 * 3600}); !near(sh.ExpiresAt, limit) {
		t.Errorf("week-long link expires %v, want capped to about %v", sh.ExpiresAt, limit)
	}
	if sh := u.share(map[string]any{"imageId": img.ID, "expiresInSeconds": 3600}); !near(sh.ExpiresAt, time.Now().Add(time.Hour)) {
		t.Errorf("hour-long link expires %v, want an hour from now", sh.ExpiresAt)
	}
}

// TestShareRateLimit: requests to links are counted per client address.
func TestShareRateLimit(t *testing.T) {
	g := newGallery(t, sqlite, filesystem, withShareLimiter(ratelimit.NewMemory(ratelimit.Rule{Name: "share", Limit: 3, Window: time.Minute})))
	u := g.signUp("limited")
	img := u.upload(file{"a.jpg", photo(t, 32, 32, 81)})[0]
	sh := u.share(map[string]any{"imageId": img.ID})
	for range 3 {
		g.mustDo(nil, "GET", "/api/shared/"+sh.Token, nil, http.StatusOK, nil)
	}
	// Guessing counts too: a made-up token spends the same budget.
	res := g.mustDo(nil, "GET", "/api/shared/"+strings.Repeat("B", 43), nil, http.StatusTooManyRequests, nil)
	if res.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The owner's own pages are not counted.
	g.mustDo(u, "GET", "/api/images/"+img.ID, nil, http.StatusOK, nil)
}
