package controllers

import (
	"context"
	"testing"
)

// The tolerance probe answers for the API server the suite runs on: kept from 1.35 (the
// feature is beta and on by default), dropped before. make test runs the suite on the
// oldest supported version and the pinned one, so it must say each.
func TestHPAToleranceServedMatchesTheServer(t *testing.T) {
	served, err := HPAToleranceServed(context.Background(), k8s, newNamespace(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := serverMinor >= 35; served != want {
		t.Errorf("HPAToleranceServed on Kubernetes 1.%d = %v, want %v", serverMinor, served, want)
	}
}
