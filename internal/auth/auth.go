// Package auth checks who people are: password hashes (bcrypt), and the Gallery's
// session key (LoadKey), under which internal/sessions stores its tokens' hashes.
// Sessions themselves are server-side records (internal/sessions), so that they can be
// revoked.
package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Errors; test with errors.Is.
var (
	// ErrWrongPassword: the password does not match the hash.
	ErrWrongPassword = errors.New("wrong password")
	// ErrWeakPassword: a password the policy refuses (policy.go); the error is a
	// *PasswordError that says why.
	ErrWeakPassword = errors.New("password refused by the password policy")
)

// MinKeyBytes is the shortest session key accepted: HMAC-SHA256 wants 256 bits.
const MinKeyBytes = 32

// bcryptCost is bcrypt's work factor: about 50 ms a hash on a server core.
const bcryptCost = 11

// HashPassword hashes a new password for storage, after CheckPasswordPolicy.
func HashPassword(password string) (string, error) {
	if err := CheckPasswordPolicy(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports ErrWrongPassword unless password matches hash.
func CheckPassword(hash, password string) error {
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return ErrWrongPassword
	}
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	return nil
}

// dummyHash is compared against when an email is unknown, so that sign-in takes as long
// for a missing account as for a wrong password and does not reveal which emails exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("sortographer-no-such-user"), bcryptCost)

// SpendPasswordCheck costs what CheckPassword costs, for an unknown account.
func SpendPasswordCheck(password string) {
	_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
}

// keyFile is where a generated signing key is kept, under the data directory.
const keyFile = "session.key"

// LoadKey returns the session key: secret when set, otherwise a random key generated
// once and kept in dataDir (one machine only: replicas on other machines would not
// share it).
func LoadKey(secret, dataDir string) ([]byte, error) {
	if secret != "" {
		if len(secret) < MinKeyBytes {
			return nil, fmt.Errorf("session signing key: %d bytes, need at least %d", len(secret), MinKeyBytes)
		}
		return []byte(secret), nil
	}
	path := filepath.Join(dataDir, keyFile)
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < MinKeyBytes {
			return nil, fmt.Errorf("session signing key in %s: too short", path)
		}
		return []byte(key), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read session signing key: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	key := hex.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	// O_EXCL: should two processes start at once, one key wins and both read it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadKey("", dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("write session signing key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write session signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write session signing key: %w", err)
	}
	return []byte(key), nil
}
