package api_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/oidc"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

// Dex's static users of these tests. ada has no groups; grace is in gallery-admins;
// boss has the address spec.auth.admins lists (newGallery's Admins); carol's address is
// one Dex has not verified.
var (
	dexAda   = testservers.DexUser{Email: "ada@example.com", Password: "ada's dex password", Name: "Ada Lovelace", ID: "ada-1"}
	dexGrace = testservers.DexUser{Email: "grace@example.com", Password: "grace's dex password", Name: "Grace Hopper", ID: "grace-1", Groups: []string{"staff", "gallery-admins"}}
	dexBoss  = testservers.DexUser{Email: "boss@example.com", Password: "boss's dex password", Name: "The Boss", ID: "boss-1"}
	dexCarol = testservers.DexUser{Email: "carol@example.com", Password: "carol's dex password", Name: "Mallory as Carol", ID: "mallory-1", EmailUnverified: true}
)

// ssoGallery is a gallery signing people in through a real Dex.
type ssoGallery struct {
	*gallery
	dex *testservers.DexServer
}

func newSSOGallery(t *testing.T, users []testservers.DexUser, configure func(*api.SingleSignOn), provider ...func(*oidc.Config)) *ssoGallery {
	t.Helper()
	sso := &api.SingleSignOn{ProviderName: "Dex", CreateAccounts: true, LocalPasswords: true}
	if configure != nil {
		configure(sso)
	}
	g := newGallery(t, sqlite, filesystem, func(d *api.Deps) { d.SSO = sso })
	dex := testservers.Dex(t, testservers.DexOptions{RedirectURIs: []string{g.url + oidc.CallbackPath}, Users: users})
	// The provider is made once the gallery's address (the redirect URI Dex allows) is
	// known; the server reads sso only when a request comes.
	cfg := oidc.Config{
		Issuer: dex.Issuer, ClientID: dex.ClientID, ClientSecret: dex.ClientSecret,
		Scopes:     []string{"openid", "email", "profile", "groups"},
		AdminClaim: "groups", AdminValues: []string{"gallery-admins"},
		HTTPClient: dex.HTTPClient(),
	}
	for _, f := range provider {
		f(&cfg)
	}
	p, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sso.Provider = p
	return &ssoGallery{gallery: g, dex: dex}
}

// browser is an HTTP client with a cookie jar that trusts Dex's certificate and follows
// redirects until the gallery sends it to its web UI (/), so the last response is the
// gallery's callback.
func (s *ssoGallery) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar: jar, Transport: s.dex.HTTPClient().Transport,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == "/" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// loginForm is Dex's password form: where it posts.
var loginForm = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// signIn runs the authorization code flow as a browser does: the gallery's start sends
// it to Dex (tamper may change that authorization request first), it posts Dex's login
// form, and Dex sends it back to the gallery's callback, whose response is returned with
// its body.
func (s *ssoGallery) signIn(c *http.Client, u testservers.DexUser, tamper func(url.Values)) (*http.Response, []byte) {
	s.t.Helper()
	return s.signInFrom(c, "/api/auth/oidc/start", u, tamper)
}

// signInFrom is signIn starting at start (with its query).
func (s *ssoGallery) signInFrom(c *http.Client, start string, u testservers.DexUser, tamper func(url.Values)) (*http.Response, []byte) {
	s.t.Helper()
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := noFollow.Get(s.url + start)
	if err != nil {
		s.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		s.t.Fatalf("start = %d, want 302", res.StatusCode)
	}
	authURL, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(authURL.String(), s.dex.Issuer+"/auth") {
		s.t.Fatalf("start sent the browser to %q, not to Dex (%v)", authURL, err)
	}
	q := authURL.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
		s.t.Fatalf("the authorization request lacks PKCE S256, a state or a nonce: %s", authURL)
	}
	if tamper != nil {
		tamper(q)
		authURL.RawQuery = q.Encode()
	}
	res, err = c.Get(authURL.String())
	if err != nil {
		s.t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := loginForm.FindSubmatch(page)
	if res.StatusCode != http.StatusOK || m == nil {
		s.t.Fatalf("Dex answered %d without its login form:\n%s", res.StatusCode, page)
	}
	action, err := res.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		s.t.Fatal(err)
	}
	res, err = c.PostForm(action.String(), url.Values{"login": {u.Email}, "password": {u.Password}})
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if !strings.HasPrefix(res.Request.URL.String(), s.url+oidc.CallbackPath) {
		s.t.Fatalf("the login ended at %s (%d), not at the gallery's callback:\n%s", res.Request.URL, res.StatusCode, body)
	}
	return res, body
}

