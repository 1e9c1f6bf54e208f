package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/sortographer/sortographer/internal/ratelimit"
)

// SignInRules are the limits on signing in and signing up; admitSignIn tells how they
// combine, and docs/security.md why.
type SignInRules struct {
	// Global caps attempts (sign-in and sign-up, any email, known or not) per second
	// across the Gallery, from browsers without a device token: each costs a bcrypt hash.
	Global ratelimit.Rule
	// KnownDevices is the same cap, kept apart, for browsers with a device token for the
	// account, so that a flood from strangers does not crowd out the owners.
	KnownDevices ratelimit.Rule
	// Address caps attempts per client address.
	Address ratelimit.Rule
	// AddressFailures caps failed sign-ins per client address, whatever the account:
	// one password sprayed over many accounts.
	AddressFailures ratelimit.Rule
	// AccountFailures caps failed sign-ins on one account from browsers without a device
	// token (ASVS V2.2.1: at most 100 an hour). Sliding, so never more in any hour.
	AccountFailures ratelimit.Rule
	// DeviceFailures caps failed sign-ins with one device token; past it, that browser
	// is a stranger again.
	DeviceFailures ratelimit.Rule
	// SignUps caps sign-ups per client address.
	SignUps ratelimit.Rule
}

// DefaultSignInRules are the Gallery's limits; perSecond is the global cap
// (SORTOGRAPHER_SIGN_INS_PER_SECOND).
func DefaultSignInRules(perSecond int) SignInRules {
	return SignInRules{
		Global:          ratelimit.Rule{Name: "signin-global", Limit: perSecond, Window: time.Second},
		KnownDevices:    ratelimit.Rule{Name: "signin-known-devices", Limit: perSecond, Window: time.Second},
		Address:         ratelimit.Rule{Name: "signin-address", Limit: 60, Window: time.Minute},
		AddressFailures: ratelimit.Rule{Name: "signin-address-failures", Limit: 50, Window: time.Hour, Sliding: true},
		AccountFailures: ratelimit.Rule{Name: "signin-account-failures", Limit: 100, Window: time.Hour, Sliding: true},
		DeviceFailures:  ratelimit.Rule{Name: "signin-device-failures", Limit: 10, Window: time.Hour, Sliding: true},
		SignUps:         ratelimit.Rule{Name: "signup-address", Limit: 30, Window: time.Hour},
	}
}

// SignInLimits are the limiters of SignInRules.
type SignInLimits struct {
	global, knownDevices, address, addressFailures, accountFailures, deviceFailures, signUps ratelimit.Limiter
}

// NewSignInLimits makes a limiter for each rule with newLimiter (in the server: Redis,
// falling back to the process while Redis fails).
func NewSignInLimits(rules SignInRules, newLimiter func(ratelimit.Rule) ratelimit.Limiter) *SignInLimits {
	return &SignInLimits{
		global:          newLimiter(rules.Global),
		knownDevices:    newLimiter(rules.KnownDevices),
		address:         newLimiter(rules.Address),
		addressFailures: newLimiter(rules.AddressFailures),
		accountFailures: newLimiter(rules.AccountFailures),
		deviceFailures:  newLimiter(rules.DeviceFailures),
		signUps:         newLimiter(rules.SignUps),
	}
}

// DeviceCookie holds the device token of the last account this browser signed in to.
// It goes to the sign-in endpoints only.
const DeviceCookie = "sortographer_device"

// deviceCookiePath sends the device cookie to the sign-in endpoints and to those that
// check a password again (the password change, deleting one's account), whose wrong
// guesses the same limits count.
const deviceCookiePath = "/api/"

// signInAttempt is an admitted sign-in: the failures it was counted as in advance,
// taken back when it succeeds. Counting before the password check, not after, keeps
// the caps exact when many attempts run at once.
type signInAttempt struct {
	failures []ratelimit.Result
}

// succeeded takes the attempt's failure counts back.
func (a *signInAttempt) succeeded(ctx context.Context) {
	for _, f := range a.failures {
		_ = f.Undo(ctx) // at worst the attempt stays counted as a failure
	}
}

// limitCheck is one limiter and key that an attempt must pass; refused names the limit
// in logs and in sortographer_sign_in_refused_total.
type limitCheck struct {
	l       ratelimit.Limiter
	key     string
	failure bool
	refused string
}

