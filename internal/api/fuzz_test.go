package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// fuzzRoutes are the GET endpoints whose query string the fuzzer writes.
var fuzzRoutes = []string{"/api/images", "/api/search", "/api/labels", "/api/label-albums", "/api/albums", "/api/shares", "/api/me"}

// fuzzGallery is a server on SQLite and files, built once per fuzz target (newGallery
// wants a *testing.T), with one user owning fuzzImages images, labelled from
// fuzzLabels (dog and cat with the parent animal), every third with a text, and another
// user owning one image the first must never see.
type fuzzGallery struct {
	handler http.Handler
	// token is userID's session token.
	token  string
	userID int64
	owned  map[string]bool
}

const fuzzImages = 30

var fuzzLabels = []string{"dog", "cat", "beach", "sky", "tree"}

var fuzzParents = map[string][]string{"dog": {"animal"}, "cat": {"animal"}}

func newFuzzGallery(f *testing.F) *fuzzGallery {
	f.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, config.Database{Driver: config.DriverSQLite}, filepath.Join(f.TempDir(), "gallery.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	objs, err := objects.NewFilesystem(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	sm := newSessions(f, st, nil)
	fg := &fuzzGallery{owned: map[string]bool{}}
	for n, email := range []string{"fuzz@example.com", "other@example.com"} {
		u, err := st.CreateUser(ctx, store.NewUser{Email: email, PasswordHash: "x"})
		if err != nil {
			f.Fatal(err)
		}
		count := 1
		if n == 0 {
			count = fuzzImages
			fg.userID = u.ID
			if fg.token, _, err = sm.Start(ctx, u.ID, false, "fuzz"); err != nil {
				f.Fatal(err)
			}
		}
		for i := range count {
			img, err := st.CreateImage(ctx, store.Image{
				OwnerID: u.ID, ObjectKey: fmt.Sprintf("o/%d/%d", u.ID, i), ThumbnailKey: fmt.Sprintf("t/%d/%d", u.ID, i),
				ContentType: "image/jpeg", SizeBytes: 1, Width: 1, Height: 1, SHA256: fmt.Sprintf("%064x", u.ID*1000+int64(i)),
				// Equal times on purpose: pages must break ties by id.
				CreatedAt: time.Unix(1_700_000_000+int64(i/3), 0),
			})
			if err != nil {
				f.Fatal(err)
			}
			c := store.Classification{Provider: "test", Model: "test"}
			for k, l := range fuzzLabels {
				if (i+k)%2 == 0 {
					c.Labels = append(c.Labels, store.Label{Name: l, Confidence: 90, Categories: fuzzParents[l]})
				}
			}
			if i%3 == 0 {
				c.Text = &store.Text{Content: fmt.Sprintf("sign %d: a tree by the beach\n해변에서 만나요", i), Confidence: 80, Provider: "test"}
			}
			if err := st.SetLabels(ctx, img.ID, c); err != nil {
				f.Fatal(err)
			}
			if n == 0 {
				fg.owned[img.ID] = true
			}
		}
	}
	srv := api.New(api.Deps{
		Store: st, Objects: objs, Queue: queue.NewMemory(queue.Options{}), Sessions: sm,
		Log:            slog.New(slog.DiscardHandler),
		MaxUploadBytes: 1 << 20, UI: http.NotFoundHandler(),
	})
	fg.handler = srv.Handler()
	return fg
}

// get sends one GET straight to the handler, with an Authorization header as given.
func (fg *fuzzGallery) get(path, rawQuery, authorization string) (int, []byte) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.URL = &url.URL{Path: path, RawQuery: rawQuery}
	req.RequestURI = req.URL.RequestURI()
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	fg.handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// checkClientError fails unless an answer is a 2xx or a 4xx with the API's error body.
func checkClientError(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s = %d %s: bad input must be a client error", what, status, body)
	}
	if status >= 400 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s = %d with body %s: want the API's error JSON", what, status, body)
		}
	}
}

