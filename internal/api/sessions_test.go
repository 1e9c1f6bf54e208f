package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/sessions"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

// replica is one server of a gallery whose replicas share the database and Redis, as
// the pods of a Deployment do.
type replica struct {
	*gallery
	sessions *sessions.Manager
}

// newReplicas starts n servers on one database and one Redis, each with its own
// connection pool, Redis client and session manager.
func newReplicas(t *testing.T, n int, db database, redisAddr string) []*replica {
	t.Helper()
	dbc, file := db(t)
	obj, count := filesystem(t)
	out := make([]*replica, n)
	for i := range out {
		st, err := store.Open(context.Background(), dbc, file)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if i == 0 {
			if err := st.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		rc := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: -1, DialTimeout: time.Second})
		t.Cleanup(func() { _ = rc.Close() })
		sm := newSessions(t, st, rc)
		srv := api.New(api.Deps{
			Store: st, Objects: obj, Queue: queue.NewMemory(queue.Options{}), Sessions: sm,
			Log:      slog.New(slog.NewJSONHandler(io.MultiWriter(testWriter{t}), nil)).With("replica", i),
			Registry: prometheus.NewRegistry(), MaxUploadBytes: 1 << 20, AllowSignUp: true, UI: http.NotFoundHandler(),
		})
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		out[i] = &replica{gallery: &gallery{t: t, url: hs.URL, server: srv, store: st, objects: obj, sessions: sm, countObjects: count}, sessions: sm}
	}
	return out
}

// bearerSignIn signs email in on r as an API client and returns the session's user.
func (r *replica) bearerSignIn(email, password string) *user {
	r.t.Helper()
	var s struct {
		User  struct{ ID int64 }
		Token string
	}
	r.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": email, "password": password, "bearer": true}), http.StatusOK, &s)
	return &user{g: r.gallery, id: s.User.ID, email: email, token: s.Token}
}

// cookieSignIn signs email in on r as the web UI does and returns the cookie's token.
func (r *replica) cookieSignIn(email, password string) string {
	r.t.Helper()
	res, data := r.do(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": email, "password": password}))
	if res.StatusCode != http.StatusOK || len(res.Cookies()) != 1 {
		r.t.Fatalf("cookie sign-in = %d %s", res.StatusCode, data)
	}
	assertTokenHidden(r.t, "cookie sign-in", res.Cookies()[0].Value, res, data)
	return res.Cookies()[0].Value
}

// meWithCookie is GET /api/me's status with token in the session cookie.
func (r *replica) meWithCookie(token string) int {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.url+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: token})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// assertEverywhere checks that u's token gets want on every replica. Revocation is
// synchronous (the row is deleted and the Redis entry replaced before the response),
// so the very next request is checked, not a later one.
func assertEverywhere(t *testing.T, rs []*replica, what string, u *user, want int) {
	t.Helper()
	for i, r := range rs {
		if res, data := r.do(u, "GET", "/api/me", nil); res.StatusCode != want {
			t.Errorf("%s: replica %d answered %d %s, want %d", what, i, res.StatusCode, data, want)
		}
	}
}

