package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/sessions"
	"github.com/sortographer/sortographer/internal/store"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	logKey
	infoKey
	sessionKey
)

// requestInfo is filled in by handlers deep in the chain for the request's log line.
type requestInfo struct {
	userID int64
}

// RequestIDHeader carries a request's id in and out; the same id is in every log line
// about the request.
const RequestIDHeader = "X-Request-Id"

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// log is the logger for a request: the server's, with the request id (and the user,
// once known).
func (s *Server) log(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey).(*slog.Logger); ok {
		return l
	}
	return s.d.Log
}

// validRequestID accepts an id from a proxy (ingress, ALB) when it is short and plain,
// so a client cannot inject anything into the logs.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		plain := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !plain {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// statusWriter records what a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives every request an id, a logger, a log line, metrics and a recovery from
// panics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		log := s.d.Log.With("requestId", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, logKey, log)
		info := &requestInfo{}
		ctx = context.WithValue(ctx, infoKey, info)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(p) // the server's own signal to drop the connection
				}
				log.Error("request panicked", "panic", p, "path", loggedPath(r.URL.Path))
				if sw.status == 0 {
					writeError(sw, r, http.StatusInternalServerError, "internal", "internal error")
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			// r.Pattern is set by the mux on this request: the route, not the path, so
			// metrics stay few whatever ids appear in URLs.
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			s.metrics.observe(r.Method, route, sw.status, elapsed)
			if route == "GET "+config.LivenessPath || route == "GET "+config.ReadinessPath {
				return // probes every few seconds would drown the log
			}
			if info.userID != 0 {
				log = log.With("userId", info.userID)
			}
			log.Info("served request", "method", r.Method, "route", route, "path", loggedPath(r.URL.Path),
				"status", sw.status, "bytes", sw.bytes, "durationMs", elapsed.Milliseconds(),
				"remote", s.clientAddr(r))
		}()
		next.ServeHTTP(sw, r)
	})
}

// Session cookies hold the session token for the web UI, HttpOnly, so page scripts
// never see it. Over TLS (HTTPS, or X-Forwarded-Proto https from the ingress) the
// cookie is SecureSessionCookie: the __Host- prefix makes the browser keep it only when
// it is Secure, has Path=/ and no Domain, so neither plain HTTP nor a sibling host can
// set or overwrite it. Plain HTTP (local use) gets SessionCookie. API clients send their
// token as "Authorization: Bearer" instead (see credentials.Bearer).
const (
	SessionCookie       = "sortographer_session"
	SecureSessionCookie = "__Host-sortographer_session"
)

// sessionCookieName is the cookie a request's session lives in: only the __Host-
// one over TLS, so a cookie planted over plain HTTP is never read there.
func sessionCookieName(r *http.Request) string {
	if secureRequest(r) {
		return SecureSessionCookie
	}
	return SessionCookie
}

// sessionToken finds the request's token: the Authorization header first, then the
// cookie.
func sessionToken(r *http.Request) (token string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok), false
		}
		return "", false
	}
	if c, err := r.Cookie(sessionCookieName(r)); err == nil {
		return c.Value, true
	}
	return "", false
}

// currentSession is the session of a request that authed let through.
func currentSession(r *http.Request) sessions.Session {
	ss, _ := r.Context().Value(sessionKey).(sessions.Session)
	return ss
}

// authed lets a handler run only for a signed-in user, whom it finds in the context,
// and the session in currentSession. The session and the user are both checked on
// every request (sessions.Manager.Check; Store.UserByID on the database writer, never
// a cache), so a revoked session, a deleted account or a removed admin role take
// effect on the next request on every replica.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, store.User)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, fromCookie := sessionToken(r)
		if token == "" {
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "sign in first")
			return
		}
		ss, err := s.d.Sessions.Check(r.Context(), token)
		if errors.Is(err, sessions.ErrInvalid) {
			if fromCookie {
				clearSessionCookie(w, r)
			}
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "session expired or invalid: sign in again")
			return
		}
		if err != nil {
			s.internalError(w, r, "checking the session", err)
			return
		}
		u, err := s.d.Store.UserByID(r.Context(), ss.UserID)
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "session expired or invalid: sign in again")
			return
		}
		if err != nil {
			s.internalError(w, r, "reading the signed-in user", err)
			return
		}
		// The account's state, read with it, refuses a disabled or deleted account at
		// once, on every replica, whatever its sessions (users.go, revokeSessions).
		if !accountUsable(w, r, u, fromCookie) {
			return
		}
		if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
			info.userID = u.ID
		}
		ctx := context.WithValue(r.Context(), logKey, s.log(r.Context()).With("userId", u.ID))
		ctx = context.WithValue(ctx, sessionKey, ss)
		s.readYourWrites(w, r.WithContext(ctx), u, h)
	})
}

// accountUsable answers and returns false for an account being deleted (401, like a
// deleted one) or disabled by an admin (403).
func accountUsable(w http.ResponseWriter, r *http.Request, u store.User, fromCookie bool) bool {
	switch {
	case u.Erasing():
		if fromCookie {
			clearSessionCookie(w, r)
		}
		writeError(w, r, http.StatusUnauthorized, "account_deleted", "this account has been deleted")
		return false
	case u.Disabled():
		writeError(w, r, http.StatusForbidden, "account_disabled", "this account has been disabled by an admin")
		return false
	}
	return true
}

// secureRequest reports whether the client reached the gallery over TLS: directly, or
// through an ingress that says so in X-Forwarded-Proto.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// HSTSHeader is sent on every response over TLS: browsers then use HTTPS only for the
// gallery's host, and the hosts under it, for a year (ASVS V14.4.5). Not over plain HTTP (browsers ignore it there, and local
// use must keep working).
const HSTSHeader = "max-age=31536000; includeSubDomains"

// transportSecurity sets Strict-Transport-Security on responses over TLS.
func transportSecurity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if secureRequest(r) {
			w.Header().Set("Strict-Transport-Security", HSTSHeader)
		}
		next.ServeHTTP(w, r)
	})
}

// setSessionCookie: HttpOnly so scripts cannot read the token, SameSite=Strict so other
// sites cannot ride on it, Secure with the __Host- prefix over TLS. A remember-me
// session's cookie persists across browser restarts until the session's absolute
// expiry (the server ends it earlier when idle); a normal one ends with the browser
// session.
func setSessionCookie(w http.ResponseWriter, r *http.Request, token string, ss sessions.Session) {
	ck := &http.Cookie{
		Name: sessionCookieName(r), Value: token, Path: "/",
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteStrictMode,
	}
	if ss.Remember {
		ck.Expires = ss.ExpiresAt
	}
	http.SetCookie(w, ck)
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteStrictMode,
	})
}
