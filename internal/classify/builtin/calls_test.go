package builtin

import (
	"context"
	"testing"

	"github.com/sortographer/sortographer/internal/classify"
)

// callCounts is a classify.CallCounter that remembers the counts by "provider/result".
type callCounts map[string]int

func (c callCounts) CountCall(provider, result string) { c[provider+"/"+result]++ }

// TestCallsAreCounted: each Classify is one call of the provider "builtin", ok when it
// labelled the photo and error when it did not.
func TestCallsAreCounted(t *testing.T) {
	c := open(t, EngineGo)
	counts := callCounts{}
	ctx := classify.WithCallCounter(context.Background(), counts)
	if _, err := c.Classify(ctx, classify.Image{Bytes: readPhoto(t, photos[0].path)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Classify(ctx, classify.Image{Bytes: []byte("not an image")}); err == nil {
		t.Fatal("classified a text as a photo")
	}
	if counts["builtin/ok"] != 1 || counts["builtin/error"] != 1 || len(counts) != 2 {
		t.Errorf("calls counted %v, want builtin/ok 1 and builtin/error 1", counts)
	}
}
