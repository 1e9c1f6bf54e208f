package rekognition_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/rekognition"
)

// textReply is DetectText's answer for a photo of a sign: each line, then each of its
// words (Rekognition reports both), one line too unsure and one word-only detection.
var textReply = reply{status: 200, body: `{"TextModelVersion":"3.0","TextDetections":[
	{"DetectedText":"SORTOGRAPHER  receipt","Type":"LINE","Id":0,"Confidence":99.5},
	{"DetectedText":"서울 지하철 안내","Type":"LINE","Id":1,"Confidence":96.5},
	{"DetectedText":"x7!","Type":"LINE","Id":2,"Confidence":41.0},
	{"DetectedText":"SORTOGRAPHER","Type":"WORD","Id":3,"ParentId":0,"Confidence":99.9},
	{"DetectedText":"receipt","Type":"WORD","Id":4,"ParentId":0,"Confidence":99.1},
	{"DetectedText":"서울","Type":"WORD","Id":5,"ParentId":1,"Confidence":97.0}]}`}

func TestDetectText(t *testing.T) {
	f, api := newTextServer(t, func(int) reply { return textReply })
	r := rekognition.NewTextReader(api, rekognition.Options{MinConfidence: 80})
	got, err := r.ReadText(context.Background(), photo())
	if err != nil {
		t.Fatal(err)
	}
	if want := "SORTOGRAPHER receipt\n서울 지하철 안내"; got.Content != want || got.Confidence != 98 {
		t.Errorf("text = %q (confidence %v), want %q (98: the mean of the lines kept)", got.Content, got.Confidence, want)
	}
	if cfg := sentImage(t, f.request(0)); cfg.Width != 120 || cfg.Height != 90 {
		t.Errorf("request image is %d×%d, want the photo's 120×90", cfg.Width, cfg.Height)
	}
	if r.Provider() != "rekognition" || r.Model() != "detect-text" {
		t.Errorf("provider/model = %s/%s", r.Provider(), r.Model())
	}

	// No text at all.
	_, api = newTextServer(t, func(int) reply { return reply{status: 200, body: `{"TextDetections":[]}`} })
	got, err = rekognition.NewTextReader(api, rekognition.Options{}).ReadText(context.Background(), photo())
	if err != nil || got != (classify.Text{}) {
		t.Errorf("no text: %+v, %v", got, err)
	}
}

// DetectText reads originals from S3 by the same rules as DetectLabels.
func TestDetectTextS3ObjectReference(t *testing.T) {
	f, api := newTextServer(t, func(int) reply { return textReply })
	r := rekognition.NewTextReader(api, rekognition.Options{UseS3: true})
	img := classify.Image{ID: "img", ContentType: "image/jpeg", Width: 4000, Height: 3000, Size: 4 << 20, S3Bucket: "photos", S3Key: "g/images/1/x/original"}
	if !r.ReadsS3(img) {
		t.Fatal("ReadsS3 = false for a 4000×3000 JPEG of 4 MB")
	}
	if _, err := r.ReadText(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	got, _ := f.request(0)["Image"].(map[string]any)
	s3o, _ := got["S3Object"].(map[string]any)
	if s3o["Bucket"] != "photos" || s3o["Name"] != "g/images/1/x/original" || got["Bytes"] != nil {
		t.Errorf("request image = %v, want the S3 object only", got)
	}
	heic := img
	heic.ContentType = "image/heic"
	if r.ReadsS3(heic) || rekognition.NewTextReader(api, rekognition.Options{}).ReadsS3(img) {
		t.Error("ReadsS3 = true for a HEIC, or without UseS3")
	}
}

// Throttling is retried with backoff and every request counted, as for DetectLabels;
// a refused image is permanent and not retried.
func TestDetectTextRetriesAndCounts(t *testing.T) {
	f, api := newTextServer(t, func(n int) reply {
		switch n {
		case 1:
			return throttle()
		case 2:
			return reply{status: 429, body: `{"message":"Too Many Requests"}`}
		case 3:
			return reply{status: 503, errorType: "ServiceUnavailableException", body: `{"__type":"ServiceUnavailableException","message":"busy"}`}
		}
		return textReply
	})
	base := 40 * time.Millisecond
	r := rekognition.NewTextReader(api, rekognition.Options{Attempts: 5, BaseDelay: base, MaxDelay: time.Second})
	counts := &callCounts{n: map[string]int{}}
	got, err := r.ReadText(classify.WithCallCounter(context.Background(), counts), photo())
	if err != nil || !strings.Contains(got.Content, "receipt") {
		t.Fatalf("after three retries: %q, %v", got.Content, err)
	}
	if want := map[string]int{"rekognition/throttled": 2, "rekognition/error": 1, "rekognition/ok": 1}; !maps.Equal(counts.snapshot(), want) {
		t.Errorf("calls counted %v, want %v", counts.snapshot(), want)
	}
	calls := f.callTimes()
	for i := 1; i < len(calls); i++ {
		if minGap := (base << (i - 1)) / 2; calls[i].Sub(calls[i-1]) < minGap {
			t.Errorf("retry %d came %s after the previous call, want at least %s", i, calls[i].Sub(calls[i-1]), minGap)
		}
	}

	f, api = newTextServer(t, func(int) reply {
		return reply{status: 400, errorType: "InvalidImageFormatException", body: `{"__type":"InvalidImageFormatException","message":"Request has invalid image format"}`}
	})
	_, err = rekognition.NewTextReader(api, rekognition.Options{BaseDelay: time.Millisecond}).ReadText(context.Background(), photo())
	if !errors.Is(err, classify.ErrPermanent) || len(f.callTimes()) != 1 {
		t.Errorf("refused image: err = %v after %d calls, want permanent after 1", err, len(f.callTimes()))
	}
	_, err = rekognition.NewTextReader(api, rekognition.Options{}).ReadText(context.Background(), classify.Image{ID: "junk", Bytes: []byte("not a photo")})
	if !errors.Is(err, classify.ErrPermanent) || len(f.callTimes()) != 1 {
		t.Errorf("undecodable bytes: err = %v, want permanent before any call", err)
	}
}
