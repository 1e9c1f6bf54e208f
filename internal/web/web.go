// Package web is the gallery's browser app: plain HTML, CSS and JavaScript embedded in
// the binary (no build step), talking to the JSON API under /api.
//
// The app routes in the browser; every deep link it makes (/images/<id>, /labels/<name>,
// /albums/<id>, a share link's /s/<token>) is answered here with the same page, so
// reloading or sharing a link works.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// contentSecurityPolicy allows only this origin's own scripts, styles and images: no
// inline script, so an injected label or file name cannot run.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the app's assets under /static/ and its page at every route the app
// knows.
func Handler() http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(static, "index.html")
	if err != nil {
		panic(err)
	}
	page := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The page is tiny and names the assets; always fetching it picks up a new
		// release at once.
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	}
	mux := http.NewServeMux()
	assets := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		assets.ServeHTTP(w, r)
	}))
	for _, p := range []string{"/{$}", "/signin", "/signup", "/upload", "/search", "/labels", "/labels/{name}", "/images/{id}",
		"/albums", "/albums/{id}", "/shares", "/admin", "/account"} {
		mux.HandleFunc("GET "+p, page)
	}
	// A share link's page: its token is in the URL, so no Referer may carry it away, and
	// search engines are asked not to index it.
	mux.HandleFunc("GET /s/{token}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Robots-Tag", "noindex, nofollow")
		page(w, r)
	})
	return secure(mux)
}

func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