// TestSessionRevokedOnEveryReplica: three servers sharing one MariaDB and one Redis.
// Every way of ending a session on one replica (sign-out with the cookie or a bearer
// token, sign out everywhere with and without keeping the current session, revoking
// one session from the list, a password change, RevokeUserSessions) is refused by the
// other two on the next request, although each had the session in the shared cache.
func TestSessionRevokedOnEveryReplica(t *testing.T) {
	rs := newReplicas(t, 3, mariadb, testservers.Redis(t).Addr())
	const email, password = "ada@example.com", "long-password-ada"
	rs[0].mustDo(nil, "POST", "/api/auth/signup", jsonBody(map[string]any{"email": email, "password": password, "bearer": true}), http.StatusAccepted, nil)
	warm := func(what string, us ...*user) {
		t.Helper()
		for _, u := range us {
			assertEverywhere(t, rs, what+": before", u, http.StatusOK)
		}
	}

	// Sign-out with the cookie on replica 0.
	cookie := rs[0].cookieSignIn(email, password)
	for i, r := range rs {
		if got := r.meWithCookie(cookie); got != http.StatusOK {
			t.Fatalf("cookie session on replica %d = %d", i, got)
		}
	}
	req, _ := http.NewRequest("POST", rs[0].url+"/api/auth/signout", nil)
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: cookie})
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("cookie sign-out: %v %v", res, err)
	}
	for i, r := range rs {
		if got := r.meWithCookie(cookie); got != http.StatusUnauthorized {
			t.Errorf("signed-out cookie on replica %d = %d, want 401", i, got)
		}
	}

	// Sign-out with a bearer token on replica 1.
	a, b := rs[1].bearerSignIn(email, password), rs[2].bearerSignIn(email, password)
	warm("bearer sign-out", a, b)
	rs[1].mustDo(a, "POST", "/api/auth/signout", nil, http.StatusNoContent, nil)
	assertEverywhere(t, rs, "after a bearer sign-out", a, http.StatusUnauthorized)
	assertEverywhere(t, rs, "the other session after a bearer sign-out", b, http.StatusOK)

	// Sign out everywhere else, from replica 2: b stays, c and d go.
	c, d := rs[0].bearerSignIn(email, password), rs[1].bearerSignIn(email, password)
	warm("sign out everywhere else", c, d)
	rs[2].mustDo(b, "POST", "/api/auth/signout-everywhere", jsonBody(map[string]any{"keepCurrent": true}), http.StatusNoContent, nil)
	assertEverywhere(t, rs, "after sign out everywhere else", c, http.StatusUnauthorized)
	assertEverywhere(t, rs, "after sign out everywhere else", d, http.StatusUnauthorized)
	assertEverywhere(t, rs, "the kept session", b, http.StatusOK)

	// Revoke one session from the list, on replica 0.
	e := rs[1].bearerSignIn(email, password)
	warm("revoke one", e)
	var list struct {
		Sessions []struct {
			ID      int64
			Current bool
		}
	}
	rs[0].mustDo(b, "GET", "/api/sessions", nil, http.StatusOK, &list)
	if len(list.Sessions) != 2 || !list.Sessions[1].Current || list.Sessions[0].Current {
		t.Fatalf("sessions = %+v, want e's then b's (current)", list.Sessions)
	}
	rs[0].mustDo(b, "DELETE", "/api/sessions/"+itoa(list.Sessions[0].ID), nil, http.StatusNoContent, nil)
	assertEverywhere(t, rs, "after revoking one", e, http.StatusUnauthorized)

	// Password change on replica 1: every other session goes, the changing one stays.
	f := rs[2].bearerSignIn(email, password)
	warm("password change", f)
	rs[1].mustDo(b, "POST", "/api/me/password", jsonBody(map[string]any{"currentPassword": password, "newPassword": "a new password"}), http.StatusNoContent, nil)
	assertEverywhere(t, rs, "after a password change", f, http.StatusUnauthorized)
	assertEverywhere(t, rs, "the session that changed the password", b, http.StatusOK)

	// What an administrator disabling or deleting the account calls.
	g := rs[0].bearerSignIn(email, "a new password")
	warm("RevokeUserSessions", g)
	if err := rs[2].sessions.RevokeUserSessions(context.Background(), b.id); err != nil {
		t.Fatal(err)
	}
	assertEverywhere(t, rs, "after RevokeUserSessions", b, http.StatusUnauthorized)
	assertEverywhere(t, rs, "after RevokeUserSessions", g, http.StatusUnauthorized)

	// Sign out everywhere, this one included.
	h, i := rs[0].bearerSignIn(email, "a new password"), rs[1].bearerSignIn(email, "a new password")
	warm("sign out everywhere", h, i)
	rs[2].mustDo(h, "POST", "/api/auth/signout-everywhere", nil, http.StatusNoContent, nil)
	assertEverywhere(t, rs, "after sign out everywhere", h, http.StatusUnauthorized)
	assertEverywhere(t, rs, "after sign out everywhere", i, http.StatusUnauthorized)
}

// TestSessionsWithRedisDown: with Redis unreachable, sessions are checked against the
// database (the source of truth): signed-in users keep working, new sign-ins work,
// and a revocation on one replica is refused by the others at once.
func TestSessionsWithRedisDown(t *testing.T) {
	rdb := testservers.Redis(t)
	rs := newReplicas(t, 2, postgres, rdb.Addr())
	const email, password = "bo@example.com", "long-password-bo"
	rs[0].mustDo(nil, "POST", "/api/auth/signup", jsonBody(map[string]any{"email": email, "password": password}), http.StatusAccepted, nil)
	a := rs[0].bearerSignIn(email, password)
	assertEverywhere(t, rs, "cached", a, http.StatusOK)

	rdb.Stop()
	assertEverywhere(t, rs, "Redis down", a, http.StatusOK)
	b := rs[1].bearerSignIn(email, password)
	assertEverywhere(t, rs, "signed in while Redis is down", b, http.StatusOK)
	rs[1].mustDo(a, "POST", "/api/auth/signout", nil, http.StatusNoContent, nil)
	assertEverywhere(t, rs, "signed out while Redis is down", a, http.StatusUnauthorized)
	assertEverywhere(t, rs, "the other session, Redis down", b, http.StatusOK)
}

