package store

import (
	"errors"
	"testing"
)

// TestOIDCIdentities runs the single sign-on columns (migration 0009) on every database.
func TestOIDCIdentities(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{{name: "LinkedByIssuerAndSubject", test: testOIDCIdentities}})
}

// testOIDCIdentities: an account is found by its provider identity, which no second
// account can take; local accounts (no identity) coexist; a linked account is never
// relinked; the profile a sign-in writes reads back; HasAdmin sees the role.
func testOIDCIdentities(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	const issuer = "https://login.example.edu/realms/uni"
	if has, err := s.HasAdmin(ctx); err != nil || has {
		t.Fatalf("HasAdmin on an empty gallery = %v, %v", has, err)
	}
	// Two local accounts: both without an identity (NULLs, which the unique index allows).
	ann := user(t, s, "ann@example.com")
	bob := user(t, s, "bob@example.com")
	if ann.OIDCSubject != "" || ann.DisplayName != "" {
		t.Errorf("a local account reads back with an identity: %+v", ann)
	}

	grace, err := s.CreateUser(ctx, NewUser{Email: "grace@example.com", OIDCIssuer: issuer, OIDCSubject: "grace-1", DisplayName: "Grace Hopper 그레이스"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByOIDC(ctx, issuer, "grace-1")
	if err != nil || got.ID != grace.ID || got.DisplayName != "Grace Hopper 그레이스" || got.OIDCIssuer != issuer || got.PasswordHash != "" {
		t.Fatalf("UserByOIDC = %+v, %v; want grace", got, err)
	}
	if _, err := s.UserByOIDC(ctx, "https://other.example.com", "grace-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the same subject at another issuer: err = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateUser(ctx, NewUser{Email: "grace2@example.com", OIDCIssuer: issuer, OIDCSubject: "grace-1"}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("a second account for grace's identity: err = %v, want ErrDuplicate", err)
	}

	if err := s.LinkOIDC(ctx, ann.ID, issuer, "ann-1"); err != nil {
		t.Fatalf("link ann: %v", err)
	}
	if got, err := s.UserByOIDC(ctx, issuer, "ann-1"); err != nil || got.ID != ann.ID {
		t.Errorf("ann after linking = %+v, %v", got, err)
	}
	if err := s.LinkOIDC(ctx, bob.ID, issuer, "ann-1"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("linking bob to ann's identity: err = %v, want ErrDuplicate", err)
	}
	if err := s.LinkOIDC(ctx, ann.ID, issuer, "someone-else"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("relinking ann to another identity: err = %v, want ErrDuplicate", err)
	}
	if err := s.LinkOIDC(ctx, ann.ID+1000, issuer, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("linking a missing user: err = %v, want ErrNotFound", err)
	}

	if err := s.UpdateOIDCProfile(ctx, ann.ID, "Ann Example", true); err != nil {
		t.Fatal(err)
	}
	// The same again changes nothing, which MySQL counts as no row affected.
	if err := s.UpdateOIDCProfile(ctx, ann.ID, "Ann Example", true); err != nil {
		t.Errorf("an unchanged profile: %v", err)
	}
	if got, _ := s.UserByID(ctx, ann.ID); !got.IsAdmin || got.DisplayName != "Ann Example" {
		t.Errorf("ann after the profile update = %+v", got)
	}
	if has, err := s.HasAdmin(ctx); err != nil || !has {
		t.Errorf("HasAdmin with ann an admin = %v, %v", has, err)
	}
	if err := s.UpdateOIDCProfile(ctx, ann.ID, "Ann Example", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByID(ctx, ann.ID); got.IsAdmin {
		t.Error("the admin role removed at sign-in is still there")
	}
	if err := s.UpdateOIDCProfile(ctx, ann.ID+1000, "x", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("updating a missing user: err = %v, want ErrNotFound", err)
	}
}
