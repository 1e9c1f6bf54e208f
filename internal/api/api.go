// Package api is the gallery's HTTP server: the JSON API under /api (described by
// /api/openapi.json), health endpoints, and the web UI mounted at /; and its Prometheus
// metrics, served apart (MetricsHandler).
//
// Every image endpoint is scoped to the signed-in user: another user's image answers
// 404 exactly as a missing one does, so ids cannot be probed.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/sortographer/sortographer/internal/auth"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/sessions"
	"github.com/sortographer/sortographer/internal/store"
)

// Check is one dependency that readiness depends on.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps is what the server needs. Store, Objects, Queue, Sessions and Log are required.
type Deps struct {
	// Store is the database (store.go lists what each handler file uses of it).
	Store   Store
	Objects objects.Store
	Queue   queue.Producer
	// Sessions starts, checks and revokes sign-in sessions (internal/sessions).
	Sessions *sessions.Manager
	Log      *slog.Logger

	// SignInLimits limit sign-in and sign-up attempts (signinlimits.go). Nil: unlimited.
	SignInLimits *SignInLimits
	// Devices issues the device tokens that exempt a browser that signed in to an
	// account before from that account's failure limit. Nil: no browser is exempt.
	Devices *auth.Devices
	// TrustedProxies are the proxies (ingress, load balancer) whose X-Forwarded-For
	// names the client's address (clientaddr.go). Empty: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// UploadLimiter counts upload requests per user. Nil: unlimited.
	UploadLimiter ratelimit.Limiter
	// Ready are the checks of /readyz: the database and Redis, never the classifier.
	Ready []Check
	// Registry receives the server's metrics, which MetricsHandler serves (on the
	// metrics address, never on the public one). Nil: a new one.
	Registry *prometheus.Registry
	// UI serves everything outside /api (the web app). Nil: 404.
	UI http.Handler

	// MaxUploadBytes is the largest photo accepted.
	MaxUploadBytes int64
	// MaxFilesPerUpload caps the photos in one request. Zero: DefaultMaxFilesPerUpload.
	MaxFilesPerUpload int
	AllowSignUp       bool
	// Admins are spec.auth.admins: with SSO, addresses whose owners get the admin role
	// when they sign in through the provider with that address verified; without, a
	// first-run bootstrap (accounts.go bootstrapAdmin).
	Admins []string
	// SSO turns on single sign-on through an OpenID provider. Nil: off.
	SSO *SingleSignOn
	// RecentWrites marks users who just wrote, so that their reads go to the database
	// writer for a while and show them their own writes (read-your-writes, with read
	// replicas). Nil: no marks.
	RecentWrites RecentWrites

	// SharingDisabled refuses new share links and stops serving existing ones
	// (config.Auth.SharingEnabled false). ShareMaxLifetime caps a link's lifetime:
	// links asked for without an expiry, or a later one, expire after it; zero: no cap.
	SharingDisabled  bool
	ShareMaxLifetime time.Duration
	// ShareKeepsLocation serves shared photos' originals as uploaded, location
	// metadata and all (config.Auth.ShareStripLocation false); by default a link serves
	// a copy without metadata (imaging.SharedCopy). The zero value strips.
	ShareKeepsLocation bool
	// ShareLimiter counts requests to share links (/api/shared) per client address.
	// Nil: unlimited.
	ShareLimiter ratelimit.Limiter
	// ExportLimiter counts data exports (GET /api/me/export) per user. Nil: unlimited
	// (one at a time per user on each replica still holds).
	ExportLimiter ratelimit.Limiter

	// Quota is the Gallery's default storage quota (spec.auth.quota); each user's
	// override, set by an admin, applies on top. The zero value is unlimited.
	Quota store.Quota

	// SearchExamples are words the configured classifier can give, which GET /api/me
	// passes on for the web UI's search box to suggest. Nil: none.
	SearchExamples []string
}

// DefaultMaxFilesPerUpload is the default cap on photos in one upload request.
const DefaultMaxFilesPerUpload = 20

// Server serves the gallery.
type Server struct {
	d        Deps
	metrics  *metrics
	handler  http.Handler
	draining atomic.Bool
	// displays makes each display image once at a time (display.go).
	displays singleflight.Group
	// exports are the data exports running (export.go).
	exports *exports
}

// New builds the server.
func New(d Deps) *Server {
	if d.MaxFilesPerUpload <= 0 {
		d.MaxFilesPerUpload = DefaultMaxFilesPerUpload
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	s := &Server{d: d, exports: newExports()}
	s.metrics = newMetrics(d.Registry, d.Queue, d.Store, d.Log)
	s.handler = s.routes()
	return s
}

// Handler is the server's HTTP handler: the web app, the API and the probes.
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves Deps.Registry in the Prometheus formats, for the metrics
// address (config.Config.MetricsAddr); Handler does not serve it, so that the metrics
// are not public on the gallery's host name.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler(s.d.Registry) }

// Drain makes /readyz fail, so load balancers stop sending new requests while the
// in-flight ones finish. Call it when shutdown begins.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := http.NewServeMux()
	// Patterns carry the method; the "/api" prefix is added below, and the OpenAPI
	// test reads this table to check every route is documented.
	for _, r := range s.apiRoutes() {
		api.Handle(r.method+" "+r.path, r.handler)
	}
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
	// Browsers send Sec-Fetch-Site and Origin; a cross-site POST or DELETE riding on the
	// session cookie is refused. API clients using a bearer token send neither and pass.
	mux.Handle("/api/", http.NewCrossOriginProtection().Handler(api))
	mux.HandleFunc("GET "+config.LivenessPath, s.livez)
	mux.HandleFunc("GET "+config.ReadinessPath, s.readyz)
	if s.d.UI != nil {
		mux.Handle("/", s.d.UI)
	}
	return s.observe(transportSecurity(s.traced(mux)))
}

