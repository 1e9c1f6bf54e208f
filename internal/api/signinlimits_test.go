package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/auth"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

// redisSignInLimits are the server's sign-in limits: in a real Redis, falling back to
// the process while it fails (as cmd/sortographer builds them).
func redisSignInLimits(t *testing.T, srv *testservers.RedisServer, rules api.SignInRules) *api.SignInLimits {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	return api.NewSignInLimits(rules, func(r ratelimit.Rule) ratelimit.Limiter {
		return ratelimit.NewShared(c, "t:", r, nil)
	})
}

// client is a browser or script at one address (the test's trusted proxy passes it in
// X-Forwarded-For), with its own cookies when it is a browser.
type client struct {
	g    *gallery
	addr string
	http *http.Client
}

func (g *gallery) client(addr string, browser bool) *client {
	c := &client{g: g, addr: addr, http: &http.Client{}}
	if browser {
		c.http.Jar, _ = cookiejar.New(nil)
	}
	return c
}

// post sends JSON and returns the status, the error code (if any) and the response.
func (c *client) post(path string, v any) (int, string, *http.Response) {
	c.g.t.Helper()
	b := jsonBody(v)
	req, _ := http.NewRequest("POST", c.g.url+path, b.r)
	req.Header.Set("Content-Type", b.contentType)
	req.Header.Set("X-Forwarded-For", c.addr)
	res, err := c.http.Do(req)
	if err != nil {
		c.g.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var e struct{ Error struct{ Code string } }
	_ = json.NewDecoder(res.Body).Decode(&e)
	return res.StatusCode, e.Error.Code, res
}

func (c *client) signIn(email, password string) int {
	c.g.t.Helper()
	status, _, _ := c.post("/api/auth/signin", map[string]any{"email": email, "password": password})
	return status
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// attackerAddr is the i-th of many addresses, none of them the test's proxy.
func attackerAddr(i int) string { return fmt.Sprintf("198.18.%d.%d", i/250, i%250+1) }

// tally counts statuses.
type tally map[int]int

// TestOwnerNotLockedOut: an attacker's 200 wrong passwords on one account, from 200
// addresses, are throttled at the account's 100 failures an hour; the owner's browser,
// which signed in before, still signs in with the right password, while a stranger's
// right password is refused until the hour passes (ASVS V2.2.1). A device cookie for
// another account gives the attacker nothing.
func TestOwnerNotLockedOut(t *testing.T) {
	g := newGallery(t, sqlite, filesystem, withTrustedProxies("127.0.0.0/8", "::1/128"),
		withSignInLimits(redisSignInLimits(t, testservers.Redis(t), api.DefaultSignInRules(1000))))
	owner := g.signUp("owner")
	password := passwordOf("owner")
	browser := g.client("203.0.113.10", true)
	if got := browser.signIn(owner.email, password); got != http.StatusOK {
		t.Fatalf("owner's first sign-in = %d", got)
	}
	var device *http.Cookie
	for _, ck := range browser.http.Jar.Cookies(mustURL(t, g.url+"/api/auth/signin")) {
		if ck.Name == api.DeviceCookie {
			device = ck
		}
	}
	if device == nil {
		t.Fatal("no device cookie after signing in")
	}
	hasDevice := func(path string) bool {
		return slices.ContainsFunc(browser.http.Jar.Cookies(mustURL(t, g.url+path)), func(c *http.Cookie) bool { return c.Name == api.DeviceCookie })
	}
	// It goes with the API's requests, where a password is checked (sign-in, the
	// password change, deleting one's account), never to the web UI's pages.
	if !hasDevice("/api/me/password") || hasDevice("/") || hasDevice("/s/a-link") {
		t.Errorf("the device cookie goes to /api/me/password %v, / %v, /s/ %v; want only the API", hasDevice("/api/me/password"), hasDevice("/"), hasDevice("/s/a-link"))
	}

	// The attacker has an account of their own, and its device cookie.
	attacker := g.signUp("attacker")
	attackerBrowser := g.client(attackerAddr(0), true)
	if got := attackerBrowser.signIn(attacker.email, passwordOf("attacker")); got != http.StatusOK {
		t.Fatalf("attacker's own sign-in = %d", got)
	}
	got := tally{}
	for i := range 200 {
		c := g.client(attackerAddr(i), false)
		if i%2 == 0 {
			c = attackerBrowser // half the tries carry a device cookie, for another account
			c.addr = attackerAddr(i)
		}
		got[c.signIn(owner.email, fmt.Sprintf("guess number %d", i))]++
	}
	if got[http.StatusUnauthorized] != 100 || got[http.StatusTooManyRequests] != 100 {
		t.Errorf("attacker's 200 tries: %v; want 100 checked (401) and 100 refused (429)", got)
	}

	if s := browser.signIn(owner.email, password); s != http.StatusOK {
		t.Errorf("owner's browser with the right password = %d, want 200", s)
	}
	stranger := g.client("203.0.113.99", true)
	status, code, res := stranger.post("/api/auth/signin", map[string]any{"email": owner.email, "password": password})
	if status != http.StatusTooManyRequests || code != "rate_limited" {
		t.Errorf("a new browser with the right password = %d %s, want 429 rate_limited while the account is under attack", status, code)
	}
	if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); ra < 3000 || ra > 3600 {
		t.Errorf("Retry-After %q, want about an hour", res.Header.Get("Retry-After"))
	}

	// A device cookie is no licence to guess: past its own 10 failures an hour its
	// browser is a stranger again, held to the account's cap, reached above.
	got = tally{}
	for i := range 10 {
		got[browser.signIn(owner.email, fmt.Sprintf("owner's typo %d", i))]++
	}
	if got[http.StatusUnauthorized] != 10 {
		t.Errorf("the owner's browser's 10 wrong passwords: %v, want 10 checked", got)
	}
	if s := browser.signIn(owner.email, password); s != http.StatusTooManyRequests {
		t.Errorf("the owner's browser past its own failure cap = %d, want 429", s)
	}
}

// TestAccountFailuresPerHour: an account takes at most 100 failed sign-ins an hour from
// browsers it does not know (ASVS V2.2.1), counted in a sliding hour; right passwords
// are not failures; an unknown email is counted like an account, so the limit does not
// tell them apart.
func TestAccountFailuresPerHour(t *testing.T) {
	rules := api.DefaultSignInRules(1000)
	if r := rules.AccountFailures; r.Limit != 100 || r.Window != time.Hour || !r.Sliding {
		t.Fatalf("account failures rule %+v, want 100 in any hour", r)
	}
	srv := testservers.Redis(t)
	g := newGallery(t, sqlite, filesystem, withTrustedProxies("127.0.0.0/8"), withSignInLimits(redisSignInLimits(t, srv, rules)))
	u := g.signUp("target")
	for i := range 2 {
		if s := g.client(attackerAddr(1000+i), false).signIn(u.email, passwordOf("target")); s != http.StatusOK {
			t.Fatalf("right password = %d", s)
		}
	}
	got := tally{}
	for i := range 101 {
		got[g.client(attackerAddr(i), false).signIn(u.email, "wrong password")]++
	}
	if got[http.StatusUnauthorized] != 100 || got[http.StatusTooManyRequests] != 1 {
		t.Errorf("101 wrong passwords: %v; want 100 checked and the 101st refused", got)
	}

	// The same with a smaller limit (fewer hashes): an unknown email and an account
	// are counted alike.
	rules.AccountFailures.Limit = 10
	g = newGallery(t, sqlite, filesystem, withTrustedProxies("127.0.0.0/8"), withSignInLimits(redisSignInLimits(t, testservers.Redis(t), rules)))
	known := g.signUp("known")
	for _, email := range []string{known.email, "nobody@example.com"} {
		got = tally{}
		for i := range 11 {
			got[g.client(attackerAddr(i), false).signIn(email, "wrong password")]++
		}
		if got[http.StatusUnauthorized] != 10 || got[http.StatusTooManyRequests] != 1 {
			t.Errorf("%s: 11 wrong passwords: %v; want 10 and 1", email, got)
		}
	}
}

// TestPasswordSprayAcross100Accounts: one address trying one password on 100 accounts
// is stopped after 50 failures (the address's cap an hour), while other addresses sign
// in as usual.
func TestPasswordSprayAcross100Accounts(t *testing.T) {
	ctx := context.Background()
	g := newGallery(t, sqlite, filesystem, withTrustedProxies("127.0.0.0/8"),
		withSignInLimits(redisSignInLimits(t, testservers.Redis(t), api.DefaultSignInRules(1000))))
	hash, err := auth.HashPassword("a good password of theirs")
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for i := range 100 {
		email := fmt.Sprintf("sprayed%d@example.com", i)
		if _, err := g.store.CreateUser(ctx, store.NewUser{Email: email, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
		emails = append(emails, email)
	}
	sprayer := g.client("198.51.100.66", false)
	got := tally{}
	firstRefused := -1
	for i, email := range emails {
		s := sprayer.signIn(email, "Summer2026 password")
		got[s]++
		if s == http.StatusTooManyRequests && firstRefused < 0 {
			firstRefused = i
		}
	}
	if got[http.StatusUnauthorized] != 50 || got[http.StatusTooManyRequests] != 50 || firstRefused != 50 {
		t.Errorf("spraying 100 accounts: %v, first refused at %d; want 50 checked, then all refused", got, firstRefused)
	}
	// Even the right password of one of them is refused from that address now.
	if s := sprayer.signIn(emails[99], "a good password of theirs"); s != http.StatusTooManyRequests {
		t.Errorf("sprayer's address with a right password = %d, want 429", s)
	}
	if s := g.client("198.51.100.67", false).signIn(emails[99], "a good password of theirs"); s != http.StatusOK {
		t.Errorf("another address = %d, want 200", s)
	}
	// The metrics count the 51 refusals by limit: the address's failure cap first, then
	// (past 60 attempts in the minute) its attempts cap.
	m := g.metrics()
	refused := 0
	for _, limit := range []string{"address_failures", "address"} {
		var n int
		line := grepLines(m, `sortographer_sign_in_refused_total{limit="`+limit+`"}`)
		if _, err := fmt.Sscanf(line, `sortographer_sign_in_refused_total{limit="`+limit+`"} %d`, &n); err != nil || n == 0 {
			t.Errorf("metrics: no refusals by %s: %q", limit, line)
		}
		refused += n
	}
	if refused != 51 {
		t.Errorf("metrics count %d refusals, want 51:\n%s", refused, grepLines(m, "sign_in_refused"))
	}
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSignInGlobalCap: a flood of sign-ins and sign-ups for unknown emails from many
// addresses is capped per second across the Gallery (each would cost a bcrypt hash);
// browsers the accounts know have a cap of their own, which the flood does not use.
func TestSignInGlobalCap(t *testing.T) {
	const perSecond = 5
	g := newGallery(t, sqlite, filesystem, withTrustedProxies("127.0.0.0/8"),
		withSignInLimits(redisSignInLimits(t, testservers.Redis(t), api.DefaultSignInRules(perSecond))))
	owner := g.signUp("busy")
	browser := g.client("203.0.113.10", true)
	if s := browser.signIn(owner.email, passwordOf("busy")); s != http.StatusOK {
		t.Fatalf("owner = %d", s)
	}
	time.Sleep(time.Second) // a fresh window for the flood

	const flood = 40
	var (
		mu  sync.Mutex
		got = tally{}
		wg  sync.WaitGroup
	)
	for i := range flood {
		wg.Go(func() {
			c := g.client(attackerAddr(i), false)
			creds := map[string]any{"email": fmt.Sprintf("random%d@example.com", i), "password": "some password here"}
			path := "/api/auth/signin"
			if i%2 == 1 {
				path = "/api/auth/signup"
			}
			s, _, _ := c.post(path, creds)
			mu.Lock()
			got[s]++
			mu.Unlock()
		})
	}
	wg.Wait()
	passed := flood - got[http.StatusTooManyRequests]
	if passed > 3*perSecond || got[http.StatusTooManyRequests] == 0 {
		t.Errorf("a flood of %d: %v; want at most %d a second through", flood, got, perSecond)
	}
	if s := browser.signIn(owner.email, passwordOf("busy")); s != http.StatusOK {
		t.Errorf("owner's browser during the flood = %d, want 200", s)
	}
}

// TestSignInLimitsWhileRedisIsDown: with the real Redis stopped the limits still hold,
// in the process, and the owner's browser still signs in; a limiter with no fallback
// refuses (503) rather than letting attempts through unlimited.
func TestSignInLimitsWhileRedisIsDown(t *testing.T) {
	srv := testservers.Redis(t)
	t.Run("fallback", func(t *testing.T) {
		g := newGallery(t, sqlite, filesystem, withTrustedProxies("127.0.0.0/8"),
			withSignInLimits(redisSignInLimits(t, srv, api.DefaultSignInRules(1000))))
		owner := g.signUp("outage")
		browser := g.client("203.0.113.10", true)
		if s := browser.signIn(owner.email, passwordOf("outage")); s != http.StatusOK {
			t.Fatalf("owner = %d", s)
		}
		srv.Stop()
		t.Cleanup(srv.Restart)
		got := tally{}
		attacker := g.client("198.51.100.9", false)
		for range 55 {
			got[attacker.signIn(owner.email, "wrong password")]++
		}
		if got[http.StatusUnauthorized] != 50 || got[http.StatusTooManyRequests] != 5 {
			t.Errorf("55 tries from one address with Redis down: %v; want 50 checked and 5 refused", got)
		}
		if s := browser.signIn(owner.email, passwordOf("outage")); s != http.StatusOK {
			t.Errorf("owner's browser with Redis down = %d, want 200", s)
		}
		if s := g.client("198.51.100.10", false).signIn(owner.email, passwordOf("outage")); s != http.StatusOK {
			t.Errorf("owner from another address with Redis down = %d, want 200", s)
		}
	})
	t.Run("no fallback fails closed", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
		t.Cleanup(func() { _ = c.Close() })
		limits := api.NewSignInLimits(api.DefaultSignInRules(1000), func(r ratelimit.Rule) ratelimit.Limiter { return ratelimit.NewRedis(c, "nf:", r) })
		g := newGallery(t, sqlite, filesystem, withSignInLimits(limits))
		u := g.signUp("closed")
		srv.Stop()
		t.Cleanup(srv.Restart)
		status, code, _ := g.client("198.51.100.9", false).post("/api/auth/signin", map[string]any{"email": u.email, "password": passwordOf("closed")})
		if status != http.StatusServiceUnavailable || code != "unavailable" {
			t.Errorf("sign-in with a failed limiter = %d %s, want 503 unavailable", status, code)
		}
	})
}

// TestSignUpsPerAddress: sign-ups are capped per client address (a smaller cap here
// than the default 30 an hour, for fewer hashes); another address signs up as usual.
func TestSignUpsPerAddress(t *testing.T) {
	rules := api.DefaultSignInRules(1000)
	rules.SignUps.Limit = 3
	g := newGallery(t, sqlite, filesystem, withTrustedProxies("127.0.0.0/8"), withSignInLimits(redisSignInLimits(t, testservers.Redis(t), rules)))
	farm := g.client("198.51.100.20", false)
	got := tally{}
	for i := range 5 {
		s, _, _ := farm.post("/api/auth/signup", map[string]any{"email": fmt.Sprintf("farmed%d@example.com", i), "password": "a farmed password"})
		got[s]++
	}
	if got[http.StatusAccepted] != 3 || got[http.StatusTooManyRequests] != 2 {
		t.Errorf("5 sign-ups from one address: %v, want 3 accepted and 2 refused", got)
	}
	if s, _, _ := g.client("198.51.100.21", false).post("/api/auth/signup", map[string]any{"email": "other@example.com", "password": "a farmed password"}); s != http.StatusAccepted {
		t.Errorf("another address = %d, want 202", s)
	}
	if s := farm.signIn("farmed4@example.com", "a farmed password"); s != http.StatusUnauthorized {
		t.Errorf("a refused sign-up made an account: sign-in = %d", s)
	}
}

// TestSignUpDoesNotRevealAccounts: sign-up answers a taken address exactly as a new
// one (status, body, headers, no cookie) and takes as long (both hash the password);
// the taken account keeps its password.
func TestSignUpDoesNotRevealAccounts(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	taken := g.signUp("taken")
	type answer struct {
		status  int
		body    string
		cookies int
		took    time.Duration
	}
	signUp := func(email string) answer {
		start := time.Now()
		res, data := g.do(nil, "POST", "/api/auth/signup", jsonBody(map[string]any{"email": email, "password": "another long password"}))
		return answer{res.StatusCode, string(data), len(res.Cookies()), time.Since(start)}
	}
	var newTimes, takenTimes []time.Duration
	for i := range 7 {
		n := signUp(fmt.Sprintf("fresh%d@example.com", i))
		k := signUp(strings.ToUpper(taken.email))
		newTimes, takenTimes = append(newTimes, n.took), append(takenTimes, k.took)
		n.took, k.took = 0, 0
		if n != k || n.status != http.StatusAccepted {
			t.Fatalf("new address answered %+v, taken one %+v; want the same 202", n, k)
		}
	}
	slices.Sort(newTimes)
	slices.Sort(takenTimes)
	if mn, mt := newTimes[3], takenTimes[3]; mt < mn/2 || mn < mt/2 {
		t.Errorf("median sign-up took %v for a new address and %v for a taken one; want alike", mn, mt)
	}
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": taken.email, "password": passwordOf("taken")}), http.StatusOK, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": taken.email, "password": "another long password"}), http.StatusUnauthorized, nil)
	logs := g.logs.String()
	if !strings.Contains(logs, "refused sign-up for an address that has an account") {
		t.Error("the refused sign-up is not logged")
	}
	for _, secret := range []string{taken.email, "another long password"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

// TestPasswordPolicyAtSignUp: sign-up refuses a short, a too long and a common password
// with 400 and a code naming the rule; a password from before the policy still signs
// in.
func TestPasswordPolicyAtSignUp(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	for password, want := range map[string]string{
		"eleven char":           "password_too_short",
		strings.Repeat("x", 73): "password_too_long",
		"qwerty123456":          "password_common",
		"Iloveyou2026!":         "password_common",
	} {
		var e struct {
			Error struct{ Code, Message string }
		}
		g.mustDo(nil, "POST", "/api/auth/signup", jsonBody(map[string]any{"email": "p@example.com", "password": password}), http.StatusBadRequest, &e)
		if e.Error.Code != want || e.Error.Message == "" || strings.Contains(e.Error.Message, password) {
			t.Errorf("%q: %+v, want code %s and a message without the password", password, e.Error, want)
		}
	}
	g.mustDo(nil, "POST", "/api/auth/signup", jsonBody(map[string]any{"email": "p@example.com", "password": "twelve chars"}), http.StatusAccepted, nil)
	legacy, err := bcrypt.GenerateFromPassword([]byte("8 bytes!"), bcrypt.DefaultCost) // as before the policy
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.store.CreateUser(context.Background(), store.NewUser{Email: "legacy@example.com", PasswordHash: string(legacy)}); err != nil {
		t.Fatal(err)
	}
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": "legacy@example.com", "password": "8 bytes!"}), http.StatusOK, nil)
}

// TestShareLimitUsesClientAddress: share links are limited per client address as
// clientAddress reads it behind a trusted proxy.
func TestShareLimitUsesClientAddress(t *testing.T) {
	g := newGallery(t, sqlite, filesystem, withTrustedProxies("127.0.0.0/8"),
		withShareLimiter(ratelimit.NewMemory(ratelimit.Rule{Name: "share", Limit: 2, Window: time.Minute})))
	get := func(addr string) int {
		req, _ := http.NewRequest("GET", g.url+"/api/shared/"+strings.Repeat("B", 43), nil)
		req.Header.Set("X-Forwarded-For", addr)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for range 2 {
		if s := get("198.51.100.1"); s != http.StatusNotFound {
			t.Fatalf("within the limit = %d", s)
		}
	}
	if s := get("198.51.100.1"); s != http.StatusTooManyRequests {
		t.Errorf("third from one address = %d, want 429", s)
	}
	if s := get("198.51.100.2"); s != http.StatusNotFound {
		t.Errorf("another address = %d, want 404 (its own budget)", s)
	}
}

// TestLimitAddress: the per-address limits count an IPv6 client by its /64, which one
// subscriber holds whole, and IPv4 (also mapped into IPv6) by the address.
func TestLimitAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:192.0.2.7":     "::ffff:192.0.2.7",
		"not an address":       "not an address",
	} {
		if got := api.LimitAddress(addr); got != want {
			t.Errorf("LimitAddress(%q) = %q, want %q", addr, got, want)
		}
	}
}