// FuzzQueryParameters sends arbitrary query strings (limit, cursor, q, label, labels
// and anything else) to the listing endpoints. Properties: never a 5xx, every 4xx has
// the API's error body; a page holds only the user's own images, no more than the limit
// asked (or the default), newest first (within each rank, ranks in order, for a search
// by q); and following its next cursor gives a page of strictly later images, none
// repeated.
func FuzzQueryParameters(f *testing.F) {
	fg := newFuzzGallery(f)
	// Real cursors: the first page's next cursor, from the listing and from a search.
	_, body := fg.get("/api/images", "limit=3", "Bearer "+fg.token)
	var first struct{ Next *string }
	_ = json.Unmarshal(body, &first)
	if first.Next == nil {
		f.Fatalf("the seed listing has no next page: %s", body)
	}
	cursor := url.QueryEscape(*first.Next)
	for _, s := range []struct {
		route uint8
		query string
	}{
		{0, ""}, {0, "limit=1"}, {0, "limit=500"}, {0, "limit=501"}, {0, "limit=-1"}, {0, "limit=0x10"},
		{0, "limit=2&cursor=" + cursor}, {0, "cursor=" + cursor + "&cursor=x"}, {0, "cursor=djEuMTIz"},
		{1, "label=dog"}, {1, "labels=dog,cat&limit=2"}, {1, "label=DOG&label=%20sky%20"}, {1, "label=dog&cursor=" + cursor},
		{1, "labels=" + strings.Repeat("a,", 11)}, {1, ""}, {1, "label=%ff%fe"}, {1, "label=" + strings.Repeat("x", 300)},
		{1, "q=tree&limit=4"}, {1, "q=animal,beach&limit=2"}, {1, "q=%ED%95%B4%EB%B3%80"}, {1, "q=dog&label=dog"}, {1, "q=,"},
		{1, "q=sky&cursor=" + cursor}, {1, "q=%22w_tree%22+OR+*"}, {1, "q='%5C"},
		{2, ""}, {3, "x=1"}, {4, "limit=2"}, {5, "cursor=abc"}, {6, "%zz"},
	} {
		f.Add(s.route, s.query)
	}
	f.Fuzz(func(t *testing.T, route uint8, rawQuery string) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		status, body := fg.get(path, rawQuery, "Bearer "+fg.token)
		checkClientError(t, path+"?"+rawQuery, status, body)
		if status != http.StatusOK || (path != "/api/images" && path != "/api/search") {
			return
		}
		q, _ := url.ParseQuery(rawQuery)
		limit := store.DefaultPageSize
		if n, err := strconv.Atoi(q.Get("limit")); err == nil {
			limit = n // a 200 means the server took it as given
		}
		page := fg.checkPage(t, path+"?"+rawQuery, body, limit)
		if page.Next == nil {
			return
		}
		q.Set("cursor", *page.Next)
		status, body = fg.get(path, q.Encode(), "Bearer "+fg.token)
		if status != http.StatusOK {
			t.Fatalf("following the next cursor of %s?%s = %d %s", path, rawQuery, status, body)
		}
		next := fg.checkPage(t, path+"?"+q.Encode(), body, limit)
		if len(next.Images) == 0 {
			t.Fatalf("a next cursor led to an empty page")
		}
		last, firstNext := page.Images[len(page.Images)-1], next.Images[0]
		if !after(firstNext, last) {
			t.Fatalf("the next page starts at %s %v/%s, not after %s %v/%s", firstNext.Rank, firstNext.CreatedAt, firstNext.ID, last.Rank, last.CreatedAt, last.ID)
		}
	})
}

// fuzzPage is the part of a page the properties read.
type fuzzPage struct {
	Images []fuzzImage
	Next   *string
}

type fuzzImage struct {
	ID        string
	CreatedAt time.Time
	// Rank is set by a search by q: label, parent, text, in that order.
	Rank string
}

// after orders images as pages do: by rank (a search by q), then newest first.
func after(img, prev fuzzImage) bool {
	rank := map[string]int{"": 0, "label": 0, "parent": 1, "text": 2}
	if r, p := rank[img.Rank], rank[prev.Rank]; r != p {
		return r > p
	}
	return olderThan(img.CreatedAt, img.ID, prev.CreatedAt, prev.ID)
}

// checkPage checks one page: own images only, at most limit, in order (after).
func (fg *fuzzGallery) checkPage(t *testing.T, what string, body []byte, limit int) fuzzPage {
	t.Helper()
	var p fuzzPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%s: decode %s: %v", what, body, err)
	}
	if len(p.Images) > limit {
		t.Fatalf("%s: %d images, limit %d", what, len(p.Images), limit)
	}
	for i, img := range p.Images {
		if !fg.owned[img.ID] {
			t.Fatalf("%s: image %s is not the user's", what, img.ID)
		}
		if i > 0 && !after(img, p.Images[i-1]) {
			t.Fatalf("%s: images out of order at %d", what, i)
		}
	}
	return p
}

// olderThan orders images as listings do: by creation time, then id, descending.
func olderThan(at time.Time, id string, thanAt time.Time, thanID string) bool {
	return at.Before(thanAt) || at.Equal(thanAt) && id < thanID
}

// FuzzAuthorization sends arbitrary Authorization headers and session cookies.
// Properties: never a 5xx; a 4xx has the API's error body; only a credential holding a
// token the gallery issued gets in, as the user it names.
func FuzzAuthorization(f *testing.F) {
	fg := newFuzzGallery(f)
	// signedIn is the user whose token credential holds: the gallery issued one only.
	signedIn := func(credential string) (int64, bool) {
		for _, field := range strings.FieldsFunc(credential, func(r rune) bool { return r == ' ' || r == ';' || r == '=' || r == '\t' }) {
			if field == fg.token {
				return fg.userID, true
			}
		}
		return 0, false
	}

	for _, s := range []string{
		"Bearer " + fg.token, "bearer " + fg.token, "Bearer  " + fg.token, "Bearer " + fg.token + "x", "Basic Zm9vOmJhcg==",
		"Bearer", "Bearer ", "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", fg.token,
	} {
		f.Add(s, false)
		f.Add(strings.TrimPrefix(s, "Bearer "), true)
	}
	f.Fuzz(func(t *testing.T, credential string, asCookie bool) {
		req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		if asCookie {
			req.Header.Set("Cookie", api.SessionCookie+"="+credential)
		} else {
			req.Header.Set("Authorization", credential)
		}
		rec := httptest.NewRecorder()
		fg.handler.ServeHTTP(rec, req)
		checkClientError(t, fmt.Sprintf("GET /api/me with %q (cookie %v)", credential, asCookie), rec.Code, rec.Body.Bytes())
		if rec.Code != http.StatusOK {
			return
		}
		var got struct{ ID int64 }
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("decode /api/me: %v", err)
		}
		if id, ok := signedIn(credential); !ok || id != got.ID {
			t.Fatalf("%q (cookie %v) signed in as user %d; its tokens name %d (%v)", credential, asCookie, got.ID, id, ok)
		}
	})
}
