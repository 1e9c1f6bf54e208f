package sessions

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
)

// FuzzCheck sends arbitrary tokens to Check. Properties: only the token Start issued
// finds a session, and the right one; every other string is ErrInvalid, never another
// error (a malformed token is not a server fault) and never a panic.
func FuzzCheck(f *testing.F) {
	ctx := context.Background()
	st, err := store.Open(ctx, config.Database{Driver: config.DriverSQLite}, filepath.Join(f.TempDir(), "g.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: "fuzz@example.com", PasswordHash: "x"})
	if err != nil {
		f.Fatal(err)
	}
	m, err := New(st, Options{Key: testKey, Lifetime: time.Hour, RememberLifetime: time.Hour, MaxLifetime: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	token, s, err := m.Start(ctx, u.ID, false, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{token, token[:len(token)-1] + "B", token + "=", "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "' OR 1=1 --                                ", s.TokenHash} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, candidate string) {
		got, err := m.Check(ctx, candidate)
		if candidate == token {
			if err != nil || got.ID != s.ID || got.UserID != u.ID {
				t.Fatalf("the issued token checks as %+v, %v", got, err)
			}
			return
		}
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Check(%q) = %+v, %v; want ErrInvalid", candidate, got, err)
		}
	})
}
