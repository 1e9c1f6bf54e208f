package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// testSessions: a session is found by its token hash, renewed, listed per user and
// revoked one at a time or all but one; another user's session cannot be revoked;
// expired sessions are swept; deleting a user takes their sessions; a password hash is
// replaced.
func testSessions(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	alice, bob := user(t, s, "alice@example.com"), user(t, s, "bob@example.com")
	now := time.Date(2026, 12, 6, 7, 0, 0, 123456789, time.UTC)
	mk := func(u User, hash string, idle time.Duration) Session {
		t.Helper()
		ss, err := s.CreateSession(ctx, Session{
			TokenHash: hash, UserID: u.ID, Remember: true, CreatedAt: now, RenewedAt: now,
			IdleExpiresAt: now.Add(idle), ExpiresAt: now.Add(48 * time.Hour),
			UserAgent: strings.Repeat("é", 200), // 400 bytes: cut to 255, whole characters
		})
		if err != nil {
			t.Fatalf("create session: %v", err)
		}
		return ss
	}
	a1 := mk(alice, strings.Repeat("a", 64), time.Hour)
	a2 := mk(alice, strings.Repeat("b", 64), time.Hour)
	a3 := mk(alice, strings.Repeat("c", 64), time.Hour)
	b1 := mk(bob, strings.Repeat("d", 64), time.Hour)
	if _, err := s.CreateSession(ctx, Session{TokenHash: a1.TokenHash, UserID: bob.ID, CreatedAt: now}); err == nil {
		t.Error("a second session with the same token hash was stored")
	}

	got, err := s.SessionByTokenHash(ctx, a1.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a1.ID || got.UserID != alice.ID || !got.Remember || !got.CreatedAt.Equal(now.Truncate(time.Microsecond)) ||
		!got.ExpiresAt.Equal(a1.ExpiresAt) || got.UserAgent != strings.Repeat("é", 127) {
		t.Errorf("session read back = %+v, want %+v with the user agent cut to 127 é", got, a1)
	}
	if _, err := s.SessionByTokenHash(ctx, strings.Repeat("z", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown hash: %v, want ErrNotFound", err)
	}

	later := now.Add(10 * time.Minute).Truncate(time.Microsecond)
	if err := s.RenewSession(ctx, a1.ID, later, later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SessionByTokenHash(ctx, a1.TokenHash); !got.RenewedAt.Equal(later) || !got.IdleExpiresAt.Equal(later.Add(time.Hour)) {
		t.Errorf("renewed session = %+v, want renewed at %v", got, later)
	}

	list, err := s.SessionsOfUser(ctx, alice.ID)
	if err != nil || len(list) != 3 || list[0].ID != a3.ID || list[2].ID != a1.ID {
		t.Errorf("alice's sessions = %+v, %v; want a3, a2, a1", list, err)
	}

	if _, err := s.DeleteSession(ctx, bob.ID, a2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob revoking alice's session: %v, want ErrNotFound", err)
	}
	if del, err := s.DeleteSession(ctx, alice.ID, a2.ID); err != nil || del.TokenHash != a2.TokenHash {
		t.Errorf("revoke a2 = %+v, %v", del, err)
	}
	if _, err := s.SessionByTokenHash(ctx, a2.TokenHash); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked session still found: %v", err)
	}
	if err := s.RenewSession(ctx, a2.ID, later, later); !errors.Is(err, ErrNotFound) {
		t.Errorf("renewing a revoked session: %v, want ErrNotFound", err)
	}

	// All of alice's but a3; bob's untouched.
	hashes, err := s.DeleteUserSessions(ctx, alice.ID, a3.ID)
	if err != nil || len(hashes) != 1 || hashes[0] != a1.TokenHash {
		t.Errorf("revoke all but a3 = %v, %v; want [a1's hash]", hashes, err)
	}
	if list, _ := s.SessionsOfUser(ctx, alice.ID); len(list) != 1 || list[0].ID != a3.ID {
		t.Errorf("after revoking all but a3: %+v", list)
	}
	if hashes, err := s.DeleteUserSessions(ctx, alice.ID, 0); err != nil || len(hashes) != 1 || hashes[0] != a3.TokenHash {
		t.Errorf("revoke all = %v, %v; want [a3's hash]", hashes, err)
	}
	if _, err := s.SessionByTokenHash(ctx, b1.TokenHash); err != nil {
		t.Errorf("bob's session went with alice's: %v", err)
	}

	// Expiry sweep: only sessions idle past their expiry go.
	short := mk(bob, strings.Repeat("e", 64), time.Minute)
	if n, err := s.DeleteExpiredSessions(ctx, now.Add(30*time.Minute)); err != nil || n != 1 {
		t.Errorf("sweep = %d, %v; want 1", n, err)
	}
	if _, err := s.SessionByTokenHash(ctx, short.TokenHash); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired session survived the sweep: %v", err)
	}

	if err := s.SetPasswordHash(ctx, bob.ID, "$2a$new"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, bob.ID); u.PasswordHash != "$2a$new" {
		t.Errorf("password hash = %q after the change", u.PasswordHash)
	}
	if err := s.SetPasswordHash(ctx, 999999, "$2a$new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("password of a missing user: %v, want ErrNotFound", err)
	}

	// Deleting a user deletes their sessions (the accounts part deletes users).
	if _, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM users WHERE id = ?"), bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByTokenHash(ctx, b1.TokenHash); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted user's session survived: %v", err)
	}
}
