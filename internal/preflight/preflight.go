// Package preflight proves, from the operator, that a Gallery's external servers let
// the gallery in: it connects as the gallery will (the same client options, account
// and TLS settings) and, when that fails, says why as a condition reason: nothing
// answers, the credentials are refused, TLS is on at one end only, the certificate is
// not trusted, the database or bucket is missing or closed to the account.
package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Error is a failed check: Reason is one of the API's preflight reasons
// (galleryv1alpha1.ReasonUnreachable, ReasonAuthenticationFailed, ReasonTLSMismatch,
// ReasonCertificateRejected, ReasonAccessDenied, ReasonNotFound, ReasonCheckFailed).
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf is the reason of a failed check: the first *Error in err's tree, else
// ReasonCheckFailed.
func ReasonOf(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return galleryv1alpha1.ReasonCheckFailed
}

// checkTimeout bounds each network step of a check (dial, handshake, one reply).
const checkTimeout = 3 * time.Second

// fail is a failed check with its reason.
func fail(reason string, err error) error { return &Error{Reason: reason, Err: err} }

// failf is fail with a message that wraps err.
func failf(reason string, err error, format string, args ...any) error {
	return &Error{Reason: reason, Err: fmt.Errorf(format+": %w", append(args, err)...)}
}

// transportReason classifies what went wrong below the protocol: the dial, TLS, or the
// server hanging up. ok is false when err is none of those.
func transportReason(err error) (reason string, ok bool) {
	var (
		unknownCA    x509.UnknownAuthorityError
		hostname     x509.HostnameError
		invalid      x509.CertificateInvalidError
		verification *tls.CertificateVerificationError
		record       tls.RecordHeaderError
		dnsErr       *net.DNSError
		opErr        *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verification):
		return galleryv1alpha1.ReasonCertificateRejected, true
	case errors.As(err, &record):
		// A TLS client read something that is not TLS: the server speaks plain text.
		return galleryv1alpha1.ReasonTLSMismatch, true
	case errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, context.DeadlineExceeded):
		return galleryv1alpha1.ReasonUnreachable, true
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return galleryv1alpha1.ReasonUnreachable, true
	case isTimeout(err):
		return galleryv1alpha1.ReasonUnreachable, true
	}
	return "", false
}

// isTimeout reports a network timeout anywhere in err's chain.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// speaksTLS reports whether the server at address completes a TLS handshake (with any
// certificate): the question a plain-text client that was hung up on asks.
func speaksTLS(ctx context.Context, address string) bool {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // only asks whether the server speaks TLS
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}
