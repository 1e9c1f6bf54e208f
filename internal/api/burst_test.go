package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

// burstPadding is shared, read-only filler that makes every burst upload about 256 KB
// without a quarter of a gigabyte of distinct buffers: each upload is its own small
// photo (distinct bytes, so duplicate detection returns nothing) behind JPEG comment
// segments of this filler.
var burstPadding = bytes.Repeat([]byte("sortographer burst padding. "), 65000/28)

// burstBody is a multipart body of one ~256 KB JPEG, streamed from shared filler, and
// its length.
func burstBody(t *testing.T, seed uint64) (io.Reader, int64, string) {
	t.Helper()
	jpg := photo(t, 48, 32, seed)
	var head bytes.Buffer
	w := multipart.NewWriter(&head)
	if _, err := w.CreateFormFile("file", fmt.Sprintf("burst-%d.jpg", seed)); err != nil {
		t.Fatal(err)
	}
	head.Write(jpg[:2]) // SOI, then comment segments of filler, then the rest of the photo
	parts := []io.Reader{&head}
	size := int64(head.Len())
	for range 4 {
		seg := []byte{0xff, 0xfe, byte((len(burstPadding) + 2) >> 8), byte(len(burstPadding) + 2)}
		parts = append(parts, bytes.NewReader(seg), bytes.NewReader(burstPadding))
		size += int64(len(seg) + len(burstPadding))
	}
	closing := "\r\n--" + w.Boundary() + "--\r\n" // what w.Close writes
	parts = append(parts, bytes.NewReader(jpg[2:]), strings.NewReader(closing))
	size += int64(len(jpg) - 2 + len(closing))
	return io.MultiReader(parts...), size, w.FormDataContentType()
}

