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
// that cannot be reached lets the request through; the server's limiters fall back to
// the process while Redis is down (ratelimit.Fallback), so this happens only with one
// that has no fallback. Sign-in and sign-up use admitSignIn and admitSignUp instead,
// which never let an attempt through unlimited.
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

// signUpJSON is the answer to every accepted sign-up, whether the address was new or
// already had an account: the client then signs in.
type signUpJSON struct {
	Status string `json:"status"`
}

// signUpAccepted is signUpJSON's only status.
const signUpAccepted = "accepted"

// writePasswordError answers 400 for a password the policy refuses, saying which rule.
func writePasswordError(w http.ResponseWriter, r *http.Request, err error) bool {
	var pe *auth.PasswordError
	if !errors.As(err, &pe) {
		return false
	}
	writeError(w, r, http.StatusBadRequest, pe.Code, pe.Reason)
	return true
}

// signUp creates an account and answers 202 with no session, for a new address and for
// one that already has an account alike (same status, body and work: a bcrypt hash and
// an insert), so that sign-up does not tell who has an account here (account
// enumeration, OWASP WSTG-IDNT-04). The client signs in next; for a taken address that
// sign-in fails like a wrong password, and counts as a failure on that account:
// docs/security.md says what an attacker can still learn.
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
	if err := auth.CheckPasswordPolicy(c.Password); writePasswordError(w, r, err) {
		return
	}
	if !s.admitSignUp(w, r) {
		return
	}
	hash, err := auth.HashPassword(c.Password)
	if writePasswordError(w, r, err) {
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
	switch {
	case errors.Is(err, store.ErrDuplicate):
		s.log(r.Context()).Info("refused sign-up for an address that has an account")
	case err != nil:
		s.internalError(w, r, "creating the account", err)
		return
	default:
		s.log(r.Context()).Info("signed up user", "userId", u.ID)
	}
	writeJSON(w, http.StatusAccepted, signUpJSON{Status: signUpAccepted})
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
	attempt, ok := s.admitSignIn(w, r, c.Email, s.knownDevice(r, c.Email))
	if !ok {
		return
	}
	u, err := s.d.Store.UserByEmail(r.Context(), c.Email)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && u.Erasing():
		// As long as a wrong password, and counted as a failure like one, so that
		// neither time nor limits tell which emails have accounts.
		auth.SpendPasswordCheck(c.Password)
		writeError(w, r, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		return
	case err != nil:
		attempt.succeeded(r.Context()) // not a failed password
		s.internalError(w, r, "reading the account", err)
		return
	case u.PasswordHash == "", s.d.SSO != nil && u.OIDCSubject != "":
		// An account made by single sign-on has no password, and one linked to the
		// provider signs in through it, where its admin role is decided afresh.
		auth.SpendPasswordCheck(c.Password)
		writeError(w, r, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		return
	}
	if err := auth.CheckPassword(u.PasswordHash, c.Password); err != nil {
		if !errors.Is(err, auth.ErrWrongPassword) {
			attempt.succeeded(r.Context())
			s.internalError(w, r, "checking the password", err)
			return
		}
		writeError(w, r, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		return
	}
	attempt.succeeded(r.Context())
	// Told only to whoever knows the password.
	if u.Disabled() {
		writeError(w, r, http.StatusForbidden, "account_disabled", "this account has been disabled by an admin")
		return
	}
	s.giveDevice(w, r, c.Email)
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
	// Quota is what the user has stored and may store (users.go).
	Quota quotaJSON `json:"quota"`
}

func (s *Server) me(w http.ResponseWriter, _ *http.Request, u store.User) {
	writeJSON(w, http.StatusOK, meJSON{userJSON: toUserJSON(u), SearchExamples: append([]string{}, s.d.SearchExamples...), Quota: s.quotaOf(u)})
}

// detached keeps a context's values but not its cancellation, for cleanup that must
// finish even when the client has gone.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}
