package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sortographer/sortographer/internal/auth"
	"github.com/sortographer/sortographer/internal/store"
)

// The signed-in user's sessions: list, revoke one, revoke all (sign out everywhere),
// and the password change that revokes the others. Revocation is on every replica at
// once (internal/sessions).

// sessionInfoJSON is one session in GET /api/sessions. It never holds the token or its
// hash.
type sessionInfoJSON struct {
	ID            int64     `json:"id"`
	Current       bool      `json:"current"`
	Remember      bool      `json:"remember"`
	UserAgent     string    `json:"userAgent"`
	CreatedAt     time.Time `json:"createdAt"`
	LastUsedAt    time.Time `json:"lastUsedAt"`
	IdleExpiresAt time.Time `json:"idleExpiresAt"`
	ExpiresAt     time.Time `json:"expiresAt"`
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, u store.User) {
	list, err := s.d.Sessions.List(r.Context(), u.ID)
	if err != nil {
		s.internalError(w, r, "listing the sessions", err)
		return
	}
	cur := currentSession(r)
	out := make([]sessionInfoJSON, len(list))
	for i, ss := range list {
		out[i] = sessionInfoJSON{
			ID: ss.ID, Current: ss.ID == cur.ID, Remember: ss.Remember, UserAgent: ss.UserAgent,
			CreatedAt: ss.CreatedAt, LastUsedAt: ss.RenewedAt, IdleExpiresAt: ss.IdleExpiresAt, ExpiresAt: ss.ExpiresAt,
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// revokeSession ends one of the user's sessions; ending the current one also clears
// its cookie.
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, u store.User) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, r, http.StatusNotFound, "not_found", "no such session")
		return
	}
	err = s.d.Sessions.Revoke(r.Context(), u.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such session")
		return
	}
	if err != nil {
		s.internalError(w, r, "revoking the session", err)
		return
	}
	s.log(r.Context()).Info("revoked session", "sessionId", id)
	if id == currentSession(r).ID {
		clearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

// signOutEverywhereRequest is POST /api/auth/signout-everywhere's optional body.
type signOutEverywhereRequest struct {
	// KeepCurrent keeps the session making the request ("sign out everywhere else").
	KeepCurrent bool `json:"keepCurrent"`
}

func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request, u store.User) {
	var req signOutEverywhereRequest
	if !readOptionalJSON(w, r, &req) {
		return
	}
	keep := int64(0)
	if req.KeepCurrent {
		keep = currentSession(r).ID
	}
	if err := s.d.Sessions.RevokeOtherSessions(r.Context(), u.ID, keep); err != nil {
		s.internalError(w, r, "revoking the sessions", err)
		return
	}
	s.log(r.Context()).Info("signed user out everywhere", "keptCurrent", req.KeepCurrent)
	if !req.KeepCurrent {
		clearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

// readOptionalJSON is readJSON for a body that may be empty: an empty one leaves v as
// it is.
func readOptionalJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, r, http.StatusBadRequest, "bad_request", "request body must be empty or a JSON object: "+err.Error())
		return false
	}
	return true
}

type passwordChange struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// changePassword sets a new password when the current one is given, and revokes every
// other session of the user (a thief holding one loses it); the session making the
// change stays signed in. Wrong current passwords count against the sign-in limiter,
// per user, so a stolen session cannot be used to guess the password.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, u store.User) {
	var c passwordChange
	if !readJSON(w, r, &c) {
		return
	}
	if !s.confirmPassword(w, r, u, c.CurrentPassword, "the current password is wrong") {
		return
	}
	hash, err := auth.HashPassword(c.NewPassword)
	if writePasswordError(w, r, err) {
		return
	}
	if err != nil {
		s.internalError(w, r, "hashing the password", err)
		return
	}
	if err := s.d.Store.SetPasswordHash(r.Context(), u.ID, hash); err != nil {
		s.internalError(w, r, "saving the password", err)
		return
	}
	if err := s.d.Sessions.RevokeOtherSessions(r.Context(), u.ID, currentSession(r).ID); err != nil {
		s.internalError(w, r, "revoking the other sessions", err)
		return
	}
	s.log(r.Context()).Info("changed password; revoked the user's other sessions")
	w.WriteHeader(http.StatusNoContent)
}

// confirmPassword checks the signed-in user's password again before a change that
// needs it (the password change, deleting one's account), and answers when it fails:
// 409 no_password for an account of the single sign-on provider, 403 wrong_password
// with wrongMessage. A wrong password is a guess like a failed sign-in (someone holding
// a stolen session), so it is counted by the same limits (signinlimits.go).
func (s *Server) confirmPassword(w http.ResponseWriter, r *http.Request, u store.User, password, wrongMessage string) bool {
	if u.PasswordHash == "" {
		writeError(w, r, http.StatusConflict, "no_password", "this account signs in through single sign-on and has no password")
		return false
	}
	attempt, ok := s.admitSignIn(w, r, u.Email, s.knownDevice(r, u.Email))
	if !ok {
		return false
	}
	if err := auth.CheckPassword(u.PasswordHash, password); err != nil {
		if !errors.Is(err, auth.ErrWrongPassword) {
			attempt.succeeded(r.Context()) // not a failed password
			s.internalError(w, r, "checking the password", err)
			return false
		}
		writeError(w, r, http.StatusForbidden, "wrong_password", wrongMessage)
		return false
	}
	attempt.succeeded(r.Context())
	return true
}
