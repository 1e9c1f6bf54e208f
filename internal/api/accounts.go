package api

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/auth"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/store"
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Remember asks for a long session that is renewed while in use.
	Remember bool `json:"remember"`
}

type userJSON struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	IsAdmin   bool      `json:"isAdmin"`
	CreatedAt time.Time `json:"createdAt"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt.UTC()}
}

type sessionJSON struct {
	User userJSON `json:"user"`
	// Token is for API clients (Authorization: Bearer); the web UI uses the cookie.
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
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
	u, err := s.d.Store.CreateUser(r.Context(), store.NewUser{
		Email: c.Email, PasswordHash: hash, IsAdmin: slices.ContainsFunc(s.d.Admins, func(a string) bool {
			return strings.EqualFold(strings.TrimSpace(a), c.Email)
		}),
	})
	if errors.Is(err, store.ErrDuplicate) {
		writeError(w, r, http.StatusConflict, "email_taken", "an account with this email already exists")
		return
	}
	if err != nil {
		s.internalError(w, r, "creating the account", err)
		return
	}
	s.log(r.Context()).Info("signed up user", "userId", u.ID)
	s.startSession(w, r, u, c.Remember, http.StatusCreated)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
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
	case errors.Is(err, store.ErrNotFound), err == nil && u.Erasing():
		auth.SpendPasswordCheck(c.Password)
		writeError(w, r, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		return
	case err != nil:
		s.internalError(w, r, "reading the account", err)
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
	// Told only to whoever knows the password.
	if u.Disabled() {
		writeError(w, r, http.StatusForbidden, "account_disabled", "this account has been disabled by an admin")
		return
	}
	s.startSession(w, r, u, c.Remember, http.StatusOK)
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User, remember bool, status int) {
	token, claims, err := s.d.Tokens.Issue(u.ID, remember)
	if err != nil {
		s.internalError(w, r, "signing the session", err)
		return
	}
	setSessionCookie(w, r, token, claims)
	writeJSON(w, status, sessionJSON{User: toUserJSON(u), Token: token, ExpiresAt: claims.ExpiresAt})
}

// signOut clears the session cookie. Tokens are stateless, so a copy of the token kept
// elsewhere stays valid until it expires.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	clearSessionCookie(w, r)
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
