package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sortographer/sortographer/internal/oidc"
	"github.com/sortographer/sortographer/internal/store"
)

// SingleSignOn turns on sign-in through an OpenID provider (Deps.SSO).
type SingleSignOn struct {
	Provider *oidc.Provider
	// ProviderName names the provider on the web UI's button ("Sign in with …").
	// Empty: the UI says "single sign-on".
	ProviderName string
	// RedirectURL is the callback URL registered at the provider
	// (https://<host>/api/auth/oidc/callback). Empty: made from the request's host.
	RedirectURL string
	// CreateAccounts creates an account at a person's first sign-in; false admits only
	// people who already have an account (found by a verified email).
	CreateAccounts bool
	// LocalPasswords keeps password sign-in and sign-up on beside single sign-on.
	LocalPasswords bool
}

// localPasswordsOff reports, and answers 403 for, password sign-in and sign-up when
// single sign-on replaces them.
func (s *Server) localPasswordsOff(w http.ResponseWriter, r *http.Request) bool {
	if s.d.SSO == nil || s.d.SSO.LocalPasswords {
		return false
	}
	writeError(w, r, http.StatusForbidden, "local_passwords_off", "this gallery signs people in through single sign-on only")
	return true
}

// listedAdmin reports whether email is one of spec.auth.admins.
func (s *Server) listedAdmin(email string) bool {
	return email != "" && slices.ContainsFunc(s.d.Admins, func(a string) bool {
		return strings.EqualFold(strings.TrimSpace(a), email)
	})
}

// authConfigJSON is GET /api/auth/config: how people sign in, for the web UI.
type authConfigJSON struct {
	LocalPasswords bool `json:"localPasswords"`
	SignUp         bool `json:"signUp"`
	OIDC           bool `json:"oidc"`
	// OIDCProvider names the provider on the sign-in button; empty: "single sign-on".
	OIDCProvider string `json:"oidcProvider"`
}

