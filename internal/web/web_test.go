package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/web"
)

func TestRoutes(t *testing.T) {
	h := web.Handler()
	get := func(path string) (*http.Response, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		res := rec.Result()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for _, p := range []string{"/", "/signin", "/signup", "/labels", "/labels/golden%20retriever", "/images/0123abcd"} {
		res, body := get(p)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `<script src="/static/app.js"`) {
			t.Errorf("GET %s = %d, want the app page", p, res.StatusCode)
		}
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", p, res.Header.Get("Content-Security-Policy"))
		}
	}
	for p, ct := range map[string]string{"/static/app.js": "javascript", "/static/app.css": "text/css"} {
		if res, _ := get(p); res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), ct) {
			t.Errorf("GET %s = %d %s", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	for _, p := range []string{"/nothing", "/images/a/b", "/static/missing.js"} {
		if res, _ := get(p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, res.StatusCode)
		}
	}
}