// me is GET /api/me with the browser's cookies.
func (s *ssoGallery) me(c *http.Client) (int, meUser) {
	s.t.Helper()
	res, err := c.Get(s.url + "/api/me")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var m meUser
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

type meUser struct {
	ID           int64
	Email        string
	IsAdmin      bool
	DisplayName  string
	SingleSignOn bool
}

// TestOIDCSignIn: the authorization code flow against a real Dex makes an account at
// the first sign-in and finds the same one (by issuer and subject) at the next; the
// session it starts works; a callback whose state, PKCE verifier or nonce is not its
// flow's is refused with 400.
func TestOIDCSignIn(t *testing.T) {
	s := newSSOGallery(t, []testservers.DexUser{dexAda}, nil)

	c := s.browser()
	res, body := s.signIn(c, dexAda, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("callback = %d (Location %q) %s, want 303 to /", res.StatusCode, res.Header.Get("Location"), body)
	}
	status, me := s.me(c)
	if status != http.StatusOK || me.Email != dexAda.Email || me.DisplayName != dexAda.Name || !me.SingleSignOn || me.IsAdmin {
		t.Fatalf("after single sign-on GET /api/me = %d %+v", status, me)
	}
	u, err := s.store.UserByEmail(context.Background(), dexAda.Email)
	if err != nil || u.OIDCIssuer != s.dex.Issuer || u.OIDCSubject == "" || u.PasswordHash != "" {
		t.Fatalf("the account is %+v, %v; want linked to Dex with no password", u, err)
	}
	// An account made by single sign-on has no password to guess.
	s.mustDo(nil, "POST", "/api/auth/signin", creds(dexAda.Email, ""), http.StatusUnauthorized, nil)

	// The flow is used once: the same callback again finds no flow (its cookie was
	// cleared) and signs nobody in.
	replay, err := s.browser().Get(res.Request.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	replayBody, _ := io.ReadAll(replay.Body)
	replay.Body.Close()
	if replay.StatusCode != http.StatusBadRequest || errorCode(t, replayBody) != "oidc_no_flow" {
		t.Errorf("replayed callback in another browser = %d %s, want 400 oidc_no_flow", replay.StatusCode, replayBody)
	}
	replay, err = c.Get(res.Request.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	replayBody, _ = io.ReadAll(replay.Body)
	replay.Body.Close()
	if replay.StatusCode != http.StatusBadRequest || errorCode(t, replayBody) != "oidc_no_flow" {
		t.Errorf("the callback again in the same browser = %d %s, want 400 oidc_no_flow", replay.StatusCode, replayBody)
	}

	again := s.browser()
	if res, body := s.signIn(again, dexAda, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in = %d %s", res.StatusCode, body)
	}
	if _, me2 := s.me(again); me2.ID != me.ID {
		t.Errorf("the second sign-in reached account %d, the first %d", me2.ID, me.ID)
	}

	t.Run("remember me", func(t *testing.T) {
		// Without remember, the session cookie ends with the browser; with it, it
		// persists: the choice made before leaving for the provider survives the trip.
		expiresOf := func(res *http.Response) bool {
			for _, ck := range res.Cookies() {
				if ck.Name == api.SessionCookie && ck.Value != "" {
					return !ck.Expires.IsZero()
				}
			}
			t.Fatalf("the callback set no session cookie: %v", res.Header.Values("Set-Cookie"))
			return false
		}
		res, _ := s.signInFrom(s.browser(), "/api/auth/oidc/start?remember=true", dexAda, nil)
		if !expiresOf(res) {
			t.Error("a remembered single sign-on got a browser-session cookie")
		}
		res, _ = s.signIn(s.browser(), dexAda, nil)
		if expiresOf(res) {
			t.Error("a single sign-on without remember got a persistent cookie")
		}
	})
	t.Run("wrong state", func(t *testing.T) {
		c := s.browser()
		noFollow := *c
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := noFollow.Get(s.url + "/api/auth/oidc/start")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		res, err = c.Get(s.url + oidc.CallbackPath + "?code=anything&state=not-the-state")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || errorCode(t, body) != "oidc_state_mismatch" {
			t.Errorf("callback with a wrong state = %d %s, want 400 oidc_state_mismatch", res.StatusCode, body)
		}
	})
	t.Run("altered flow cookie", func(t *testing.T) {
		c := s.browser()
		noFollow := *c
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := noFollow.Get(s.url + "/api/auth/oidc/start")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, _ := url.Parse(res.Header.Get("Location"))
		callback, _ := url.Parse(s.url + oidc.CallbackPath)
		var flow *http.Cookie
		for _, ck := range res.Cookies() {
			if ck.Name == oidc.FlowCookie {
				flow = ck
			}
		}
		if flow == nil || !flow.HttpOnly || flow.Path != oidc.CallbackPath || flow.SameSite != http.SameSiteLaxMode {
			t.Fatalf("the flow cookie is %+v; want HttpOnly, SameSite=Lax, on the callback's path", flow)
		}
		// One character of the sealed flow changed: authentication fails.
		b := []byte(flow.Value)
		b[len(b)/2] ^= 1
		c.Jar.SetCookies(callback, []*http.Cookie{{Name: oidc.FlowCookie, Value: string(b), Path: oidc.CallbackPath}})
		res, err = c.Get(callback.String() + "?code=x&state=" + url.QueryEscape(loc.Query().Get("state")))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || errorCode(t, body) != "oidc_no_flow" {
			t.Errorf("callback with an altered flow cookie = %d %s, want 400 oidc_no_flow", res.StatusCode, body)
		}
	})
	t.Run("no flow in this browser", func(t *testing.T) {
		// The callback a victim's browser is sent to with an attacker's code: it started
		// no flow, so there is no cookie.
		res, err := s.browser().Get(s.url + oidc.CallbackPath + "?code=x&state=y")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || errorCode(t, body) != "oidc_no_flow" {
			t.Errorf("callback without a flow = %d %s, want 400 oidc_no_flow", res.StatusCode, body)
		}
	})
	t.Run("PKCE challenge not the flow's", func(t *testing.T) {
		c := s.browser()
		res, body := s.signIn(c, dexAda, func(q url.Values) {
			q.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") // RFC 7636's example
		})
		if res.StatusCode != http.StatusBadRequest || errorCode(t, body) != "oidc_refused" {
			t.Errorf("callback after another code challenge = %d %s, want 400 oidc_refused", res.StatusCode, body)
		}
		if status, _ := s.me(c); status != http.StatusUnauthorized {
			t.Errorf("GET /api/me after a refused sign-in = %d, want 401", status)
		}
	})
	t.Run("nonce not the flow's", func(t *testing.T) {
		res, body := s.signIn(s.browser(), dexAda, func(q url.Values) { q.Set("nonce", "replayed-nonce") })
		if res.StatusCode != http.StatusBadRequest || errorCode(t, body) != "oidc_nonce_mismatch" {
			t.Errorf("callback with another nonce = %d %s, want 400 oidc_nonce_mismatch", res.StatusCode, body)
		}
	})
}

// TestOIDCAdminFromClaim: the admin role comes from the provider's group claim, or from
// an address of spec.auth.admins the person proved by signing in with it verified; a
// password sign-up with that address gets nothing.
func TestOIDCAdminFromClaim(t *testing.T) {
	s := newSSOGallery(t, []testservers.DexUser{dexAda, dexGrace, dexBoss}, nil)

	grace := s.browser()
	s.signIn(grace, dexGrace, nil)
	if _, me := s.me(grace); !me.IsAdmin {
		t.Errorf("grace, in gallery-admins, is not an admin: %+v", me)
	}
	res, err := grace.Get(s.url + "/api/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("grace's GET /api/admin/stats = %d, want 200", res.StatusCode)
	}

	ada := s.browser()
	s.signIn(ada, dexAda, nil)
	if _, me := s.me(ada); me.IsAdmin {
		t.Errorf("ada, in no admin group, is an admin: %+v", me)
	}

	// boss@example.com is listed in spec.auth.admins: typing it at sign-up proves
	// nothing...
	var signedUp struct {
		User  struct{ IsAdmin bool }
		Token string
	}
	s.signUpThenIn(dexBoss.Email, "a long local password", &signedUp)
	if signedUp.User.IsAdmin {
		t.Error("a password sign-up with a listed address got the admin role")
	}
	// ...signing in through the provider, which verified it, does; the account is the
	// same one, now linked.
	boss := s.browser()
	if res, body := s.signIn(boss, dexBoss, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("boss's sign-in = %d %s", res.StatusCode, body)
	}
	if _, me := s.me(boss); !me.IsAdmin || !me.SingleSignOn {
		t.Errorf("boss, listed and verified by Dex, is %+v; want a linked admin", me)
	}
	// Whoever signed the address up with a password is out (pre-account hijacking):
	// the password no longer signs in and the session it started is revoked.
	s.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": dexBoss.Email, "password": "a long local password", "bearer": true}), http.StatusUnauthorized, nil)
	s.mustDo(&user{g: s.gallery, token: signedUp.Token}, "GET", "/api/me", nil, http.StatusUnauthorized, nil)
}

// TestOIDCAdminRemovedAtProvider: a group removed at the provider takes the admin role
// away at the next sign-in, for every session of the account.
func TestOIDCAdminRemovedAtProvider(t *testing.T) {
	s := newSSOGallery(t, []testservers.DexUser{dexGrace}, nil)
	before := s.browser()
	s.signIn(before, dexGrace, nil)
	if _, me := s.me(before); !me.IsAdmin {
		t.Fatalf("grace is not an admin before the change: %+v", me)
	}

	// The Dex administrator takes grace out of gallery-admins (static users live in
	// Dex's configuration, so Dex restarts with the new one).
	demoted := dexGrace
	demoted.Groups = []string{"staff"}
	s.dex.Restart(t, []testservers.DexUser{demoted})

	after := s.browser()
	if res, body := s.signIn(after, demoted, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in after the change = %d %s", res.StatusCode, body)
	}
	for name, c := range map[string]*http.Client{"new session": after, "session from before": before} {
		if _, me := s.me(c); me.IsAdmin {
			t.Errorf("%s: grace is still an admin after leaving gallery-admins", name)
		}
		res, err := c.Get(s.url + "/api/admin/stats")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: GET /api/admin/stats = %d, want 403", name, res.StatusCode)
		}
	}
}

// TestOIDCNoLinkByUnverifiedEmail: an identity whose email the provider has not
// verified never reaches the local account with that address.
func TestOIDCNoLinkByUnverifiedEmail(t *testing.T) {
	s := newSSOGallery(t, []testservers.DexUser{dexCarol}, nil)
	s.signUpThenIn("carol@example.com", "carol's own password", nil)

	c := s.browser()
	res, body := s.signIn(c, dexCarol, nil)
	if res.StatusCode != http.StatusForbidden || errorCode(t, body) != "oidc_email_unverified" {
		t.Errorf("sign-in with an unverified address = %d %s, want 403 oidc_email_unverified", res.StatusCode, body)
	}
	if status, me := s.me(c); status != http.StatusUnauthorized {
		t.Errorf("the refused sign-in has a session: %d %+v", status, me)
	}
	u, err := s.store.UserByEmail(context.Background(), "carol@example.com")
	if err != nil || u.OIDCSubject != "" {
		t.Errorf("carol's local account is %+v, %v; want it unlinked", u, err)
	}
}

// TestOIDCLocalPasswordsOff: with localPasswords false, password sign-in and sign-up
// are refused, the web UI is told so, and people sign in through the provider only;
// with createAccounts false, only people with an account get in.
func TestOIDCLocalPasswordsOff(t *testing.T) {
	s := newSSOGallery(t, []testservers.DexUser{dexAda, dexGrace}, func(sso *api.SingleSignOn) {
		sso.LocalPasswords = false
		sso.CreateAccounts = false
	})
	// An account made before (by an admin, a restore or sign-ups before the change).
	hash := "$2a$10$" + strings.Repeat("x", 53)
	if _, err := s.store.CreateUser(context.Background(), store.NewUser{Email: dexAda.Email, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	var res struct{ Error struct{ Code string } }
	s.mustDo(nil, "POST", "/api/auth/signin", creds(dexAda.Email, "anything at all"), http.StatusForbidden, &res)
	if res.Error.Code != "local_passwords_off" {
		t.Errorf("password sign-in answered %q, want local_passwords_off", res.Error.Code)
	}
	s.mustDo(nil, "POST", "/api/auth/signup", creds("new@example.com", "a long local password"), http.StatusForbidden, nil)
	var cfg struct {
		LocalPasswords, SignUp, OIDC bool
		OIDCProvider                 string
	}
	s.mustDo(nil, "GET", "/api/auth/config", nil, http.StatusOK, &cfg)
	if cfg.LocalPasswords || cfg.SignUp || !cfg.OIDC || cfg.OIDCProvider != "Dex" {
		t.Errorf("GET /api/auth/config = %+v", cfg)
	}

	ada := s.browser()
	if res, body := s.signIn(ada, dexAda, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("ada, who has an account, signed in with %d %s", res.StatusCode, body)
	}
	if res, body := s.signIn(s.browser(), dexGrace, nil); res.StatusCode != http.StatusForbidden || errorCode(t, body) != "oidc_no_account" {
		t.Errorf("grace, without an account, got %d %s; want 403 oidc_no_account", res.StatusCode, body)
	}
}

// TestOIDCOff: without single sign-on its routes answer 404 and the UI is told so.
func TestOIDCOff(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	g.mustDo(nil, "GET", "/api/auth/oidc/start", nil, http.StatusNotFound, nil)
	var cfg struct{ LocalPasswords, SignUp, OIDC bool }
	g.mustDo(nil, "GET", "/api/auth/config", nil, http.StatusOK, &cfg)
	if !cfg.LocalPasswords || !cfg.SignUp || cfg.OIDC {
		t.Errorf("GET /api/auth/config = %+v", cfg)
	}
}

func creds(email, password string) *body {
	return jsonBody(map[string]any{"email": email, "password": password})
}

// signUpThenIn signs up (202, no session: sign-up answers alike for a taken address)
// and signs in with a bearer token, decoding the sign-in's answer into out.
func (g *gallery) signUpThenIn(email, password string, out any) {
	g.t.Helper()
	g.mustDo(nil, "POST", "/api/auth/signup", creds(email, password), http.StatusAccepted, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": email, "password": password, "bearer": true}), http.StatusOK, out)
}

// TestAdminBootstrapWithoutOIDC: without single sign-on, spec.auth.admins is a first-run
// bootstrap: a listed address signing up gets the admin role only while the gallery has
// no admin, so nobody takes the role later by signing up a listed address first.
func TestAdminBootstrapWithoutOIDC(t *testing.T) {
	g := newGallery(t, sqlite, filesystem, func(d *api.Deps) { d.Admins = []string{"boss@example.com", "deputy@example.com"} })
	var s struct{ User struct{ IsAdmin bool } }
	g.signUpThenIn("someone@example.com", "a long local password", &s)
	if s.User.IsAdmin {
		t.Error("an unlisted address got the admin role")
	}
	g.signUpThenIn("boss@example.com", "a long local password", &s)
	if !s.User.IsAdmin {
		t.Error("the first listed address, with no admin yet, did not get the admin role")
	}
	g.signUpThenIn("deputy@example.com", "a long local password", &s)
	if s.User.IsAdmin {
		t.Error("a listed address signing up once an admin exists got the admin role")
	}
}

// TestOIDCQuotaFromClaim: the provider's quota claim becomes the account's storage
// quota at sign-in, and an upload past it is refused. Dex's static users carry no
// custom claim, so the Gallery names Dex's "name" claim as its quota claim and the user
// is called by a byte count.
func TestOIDCQuotaFromClaim(t *testing.T) {
	small, big := photo(t, 64, 48, 1), photo(t, 400, 300, 4)
	quota := len(small) + 100
	if len(big) <= quota {
		t.Fatalf("the big photo (%d bytes) fits the quota (%d)", len(big), quota)
	}
	dave := testservers.DexUser{Email: "dave@example.com", Password: "dave's dex password", Name: strconv.Itoa(quota), ID: "dave"}
	s := newSSOGallery(t, []testservers.DexUser{dave}, nil, func(c *oidc.Config) { c.QuotaClaim = "name" })
	c := s.browser()
	if res, body := s.signIn(c, dave, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d %s", res.StatusCode, body)
	}
	var me struct{ Quota meQuota }
	res, err := c.Get(s.url + "/api/me")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(res.Body).Decode(&me)
	res.Body.Close()
	if me.Quota.StorageBytes == nil || *me.Quota.StorageBytes != int64(quota) {
		t.Fatalf("storage quota after sign-in = %v, want the claim's %d", me.Quota.StorageBytes, quota)
	}
	upload := func(f file) (int, []byte) {
		b := multipartBody(t, f)
		req, _ := http.NewRequest("POST", s.url+"/api/images", b.r)
		req.Header.Set("Content-Type", b.contentType)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res.StatusCode, data
	}
	if code, data := upload(file{"small.jpg", small}); code != http.StatusAccepted {
		t.Errorf("a photo within the claim's quota answered %d %s", code, data)
	}
	if code, data := upload(file{"big.jpg", big}); code != http.StatusRequestEntityTooLarge || errorCode(t, data) != "larger_than_quota" {
		t.Errorf("a photo larger than the claim's quota answered %d %s", code, data)
	}
}
