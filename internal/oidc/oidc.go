// Package oidc signs people in through an OpenID Connect provider: the authorization
// code flow with PKCE (S256), a state and a nonce, and the ID token's claims turned into
// an Identity (who the person is, whether the provider makes them an admin, their storage
// quota). It decides nothing about accounts: internal/api links an Identity to one.
//
// The flow's secrets (state, nonce, PKCE verifier) live in a short-lived cookie
// encrypted and authenticated with AES-GCM under a key derived from the client secret,
// which every server replica has, so the callback may reach any replica.
package oidc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Errors of Finish; test with errors.Is. Each is the caller's 400 except
// ErrProviderUnavailable (502).
var (
	// ErrNoFlow: the callback came without a valid flow cookie (none, expired, altered,
	// or from another client secret).
	ErrNoFlow = errors.New("no sign-in in progress in this browser, or it expired")
	// ErrStateMismatch: the state parameter is not the one this browser's flow sent.
	ErrStateMismatch = errors.New("state does not match the sign-in in progress")
	// ErrProviderRefused: the provider answered the callback with an error, or refused
	// to exchange the code (a wrong PKCE verifier, a reused code).
	ErrProviderRefused = errors.New("the provider refused the sign-in")
	// ErrInvalidIDToken: the ID token's signature, issuer, audience or expiry is wrong,
	// or it is missing.
	ErrInvalidIDToken = errors.New("invalid ID token")
	// ErrNonceMismatch: the ID token's nonce is not this flow's.
	ErrNonceMismatch = errors.New("ID token nonce does not match the sign-in in progress")
	// ErrBadClaims: a claim the configuration names has the wrong type or value.
	ErrBadClaims = errors.New("unusable claims in the ID token")
	// ErrProviderUnavailable: the provider could not be reached.
	ErrProviderUnavailable = errors.New("the OpenID provider is unavailable")
)

// Config is the provider and what to read from its claims.
type Config struct {
	// Issuer is the provider's issuer URL; discovery reads
	// <Issuer>/.well-known/openid-configuration.
	Issuer                 string
	ClientID, ClientSecret string
	// Scopes asked for; "openid" is added when missing. Default openid, email, profile.
	Scopes []string
	// EmailClaim and NameClaim name the claims holding the email address and the display
	// name. Defaults "email" and "name". The email counts only when the provider says
	// email_verified true.
	EmailClaim, NameClaim string
	// AdminClaim names a claim (a string or a list of strings, such as "groups") that
	// makes a user an admin when it is or holds one of AdminValues; a boolean claim
	// matches the value "true". Empty: no admin claim.
	AdminClaim  string
	AdminValues []string
	// QuotaClaim names a claim holding the user's storage quota, as a byte count or a
	// quantity such as "10Gi". Empty: none.
	QuotaClaim string
	// HTTPClient talks to the provider. Nil: http.DefaultClient.
	HTTPClient *http.Client
}

// DefaultScopes are asked for when Config.Scopes is empty.
var DefaultScopes = []string{gooidc.ScopeOpenID, "email", "profile"}

// FlowCookie is the cookie holding a sign-in in progress, sent to the callback only.
const FlowCookie = "sortographer_oidc_flow"

// flowLifetime bounds how long a person may take at the provider's login page.
const flowLifetime = 10 * time.Minute

// Identity is who signed in, as the provider's ID token says.
type Identity struct {
	// Issuer and Subject identify the person at the provider, for good.
	Issuer, Subject string
	// Email is the email claim; EmailVerified whether the provider says it checked it.
	// Only a verified email may be trusted to name an account.
	Email         string
	EmailVerified bool
	// Name is the display name claim.
	Name string
	// Admin reports whether the admin claim grants the admin role.
	Admin bool
	// QuotaBytes is the quota claim in bytes; HasQuota is false without one.
	QuotaBytes int64
	HasQuota   bool
}

// Provider runs sign-ins against one OpenID provider. Discovery happens at the first
// sign-in (and is retried after a failure), so the gallery starts while the provider is
// down.
type Provider struct {
	cfg     Config
	flowKey cipher.AEAD

	mu       sync.Mutex
	provider *gooidc.Provider
}

