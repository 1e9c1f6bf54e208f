package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestSignUpAndIn(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	creds := func(email, password string) *body {
		return jsonBody(map[string]any{"email": email, "password": password, "bearer": true})
	}
	g.mustDo(nil, "POST", "/api/auth/signup", creds("Carol@Example.com", "long enough!"), http.StatusAccepted, nil)
	g.mustDo(nil, "POST", "/api/auth/signup", creds("not-an-email", "long enough!"), http.StatusBadRequest, nil)
	g.mustDo(nil, "POST", "/api/auth/signup", jsonBody(map[string]any{"email": "e@example.com", "password": "long enough!", "admin": true}), http.StatusBadRequest, nil)

	var s struct {
		User struct {
			Email   string
			IsAdmin bool
		}
		Token string
	}
	g.mustDo(nil, "POST", "/api/auth/signin", creds("CAROL@example.com", "long enough!"), http.StatusOK, &s)
	if s.User.Email != "carol@example.com" || s.Token == "" {
		t.Errorf("sign-in answered %+v", s)
	}
	g.mustDo(nil, "POST", "/api/auth/signin", creds("carol@example.com", "wrong password"), http.StatusUnauthorized, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", creds("nobody@example.com", "long enough!"), http.StatusUnauthorized, nil)

	// Admins are named by configuration.
	g.mustDo(nil, "POST", "/api/auth/signup", creds("boss@example.com", "long enough!"), http.StatusAccepted, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", creds("boss@example.com", "long enough!"), http.StatusOK, &s)
	if !s.User.IsAdmin {
		t.Error("boss@example.com is configured as an admin")
	}
}

func TestSignUpClosed(t *testing.T) {
	g := newGallery(t, sqlite, filesystem, withSignUpClosed())
	g.mustDo(nil, "POST", "/api/auth/signup", jsonBody(map[string]any{"email": "a@example.com", "password": "long enough!"}), http.StatusForbidden, nil)
}

// TestCookieSession is the web UI's flow: sign-in sets an HttpOnly, SameSite=Strict
// cookie that later requests carry; the token is in no header and no body a page
// script could read; sign-out revokes the session, so a copy of the cookie kept by
// someone else stops working too.
func TestCookieSession(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	post := func(path string, b *body) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", g.url+path, b.r)
		req.Header.Set("Content-Type", b.contentType)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res, data
	}
	get := func(path string) (*http.Response, []byte) {
		res, err := c.Get(g.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res, data
	}
	creds := map[string]any{"email": "web@example.com", "password": "long enough!"}
	if res, _ := post("/api/auth/signup", jsonBody(creds)); len(res.Cookies()) != 0 {
		t.Fatalf("sign-up set cookies: %+v", res.Cookies())
	}
	res, data := post("/api/auth/signin", jsonBody(creds))
	ck := sessionCookieOf(res)
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure {
		t.Fatalf("session cookie over plain HTTP: %+v", res.Cookies())
	}
	token := ck.Value
	assertTokenHidden(t, "sign-in", token, res, data)
	if strings.Contains(string(data), `"token"`) {
		t.Errorf("a cookie sign-in answered a token field: %s", data)
	}
	res, data = post("/api/auth/signin", jsonBody(map[string]any{"email": "web@example.com", "password": "long enough!", "remember": true}))
	if res.StatusCode != http.StatusOK || sessionCookieOf(res) == nil {
		t.Fatalf("sign-in = %d %s", res.StatusCode, data)
	}
	second := sessionCookieOf(res)
	assertTokenHidden(t, "sign-in", second.Value, res, data)
	if second.Value == token || second.Expires.IsZero() {
		t.Errorf("a remember-me sign-in kept the old token or made a browser-session cookie: %+v", second)
	}
	for range 3 { // renewals included: no request of the session shows the token
		res, data = get("/api/me")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("me with cookie = %d", res.StatusCode)
		}
		assertTokenHidden(t, "GET /api/me", second.Value, res, data)
	}
	if res, _ := post("/api/auth/signout", jsonBody(nil)); res.StatusCode != http.StatusNoContent {
		t.Errorf("sign out = %d", res.StatusCode)
	}
	if res, _ := get("/api/me"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("me after sign-out = %d", res.StatusCode)
	}
	// The copy: revoked on the server, not just cleared in this browser.
	stolen := &user{token: second.Value}
	g.mustDo(stolen, "GET", "/api/me", nil, http.StatusUnauthorized, nil)
	// The first session is another one, still good until revoked.
	g.mustDo(&user{token: token}, "GET", "/api/me", nil, http.StatusOK, nil)
}

// sessionCookieOf is the session cookie a response sets (sign-in also sets the device
// cookie); nil when none.
func sessionCookieOf(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == api.SessionCookie {
			return c
		}
	}
	return nil
}

