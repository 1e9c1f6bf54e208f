package bench

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// detectLabels is a local stand-in for Amazon Rekognition: it speaks DetectLabels' JSON
// protocol (awsJson1_1) on loopback and answers every call with the same labels after a
// fixed latency, like the real service on a good day. The workers reach it through the
// real SDK client (SORTOGRAPHER_REKOGNITION_ENDPOINT) with static credentials.
type detectLabels struct {
	latency time.Duration
	calls   atomic.Int64
	// refused counts requests that were not DetectLabels calls; the benchmark fails on any.
	refused atomic.Int64
}

const detectLabelsAnswer = `{"LabelModelVersion":"3.0","Labels":[
	{"Name":"Dog","Confidence":97.5,"Parents":[{"Name":"Animal"},{"Name":"Pet"}]},
	{"Name":"Bicycle","Confidence":91.25,"Parents":[{"Name":"Vehicle"},{"Name":"Transportation"}]},
	{"Name":"Grass","Confidence":80,"Parents":[{"Name":"Plant"}]}]}`

// startDetectLabels serves the endpoint until the benchmark ends and returns its URL.
func startDetectLabels(b *testing.B, latency time.Duration) (*detectLabels, string) {
	b.Helper()
	f := &detectLabels{latency: latency}
	srv := httptest.NewServer(f) // 127.0.0.1 only
	b.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *detectLabels) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Image struct{ Bytes []byte }
	}
	err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req)
	if r.Header.Get("X-Amz-Target") != "RekognitionService.DetectLabels" || err != nil || len(req.Image.Bytes) == 0 {
		f.refused.Add(1)
		w.Header().Set("X-Amzn-ErrorType", "InvalidParameterException")
		http.Error(w, `{"__type":"InvalidParameterException","message":"not a DetectLabels call with image bytes"}`, http.StatusBadRequest)
		return
	}
	f.calls.Add(1)
	select {
	case <-time.After(f.latency):
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = io.WriteString(w, detectLabelsAnswer)
}
