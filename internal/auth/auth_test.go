package auth

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func tokens(t *testing.T, now time.Time) *Tokens {
	t.Helper()
	tk, err := NewTokens(testKey, "gallery", time.Hour, 10*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tk.Now = func() time.Time { return now }
	return tk
}

func TestIssueAndVerify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tk := tokens(t, now)
	for _, remember := range []bool{false, true} {
		tok, issued, err := tk.Issue(42, remember)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tk.Verify(tok)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		want := time.Hour
		if remember {
			want = 10 * time.Hour
		}
		if got.UserID != 42 || got.Remember != remember || !got.ExpiresAt.Equal(now.Add(want)) || !got.IssuedAt.Equal(issued.IssuedAt) || !got.ExpiresAt.Equal(issued.ExpiresAt) {
			t.Errorf("remember=%v: claims %+v, issued %+v", remember, got, issued)
		}
	}
}

// forge signs arbitrary claims with a method and key, as an attacker would.
func forge(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	now := time.Now()
	tk := tokens(t, now)
	good, _, err := tk.Issue(7, false)
	if err != nil {
		t.Fatal(err)
	}
	valid := jwt.MapClaims{"iss": "gallery", "sub": "7", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range valid {
			c[k] = v
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"gallery","sub":"8","iat":1,"exp":99999999999}`)) + "." + parts[2]

	cases := map[string]string{
		"expired":         forge(t, jwt.SigningMethodHS256, testKey, with("exp", now.Add(-time.Minute).Unix())),
		"no expiry":       forge(t, jwt.SigningMethodHS256, testKey, with("exp", nil)),
		"wrong key":       forge(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another-key"), valid),
		"alg none":        forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid),
		"alg HS512":       forge(t, jwt.SigningMethodHS512, testKey, valid),
		"other issuer":    forge(t, jwt.SigningMethodHS256, testKey, with("iss", "other")),
		"issued later":    forge(t, jwt.SigningMethodHS256, testKey, with("iat", now.Add(time.Hour).Unix())),
		"bad subject":     forge(t, jwt.SigningMethodHS256, testKey, with("sub", "admin")),
		"tampered":        tampered,
		"signature gone":  parts[0] + "." + parts[1] + ".",
		"garbage":         "not.a.token",
		"empty":           "",
		"none by hand":    base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"uppercase NONE":  base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"NONE","typ":"JWT"}`)) + "." + parts[1] + ".",
		"extra segment":   good + ".x",
		"truncated token": good[:len(good)-3],
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := tk.Verify(tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestShouldRefresh(t *testing.T) {
	now := time.Now()
	tk := tokens(t, now)
	_, short, _ := tk.Issue(1, false)
	_, long, _ := tk.Issue(1, true)
	if tk.ShouldRefresh(short) || tk.ShouldRefresh(long) {
		t.Fatal("fresh tokens should not be refreshed")
	}
	tk.Now = func() time.Time { return now.Add(6 * time.Hour) }
	if !tk.ShouldRefresh(long) {
		t.Error("a remember-me token past half its life should be refreshed")
	}
	if tk.ShouldRefresh(short) {
		t.Error("a session token is never refreshed")
	}
}

func TestNewTokensRefusesShortKey(t *testing.T) {
	if _, err := NewTokens([]byte("short"), "g", time.Hour, time.Hour); err == nil {
		t.Fatal("want an error for a short key")
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPassword(h, "correct horse battery"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := CheckPassword(h, "wrong horse"); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
	for _, p := range []string{"short", strings.Repeat("x", 73)} {
		if _, err := HashPassword(p); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("HashPassword(%d bytes) = %v, want ErrWeakPassword", len(p), err)
		}
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKey("too short", dir); err == nil {
		t.Error("want an error for a short secret")
	}
	k1, err := LoadKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(k1) != string(k2) || len(k1) < MinKeyBytes {
		t.Errorf("generated key not kept: %q then %q", k1, k2)
	}
	st, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v", err, st.Mode())
	}
	k3, err := LoadKey(string(testKey), dir)
	if err != nil || string(k3) != string(testKey) {
		t.Errorf("configured secret: %q, %v", k3, err)
	}
}
