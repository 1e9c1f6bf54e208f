package rekognition_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/rekognition"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// fakeRekognition speaks Rekognition's JSON protocol (awsJson1_1) on loopback, for one
// operation (DetectLabels or DetectText). answer decides each call's reply from its
// number (1-based).
type fakeRekognition struct {
	t      *testing.T
	op     string
	answer func(call int) reply

	mu       sync.Mutex
	calls    []time.Time
	requests []map[string]any
}

type reply struct {
	status int
	// errorType is the AWS error code for status >= 400.
	errorType string
	body      string
	stall     time.Duration
}

var okReply = reply{status: 200, body: `{"LabelModelVersion":"3.0","Labels":[
	{"Name":"Dog","Confidence":98.5,"Parents":[{"Name":"Animal"},{"Name":"Pet"}],"Aliases":[{"Name":"Puppy"},{"Name":"pet"}],"Categories":[{"Name":"Animals and Pets"}]},
	{"Name":"Golden  Retriever","Confidence":91.25,"Parents":[{"Name":"Dog"},{"Name":"Animal"}]},
	{"Name":"Grass","Confidence":40}]}`}

func throttle() reply {
	return reply{status: 400, errorType: "ThrottlingException", body: `{"__type":"ThrottlingException","message":"Rate exceeded"}`}
}

