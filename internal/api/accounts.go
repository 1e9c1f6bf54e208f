package api

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/auth"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/sessions"
	"github.com/sortographer/sortographer/internal/store"
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Remember asks for a long session that is renewed while in use.
	Remember bool `json:"remember"`
	// Bearer asks for a session for an API client: the token comes back in the body,
	// for "Authorization: Bearer", and no cookie is set. Without it (the web UI) the
	// token is only in an HttpOnly cookie, never in a body or header a page script
	// could read.
	Bearer bool `json:"bearer"`
}

type userJSON struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	IsAdmin   bool      `json:"isAdmin"`
	CreatedAt time.Time `json:"createdAt"`
	// DisplayName is the name the single sign-on provider gave; empty otherwise.
	DisplayName string `json:"displayName,omitempty"`
	// SingleSignOn reports an account linked to the single sign-on provider.
	SingleSignOn bool `json:"singleSignOn"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{
		ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt.UTC(),
		DisplayName: u.DisplayName, SingleSignOn: u.OIDCSubject != "",
	}
}

type sessionJSON struct {
	User userJSON `json:"user"`
	// Token is set only for a sign-in that asked for it (credentials.Bearer).
	Token string `json:"token,omitempty"`
	// ExpiresAt is the session's absolute expiry; unused, it ends sooner
	// (idleExpiresAt), and each use pushes that on.
	ExpiresAt     time.Time `json:"expiresAt"`
	IdleExpiresAt time.Time `json:"idleExpiresAt"`
}

// maxEmailBytes is RFC 5321's limit on an address.
const maxEmailBytes = 254

func validEmail(email string) bool {
	if len(email) > maxEmailBytes {
		return false
	}
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email && a.Name == ""
}

// limited counts an attempt against a limiter and answers 429 when over. A limiter
// that cannot be reached (Redis down) lets the request through: an outage of the
// limiter must not lock everyone out.
func (s *Server) limited(w http.ResponseWriter, r *http.Request, l ratelimit.Limiter, keys ...string) bool {
	if l == nil {
		return false
	}
	for _, k := range keys {
		res, err := l.Allow(r.Context(), k)
		if err != nil {
			s.log(r.Context()).Warn("rate limiter unavailable; allowing request", "error", err)
			return false
		}
		if !res.Allowed {
			secs := int(res.RetryAfter.Round(time.Second) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			writeError(w, r, http.StatusTooManyRequests, "rate_limited", "too many attempts; try again later")
			return true
		}
	}
	return false
}

func (s *Server) signUp(w http.ResponseWriter, r *http.Request) {
	if s.localPasswordsOff(w, r) {
		return
	}
	if !s.d.AllowSignUp {
		writeError(w, r, http.StatusForbidden, "signup_closed", "sign-up is closed on this gallery")
		return
	}
	var c credentials
	if !readJSON(w, r, &c) {
		return
	}
	c.Email = strings.ToLower(strings.TrimSpace(c.Email))
	if !validEmail(c.Email) {
		writeError(w, r, http.StatusBadRequest, "bad_email", "a valid email address is required")
		return
	}
	if s.limited(w, r, s.d.SignInLimiter, "signup:"+c.Email) {
		return
	}
	hash, err := auth.HashPassword(c.Password)
	if errors.Is(err, auth.ErrWeakPassword) {
		writeError(w, r, http.StatusBadRequest, "bad_password", err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, "hashing the password", err)
		return
	}
	admin, err := s.bootstrapAdmin(r.Context(), c.Email)
	if err != nil {
		s.internalError(w, r, "looking for an admin", err)
		return
	}
	u, err := s.d.Store.CreateUser(r.Context(), store.NewUser{Email: c.Email, PasswordHash: hash, IsAdmin: admin})
	if errors.Is(err, store.ErrDuplicate) {
		writeError(w, r, http.StatusConflict, "email_taken", "an account with this email already exists")
		return
	}
	if err != nil {
		s.internalError(w, r, "creating the account", err)
		return
	}
	s.log(r.Context()).Info("signed up user", "userId", u.ID)
	s.startSessionFor(w, r, u, c, http.StatusCreated)
}

// bootstrapAdmin decides whether a password sign-up gets the admin role. Typing an
// address proves nothing, so with single sign-on on it never does: the role comes from
// the provider (oidc.go). Without single sign-on, spec.auth.admins is a first-run
// bootstrap: a listed address gets the role while the gallery has no admin at all, so
// an operator who lists an address and signs it up before opening the gallery has an
// admin, and nobody can take the role later by signing up an address first.
func (s *Server) bootstrapAdmin(ctx context.Context, email string) (bool, error) {
	if s.d.SSO != nil || !s.listedAdmin(email) {
		return false, nil
	}
	has, err := s.d.Store.HasAdmin(ctx)
	return !has, err
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if s.localPasswordsOff(w, r) {
		return
	}
	var c credentials
	if !readJSON(w, r, &c) {
		return
	}
	c.Email = strings.ToLower(strings.TrimSpace(c.Email))
	// Per email, against guessing one account's password. Not per client address:
	// behind an ingress every request comes from the ingress (see clientAddr), so that
	// would throttle all users together.
	if s.limited(w, r, s.d.SignInLimiter, "email:"+c.Email) {
		return
	}
	u, err := s.d.Store.UserByEmail(r.Context(), c.Email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		auth.SpendPasswordCheck(c.Password)
		writeError(w, r, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		return
	case err != nil:
		s.internalError(w, r, "reading the account", err)
		return
	case u.PasswordHash == "":
		// An account made by single sign-on has no password.
		auth.SpendPasswordCheck(c.Password)
		writeError(w, r, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		return
	}
	if err := auth.CheckPassword(u.PasswordHash, c.Password); err != nil {
		if !errors.Is(err, auth.ErrWrongPassword) {
			s.internalError(w, r, "checking the password", err)
			return
		}
		writeError(w, r, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		return
	}
	s.startSessionFor(w, r, u, c, http.StatusOK)
}

// startSessionFor starts the session a sign-in or sign-up asked for: a bearer token
// in the body for an API client (c.Bearer), else a cookie session.
func (s *Server) startSessionFor(w http.ResponseWriter, r *http.Request, u store.User, c credentials, status int) {
	if c.Bearer {
		s.startBearerSession(w, r, u, c.Remember, status)
		return
	}
	s.startSession(w, r, u, c.Remember, status)
}

// startSession signs u in for a browser: a new server-side session whose token goes
// only into the HttpOnly session cookie, and the user in a JSON body with status. The
// token is in no header and no body. Every way of signing in ends here (or in
// beginSession, for a flow that answers with a redirect instead of JSON).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User, remember bool, status int) {
	ss, ok := s.beginSession(w, r, u, remember)
	if !ok {
		return
	}
	writeJSON(w, status, sessionJSON{User: toUserJSON(u), ExpiresAt: ss.ExpiresAt, IdleExpiresAt: ss.IdleExpiresAt})
}

// beginSession starts a cookie session for u and sets the cookie; on failure it has
// answered the request and returns false.
func (s *Server) beginSession(w http.ResponseWriter, r *http.Request, u store.User, remember bool) (sessions.Session, bool) {
	token, ss, err := s.d.Sessions.Start(r.Context(), u.ID, remember, r.UserAgent())
	if err != nil {
		s.internalError(w, r, "starting the session", err)
		return sessions.Session{}, false
	}
	setSessionCookie(w, r, token, ss)
	return ss, true
}

// startBearerSession signs u in for an API client: the token in the body, no cookie.
func (s *Server) startBearerSession(w http.ResponseWriter, r *http.Request, u store.User, remember bool, status int) {
	token, ss, err := s.d.Sessions.Start(r.Context(), u.ID, remember, r.UserAgent())
	if err != nil {
		s.internalError(w, r, "starting the session", err)
		return
	}
	writeJSON(w, status, sessionJSON{User: toUserJSON(u), Token: token, ExpiresAt: ss.ExpiresAt, IdleExpiresAt: ss.IdleExpiresAt})
}

// signOut revokes the request's session (cookie or bearer token) on every replica and
// clears the cookie. Without a session it only clears the cookie.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	token, _ := sessionToken(r)
	clearSessionCookie(w, r)
	if token != "" {
		if err := s.d.Sessions.End(r.Context(), token); err != nil {
			s.internalError(w, r, "ending the session", err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// meJSON is GET /api/me: the user, and what the web UI needs to know of the gallery.
type meJSON struct {
	userJSON
	SearchExamples []string `json:"searchExamples"`
}

func (s *Server) me(w http.ResponseWriter, _ *http.Request, u store.User) {
	writeJSON(w, http.StatusOK, meJSON{userJSON: toUserJSON(u), SearchExamples: append([]string{}, s.d.SearchExamples...)})
}

// detached keeps a context's values but not its cancellation, for cleanup that must
// finish even when the client has gone.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}
