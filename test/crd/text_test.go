package crd

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// TestTextIsAcceptedAndDefaulted: spec.workers.classifier.text is defaulted to a
// confidence of 80 with enabled unset (read with builtin, not with rekognition), and a
// Gallery that sets it is read back as written.
func TestTextIsAcceptedAndDefaulted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name           string
		spec           string
		wantEnabled    *bool
		wantConfidence int32
		wantReads      bool
	}{
		{"absent: read with builtin", validBase, nil, 80, true},
		{"absent: not read with rekognition", validBase + "workers: {classifier: {provider: rekognition, rekognition: {region: eu-west-1}}}", nil, 80, false},
		{"on with rekognition, confident", validBase + "workers: {classifier: {provider: rekognition, rekognition: {region: eu-west-1}, text: {enabled: true, minConfidence: 85}}}", ptr.To(true), 85, true},
		{"off with builtin", validBase + "workers: {classifier: {text: {enabled: false}}}", ptr.To(false), 80, false},
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
			text := g.Spec.Workers.Classifier.Text
			if !equalBools(text.Enabled, tc.wantEnabled) || text.MinConfidence != tc.wantConfidence || g.ReadsText() != tc.wantReads {
				t.Errorf("text = enabled %v, minConfidence %d, reads %v; want %v, %d, %v", ptr.Deref(text.Enabled, false), text.MinConfidence, g.ReadsText(),
					tc.wantEnabled, tc.wantConfidence, tc.wantReads)
			}
		})
	}
}

func equalBools(a, b *bool) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
