package auth

import (
	"bufio"
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Password policy (ASVS V2.1.1, V2.1.2, V2.1.7): at least MinPasswordChars characters,
// at most MaxPasswordBytes bytes, and not one of the common passwords that attackers
// try first. Nothing else: no composition rules (V2.1.9). It applies to new passwords
// only; an account's existing password still signs in.
const (
	// MinPasswordChars is the shortest password, in characters (not bytes, so that a
	// Korean password is not held to a lower bar).
	MinPasswordChars = 12
	// MaxPasswordBytes: bcrypt reads only the first 72 bytes, so a longer password would
	// silently share a hash with its prefix; it is refused instead.
	MaxPasswordBytes = 72
)

// PasswordError is a password the policy refuses: Code for programs, Reason for people.
// errors.Is(err, ErrWeakPassword) holds for each.
type PasswordError struct {
	Code, Reason string
}

func (e *PasswordError) Error() string { return e.Reason }

// Is makes every PasswordError an ErrWeakPassword.
func (e *PasswordError) Is(target error) bool { return target == ErrWeakPassword }

// The policy's refusals.
var (
	ErrPasswordTooShort = &PasswordError{Code: "password_too_short", Reason: "the password must be at least 12 characters long"}
	ErrPasswordTooLong  = &PasswordError{Code: "password_too_long", Reason: "the password must be at most 72 bytes long (UTF-8)"}
	ErrPasswordCommon   = &PasswordError{Code: "password_common", Reason: "this password is one of the most common passwords; choose another"}
)

// commonPasswords is zxcvbn's list of the 30,000 most common passwords, one a line,
// lower case; commonpasswords/README.md tells where it comes from and its licence.
//
//go:embed commonpasswords/passwords.txt
var commonPasswords string

var commonSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 30000)
	sc := bufio.NewScanner(strings.NewReader(commonPasswords))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// CheckPasswordPolicy reports a *PasswordError when a new password breaks the policy.
func CheckPasswordPolicy(password string) error {
	switch {
	case len(password) > MaxPasswordBytes:
		return ErrPasswordTooLong
	case utf8.RuneCountInString(password) < MinPasswordChars:
		return ErrPasswordTooShort
	case IsCommonPassword(password):
		return ErrPasswordCommon
	}
	return nil
}

// IsCommonPassword reports whether a password is on the list, ignoring case, or is a
// listed one of at least four characters followed by digits and punctuation only
// ("monkey123456", "iloveyou2024!"): the list's entries of 12 characters or more are
// few, and that is how people stretch a short one to the minimum.
func IsCommonPassword(password string) bool {
	set := commonSet()
	p := strings.ToLower(password)
	if _, ok := set[p]; ok {
		return true
	}
	base := strings.TrimRightFunc(p, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })
	if utf8.RuneCountInString(base) < 4 || base == p {
		return false
	}
	_, ok := set[base]
	return ok
}