// New checks cfg and makes a Provider.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oidc: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("oidc: client id and client secret are required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if !slices.Contains(cfg.Scopes, gooidc.ScopeOpenID) {
		cfg.Scopes = append([]string{gooidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.EmailClaim == "" {
		cfg.EmailClaim = "email"
	}
	if cfg.NameClaim == "" {
		cfg.NameClaim = "name"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	// A key of its own for the flow cookie, derived from the client secret so that
	// every replica has it and it changes when the secret is rotated.
	mac := hmac.New(sha256.New, []byte(cfg.ClientSecret))
	mac.Write([]byte("sortographer oidc flow cookie v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("oidc: flow cookie key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("oidc: flow cookie key: %w", err)
	}
	return &Provider{cfg: cfg, flowKey: aead}, nil
}

// Issuer is the configured issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

func (p *Provider) discover(ctx context.Context) (*gooidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	ctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.cfg.HTTPClient), 10*time.Second)
	defer cancel()
	prov, err := gooidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrProviderUnavailable, p.cfg.Issuer, err)
	}
	p.provider = prov
	return prov, nil
}

func (p *Provider) oauth2Config(prov *gooidc.Provider, redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
		Endpoint: prov.Endpoint(), RedirectURL: redirectURL, Scopes: p.cfg.Scopes,
	}
}

// flow is what the flow cookie carries from Start to Finish.
type flow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Remember bool      `json:"r"`
	Expires  time.Time `json:"e"`
}