// TestPasswordChange: the current password is required (403 otherwise, nothing
// changed), a weak new one is refused, and afterwards only the new password signs in.
func TestPasswordChange(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("pat")
	other := &user{g: g}
	var s struct{ Token string }
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": u.email, "password": passwordOf("pat"), "bearer": true}), http.StatusOK, &s)
	other.token = s.Token

	for _, tc := range []struct {
		name string
		body map[string]any
		want int
		code string
	}{
		{"wrong current password", map[string]any{"currentPassword": "not it", "newPassword": "a new password"}, http.StatusForbidden, "wrong_password"},
		{"no current password", map[string]any{"newPassword": "a new password"}, http.StatusForbidden, "wrong_password"},
		{"short new password", map[string]any{"currentPassword": passwordOf("pat"), "newPassword": "short"}, http.StatusBadRequest, "password_too_short"},
		{"common new password", map[string]any{"currentPassword": passwordOf("pat"), "newPassword": "password1234"}, http.StatusBadRequest, "password_common"},
		{"unknown field", map[string]any{"currentPassword": passwordOf("pat"), "newPassword": "a new password", "admin": true}, http.StatusBadRequest, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e struct{ Error struct{ Code string } }
			g.mustDo(u, "POST", "/api/me/password", jsonBody(tc.body), tc.want, &e)
			if e.Error.Code != tc.code {
				t.Errorf("code = %q, want %q", e.Error.Code, tc.code)
			}
		})
	}
	// Nothing changed: the other session and the old password still work.
	g.mustDo(other, "GET", "/api/me", nil, http.StatusOK, nil)

	g.mustDo(u, "POST", "/api/me/password", jsonBody(map[string]any{"currentPassword": passwordOf("pat"), "newPassword": "a new password"}), http.StatusNoContent, nil)
	g.mustDo(u, "GET", "/api/me", nil, http.StatusOK, nil)
	g.mustDo(other, "GET", "/api/me", nil, http.StatusUnauthorized, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": u.email, "password": passwordOf("pat")}), http.StatusUnauthorized, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": u.email, "password": "a new password"}), http.StatusOK, nil)
}

// TestSessionList: the list shows the user's own live sessions with the current one
// marked and their user agents, never a token; another user's session cannot be
// revoked (404, as a missing one); revoking the current session clears its cookie.
func TestSessionList(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u, v := g.signUp("lee"), g.signUp("max")
	res, data := g.do(u, "GET", "/api/sessions", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list = %d %s", res.StatusCode, data)
	}
	assertTokenHidden(t, "the session list", u.token, res, data)
	var list struct {
		Sessions []struct {
			ID        int64
			Current   bool
			UserAgent string
			CreatedAt time.Time
			ExpiresAt time.Time
		}
	}
	g.mustDo(u, "GET", "/api/sessions", nil, http.StatusOK, &list)
	if len(list.Sessions) != 1 || !list.Sessions[0].Current || list.Sessions[0].UserAgent != "Go-http-client/1.1" ||
		list.Sessions[0].ExpiresAt.Sub(list.Sessions[0].CreatedAt) != testSessionMaxLifetime {
		t.Fatalf("lee's sessions = %+v", list.Sessions)
	}
	var vs struct{ Sessions []struct{ ID int64 } }
	g.mustDo(v, "GET", "/api/sessions", nil, http.StatusOK, &vs)
	g.mustDo(u, "DELETE", "/api/sessions/"+itoa(vs.Sessions[0].ID), nil, http.StatusNotFound, nil)
	g.mustDo(u, "DELETE", "/api/sessions/not-a-number", nil, http.StatusNotFound, nil)
	g.mustDo(v, "GET", "/api/me", nil, http.StatusOK, nil)

	req, _ := http.NewRequest("DELETE", g.url+"/api/sessions/"+itoa(list.Sessions[0].ID), nil)
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: u.token})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || len(res.Cookies()) != 1 || res.Cookies()[0].MaxAge >= 0 {
		t.Errorf("revoking the current session = %d, cookies %+v; want 204 clearing the cookie", res.StatusCode, res.Cookies())
	}
	g.mustDo(u, "GET", "/api/me", nil, http.StatusUnauthorized, nil)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
