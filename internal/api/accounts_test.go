package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestSignUpAndIn(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	creds := func(email, password string) *body {
		return jsonBody(map[string]any{"email": email, "password": password})
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

// TestCookieSession is the web UI's flow: sign in sets an HttpOnly, SameSite cookie that
// authenticates later requests; sign out clears it.
func TestCookieSession(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	post := func(path string, b *body) *http.Response {
		req, _ := http.NewRequest("POST", g.url+path, b.r)
		req.Header.Set("Content-Type", b.contentType)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	get := func(path string) int {
		res, err := c.Get(g.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	creds := map[string]any{"email": "web@example.com", "password": "long enough!"}
	if res := post("/api/auth/signup", jsonBody(creds)); len(res.Cookies()) != 0 {
		t.Fatalf("sign-up set cookies: %+v", res.Cookies())
	}
	res := post("/api/auth/signin", jsonBody(creds))
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == api.SessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", res.Cookies())
	}
	if got := get("/api/me"); got != http.StatusOK {
		t.Errorf("me with cookie = %d", got)
	}
	if res := post("/api/auth/signout", jsonBody(nil)); res.StatusCode != http.StatusNoContent {
		t.Errorf("sign out = %d", res.StatusCode)
	}
	if got := get("/api/me"); got != http.StatusUnauthorized {
		t.Errorf("me after sign-out = %d", got)
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

// TestBadTokens: every forged, altered or stale token is refused with 401.
func TestBadTokens(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("holder")
	now := time.Now()
	claims := jwt.MapClaims{"iss": "test-gallery", "sub": strconv.FormatInt(u.id, 10), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	expired := jwt.MapClaims{}
	for k, v := range claims {
		expired[k] = v
	}
	expired["iat"], expired["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	parts := strings.Split(u.token, ".")
	otherUser := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"test-gallery","sub":"` + strconv.FormatInt(u.id+1, 10) + `","iat":1,"exp":99999999999}`))

	// The valid forgery baseline proves the claims themselves are acceptable.
	g.mustDo(&user{token: sign(jwt.SigningMethodHS256, jwtKey, claims)}, "GET", "/api/me", nil, http.StatusOK, nil)
	for name, token := range map[string]string{
		"expired":   sign(jwt.SigningMethodHS256, jwtKey, expired),
		"wrong key": sign(jwt.SigningMethodHS256, []byte("not-the-gallery-key-not-the-gallery-key"), claims),
		"alg none":  sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims),
		"tampered":  parts[0] + "." + otherUser + "." + parts[2],
		"garbage":   "garbage",
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

// TestRememberMeRenews: a remember-me session past half its life gets a new token.
func TestRememberMeRenews(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	var s struct{ Token string }
	g.mustDo(nil, "POST", "/api/auth/signup", jsonBody(map[string]any{"email": "stay@example.com", "password": "long enough!"}), http.StatusAccepted, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": "stay@example.com", "password": "long enough!", "remember": true}), http.StatusOK, &s)
	res := g.mustDo(&user{token: s.Token}, "GET", "/api/me", nil, http.StatusOK, nil)
	if res.Header.Get(api.RenewedTokenHeader) != "" {
		t.Error("a fresh session was renewed")
	}
	g.tokens.Now = func() time.Time { return time.Now().Add(13 * time.Hour) } // lifetime 24h
	res = g.mustDo(&user{token: s.Token}, "GET", "/api/me", nil, http.StatusOK, nil)
	renewed := res.Header.Get(api.RenewedTokenHeader)
	if renewed == "" || renewed == s.Token {
		t.Fatal("no renewed token")
	}
	c, err := g.tokens.Verify(renewed)
	if err != nil || !c.Remember || c.ExpiresAt.Before(time.Now().Add(36*time.Hour)) {
		t.Errorf("renewed token: %+v, %v", c, err)
	}
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
