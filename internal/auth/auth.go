// Package auth signs people in: password hashes (bcrypt) and stateless session tokens
// (JWT, HS256 with the Gallery's key). A token carries everything a replica needs to
// trust it, so any replica serves any request and a restart signs nobody out.
package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// Errors; test with errors.Is.
var (
	// ErrInvalidToken: a token that is malformed, expired, signed with another key or
	// algorithm, or altered. Callers answer 401 without saying which.
	ErrInvalidToken = errors.New("invalid or expired session token")
	// ErrWrongPassword: the password does not match the hash.
	ErrWrongPassword = errors.New("wrong password")
	// ErrWeakPassword: a password the policy refuses (policy.go); the error is a
	// *PasswordError that says why.
	ErrWeakPassword = errors.New("password refused by the password policy")
)

// MinKeyBytes is the shortest signing key accepted: HS256 wants 256 bits.
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

// Claims is what a valid token says.
type Claims struct {
	UserID int64
	// Remember is set on "remember me" sessions, which last longer and are renewed
	// while in use.
	Remember  bool
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// tokenClaims is the JWT payload: the registered claims plus "rem".
type tokenClaims struct {
	Remember bool `json:"rem,omitempty"`
	jwt.RegisteredClaims
}

// Tokens issues and verifies session tokens.
type Tokens struct {
	key      []byte
	issuer   string
	lifetime time.Duration
	remember time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewTokens makes tokens signed with key, naming issuer (the Gallery) in each. A token
// lasts lifetime, or rememberLifetime when the user asked to be remembered.
func NewTokens(key []byte, issuer string, lifetime, rememberLifetime time.Duration) (*Tokens, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("session signing key: %d bytes, need at least %d", len(key), MinKeyBytes)
	}
	if lifetime <= 0 || rememberLifetime <= 0 {
		return nil, errors.New("session token lifetimes must be positive")
	}
	return &Tokens{key: key, issuer: issuer, lifetime: lifetime, remember: rememberLifetime, Now: time.Now}, nil
}

// Issue signs a new token for a user.
func (t *Tokens) Issue(userID int64, remember bool) (token string, c Claims, err error) {
	now := t.Now().UTC().Truncate(time.Second)
	life := t.lifetime
	if remember {
		life = t.remember
	}
	c = Claims{UserID: userID, Remember: remember, IssuedAt: now, ExpiresAt: now.Add(life)}
	tc := tokenClaims{Remember: remember, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    t.issuer,
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
		ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
	}}
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(t.key)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign session token: %w", err)
	}
	return token, c, nil
}

// Verify checks a token's signature (HS256 with this key only: "none" and every other
// algorithm are refused), issuer and expiry, and returns its claims.
func (t *Tokens) Verify(token string) (Claims, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.Now),
	)
	var tc tokenClaims
	if _, err := p.ParseWithClaims(token, &tc, func(*jwt.Token) (any, error) { return t.key, nil }); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	id, err := strconv.ParseInt(tc.Subject, 10, 64)
	if err != nil || id <= 0 || tc.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: bad subject", ErrInvalidToken)
	}
	return Claims{UserID: id, Remember: tc.Remember, IssuedAt: tc.IssuedAt.UTC(), ExpiresAt: tc.ExpiresAt.UTC()}, nil
}

// ShouldRefresh reports whether a remember-me session has used half its lifetime, so the
// server hands out a fresh token and an active user stays signed in.
func (t *Tokens) ShouldRefresh(c Claims) bool {
	return c.Remember && c.ExpiresAt.Sub(t.Now()) < t.remember/2
}

// keyFile is where a generated signing key is kept, under the data directory.
const keyFile = "session.key"

// LoadKey returns the signing key: secret when set, otherwise a random key generated
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
