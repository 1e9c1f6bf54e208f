package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fuzzNow is the fixed clock of the fuzz targets, so a seed token stays valid.
var fuzzNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// seedTokens are real tokens: valid ones, and ones refused for each reason.
func seedTokens(f *testing.F) []string {
	f.Helper()
	tk, err := NewTokens(testKey, "gallery", time.Hour, 10*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	tk.Now = func() time.Time { return fuzzNow }
	short, _, _ := tk.Issue(7, false)
	long, _, _ := tk.Issue(1<<40, true)
	other, _ := NewTokens([]byte(strings.Repeat("k", 32)), "gallery", time.Hour, time.Hour)
	other.Now = tk.Now
	foreign, _, _ := other.Issue(7, false)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "7", "iss": "gallery"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return []string{short, long, foreign, none, "", "a.b.c", "Bearer " + short, short + "x"}
}

// FuzzVerify feeds arbitrary strings to Verify. Properties: a refusal wraps
// ErrInvalidToken (the middleware answers 401 for exactly that); anything accepted
// names a positive user, was issued no later than now and expires after it, within the
// longest lifetime; and accepting is stable: the same string verifies to the same
// claims twice.
func FuzzVerify(f *testing.F) {
	for _, s := range seedTokens(f) {
		f.Add(s)
	}
	tk, err := NewTokens(testKey, "gallery", time.Hour, 10*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	tk.Now = func() time.Time { return fuzzNow }
	f.Fuzz(func(t *testing.T, token string) {
		c, err := tk.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, which does not wrap ErrInvalidToken", token, err)
			}
			return
		}
		if c.UserID <= 0 {
			t.Fatalf("accepted user %d", c.UserID)
		}
		if c.IssuedAt.After(fuzzNow) || !c.ExpiresAt.After(fuzzNow) || c.ExpiresAt.Sub(fuzzNow) > 10*time.Hour+time.Second {
			t.Fatalf("accepted a token issued %v, expiring %v, at %v", c.IssuedAt, c.ExpiresAt, fuzzNow)
		}
		again, err := tk.Verify(token)
		if err != nil || again != c {
			t.Fatalf("the second Verify = %+v, %v; the first %+v", again, err, c)
		}
	})
}

// FuzzTokenRoundTrip issues a token, changes one byte of it and verifies both.
// Properties: the issued token verifies to the claims issued (a round trip); a positive
// user id is required; a changed token is refused, or — when the change only touched
// bits base64 ignores — verifies to exactly the same claims: no edit yields another
// user's session.
func FuzzTokenRoundTrip(f *testing.F) {
	f.Add(int64(42), false, uint16(10), byte('A'))
	f.Add(int64(1), true, uint16(200), byte('.'))
	f.Add(int64(-5), false, uint16(0), byte('e'))
	tk, err := NewTokens(testKey, "gallery", time.Hour, 10*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	tk.Now = func() time.Time { return fuzzNow }
	f.Fuzz(func(t *testing.T, userID int64, remember bool, at uint16, b byte) {
		token, issued, err := tk.Issue(userID, remember)
		if err != nil {
			t.Fatalf("issue: %v", err)
		}
		got, err := tk.Verify(token)
		if userID <= 0 {
			if err == nil {
				t.Fatalf("a token for user %d verified", userID)
			}
			return
		}
		if err != nil || got != issued {
			t.Fatalf("Verify = %+v, %v; issued %+v", got, err, issued)
		}
		i := int(at) % len(token)
		if token[i] == b {
			return
		}
		changed := token[:i] + string(b) + token[i+1:]
		got, err = tk.Verify(changed)
		if err == nil && got != issued {
			t.Fatalf("changing byte %d of the token to %q verified as %+v, issued %+v", i, b, got, issued)
		}
	})
}
