package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Devices issues and checks device tokens (OWASP's "device cookies"): a browser that
// signed in to an account once gets one, and while it holds it, failed sign-ins by
// others on that account do not lock it out. A token names one account (its email)
// and carries a random id, by which its own failures are counted; it is a JWT signed
// with a key derived from the session key, so it can never pass for a session token.
type Devices struct {
	key      []byte
	lifetime time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// deviceAudience marks device tokens, apart from session tokens.
const deviceAudience = "sortographer-device"

// DeviceLifetime is how long a device token lasts; each sign-in renews it.
const DeviceLifetime = 180 * 24 * time.Hour

// NewDevices makes device tokens signed with a key derived from the session key.
func NewDevices(sessionKey []byte) (*Devices, error) {
	if len(sessionKey) < MinKeyBytes {
		return nil, fmt.Errorf("device token key: %d bytes, need at least %d", len(sessionKey), MinKeyBytes)
	}
	mac := hmac.New(sha256.New, sessionKey)
	mac.Write([]byte("sortographer device token key v1"))
	return &Devices{key: mac.Sum(nil), lifetime: DeviceLifetime, Now: time.Now}, nil
}

// Issue makes a device token for the account with this email (lower case).
func (d *Devices) Issue(email string) (token string, expires time.Time, err error) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	now := d.Now().UTC().Truncate(time.Second)
	expires = now.Add(d.lifetime)
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Audience:  jwt.ClaimStrings{deviceAudience},
		Subject:   email,
		ID:        hex.EncodeToString(id),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(expires),
	}).SignedString(d.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign device token: %w", err)
	}
	return token, expires, nil
}

// Verify returns the id of a valid, unexpired device token issued for email; ok is
// false for any other token.
func (d *Devices) Verify(token, email string) (id string, ok bool) {
	if token == "" || email == "" {
		return "", false
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(deviceAudience),
		jwt.WithSubject(email),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(d.Now),
	)
	var c jwt.RegisteredClaims
	if _, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return d.key, nil }); err != nil || c.ID == "" {
		return "", false
	}
	return c.ID, true
}