// assertTokenHidden fails when token appears in any response header but Set-Cookie,
// or in the body.
func assertTokenHidden(t *testing.T, what, token string, res *http.Response, data []byte) {
	t.Helper()
	if token == "" {
		t.Fatalf("%s: no token to look for", what)
	}
	for k, vs := range res.Header {
		if k == "Set-Cookie" {
			continue
		}
		for _, v := range vs {
			if strings.Contains(v, token) {
				t.Errorf("%s: the session token is in header %s", what, k)
			}
		}
	}
	if strings.Contains(string(data), token) {
		t.Errorf("%s: the session token is in the body: %s", what, data)
	}
}

// TestSessionCookieAttributes: over TLS (HTTPS, or the ingress's X-Forwarded-Proto)
// the cookie is __Host- prefixed and Secure, responses carry HSTS, and a cookie by the
// plain-HTTP name is not read; over plain HTTP, the plain cookie and no HSTS.
func TestSessionCookieAttributes(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	tlsServer := httptest.NewTLSServer(g.server.Handler())
	t.Cleanup(tlsServer.Close)
	for _, tc := range []struct {
		name      string
		url       string
		client    *http.Client
		forwarded string
		tls       bool
	}{
		{"plain HTTP", g.url, http.DefaultClient, "", false},
		{"HTTPS", tlsServer.URL, tlsServer.Client(), "", true},
		{"ingress with TLS", g.url, http.DefaultClient, "https", true},
		{"ingress without TLS", g.url, http.DefaultClient, "http", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			do := func(method, path, cookieName, cookieValue string, b *body) (*http.Response, []byte) {
				var r io.Reader
				if b != nil {
					r = b.r
				}
				req, _ := http.NewRequest(method, tc.url+path, r)
				if b != nil {
					req.Header.Set("Content-Type", b.contentType)
				}
				if tc.forwarded != "" {
					req.Header.Set("X-Forwarded-Proto", tc.forwarded)
				}
				if cookieName != "" {
					req.AddCookie(&http.Cookie{Name: cookieName, Value: cookieValue})
				}
				res, err := tc.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				data, _ := io.ReadAll(res.Body)
				return res, data
			}
			email := strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			creds := map[string]any{"email": email, "password": "long enough!"}
			if res, data := do("POST", "/api/auth/signup", "", "", jsonBody(creds)); res.StatusCode != http.StatusAccepted {
				t.Fatalf("sign-up = %d %s", res.StatusCode, data)
			}
			res, data := do("POST", "/api/auth/signin", "", "", jsonBody(creds))
			wantName, otherName := api.SessionCookie, api.SecureSessionCookie
			if tc.tls {
				wantName, otherName = api.SecureSessionCookie, api.SessionCookie
			}
			var ck *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == api.SessionCookie || c.Name == api.SecureSessionCookie {
					if ck != nil {
						t.Fatalf("two session cookies: %v", res.Cookies())
					}
					ck = c
				}
			}
			if res.StatusCode != http.StatusOK || ck == nil {
				t.Fatalf("sign-in = %d %s, cookies %v", res.StatusCode, data, res.Cookies())
			}
			if ck.Name != wantName || ck.Secure != tc.tls || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("cookie = %+v; want %s, Secure %v, HttpOnly, SameSite=Strict, Path=/, no Domain", ck, wantName, tc.tls)
			}
			if hsts := res.Header.Get("Strict-Transport-Security"); (hsts != "") != tc.tls || tc.tls && hsts != api.HSTSHeader {
				t.Errorf("Strict-Transport-Security = %q over TLS %v", hsts, tc.tls)
			}
			if res, _ := do("GET", "/api/me", wantName, ck.Value, nil); res.StatusCode != http.StatusOK {
				t.Errorf("me with %s = %d", wantName, res.StatusCode)
			}
			if res, _ := do("GET", "/api/me", otherName, ck.Value, nil); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("me with the cookie named %s = %d, want 401", otherName, res.StatusCode)
			}
			if res, _ := do("GET", "/livez", "", "", nil); (res.Header.Get("Strict-Transport-Security") != "") != tc.tls {
				t.Errorf("HSTS on /livez over TLS %v: %q", tc.tls, res.Header.Get("Strict-Transport-Security"))
			}
		})
	}
}

