package sessions

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

var testKey = []byte(strings.Repeat("k", MinKeyBytes))

// twoReplicas are two managers over one SQLite database and one Redis, and a user.
func twoReplicas(t *testing.T) (a, b *Manager, userID int64) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, config.Database{Driver: config.DriverSQLite}, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: "u@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	addr := testservers.Redis(t).Addr()
	mk := func() *Manager {
		rc := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { _ = rc.Close() })
		m, err := New(st, Options{Key: testKey, Lifetime: time.Hour, RememberLifetime: 24 * time.Hour, MaxLifetime: 48 * time.Hour, Redis: rc, Prefix: "t:"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	return mk(), mk(), u.ID
}

// TestLateCacheFillCannotResurrect: a replica that read a session's row just before
// another revoked it, and writes it to the cache just after, does not make the token
// good again: the revocation left a tombstone that the fill (SET NX) cannot replace.
func TestLateCacheFillCannotResurrect(t *testing.T) {
	a, b, uid := twoReplicas(t)
	ctx := context.Background()
	token, _, err := a.Start(ctx, uid, false, "test")
	if err != nil {
		t.Fatal(err)
	}
	// b reads the row (the moment before the revocation)...
	row, err := b.fromDatabase(ctx, b.hash(token))
	if err != nil {
		t.Fatal(err)
	}
	// ...a revokes...
	if err := a.RevokeUserSessions(ctx, uid); err != nil {
		t.Fatal(err)
	}
	// ...and b's cache write lands after.
	b.fill(ctx, row)
	b.refresh(ctx, row)
	for name, m := range map[string]*Manager{"a": a, "b": b} {
		if _, err := m.Check(ctx, token); !errors.Is(err, ErrInvalid) {
			t.Errorf("replica %s: the revoked token checks as %v, want ErrInvalid", name, err)
		}
	}
}

// TestRenewalOnOneReplicaIsSeenByTheOther: a session renewed by a, whose copy in b's
// view has passed its idle expiry, is read again from the database rather than
// refused.
func TestRenewalOnOneReplicaIsSeenByTheOther(t *testing.T) {
	a, b, uid := twoReplicas(t)
	ctx := context.Background()
	start := time.Now()
	now := start
	a.Now = func() time.Time { return now }
	b.Now = a.Now
	token, s, err := a.Start(ctx, uid, false, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Check(ctx, token); err != nil { // cached
		t.Fatal(err)
	}
	// A stale copy in the cache, as an older renewal would leave it.
	b.o.Redis.Del(ctx, b.cacheKey(s.TokenHash))
	b.fill(ctx, s)
	now = start.Add(50 * time.Minute)
	if _, err := a.Check(ctx, token); err != nil { // renews in the database
		t.Fatal(err)
	}
	b.o.Redis.Del(ctx, b.cacheKey(s.TokenHash))
	b.fill(ctx, s)                    // the pre-renewal copy again
	now = start.Add(70 * time.Minute) // past the copy's idle expiry, not the row's
	got, err := b.Check(ctx, token)
	if err != nil {
		t.Fatalf("renewed session refused on the other replica: %v", err)
	}
	if !got.IdleExpiresAt.After(now) {
		t.Errorf("idle expiry %v, want after %v", got.IdleExpiresAt, now)
	}
}

// TestCheckRefusesMalformedTokens: tokens of the wrong shape are refused without a
// database read (a nil store would panic).
func TestCheckRefusesMalformedTokens(t *testing.T) {
	m, err := New(nil, Options{Key: testKey, Lifetime: time.Hour, RememberLifetime: time.Hour, MaxLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", "short", strings.Repeat("A", tokenLength+1), "eyJhbGciOiJIUzI1NiJ9.e30.sig"} {
		if _, err := m.Check(context.Background(), tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v, want ErrInvalid", tok, err)
		}
	}
}

// TestNewRefusesBadOptions: a short key or a lifetime that is not positive.
func TestNewRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"short key":         {Key: []byte("short"), Lifetime: time.Hour, RememberLifetime: time.Hour, MaxLifetime: time.Hour},
		"no lifetime":       {Key: testKey, RememberLifetime: time.Hour, MaxLifetime: time.Hour},
		"no max lifetime":   {Key: testKey, Lifetime: time.Hour, RememberLifetime: time.Hour},
		"negative remember": {Key: testKey, Lifetime: time.Hour, RememberLifetime: -time.Hour, MaxLifetime: time.Hour},
	} {
		if _, err := New(nil, o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
