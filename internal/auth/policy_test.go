package auth

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPasswordPolicy: at least 12 characters, at most 72 bytes, not a common password
// (in any case, nor one stretched with digits); each refusal says which rule, and is
// an ErrWeakPassword.
func TestPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		password string
		want     error
	}{
		{"correct horse battery", nil},
		{"long enough!", nil},                // exactly 12
		{"가나다라마바사아자차카타", nil},                // 12 characters, 36 bytes
		{strings.Repeat("가", 24), nil},       // 72 bytes
		{"eleven char", ErrPasswordTooShort}, // 11
		{"가나다라마바사아자차카", ErrPasswordTooShort}, // 11 characters, 33 bytes: counted in characters
		{"", ErrPasswordTooShort},
		{strings.Repeat("가", 25), ErrPasswordTooLong}, // 75 bytes
		{strings.Repeat("x", 73), ErrPasswordTooLong},
		{"1qaz2wsx3edc", ErrPasswordCommon},  // on the list as it is
		{"QWERTY123456", ErrPasswordCommon},  // on the list, another case
		{"iloveyou2024!", ErrPasswordCommon}, // a listed one stretched with digits
		{"password1234", ErrPasswordCommon},
		{"monkey123456", ErrPasswordCommon},
		{"monkey and 12 bananas", nil},
	} {
		err := CheckPasswordPolicy(tc.password)
		if err != tc.want { //nolint:errorlint // the sentinels are returned as they are
			t.Errorf("CheckPasswordPolicy(%q) = %v, want %v", tc.password, err, tc.want)
		}
		if tc.want != nil && !errors.Is(err, ErrWeakPassword) {
			t.Errorf("CheckPasswordPolicy(%q) = %v, not an ErrWeakPassword", tc.password, err)
		}
		if _, herr := HashPassword(tc.password); herr != err { //nolint:errorlint // as above
			t.Errorf("HashPassword(%q) = %v, want the policy's %v", tc.password, herr, err)
		}
	}
	if n := len(commonSet()); n != 30000 {
		t.Errorf("the common-password list has %d entries, want zxcvbn's 30000", n)
	}
}

// TestDeviceTokens: a device token verifies for its own email only, until it expires,
// and neither a session token nor a token signed with the session key passes.
func TestDeviceTokens(t *testing.T) {
	key := []byte("device-test-key-device-test-key-0123")
	d, err := NewDevices(key)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := d.Issue("ada@example.com")
	if err != nil || exp.Before(time.Now().Add(DeviceLifetime-time.Minute)) {
		t.Fatalf("Issue: %v, expires %v", err, exp)
	}
	id, ok := d.Verify(tok, "ada@example.com")
	if !ok || len(id) != 32 {
		t.Errorf("Verify own = %q %v", id, ok)
	}
	tok2, _, _ := d.Issue("ada@example.com")
	if id2, _ := d.Verify(tok2, "ada@example.com"); id2 == id {
		t.Error("two device tokens share an id")
	}
	if _, ok := d.Verify(tok, "bob@example.com"); ok {
		t.Error("a device token verified for another account")
	}
	// A session token is an opaque random value (internal/sessions), looked up by its
	// HMAC: a device token names no session, and a session token is no device token.
	if _, ok := d.Verify(rand.Text(), "ada@example.com"); ok {
		t.Error("a random opaque token passed as a device token")
	}
	if _, ok := d.Verify(tok[:len(tok)-2]+"xx", "ada@example.com"); ok {
		t.Error("an altered device token verified")
	}
	d.Now = func() time.Time { return time.Now().Add(DeviceLifetime + time.Hour) }
	if _, ok := d.Verify(tok, "ada@example.com"); ok {
		t.Error("an expired device token verified")
	}
}