// TestCrossSiteRequestsRefused: a page on another site cannot post with the user's
// cookie.
func TestCrossSiteRequestsRefused(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("victim")
	img := u.upload(file{"a.jpg", photo(t, 32, 32, 1)})[0]
	req, _ := http.NewRequest("DELETE", g.url+"/api/images/"+img.ID, nil)
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: u.token})
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site delete = %d, want 403", res.StatusCode)
	}
	g.mustDo(u, "GET", "/api/images/"+img.ID, nil, http.StatusOK, nil)
}

// TestBadTokens: every unknown, altered, revoked or expired token is refused with
// 401, as a bearer token and as a cookie.
func TestBadTokens(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("holder")
	revoked := g.signUp("leaver")
	g.mustDo(revoked, "POST", "/api/auth/signout", nil, http.StatusNoContent, nil)
	flipped := []byte(u.token)
	flipped[len(flipped)-1] ^= 1
	if flipped[len(flipped)-1] == u.token[len(u.token)-1] {
		t.Fatal("token not altered")
	}
	g.mustDo(u, "GET", "/api/me", nil, http.StatusOK, nil)
	for name, token := range map[string]string{
		"revoked":           revoked.token,
		"altered":           string(flipped),
		"truncated":         u.token[:len(u.token)-1],
		"extended":          u.token + "A",
		"a JWT":             "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
		"garbage":           "garbage",
		"random, well made": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	} {
		t.Run(name, func(t *testing.T) {
			g.mustDo(&user{token: token}, "GET", "/api/me", nil, http.StatusUnauthorized, nil)
			req, _ := http.NewRequest("GET", g.url+"/api/images", nil)
			req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: token})
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("as a cookie: %d", res.StatusCode)
			}
		})
	}
}

// TestSessionLifetimes: a session is renewed while used and ends when left idle past
// its lifetime; a remember-me session renewed all along still ends at the absolute
// lifetime (the clock hook moves time).
func TestSessionLifetimes(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	start := time.Now()
	now := start
	g.sessions.Now = func() time.Time { return now }
	signIn := func(email string, remember bool) *user {
		var s struct{ Token string }
		creds := map[string]any{"email": email, "password": "long enough!", "remember": remember, "bearer": true}
		g.mustDo(nil, "POST", "/api/auth/signup", jsonBody(creds), http.StatusAccepted, nil)
		g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(creds), http.StatusOK, &s)
		return &user{g: g, token: s.Token}
	}
	short, long := signIn("short@example.com", false), signIn("long@example.com", true)

	// Used every 45 minutes, the 1-hour session stays alive past its first hour.
	for range 3 {
		now = now.Add(45 * time.Minute)
		g.mustDo(short, "GET", "/api/me", nil, http.StatusOK, nil)
	}
	// Idle for longer than its lifetime, it ends.
	now = now.Add(testSessionLifetime + time.Minute)
	g.mustDo(short, "GET", "/api/me", nil, http.StatusUnauthorized, nil)

	// The remember-me session, used every 20 hours (its idle lifetime is 24), lives
	// until the absolute lifetime (48 hours after sign-in), not a moment longer.
	now = start
	for now.Add(20 * time.Hour).Before(start.Add(testSessionMaxLifetime)) {
		now = now.Add(20 * time.Hour)
		g.mustDo(long, "GET", "/api/me", nil, http.StatusOK, nil)
	}
	now = start.Add(testSessionMaxLifetime - time.Minute)
	g.mustDo(long, "GET", "/api/me", nil, http.StatusOK, nil)
	now = start.Add(testSessionMaxLifetime)
	g.mustDo(long, "GET", "/api/me", nil, http.StatusUnauthorized, nil)
}