// TestUploadBurst: 1,000 concurrent uploads from one user, against the server on
// MariaDB with the production upload rule (60 a minute, counted in Redis as with
// several replicas). Every request gets an answer: 202 for exactly the rule's 60, 429
// with Retry-After for the rest. Nothing is half-stored: the rows are the accepted
// images, each with its original and thumbnail in storage, storage holds nothing else,
// each is queued once; and the server stays healthy for the next user.
func TestUploadBurst(t *testing.T) {
	const uploads, perMinute = 1000, 60
	rs := testservers.Redis(t)
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	limiter := ratelimit.NewRedis(rc, "burst:", ratelimit.Rule{Name: "upload", Limit: perMinute, Window: time.Minute})
	g := newGallery(t, mariadb, filesystem, withUploadLimiter(limiter))
	u := g.signUp("burst")

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: uploads}, Timeout: 2 * time.Minute}
	t.Cleanup(client.CloseIdleConnections)
	var (
		start    = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		failures []error
		accepted = map[string]bool{}
	)
	for i := range uploads {
		r, size, contentType := burstBody(t, uint64(i)+1)
		req, err := http.NewRequest(http.MethodPost, g.url+"/api/images", r)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+u.token)
		wg.Go(func() {
			<-start
			res, err := client.Do(req)
			if err != nil {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
				return
			}
			defer res.Body.Close()
			data, _ := io.ReadAll(res.Body)
			mu.Lock()
			defer mu.Unlock()
			statuses[res.StatusCode]++
			switch res.StatusCode {
			case http.StatusAccepted:
				var p pageJSON
				if err := json.Unmarshal(data, &p); err != nil || len(p.Images) != 1 {
					failures = append(failures, fmt.Errorf("202 with body %s", data))
					return
				}
				accepted[p.Images[0].ID] = true
			case http.StatusTooManyRequests:
				if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); ra < 1 || ra > 60 {
					failures = append(failures, fmt.Errorf("429 with Retry-After %q", res.Header.Get("Retry-After")))
				}
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d uploads in %v: statuses %v, %d transport failures", uploads, time.Since(began).Round(time.Millisecond), statuses, len(failures))
	for i, err := range failures {
		if i < 5 {
			t.Errorf("upload: %v", err)
		}
	}
	if statuses[http.StatusAccepted] != perMinute || statuses[http.StatusTooManyRequests] != uploads-perMinute {
		t.Errorf("statuses %v: want %d × 202 and %d × 429", statuses, perMinute, uploads-perMinute)
	}

	ctx := context.Background()
	page, err := g.store.ListImages(ctx, u.id, store.PageRequest{Limit: store.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Images) != len(accepted) {
		t.Errorf("%d image rows, %d uploads accepted", len(page.Images), len(accepted))
	}
	for _, img := range page.Images {
		if !accepted[img.ID] {
			t.Errorf("image %s is stored but its upload was not accepted", img.ID)
		}
		for _, key := range []string{img.ObjectKey, img.ThumbnailKey} {
			if _, err := g.objects.Head(ctx, key); err != nil {
				t.Errorf("image %s: object %s: %v", img.ID, key, err)
			}
		}
	}
	if n := g.countObjects(); n != 2*len(page.Images) {
		t.Errorf("storage holds %d objects for %d images: want an original and a thumbnail each, nothing else", n, len(page.Images))
	}
	if depth, err := g.queue.Depth(ctx); err != nil || depth != int64(len(accepted)) {
		t.Errorf("queue depth %d (%v), want %d", depth, err, len(accepted))
	}

	for _, path := range []string{"/livez", "/readyz"} {
		if res, body := g.do(nil, http.MethodGet, path, nil); res.StatusCode != http.StatusOK {
			t.Errorf("after the burst GET %s = %d %s", path, res.StatusCode, body)
		}
	}
	other := g.signUp("after-burst")
	other.upload(file{"after.jpg", photo(t, 64, 48, 99_999)})
}

// TestUploadBurstOfCancelledUploads: 200 concurrent uploads from one user whose clients
// give up at random moments, from before the body is sent to after the answer, on
// MariaDB. Whatever point each was cut at, nothing is half-stored: once the server has
// settled, every image row has its original and thumbnail, storage holds nothing else,
// and the server stays healthy.
func TestUploadBurstOfCancelledUploads(t *testing.T) {
	const uploads = 200
	g := newGallery(t, mariadb, filesystem)
	u := g.signUp("cancel")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: uploads}}
	t.Cleanup(client.CloseIdleConnections)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	for i := range uploads {
		r, size, contentType := burstBody(t, uint64(i)+1_000_000)
		wg.Go(func() {
			// 0 to 2 s, 10 ms apart: with 200 at once, that cuts uploads at every
			// stage (sending, inspecting, thumbnailing, storing, recording, answering)
			// and lets the later ones finish.
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*10*time.Millisecond)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url+"/api/images", r)
			if err != nil {
				t.Error(err)
				return
			}
			req.ContentLength = size
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("Authorization", "Bearer "+u.token)
			res, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses["cancelled"]++
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			statuses[strconv.Itoa(res.StatusCode)]++
		})
	}
	wg.Wait()
	t.Logf("statuses %v", statuses)
	if statuses["cancelled"] == 0 || statuses["202"] == 0 {
		t.Fatalf("statuses %v: want some uploads cut short and some finished", statuses)
	}

	// The server finishes (or rolls back) the cut uploads after their clients left:
	// wait until storage and rows agree and stop changing.
	ctx := context.Background()
	var problems []string
	deadline := time.Now().Add(30 * time.Second)
	stableSince, last := time.Time{}, ""
	for {
		page, err := g.store.ListImages(ctx, u.id, store.PageRequest{Limit: store.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		problems = problems[:0]
		for _, img := range page.Images {
			for _, key := range []string{img.ObjectKey, img.ThumbnailKey} {
				if _, err := g.objects.Head(ctx, key); err != nil {
					problems = append(problems, fmt.Sprintf("image %s has no object %s: %v", img.ID, key, err))
				}
			}
		}
		n := g.countObjects()
		if n != 2*len(page.Images) {
			problems = append(problems, fmt.Sprintf("storage holds %d objects for %d images", n, len(page.Images)))
		}
		state := fmt.Sprint(len(page.Images), n, len(problems))
		if state != last {
			stableSince, last = time.Now(), state
		}
		if len(problems) == 0 && time.Since(stableSince) > time.Second {
			t.Logf("settled: %d images, %d objects", len(page.Images), n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %v", problems)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, path := range []string{"/livez", "/readyz"} {
		if res, body := g.do(nil, http.MethodGet, path, nil); res.StatusCode != http.StatusOK {
			t.Errorf("after the burst GET %s = %d %s", path, res.StatusCode, body)
		}
	}
	u.upload(file{"after.jpg", photo(t, 64, 48, 77_777)})
}