func (f *fakeRekognition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "RekognitionService."+f.op {
		f.t.Errorf("X-Amz-Target = %q, want RekognitionService.%s", got, f.op)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
		f.t.Errorf("request not signed with the static test credentials: %q", r.Header.Get("Authorization"))
	}
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("request body: %v", err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	f.requests = append(f.requests, req)
	n := len(f.calls)
	f.mu.Unlock()
	rep := f.answer(n)
	if rep.stall > 0 {
		select {
		case <-time.After(rep.stall):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if rep.errorType != "" {
		w.Header().Set("X-Amzn-ErrorType", rep.errorType)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

func (f *fakeRekognition) callTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

func (f *fakeRekognition) request(i int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[i]
}

// newServer starts the fake DetectLabels endpoint and a real SDK client pointed at it,
// with static credentials and nothing read from the machine.
func newServer(t *testing.T, answer func(int) reply) (*fakeRekognition, rekognition.API) {
	t.Helper()
	return newFake(t, "DetectLabels", answer)
}

// newTextServer is newServer for DetectText.
func newTextServer(t *testing.T, answer func(int) reply) (*fakeRekognition, rekognition.TextAPI) {
	t.Helper()
	return newFake(t, "DetectText", answer)
}

// client is what the SDK's client implements of the package's interfaces.
type client interface {
	rekognition.API
	rekognition.TextAPI
}

func newFake(t *testing.T, op string, answer func(int) reply) (*fakeRekognition, client) {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_PROFILE", "")
	f := &fakeRekognition{t: t, op: op, answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client, err := rekognition.NewClient(context.Background(), "eu-west-1", srv.URL,
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	return f, client
}

// jpegBytes is a real 120×90 JPEG: the classifier decodes what it sends.
var jpegBytes = func() []byte {
	m := image.NewRGBA(image.Rect(0, 0, 120, 90))
	for i := range m.Pix {
		m.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}()

func photo() classify.Image {
	return classify.Image{ID: "img", ContentType: "image/jpeg", Bytes: jpegBytes, Width: 120, Height: 90, Size: int64(len(jpegBytes))}
}

// sentImage decodes the JPEG a request sent as bytes.
func sentImage(t *testing.T, req map[string]any) image.Config {
	t.Helper()
	got, _ := req["Image"].(map[string]any)
	s, _ := got["Bytes"].(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("request image bytes: %v", err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the image sent is not a JPEG (%x…): %v", b[:min(4, len(b))], err)
	}
	return cfg
}

func TestDetectLabels(t *testing.T) {
	f, api := newServer(t, func(int) reply { return okReply })
	c := rekognition.New(api, rekognition.Options{MinConfidence: 75, MaxLabels: 12})
	labels, err := c.Classify(context.Background(), photo())
	if err != nil {
		t.Fatal(err)
	}
	want := []classify.Label{
		{Name: "dog", Confidence: 98.5, Parents: []string{"animal", "pet", "puppy", "animals and pets"}},
		{Name: "golden retriever", Confidence: 91.25, Parents: []string{"dog", "animal"}},
	}
	if len(labels) != len(want) {
		t.Fatalf("labels = %+v, want %+v", labels, want)
	}
	for i := range want {
		if labels[i].Name != want[i].Name || labels[i].Confidence != want[i].Confidence || strings.Join(labels[i].Parents, ",") != strings.Join(want[i].Parents, ",") {
			t.Errorf("label %d = %+v, want %+v", i, labels[i], want[i])
		}
	}
	req := f.request(0)
	if req["MinConfidence"] != 75.0 || req["MaxLabels"] != 12.0 {
		t.Errorf("request = %v, want MinConfidence 75 and MaxLabels 12", req)
	}
	if cfg := sentImage(t, req); cfg.Width != 120 || cfg.Height != 90 {
		t.Errorf("request image is %d×%d, want the photo's 120×90", cfg.Width, cfg.Height)
	}
	if c.Provider() != "rekognition" || c.Model() != "detect-labels" {
		t.Errorf("provider/model = %s/%s", c.Provider(), c.Model())
	}
}

func TestS3ObjectReference(t *testing.T) {
	f, api := newServer(t, func(int) reply { return okReply })
	c := rekognition.New(api, rekognition.Options{UseS3: true})
	img := classify.Image{ID: "img", ContentType: "image/jpeg", Width: 4000, Height: 3000, Size: 4 << 20, S3Bucket: "photos", S3Key: "g/images/1/x/original"}
	if _, err := c.Classify(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	got, _ := f.request(0)["Image"].(map[string]any)
	s3o, _ := got["S3Object"].(map[string]any)
	if s3o["Bucket"] != "photos" || s3o["Name"] != "g/images/1/x/original" || got["Bytes"] != nil {
		t.Errorf("request image = %v, want the S3 object only", got)
	}
}

// Rekognition reads from S3 only what it can read there: a JPEG or PNG within its
// limits. Everything else goes through the worker, as bytes of a JPEG made for it.
func TestReadsS3(t *testing.T) {
	c := rekognition.New(nil, rekognition.Options{UseS3: true})
	jpg := classify.Image{ContentType: "image/jpeg", Width: 4000, Height: 3000, Size: 4 << 20}
	with := func(f func(*classify.Image)) classify.Image { i := jpg; f(&i); return i }
	for _, tc := range []struct {
		name string
		img  classify.Image
		want bool
	}{
		{"jpeg", jpg, true},
		{"png", with(func(i *classify.Image) { i.ContentType = "image/png" }), true},
		{"heic", with(func(i *classify.Image) { i.ContentType = "image/heic" }), false},
		{"webp", with(func(i *classify.Image) { i.ContentType = "image/webp" }), false},
		{"dng", with(func(i *classify.Image) { i.ContentType = "image/x-adobe-dng" }), false},
		{"over 15 MB", with(func(i *classify.Image) { i.Size = rekognition.MaxS3Bytes + 1 }), false},
		{"size unknown", with(func(i *classify.Image) { i.Size = 0 }), false},
		{"under 80 px", with(func(i *classify.Image) { i.Width, i.Height = 79, 60 }), false},
		{"over 10000 px", with(func(i *classify.Image) { i.Width = 10_001 }), false},
	} {
		if got := c.ReadsS3(tc.img); got != tc.want {
			t.Errorf("%s: ReadsS3 = %v, want %v", tc.name, got, tc.want)
		}
	}
	if rekognition.New(nil, rekognition.Options{}).ReadsS3(jpg) {
		t.Error("ReadsS3 without UseS3 = true")
	}
}

func TestOtherFormatsAreSentAsJPEG(t *testing.T) {
	f, api := newServer(t, func(int) reply { return okReply })
	c := rekognition.New(api, rekognition.Options{})
	m := image.NewPaletted(image.Rect(0, 0, 4, 4), []color.Color{color.White, color.Black})
	var buf bytes.Buffer
	if err := gif.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Classify(context.Background(), classify.Image{ID: "g", ContentType: "image/gif", Bytes: buf.Bytes()}); err != nil {
		t.Fatal(err)
	}
	// A GIF of 4×4 comes as a JPEG enlarged to Rekognition's 80 px minimum.
	if cfg := sentImage(t, f.request(0)); cfg.Width != 80 || cfg.Height != 80 {
		t.Errorf("a 4×4 GIF was sent as a %d×%d JPEG, want 80×80", cfg.Width, cfg.Height)
	}
}

func TestPermanentFailures(t *testing.T) {
	f, api := newServer(t, func(int) reply {
		return reply{status: 400, errorType: "InvalidImageFormatException", body: `{"__type":"InvalidImageFormatException","message":"Request has invalid image format"}`}
	})
	c := rekognition.New(api, rekognition.Options{BaseDelay: time.Millisecond})
	_, err := c.Classify(context.Background(), photo())
	if !errors.Is(err, classify.ErrPermanent) || !strings.Contains(err.Error(), "InvalidImageFormatException") {
		t.Errorf("err = %v, want a permanent InvalidImageFormatException", err)
	}
	if n := len(f.callTimes()); n != 1 {
		t.Errorf("%d calls, want 1: a permanent error is not retried", n)
	}
	// Too large for Rekognition: refused before any call.
	big := photo()
	big.Bytes = make([]byte, rekognition.MaxBytes+1)
	if _, err := c.Classify(context.Background(), big); !errors.Is(err, classify.ErrPermanent) {
		t.Errorf("a 5 MB+1 image: err = %v, want permanent", err)
	}
	// Over Rekognition's S3 limit: not read from S3, and its bytes are no image.
	tooBigS3 := classify.Image{ID: "x", ContentType: "image/jpeg", S3Bucket: "b", S3Key: "k", Width: 4000, Height: 3000,
		Size: rekognition.MaxS3Bytes + 1, Bytes: make([]byte, rekognition.MaxS3Bytes+1)}
	if _, err := rekognition.New(api, rekognition.Options{UseS3: true}).Classify(context.Background(), tooBigS3); !errors.Is(err, classify.ErrPermanent) {
		t.Errorf("a 15 MB+1 S3 image: err = %v, want permanent", err)
	}
	if n := len(f.callTimes()); n != 1 {
		t.Errorf("%d calls, want none for the too-large images", n-1)
	}
	_, api = newServer(t, func(int) reply {
		return reply{status: 400, errorType: "ImageTooLargeException", body: `{"__type":"ImageTooLargeException","message":"Image size is too large"}`}
	})
	if _, err := rekognition.New(api, rekognition.Options{}).Classify(context.Background(), photo()); !errors.Is(err, classify.ErrPermanent) {
		t.Errorf("ImageTooLargeException: err = %v, want permanent", err)
	}
}

// Throttling and server errors are retried with growing, jittered backoff.
func TestRetriesBackOff(t *testing.T) {
	f, api := newServer(t, func(n int) reply {
		switch n {
		case 1, 2:
			return throttle()
		case 3:
			return reply{status: 503, body: `{"__type":"ServiceUnavailableException","message":"busy"}`, errorType: "ServiceUnavailableException"}
		case 4:
			return reply{status: 400, errorType: "ProvisionedThroughputExceededException", body: `{"__type":"ProvisionedThroughputExceededException","message":"slow down"}`}
		}
		return okReply
	})
	base := 80 * time.Millisecond
	c := rekognition.New(api, rekognition.Options{Attempts: 5, BaseDelay: base, MaxDelay: time.Second})
	labels, err := c.Classify(context.Background(), photo())
	if err != nil || len(labels) == 0 {
		t.Fatalf("Classify = %v, %v; want labels after four retries", labels, err)
	}
	calls := f.callTimes()
	if len(calls) != 5 {
		t.Fatalf("%d calls, want 5", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		// Retry i waits base·2^(i-1), at least half of it.
		minGap := (base << (i - 1)) / 2
		if gap := calls[i].Sub(calls[i-1]); gap < minGap {
			t.Errorf("retry %d came %s after the previous call, want at least %s", i, gap, minGap)
		}
	}
	// Throttled on every attempt: a transient error, for the queue to retry later.
	_, api = newServer(t, func(int) reply { return throttle() })
	_, err = rekognition.New(api, rekognition.Options{Attempts: 3, BaseDelay: time.Millisecond}).Classify(context.Background(), photo())
	if err == nil || errors.Is(err, classify.ErrPermanent) || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Errorf("always throttled: err = %v, want a transient throttling error", err)
	}
}

// A stalled call times out and is retried; a caller's deadline ends everything.
func TestSlowResponsesTimeOut(t *testing.T) {
	f, api := newServer(t, func(n int) reply {
		if n == 1 {
			return reply{status: 200, body: okReply.body, stall: 5 * time.Second}
		}
		return okReply
	})
	c := rekognition.New(api, rekognition.Options{CallTimeout: 200 * time.Millisecond, BaseDelay: 10 * time.Millisecond})
	start := time.Now()
	if _, err := c.Classify(context.Background(), photo()); err != nil {
		t.Fatalf("Classify after one stalled call = %v", err)
	}
	if took := time.Since(start); took > 2*time.Second || len(f.callTimes()) != 2 {
		t.Errorf("took %s and %d calls, want about 200ms and 2", took, len(f.callTimes()))
	}

	_, api = newServer(t, func(int) reply { return reply{status: 200, body: okReply.body, stall: 5 * time.Second} })
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := rekognition.New(api, rekognition.Options{CallTimeout: 10 * time.Second}).Classify(ctx, photo())
	if err == nil || errors.Is(err, classify.ErrPermanent) || time.Since(start) > 2*time.Second {
		t.Errorf("stalled past the caller's deadline: err = %v after %s", err, time.Since(start))
	}
}

// In a throttling storm, workers sharing the Gallery-wide limiter (through Redis) keep
// their calls, retries included, within the rate, however many goroutines retry.
func TestThrottlingStormHoldsTheGalleryRate(t *testing.T) {
	var served atomic.Int64
	f, api := newServer(t, func(n int) reply {
		served.Add(1)
		if n%4 != 0 {
			return throttle()
		}
		return okReply
	})
	srv := testservers.Redis(t)
	const rate = 20.0
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 3 { // three worker processes, four jobs at once each
		rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		defer rc.Close()
		lim := ratelimit.NewRedisPacer(rc, config.RedisKey("photos", "ratelimit", "provider"), rate, 1, nil)
		c := rekognition.New(api, rekognition.Options{Attempts: 6, BaseDelay: 20 * time.Millisecond, RetryLimiter: lim})
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					// The worker paces the first call; the classifier its retries.
					if _, err := lim.Wait(ctx, 1); err != nil {
						return
					}
					_, _ = c.Classify(ctx, photo())
				}
			})
		}
	}
	wg.Wait()
	calls := f.callTimes()
	if want := int(rate * 2); len(calls) > want+3 || len(calls) < want/2 {
		t.Errorf("%d calls in 2s, want at most about %d (%v/s)", len(calls), want, rate)
	}
	// No second had more than rate+1 calls.
	for i := range calls {
		j := i
		for j < len(calls) && calls[j].Sub(calls[i]) < time.Second {
			j++
		}
		if j-i > int(rate)+2 {
			t.Fatalf("%d calls within one second from %s", j-i, calls[i].Format(time.StampMicro))
		}
	}
}