// admitSignIn counts a sign-in attempt for email and answers 429 (or 503) when a limit
// refuses it. A browser with a device token for this account (deviceID) passes the
// limits of its own kind only: the known devices' global cap and its own failures; the
// account's and the address's failures, which an attacker can run up, do not apply to
// it. Past its own failure cap it is a stranger again. Every other client passes the
// global cap, its address's attempts and failures, and the account's failures.
func (s *Server) admitSignIn(w http.ResponseWriter, r *http.Request, email, deviceID string) (*signInAttempt, bool) {
	a := &signInAttempt{}
	l := s.d.SignInLimits
	if l == nil {
		return a, true
	}
	if deviceID != "" {
		if !s.pass(w, r, a, "sign-in", limitCheck{l: l.knownDevices, key: "all", refused: "known_devices_global"}) {
			return nil, false
		}
		res, err := l.deviceFailures.Allow(r.Context(), "device:"+deviceID)
		if err != nil {
			s.refuse(w, r, res, err, "sign-in", "device_failures")
			return nil, false
		}
		if res.Allowed {
			a.failures = append(a.failures, res)
			return a, true
		}
	}
	addr := limitAddress(s.clientAddr(r))
	for _, c := range []limitCheck{
		{l: l.global, key: "all", refused: "global"},
		{l: l.address, key: "addr:" + addr, refused: "address"},
		{l: l.addressFailures, key: "addr:" + addr, failure: true, refused: "address_failures"},
		{l: l.accountFailures, key: "email:" + email, failure: true, refused: "account_failures"},
	} {
		if !s.pass(w, r, a, "sign-in", c) {
			return nil, false
		}
	}
	return a, true
}

// pass counts an attempt against one limit (keeping a failure count in a, to take back
// should the attempt succeed) and answers when the limit refuses it, taking back what a
// counted so far: an attempt refused is not a failure.
func (s *Server) pass(w http.ResponseWriter, r *http.Request, a *signInAttempt, what string, c limitCheck) bool {
	res, err := c.l.Allow(r.Context(), c.key)
	if err == nil && res.Allowed {
		if c.failure {
			a.failures = append(a.failures, res)
		}
		return true
	}
	a.succeeded(r.Context())
	s.refuse(w, r, res, err, what, c.refused)
	return false
}

// admitSignUp counts a sign-up attempt against the global cap, the address's attempts
// and its sign-ups.
func (s *Server) admitSignUp(w http.ResponseWriter, r *http.Request) bool {
	l := s.d.SignInLimits
	if l == nil {
		return true
	}
	addr := limitAddress(s.clientAddr(r))
	a := &signInAttempt{}
	for _, c := range []limitCheck{
		{l: l.global, key: "all", refused: "global"},
		{l: l.address, key: "addr:" + addr, refused: "address"},
		{l: l.signUps, key: "addr:" + addr, refused: "address_sign_ups"},
	} {
		if !s.pass(w, r, a, "sign-up", c) {
			return false
		}
	}
	return true
}

// refuse answers an attempt a limit refused: 429 with Retry-After, or 503 when the
// limiter failed. The server's limiters fall back to the process while Redis is down
// (ratelimit.Fallback), so an error here means that could not help either; then no
// attempt goes through: sign-in never fails open.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, res ratelimit.Result, err error, what, limit string) {
	if err != nil {
		s.metrics.signInRefused.WithLabelValues("limiter_failed").Inc()
		s.log(r.Context()).Error("rate limiter failed; refusing "+what, "error", err, "limit", limit)
		w.Header().Set("Retry-After", "5")
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "sign-in is unavailable for a moment; try again")
		return
	}
	s.metrics.signInRefused.WithLabelValues(limit).Inc()
	s.log(r.Context()).Info("refused "+what+" over a limit", "limit", limit)
	secs := int(res.RetryAfter.Round(time.Second) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(w, r, http.StatusTooManyRequests, "rate_limited", "too many attempts; try again later")
}

// knownDevice is the id of the request's device token when it was issued for email.
func (s *Server) knownDevice(r *http.Request, email string) string {
	if s.d.Devices == nil {
		return ""
	}
	ck, err := r.Cookie(DeviceCookie)
	if err != nil {
		return ""
	}
	id, _ := s.d.Devices.Verify(ck.Value, email)
	return id
}

// giveDevice sets a fresh device token for email, after a successful sign-in.
func (s *Server) giveDevice(w http.ResponseWriter, r *http.Request, email string) {
	if s.d.Devices == nil {
		return
	}
	token, expires, err := s.d.Devices.Issue(email)
	if err != nil {
		s.log(r.Context()).Warn("could not issue a device token", "error", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: DeviceCookie, Value: token, Path: deviceCookiePath, Expires: expires,
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteStrictMode,
	})
}
