package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestChildChecks(t *testing.T) {
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	server := fingerprintOf(checkUpToDate, "Deployment", "a-server")
	gen3 := upToDateSeen("uid-1", 3, "", "h1")

	var c childChecks
	if c.found(a, server, gen3) {
		t.Fatal("found a check never recorded")
	}
	c.record(a, server, gen3)
	c.record(a, fingerprintOf(checkReleased, "Deployment", "a-server"), fingerprintOf("uid-1", "3"))
	c.record(b, server, gen3)

	tests := []struct {
		name    string
		gallery types.NamespacedName
		check   fingerprint
		seen    fingerprint
		want    bool
	}{
		{"the same version", a, server, gen3, true},
		{"another Gallery's record", b, server, gen3, true},
		{"a later generation", a, server, upToDateSeen("uid-1", 4, "", "h1"), false},
		{"a recreated child", a, server, upToDateSeen("uid-2", 3, "", "h1"), false},
		{"another applied hash", a, server, upToDateSeen("uid-1", 3, "", "h2"), false},
		{"another digest", a, server, upToDateSeen("uid-1", 3, "d", "h1"), false},
		{"another child", a, fingerprintOf(checkUpToDate, "Deployment", "a-worker"), gen3, false},
		{"another kind of the same name", a, fingerprintOf(checkUpToDate, "Service", "a-server"), gen3, false},
		{"the other check of the same child", a, fingerprintOf(checkReleased, "Deployment", "a-server"), gen3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.found(tt.gallery, tt.check, tt.seen); got != tt.want {
				t.Errorf("found = %v, want %v", got, tt.want)
			}
		})
	}

	c.record(a, server, upToDateSeen("uid-1", 4, "", "h1"))
	if c.found(a, server, gen3) || !c.found(a, server, upToDateSeen("uid-1", 4, "", "h1")) {
		t.Error("a new record did not replace the old one")
	}
	if n := c.len(a); n != 2 {
		t.Errorf("Gallery a holds %d checks, want 2 (one per check of a child)", n)
	}
	c.forget(a)
	if c.len(a) != 0 || c.found(a, server, upToDateSeen("uid-1", 4, "", "h1")) {
		t.Error("forget kept Gallery a's checks")
	}
	if !c.found(b, server, gen3) {
		t.Error("forgetting Gallery a dropped Gallery b's checks")
	}
}

func TestFingerprintOfSeparatesParts(t *testing.T) {
	if fingerprintOf("ab", "c") == fingerprintOf("a", "bc") {
		t.Error(`("ab", "c") and ("a", "bc") share a fingerprint`)
	}
	if fingerprintOf("a", "") == fingerprintOf("a") {
		t.Error(`("a", "") and ("a") share a fingerprint`)
	}
}
