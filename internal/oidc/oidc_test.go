package oidc

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestParseQuota: the quota claim as a JSON number of bytes or a string holding bytes or
// a Kubernetes quantity; what is not a whole, non-negative number of bytes is refused.
func TestParseQuota(t *testing.T) {
	tests := []struct {
		claim   any
		want    int64
		wantErr bool
	}{
		{claim: float64(1048576), want: 1 << 20},
		{claim: "10Gi", want: 10 << 30},
		{claim: "500M", want: 500_000_000},
		{claim: " 2048 ", want: 2048},
		{claim: float64(0), want: 0},
		{claim: float64(-1), wantErr: true},
		{claim: 1.5, wantErr: true},
		{claim: "-1Gi", wantErr: true},
		{claim: "lots", wantErr: true},
		{claim: "0.5", wantErr: true},
		{claim: true, wantErr: true},
		{claim: []any{"1Gi"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseQuota(tt.claim)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseQuota(%#v) = %d, %v; want %d, error %v", tt.claim, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestIdentityClaims: the configured claims become the Identity; the admin claim as a
// list, a string or a boolean; email_verified as a boolean or a string.
func TestIdentityClaims(t *testing.T) {
	p, err := New(Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s",
		EmailClaim: "email", NameClaim: "display", AdminClaim: "roles", AdminValues: []string{"gallery-admin"}, QuotaClaim: "quota"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		claims map[string]any
		want   Identity
		bad    bool
	}{
		{"admin by list", map[string]any{"email": " Ada@Example.com", "email_verified": true, "display": "Ada", "roles": []any{"staff", "gallery-admin"}, "quota": "1Gi"},
			Identity{Email: "ada@example.com", EmailVerified: true, Name: "Ada", Admin: true, QuotaBytes: 1 << 30, HasQuota: true}, false},
		{"admin by string", map[string]any{"email": "a@example.com", "email_verified": "true", "roles": "gallery-admin"},
			Identity{Email: "a@example.com", EmailVerified: true, Admin: true}, false},
		{"other role, unverified", map[string]any{"email": "a@example.com", "email_verified": false, "roles": []any{"staff"}},
			Identity{Email: "a@example.com"}, false},
		{"a boolean true is not the value gallery-admin", map[string]any{"roles": true}, Identity{}, false},
		{"email not a string", map[string]any{"email": 42}, Identity{}, true},
		{"quota not a quantity", map[string]any{"quota": "lots"}, Identity{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.identity("iss", "sub", tt.claims)
			if tt.bad {
				if err == nil {
					t.Fatalf("identity(%v) = %+v, want an error", tt.claims, got)
				}
				return
			}
			tt.want.Issuer, tt.want.Subject = "iss", "sub"
			if err != nil || got != tt.want {
				t.Errorf("identity(%v) = %+v, %v; want %+v", tt.claims, got, err, tt.want)
			}
		})
	}
}

// TestBooleanAdminClaim: a boolean claim grants the role when the values include "true".
func TestBooleanAdminClaim(t *testing.T) {
	p, err := New(Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s", AdminClaim: "is_admin", AdminValues: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	for claim, want := range map[any]bool{true: true, false: false, "true": true, nil: false} {
		if got, _ := p.identity("i", "s", map[string]any{"is_admin": claim}); got.Admin != want {
			t.Errorf("is_admin %#v: admin %v, want %v", claim, got.Admin, want)
		}
	}
}

// TestOnlyTheEmailClaimIsVerified: email_verified speaks of the standard email claim; an
// address read from another claim (a username the person may edit) is never verified.
// A display name is cut to MaxNameLength characters, never inside one.
func TestOnlyTheEmailClaimIsVerified(t *testing.T) {
	p, err := New(Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s", EmailClaim: "preferred_username"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("가", MaxNameLength+10)
	id, err := p.identity("iss", "sub", map[string]any{"preferred_username": "ada@example.com", "email_verified": true, "name": long})
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "ada@example.com" || id.EmailVerified {
		t.Errorf("identity from preferred_username = %+v; want the address, not verified", id)
	}
	if n := utf8.RuneCountInString(id.Name); n != MaxNameLength || !utf8.ValidString(id.Name) {
		t.Errorf("name of %d characters (valid UTF-8: %v), want %d", n, utf8.ValidString(id.Name), MaxNameLength)
	}
}