// Start begins a sign-in: it sets the flow cookie on w and returns the provider's
// authorization URL to redirect the browser to. remember is handed back by Finish.
func (p *Provider) Start(ctx context.Context, w http.ResponseWriter, redirectURL string, secure, remember bool) (string, error) {
	prov, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	f := flow{
		State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier(),
		Remember: remember, Expires: time.Now().Add(flowLifetime),
	}
	sealed, err := p.seal(f)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{
		Name: FlowCookie, Value: sealed, Path: CallbackPath, MaxAge: int(flowLifetime / time.Second),
		// Lax: the provider's redirect back is a top-level cross-site GET, which Lax
		// lets carry the cookie; Strict would not.
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
	return p.oauth2Config(prov, redirectURL).AuthCodeURL(f.State,
		gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), nil
}

// CallbackPath is where the provider sends the browser back; the flow cookie is
// scoped to it.
const CallbackPath = "/api/auth/oidc/callback"

// ClearFlow removes the flow cookie: a flow is used once, whatever its outcome.
func ClearFlow(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: FlowCookie, Value: "", Path: CallbackPath, MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// Finish completes a sign-in from the provider's callback request r: it checks the
// flow cookie and the state, exchanges the code with the PKCE verifier, verifies the ID
// token and its nonce, and reads the claims. It returns remember as passed to Start.
func (p *Provider) Finish(ctx context.Context, r *http.Request, redirectURL string) (Identity, bool, error) {
	c, err := r.Cookie(FlowCookie)
	if err != nil {
		return Identity{}, false, ErrNoFlow
	}
	f, err := p.open(c.Value)
	if err != nil {
		return Identity{}, false, ErrNoFlow
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		return Identity{}, false, ErrStateMismatch
	}
	if e := q.Get("error"); e != "" {
		// Only the error code: its description is the provider's free text.
		return Identity{}, false, fmt.Errorf("%w: %s", ErrProviderRefused, e)
	}
	prov, err := p.discover(ctx)
	if err != nil {
		return Identity{}, false, err
	}
	ctx = gooidc.ClientContext(ctx, p.cfg.HTTPClient)
	tok, err := p.oauth2Config(prov, redirectURL).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		if _, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
			return Identity{}, false, fmt.Errorf("%w: code exchange: %w", ErrProviderRefused, err)
		}
		return Identity{}, false, fmt.Errorf("%w: code exchange: %w", ErrProviderUnavailable, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, false, fmt.Errorf("%w: the token response has none", ErrInvalidIDToken)
	}
	idt, err := prov.Verifier(&gooidc.Config{ClientID: p.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, false, fmt.Errorf("%w: %w", ErrInvalidIDToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return Identity{}, false, ErrNonceMismatch
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, false, fmt.Errorf("%w: %w", ErrInvalidIDToken, err)
	}
	id, err := p.identity(idt.Issuer, idt.Subject, claims)
	return id, f.Remember, err
}

// identity reads the configured claims.
func (p *Provider) identity(issuer, subject string, claims map[string]any) (Identity, error) {
	id := Identity{Issuer: issuer, Subject: subject}
	var err error
	if id.Email, err = stringClaim(claims, p.cfg.EmailClaim); err != nil {
		return Identity{}, err
	}
	id.Email = strings.ToLower(strings.TrimSpace(id.Email))
	// email_verified speaks of the standard email claim only: another claim named as
	// the email (preferred_username, upn) may be one the person can edit, so it is never
	// taken as verified, and a first sign-in by it is refused.
	id.EmailVerified = p.cfg.EmailClaim == "email" && boolClaim(claims["email_verified"])
	if id.Name, err = stringClaim(claims, p.cfg.NameClaim); err != nil {
		return Identity{}, err
	}
	id.Name = cutRunes(id.Name, MaxNameLength)
	id.Admin = p.admin(claims)
	if p.cfg.QuotaClaim != "" {
		if v, ok := claims[p.cfg.QuotaClaim]; ok && v != nil {
			if id.QuotaBytes, err = ParseQuota(v); err != nil {
				return Identity{}, fmt.Errorf("%w: claim %q: %w", ErrBadClaims, p.cfg.QuotaClaim, err)
			}
			id.HasQuota = true
		}
	}
	return id, nil
}

func stringClaim(claims map[string]any, name string) (string, error) {
	switch v := claims[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("%w: claim %q is a %T, not a string", ErrBadClaims, name, v)
	}
}

// boolClaim reads a boolean that some providers send as a string.
func boolClaim(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	}
	return false
}

func (p *Provider) admin(claims map[string]any) bool {
	if p.cfg.AdminClaim == "" {
		return false
	}
	switch v := claims[p.cfg.AdminClaim].(type) {
	case bool:
		// A boolean claim (is_admin: true) matches the value "true".
		return slices.Contains(p.cfg.AdminValues, strconv.FormatBool(v))
	case string:
		return slices.Contains(p.cfg.AdminValues, v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && slices.Contains(p.cfg.AdminValues, s) {
				return true
			}
		}
	}
	return false
}

// ParseQuota reads a quota claim: a JSON number of bytes, or a string holding a byte
// count or a Kubernetes quantity ("10Gi", "500M"). Negative or fractional bytes are
// refused.
func ParseQuota(v any) (int64, error) {
	switch v := v.(type) {
	case float64:
		if v < 0 || v != float64(int64(v)) {
			return 0, fmt.Errorf("quota %v is not a whole number of bytes", v)
		}
		return int64(v), nil
	case string:
		q, err := resource.ParseQuantity(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("quota %q is not a byte count or a quantity such as 10Gi", v)
		}
		n, ok := q.AsInt64()
		if !ok || n < 0 {
			return 0, fmt.Errorf("quota %q is not a whole number of bytes", v)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("quota is a %T, not a number or a string", v)
	}
}

func (p *Provider) seal(f flow) (string, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("oidc: seal flow: %w", err)
	}
	nonce := make([]byte, p.flowKey.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("oidc: seal flow: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(p.flowKey.Seal(nonce, nonce, plain, []byte(FlowCookie))), nil
}

func (p *Provider) open(sealed string) (flow, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < p.flowKey.NonceSize() {
		return flow{}, errors.New("malformed flow cookie")
	}
	ns := p.flowKey.NonceSize()
	plain, err := p.flowKey.Open(nil, b[:ns], b[ns:], []byte(FlowCookie))
	if err != nil {
		return flow{}, errors.New("flow cookie fails authentication")
	}
	var f flow
	if err := json.Unmarshal(plain, &f); err != nil {
		return flow{}, errors.New("malformed flow cookie")
	}
	if time.Now().After(f.Expires) {
		return flow{}, errors.New("flow cookie expired")
	}
	return f, nil
}

// MaxNameLength is the longest display name kept (users.display_name holds 255).
const MaxNameLength = 255

// cutRunes cuts s to at most n characters, never inside one.
func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