// TestUploadRateLimit: upload answers 429 past its limit, in process and through Redis.
func TestUploadRateLimit(t *testing.T) {
	upload := ratelimit.Rule{Name: "upload", Limit: 2, Window: time.Minute}
	for name, limiter := range map[string]func(t *testing.T) ratelimit.Limiter{
		"memory": func(*testing.T) ratelimit.Limiter { return ratelimit.NewMemory(upload) },
		"redis": func(t *testing.T) ratelimit.Limiter {
			c := redis.NewClient(&redis.Options{Addr: testservers.Redis(t).Addr()})
			t.Cleanup(func() { _ = c.Close() })
			return ratelimit.NewRedis(c, "t:", upload)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := newGallery(t, sqlite, filesystem, withUploadLimiter(limiter(t)))
			u := g.signUp("limited")
			u.upload(file{"1.jpg", photo(t, 16, 16, 1)})
			u.upload(file{"2.jpg", photo(t, 16, 16, 2)})
			res := g.mustDo(u, "POST", "/api/images", multipartBody(t, file{"3.jpg", photo(t, 16, 16, 3)}), http.StatusTooManyRequests, nil)
			if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); ra < 1 || ra > 60 {
				t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
			}
			other := g.signUp("other")
			other.upload(file{"4.jpg", photo(t, 16, 16, 4)})
		})
	}
}

// TestMeSearchExamples: GET /api/me passes on the words the classifier can give, for the
// search box (an empty list, never null, when there are none), and every field it
// answers is documented in the Me schema.
func TestMeSearchExamples(t *testing.T) {
	for _, words := range [][]string{{"dog", "car", "animal"}, nil} {
		g := newGallery(t, sqlite, filesystem, withSearchExamples(words...))
		u := g.signUp("searcher")
		var me map[string]json.RawMessage
		g.mustDo(u, "GET", "/api/me", nil, http.StatusOK, &me)
		want, _ := json.Marshal(append([]string{}, words...))
		if got := string(me["searchExamples"]); got != string(want) {
			t.Errorf("searchExamples = %s, want %s", got, want)
		}

		var doc struct {
			Components struct {
				Schemas map[string]struct {
					AllOf []struct {
						Ref        string                     `json:"$ref"`
						Properties map[string]json.RawMessage `json:"properties"`
					} `json:"allOf"`
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"schemas"`
			} `json:"components"`
		}
		g.mustDo(nil, "GET", "/api/openapi.json", nil, http.StatusOK, &doc)
		documented := map[string]bool{}
		for _, part := range doc.Components.Schemas["Me"].AllOf {
			props := part.Properties
			if part.Ref != "" {
				props = doc.Components.Schemas[strings.TrimPrefix(part.Ref, "#/components/schemas/")].Properties
			}
			for p := range props {
				documented[p] = true
			}
		}
		for field := range me {
			if !documented[field] {
				t.Errorf("GET /api/me answers %q, which the Me schema does not document", field)
			}
		}
	}
}
