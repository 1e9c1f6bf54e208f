package rekognition_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/rekognition"
)

// callCounts is a classify.CallCounter that remembers the counts.
type callCounts struct {
	mu sync.Mutex
	n  map[string]int // "provider/result"
}

func (c *callCounts) CountCall(provider, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[provider+"/"+result]++
}

func (c *callCounts) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// TestCallsAreCounted: every DetectLabels request, retries included, is counted once
// by result, a throttling error code or HTTP 429 as throttled; an image refused before
// any request counts nothing.
func TestCallsAreCounted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []reply // by call; the last repeats
		image   classify.Image
		want    map[string]int
	}{
		{"retried to success", []reply{throttle(), throttle(),
			{status: 503, errorType: "ServiceUnavailableException", body: `{"__type":"ServiceUnavailableException","message":"busy"}`},
			{status: 400, errorType: "ProvisionedThroughputExceededException", body: `{"__type":"ProvisionedThroughputExceededException","message":"slow down"}`},
			okReply,
		}, photo(), map[string]int{"rekognition/throttled": 3, "rekognition/error": 1, "rekognition/ok": 1}},
		{"HTTP 429 then success", []reply{{status: 429, body: `{"message":"Too Many Requests"}`}, okReply},
			photo(), map[string]int{"rekognition/throttled": 1, "rekognition/ok": 1}},
		{"throttled on every attempt", []reply{throttle()}, photo(), map[string]int{"rekognition/throttled": 5}},
		{"refused image", []reply{{status: 400, errorType: "InvalidImageFormatException", body: `{"__type":"InvalidImageFormatException","message":"bad"}`}},
			photo(), map[string]int{"rekognition/error": 1}},
		{"too large to send", []reply{okReply}, classify.Image{ID: "big", ContentType: "image/jpeg", Bytes: make([]byte, rekognition.MaxBytes+1)}, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, api := newServer(t, func(n int) reply { return tc.answers[min(n, len(tc.answers))-1] })
			c := rekognition.New(api, rekognition.Options{Attempts: 5, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
			counts := &callCounts{n: map[string]int{}}
			_, _ = c.Classify(classify.WithCallCounter(context.Background(), counts), tc.image)
			if got := counts.snapshot(); !maps.Equal(got, tc.want) {
				t.Errorf("calls counted %v, want %v", got, tc.want)
			}
		})
	}
}
