package crd

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// TestSharingIsAcceptedAndDefaulted: spec.auth.sharing is defaulted to "on, uncapped,
// location stripped" when absent, and a Gallery that turns sharing off and caps link lifetimes is accepted
// and read back as written.
func TestSharingIsAcceptedAndDefaulted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		spec        string
		wantEnabled bool
		wantMax     time.Duration // 0: unset
		wantStrip   bool
	}{
		{"absent: on and uncapped, location stripped", validBase, true, 0, true},
		{"off and capped at 30 days", validBase + "auth: {sharing: {enabled: false, maxLinkLifetime: 720h}}", false, 720 * time.Hour, true},
		{"on, capped at 90 minutes", validBase + "auth: {sharing: {maxLinkLifetime: 1h30m}}", true, 90 * time.Minute, true},
		{"location kept", validBase + "auth: {sharing: {stripLocation: false}}", true, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := gallery(t, tc.spec)
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("rejected, want accepted: %v\n%s", err, tc.spec)
			}
			t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })
			var g galleryv1alpha1.Gallery
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &g); err != nil {
				t.Fatal(err)
			}
			s := g.Spec.Auth.Sharing
			if s.Enabled == nil || *s.Enabled != tc.wantEnabled {
				t.Errorf("sharing.enabled = %v, want %v", s.Enabled, tc.wantEnabled)
			}
			var gotMax time.Duration
			if s.MaxLinkLifetime != nil {
				gotMax = s.MaxLinkLifetime.Duration
			}
			if gotMax != tc.wantMax {
				t.Errorf("sharing.maxLinkLifetime = %v, want %v", gotMax, tc.wantMax)
			}
			if s.StripLocation == nil || *s.StripLocation != tc.wantStrip {
				t.Errorf("sharing.stripLocation = %v, want %v", s.StripLocation, tc.wantStrip)
			}
		})
	}
}