type route struct {
	method, path string
	handler      http.Handler
}

func (s *Server) apiRoutes() []route {
	return []route{
		{"POST", "/api/auth/signup", http.HandlerFunc(s.signUp)},
		{"POST", "/api/auth/signin", http.HandlerFunc(s.signIn)},
		{"POST", "/api/auth/signout", http.HandlerFunc(s.signOut)},
		{"GET", "/api/auth/config", http.HandlerFunc(s.authConfig)},
		{"GET", "/api/auth/oidc/start", http.HandlerFunc(s.oidcStart)},
		{"GET", "/api/auth/oidc/callback", http.HandlerFunc(s.oidcCallback)},
		{"POST", "/api/auth/signout-everywhere", s.authed(s.signOutEverywhere)},
		{"GET", "/api/me", s.authed(s.me)},
		{"POST", "/api/me/password", s.authed(s.changePassword)},
		{"GET", "/api/sessions", s.authed(s.listSessions)},
		{"DELETE", "/api/sessions/{id}", s.authed(s.revokeSession)},
		{"GET", "/api/me/export", s.authed(s.exportData)},
		{"POST", "/api/images", s.authed(s.upload)},
		{"GET", "/api/images", s.authed(s.listImages)},
		{"GET", "/api/images/{id}", s.authed(s.getImage)},
		{"DELETE", "/api/images/{id}", s.authed(s.deleteImage)},
		{"GET", "/api/images/{id}/original", s.authed(s.original)},
		{"GET", "/api/images/{id}/thumbnail", s.authed(s.thumbnail)},
		{"GET", "/api/images/{id}/display", s.authed(s.display)},
		{"POST", "/api/images/{id}/reclassify", s.authed(s.reclassifyImage)},
		{"POST", "/api/images/reclassify", s.authed(s.reclassifyAll)},
		{"GET", "/api/admin/stats", s.admin(s.adminStats)},
		{"GET", "/api/admin/users", s.admin(s.adminListUsers)},
		{"PUT", "/api/admin/users/{id}/quota", s.admin(s.adminSetQuota)},
		{"POST", "/api/admin/users/{id}/disable", s.admin(s.adminDisable)},
		{"POST", "/api/admin/users/{id}/enable", s.admin(s.adminEnable)},
		{"DELETE", "/api/admin/users/{id}", s.admin(s.adminDeleteUser)},
		{"DELETE", "/api/me", s.authed(s.deleteOwnAccount)},
		{"GET", "/api/search", s.authed(s.search)},
		{"GET", "/api/labels", s.authed(s.labels)},
		{"GET", "/api/label-albums", s.authed(s.labelAlbums)},
		{"GET", "/api/albums", s.authed(s.listAlbums)},
		{"POST", "/api/albums", s.authed(s.createAlbum)},
		{"GET", "/api/albums/{id}", s.authed(s.getAlbum)},
		{"PATCH", "/api/albums/{id}", s.authed(s.renameAlbum)},
		{"DELETE", "/api/albums/{id}", s.authed(s.deleteAlbum)},
		{"GET", "/api/albums/{id}/images", s.authed(s.albumImages)},
		{"POST", "/api/albums/{id}/images", s.authed(s.addToAlbum)},
		{"DELETE", "/api/albums/{id}/images/{imageId}", s.authed(s.removeFromAlbum)},
		{"GET", "/api/shares", s.authed(s.listShares)},
		{"POST", "/api/shares", s.authed(s.createShare)},
		{"DELETE", "/api/shares/{id}", s.authed(s.revokeShare)},
		{"GET", "/api/shared/{token}", s.shared(s.getShared)},
		{"GET", "/api/shared/{token}/images", s.shared(s.sharedImages)},
		{"GET", "/api/shared/{token}/images/{id}/original", s.shared(s.sharedOriginal)},
		{"GET", "/api/shared/{token}/images/{id}/thumbnail", s.shared(s.sharedThumbnail)},
		{"GET", "/api/shared/{token}/images/{id}/display", s.shared(s.sharedDisplay)},
		{"GET", "/api/openapi.json", http.HandlerFunc(serveOpenAPI)},
	}
}

// errorBody is every error response: {"error": {"code", "message", "requestId"}}.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId,omitempty"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.RequestID = code, message, requestID(r.Context())
	writeJSON(w, status, b)
}

// internalError logs err with the request's id and answers 500 without details, or
// 503 with a Retry-After when err says the database cannot be reached now (a failover,
// a restart): the request may succeed when retried.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if databaseUnavailable(err) {
		s.log(r.Context()).Warn("request failed: the database is unavailable", "during", what, "error", err)
		w.Header().Set("Retry-After", unavailableRetryAfter)
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "the gallery cannot reach its database right now; try again shortly")
		return
	}
	s.log(r.Context()).Error("request failed", "during", what, "error", err)
	writeError(w, r, http.StatusInternalServerError, "internal", "internal error while "+what+"; quote the request id when reporting it")
}

// readJSON decodes a small JSON body into v, refusing unknown fields.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "request body must be a JSON object: "+err.Error())
		return false
	}
	return true
}

// notFound answers 404 for a missing image and for another user's alike.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, "not_found", "no such image")
}

func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, objects.ErrNotFound)
}

// timeJSON is a time in RFC 3339 (UTC), or null when zero.
func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
