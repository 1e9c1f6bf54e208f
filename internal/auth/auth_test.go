package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

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
