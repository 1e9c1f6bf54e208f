package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/web"
)

// TestAlbumAndShareRoutes: the album pages and a share link's page are deep links to
// the app, and a share link's page sends no Referer onwards.
func TestAlbumAndShareRoutes(t *testing.T) {
	h := web.Handler()
	for path, referrer := range map[string]string{
		"/albums":                       "same-origin",
		"/albums/0123abcd":              "same-origin",
		"/shares":                       "same-origin",
		"/s/" + strings.Repeat("A", 43): "no-referrer",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		res := rec.Result()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `<script src="/static/albums.js"`) {
			t.Errorf("GET %s = %d, want the app page with albums.js", path, res.StatusCode)
		}
		if got := res.Header.Get("Referrer-Policy"); got != referrer {
			t.Errorf("GET %s: Referrer-Policy %q, want %q", path, got, referrer)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/albums.js", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") {
		t.Errorf("GET /static/albums.js = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, p := range []string{"/s/", "/s/a/b", "/albums/a/b"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, rec.Code)
		}
	}
}