func (s *Server) authConfig(w http.ResponseWriter, _ *http.Request) {
	c := authConfigJSON{LocalPasswords: true, SignUp: s.d.AllowSignUp}
	if sso := s.d.SSO; sso != nil {
		c.OIDC, c.OIDCProvider = true, sso.ProviderName
		c.LocalPasswords = sso.LocalPasswords
		c.SignUp = c.SignUp && sso.LocalPasswords
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) oidcRedirectURL(r *http.Request) string {
	if s.d.SSO.RedirectURL != "" {
		return s.d.SSO.RedirectURL
	}
	scheme := "http"
	if secureRequest(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + oidc.CallbackPath
}

// oidcStart sends the browser to the provider's login page (302), with the flow's
// state, nonce and PKCE verifier in an encrypted HttpOnly cookie.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) {
	if s.d.SSO == nil {
		writeError(w, r, http.StatusNotFound, "oidc_off", "single sign-on is not configured on this gallery")
		return
	}
	remember, _ := strconv.ParseBool(r.URL.Query().Get("remember"))
	to, err := s.d.SSO.Provider.Start(r.Context(), w, s.oidcRedirectURL(r), secureRequest(r), remember)
	if err != nil {
		s.log(r.Context()).Warn("could not start a single sign-on", "error", err)
		writeError(w, r, http.StatusBadGateway, "oidc_unavailable", "the sign-in provider cannot be reached; try again later")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
}

// oidcCallback finishes a sign-in: it checks the flow, finds or creates the account,
// re-evaluates the admin role and starts a session, then sends the browser to the
// web UI (303).
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	sso := s.d.SSO
	if sso == nil {
		writeError(w, r, http.StatusNotFound, "oidc_off", "single sign-on is not configured on this gallery")
		return
	}
	// A flow is used once, whatever its outcome.
	oidc.ClearFlow(w, secureRequest(r))
	id, remember, err := sso.Provider.Finish(r.Context(), r, s.oidcRedirectURL(r))
	if err != nil {
		s.oidcError(w, r, err)
		return
	}
	u, ok := s.oidcAccount(w, r, id)
	if !ok {
		return
	}
	// A disabled account, or one being deleted, is refused as at a password sign-in.
	if !accountUsable(w, r, u, false) {
		return
	}
	// The admin role, from a verified identity only, decided afresh at every sign-in:
	// the provider's admin claim, or an address of spec.auth.admins that the provider
	// says this person proved.
	admin := id.Admin || (id.EmailVerified && s.listedAdmin(id.Email))
	if err := s.d.Store.UpdateOIDCProfile(r.Context(), u.ID, id.Name, admin); err != nil {
		s.internalError(w, r, "updating the account from the sign-in", err)
		return
	}
	if admin != u.IsAdmin {
		s.log(r.Context()).Info("changed admin role at single sign-on", "userId", u.ID, "admin", admin)
	}
	u.IsAdmin, u.DisplayName = admin, id.Name
	if err := s.applyQuotaClaim(r.Context(), u, id); err != nil {
		s.internalError(w, r, "setting the quota from the sign-in", err)
		return
	}
	s.log(r.Context()).Info("signed in user through single sign-on", "userId", u.ID)
	// The browser follows the 303 to the web UI, now signed in by the session cookie.
	if _, ok := s.beginSession(w, r, u, remember); !ok {
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// applyQuotaClaim sets the account's storage quota from the provider's quota claim,
// when the Gallery names one (spec.auth.oidc.claims.quota): the provider then decides
// it, at every sign-in, over an admin's override; the photo quota stays as it was.
func (s *Server) applyQuotaClaim(ctx context.Context, u store.User, id oidc.Identity) error {
	if !id.HasQuota {
		return nil
	}
	if err := s.d.Store.SetUserQuota(ctx, u.ID, &id.QuotaBytes, u.QuotaOverride.Photos); err != nil {
		return fmt.Errorf("set the quota of the claim: %w", err)
	}
	return nil
}

func (s *Server) oidcError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var code, msg string
	switch {
	case errors.Is(err, oidc.ErrNoFlow):
		status, code, msg = http.StatusBadRequest, "oidc_no_flow", "no sign-in is in progress in this browser, or it expired; start again"
	case errors.Is(err, oidc.ErrStateMismatch):
		status, code, msg = http.StatusBadRequest, "oidc_state_mismatch", "the sign-in does not match the one this browser started; start again"
	case errors.Is(err, oidc.ErrNonceMismatch):
		status, code, msg = http.StatusBadRequest, "oidc_nonce_mismatch", "the provider's token does not match the sign-in this browser started; start again"
	case errors.Is(err, oidc.ErrProviderRefused):
		status, code, msg = http.StatusBadRequest, "oidc_refused", "the sign-in provider refused the sign-in"
	case errors.Is(err, oidc.ErrInvalidIDToken):
		status, code, msg = http.StatusBadRequest, "oidc_invalid_token", "the sign-in provider's token is not valid"
	case errors.Is(err, oidc.ErrBadClaims):
		status, code, msg = http.StatusBadRequest, "oidc_bad_claims", "the sign-in provider's claims cannot be used; ask the administrator"
	case errors.Is(err, oidc.ErrProviderUnavailable):
		status, code, msg = http.StatusBadGateway, "oidc_unavailable", "the sign-in provider cannot be reached; try again later"
	default:
		s.internalError(w, r, "finishing a single sign-on", err)
		return
	}
	// The error names what failed (never a code, token or secret: the oidc package
	// leaves them out of its errors).
	s.log(r.Context()).Warn("refused a single sign-on", "error", err)
	writeError(w, r, status, code, msg)
}

// oidcAccount finds the account of an identity: the one linked to it; else the one
// with its email, when the provider verified that email (and the account is not linked
// to another identity); else a new one, when accounts are created. An unverified
// email never names an account.
func (s *Server) oidcAccount(w http.ResponseWriter, r *http.Request, id oidc.Identity) (store.User, bool) {
	ctx := r.Context()
	u, err := s.d.Store.UserByOIDC(ctx, id.Issuer, id.Subject)
	if err == nil {
		return u, true
	}
	if !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, r, "reading the account", err)
		return store.User{}, false
	}
	if !id.EmailVerified || !validEmail(id.Email) {
		writeError(w, r, http.StatusForbidden, "oidc_email_unverified", "the sign-in provider gave no verified email address, which a first sign-in needs")
		return store.User{}, false
	}
	u, err = s.d.Store.UserByEmail(ctx, id.Email)
	switch {
	case err == nil:
		err = s.d.Store.LinkOIDC(ctx, u.ID, id.Issuer, id.Subject)
		if errors.Is(err, store.ErrDuplicate) {
			writeError(w, r, http.StatusConflict, "oidc_email_linked", "the account with this email is linked to another sign-in")
			return store.User{}, false
		}
		if err != nil {
			s.internalError(w, r, "linking the account", err)
			return store.User{}, false
		}
		// Whoever signed this address up with a password proved nothing (sign-up sends
		// no mail): the provider now has, so the password and every session started with
		// it end here, or someone who signed up the address first would share the
		// owner's account (pre-account hijacking).
		if u.PasswordHash != "" {
			if err := s.d.Store.RemovePassword(ctx, u.ID); err != nil {
				s.internalError(w, r, "removing the account's password", err)
				return store.User{}, false
			}
			u.PasswordHash = ""
		}
		if err := s.d.Sessions.RevokeUserSessions(ctx, u.ID); err != nil {
			s.internalError(w, r, "ending the account's earlier sessions", err)
			return store.User{}, false
		}
		s.log(ctx).Info("linked account to single sign-on", "userId", u.ID)
		u.OIDCIssuer, u.OIDCSubject = id.Issuer, id.Subject
		return u, true
	case !errors.Is(err, store.ErrNotFound):
		s.internalError(w, r, "reading the account", err)
		return store.User{}, false
	}
	if !s.d.SSO.CreateAccounts {
		writeError(w, r, http.StatusForbidden, "oidc_no_account", "there is no account for this person on this gallery; ask the administrator")
		return store.User{}, false
	}
	u, err = s.d.Store.CreateUser(ctx, store.NewUser{
		Email: id.Email, OIDCIssuer: id.Issuer, OIDCSubject: id.Subject, DisplayName: id.Name,
	})
	if errors.Is(err, store.ErrDuplicate) {
		// Two first sign-ins at once: the other one made the account; sign in again.
		writeError(w, r, http.StatusConflict, "oidc_retry", "the account was being created at the same time; sign in again")
		return store.User{}, false
	}
	if err != nil {
		s.internalError(w, r, "creating the account", err)
		return store.User{}, false
	}
	s.log(ctx).Info("signed up user through single sign-on", "userId", u.ID)
	return u, true
}
