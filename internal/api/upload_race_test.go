package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/store"
)

// readPast is a request body that closes reached once the handler has read more than
// past bytes of it.
type readPast struct {
	io.ReadCloser
	read, past int64
	reached    chan struct{}
	once       *sync.Once
}

func (r *readPast) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.read += int64(n)
	if r.read > r.past {
		r.once.Do(func() { close(r.reached) })
	}
	return n, err
}

// watchedFront is a second front door to g's server whose requests report, on the
// returned channel, when the handler has read more than past bytes of a body.
func (g *gallery) watchedFront(past int) (string, <-chan struct{}) {
	g.t.Helper()
	reached, once := make(chan struct{}), &sync.Once{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &readPast{ReadCloser: r.Body, past: int64(past), reached: reached, once: once}
		g.server.Handler().ServeHTTP(w, r)
	}))
	g.t.Cleanup(front.Close)
	return front.URL, reached
}

// answer is what a request sent in the background got.
type answer struct {
	status int
	body   []byte
	err    error
}

// sendInBackground posts body to url as u and delivers the answer on the channel.
func sendInBackground(ctx context.Context, u *user, url string, body io.Reader, contentType string) <-chan answer {
	answered := make(chan answer, 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/images", body)
	if err != nil {
		answered <- answer{err: err}
		return answered
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+u.token)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		answered <- answer{status: res.StatusCode, body: data, err: err}
	}()
	return answered
}

// TestRefusedUploadKeepsAConcurrentDuplicate: request A carries photo X and then a
// broken file; A is held after storing X, while reading the broken file, and request
// B uploads X meanwhile. When A is refused, B's answer still holds: B's image exists
// with its original and thumbnail, and nothing A stored remains. (A used to record X
// before reading on, B was answered A's row as a duplicate, and A's rollback then
// deleted it.)
func TestRefusedUploadKeepsAConcurrentDuplicate(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			g := newGallery(t, b.db, b.storage)
			alice := g.signUp("alice")
			x := photo(t, 64, 48, 5)

			// A's body: X, then a file that looks like a JPEG but is not one.
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			p, _ := mw.CreateFormFile("file", "x.jpg")
			_, _ = p.Write(x)
			p, _ = mw.CreateFormFile("file", "broken.jpg")
			brokenStart := body.Len()
			_, _ = p.Write(append([]byte("\xff\xd8\xff"), make([]byte, 64<<10)...))
			_ = mw.Close()
			// The handler reads the broken file only after storing X, and reads ahead
			// at most a 4 KB buffer: past brokenStart+8 KB it has stored X and is
			// reading the broken file, which waits for the rest of the body.
			frontURL, reading := g.watchedFront(brokenStart + 8<<10)
			holdAt := brokenStart + 32<<10
			pr, pw := io.Pipe()
			// Runs before the front server's Close, which waits for request A.
			t.Cleanup(func() { _ = pw.CloseWithError(errors.New("the test ended")) })
			answeredA := sendInBackground(context.Background(), alice, frontURL, pr, mw.FormDataContentType())
			if _, err := pw.Write(body.Bytes()[:holdAt]); err != nil {
				t.Fatal(err)
			}
			select {
			case <-reading:
			case a := <-answeredA:
				t.Fatalf("request A answered %d %s %v before reaching its broken file", a.status, a.body, a.err)
			case <-time.After(20 * time.Second):
				t.Fatal("request A did not reach its broken file in 20 s")
			}

			res, data := g.do(alice, "POST", "/api/images", multipartBody(t, file{"x.jpg", x}))
			var page struct{ Images []uploadedJSON }
			if err := json.Unmarshal(data, &page); err != nil || len(page.Images) != 1 {
				t.Fatalf("request B = %d %s", res.StatusCode, data)
			}
			bs := page.Images[0]
			if res.StatusCode != http.StatusAccepted || bs.Duplicate {
				t.Errorf("request B = %d, duplicate %v: answered as a duplicate of the unfinished request A", res.StatusCode, bs.Duplicate)
			}

			_, _ = pw.Write(body.Bytes()[holdAt:])
			_ = pw.Close()
			a := <-answeredA
			if a.err != nil || a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "broken.jpg") {
				t.Fatalf("request A = %d %s %v; want 400 naming broken.jpg", a.status, a.body, a.err)
			}

			// B's image is whole, and it is all there is.
			g.mustDo(alice, "GET", "/api/images/"+bs.ID, nil, http.StatusOK, nil)
			if res, data := g.do(alice, "GET", "/api/images/"+bs.ID+"/original", nil); res.StatusCode != http.StatusOK || !bytes.Equal(data, x) {
				t.Errorf("B's original = %d, %d bytes; want 200 with X's %d bytes", res.StatusCode, len(data), len(x))
			}
			g.mustDo(alice, "GET", "/api/images/"+bs.ID+"/thumbnail", nil, http.StatusOK, nil)
			if n, objs, jobs := g.imageCount(alice), g.countObjects(), g.queueDepth(); n != 1 || objs != 2 || jobs != 1 {
				t.Errorf("%d images, %d objects, %d jobs; want B's 1 image with its 2 objects and 1 job: A's staged objects must be gone", n, objs, jobs)
			}
		})
	}
}

// TestUploadClientGoneMidBody: a client that goes away while sending its photo is
// not a server error: logged at INFO, counted as cancelled, nothing stored.
func TestUploadClientGoneMidBody(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	alice := g.signUp("alice")
	body := multipartBody(t, file{"big.jpg", photo(t, 640, 480, 6)})
	data, _ := io.ReadAll(body.r)
	half := len(data) / 2
	frontURL, reading := g.watchedFront(half / 2)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answered := sendInBackground(ctx, alice, frontURL, pr, body.contentType)
	if _, err := pw.Write(data[:half]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reading:
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not read the first half of the photo in 20 s")
	}
	cancel()
	// The transport waits for its body writer, which waits for the rest of the body.
	_ = pw.CloseWithError(context.Canceled)
	if a := <-answered; a.err == nil {
		t.Fatalf("a cancelled request was answered %d %s", a.status, a.body)
	}
	g.assertClientGone("reading the upload")
	if n, objs := g.imageCount(alice), g.countObjects(); n != 0 || objs != 0 {
		t.Errorf("%d images, %d objects after a cancelled upload; want none", n, objs)
	}
}

// TestUploadClientGoneAtDuplicateCheck: a client that goes away once its photo is
// sent, while the server looks for a duplicate (the database call then fails with
// "context canceled"), is not a server error: logged at INFO, counted as cancelled,
// nothing stored.
func TestUploadClientGoneAtDuplicateCheck(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			held := &clientGoneStore{arrived: make(chan struct{})}
			g := newGallery(t, b.db, filesystem, func(d *api.Deps) {
				held.Store = d.Store
				d.Store = held
			})
			alice := g.signUp("alice")
			body := multipartBody(t, file{"p.jpg", photo(t, 64, 48, 7)})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			answered := sendInBackground(ctx, alice, g.url, body.r, body.contentType)
			select {
			case <-held.arrived:
			case a := <-answered:
				t.Fatalf("answered %d %s %v before the duplicate check", a.status, a.body, a.err)
			case <-time.After(20 * time.Second):
				t.Fatal("the upload did not reach the duplicate check in 20 s")
			}
			cancel()
			if a := <-answered; a.err == nil {
				t.Fatalf("a cancelled request was answered %d %s", a.status, a.body)
			}
			g.assertClientGone("storing the photo")
			if !strings.Contains(g.logs.String(), "look for a duplicate") {
				t.Error("the log does not say what the upload was doing when its client went away")
			}
			if n, objs := g.imageCount(alice), g.countObjects(); n != 0 || objs != 0 {
				t.Errorf("%d images, %d objects after a cancelled upload; want none", n, objs)
			}
		})
	}
}

// clientGoneStore holds the first duplicate check until its request is cancelled
// (10 s at most), then makes it with the cancelled context.
type clientGoneStore struct {
	api.Store
	arrived chan struct{}
	once    sync.Once
}

func (s *clientGoneStore) ImageBySHA256(ctx context.Context, ownerID int64, sha256 string) (store.Image, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.arrived)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
	}
	return s.Store.ImageBySHA256(ctx, ownerID, sha256)
}

// assertClientGone waits for the one upload request to finish and checks that it was
// taken as the client going away during what: at INFO, no ERROR line, counted as
// cancelled and not as failed or rejected, recorded with status 499.
func (g *gallery) assertClientGone(during string) {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var served map[string]any
	for served == nil {
		for line := range strings.SplitSeq(g.logs.String(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "served request" && l["route"] == "POST /api/images" {
				served = l
			}
		}
		if served == nil && time.Now().After(deadline) {
			g.t.Fatal("the upload request did not finish in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if served["status"] != float64(499) {
		g.t.Errorf("the request log says status %v; want 499", served["status"])
	}
	var gone map[string]any
	for line := range strings.SplitSeq(g.logs.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if l["level"] == "ERROR" {
			g.t.Errorf("an upload whose client went away is logged as an error: %s", line)
		}
		if l["msg"] == "client went away during the upload; kept nothing of it" {
			gone = l
		}
	}
	if gone == nil || gone["level"] != "INFO" || gone["during"] != during {
		g.t.Errorf("client went away log line = %v; want INFO during %q", gone, during)
	}
	m := g.metrics()
	for _, want := range []string{
		`sortographer_uploads_total{result="cancelled"} 1`,
		`sortographer_uploads_total{result="failed"} 0`,
		`sortographer_uploads_total{result="rejected"} 0`,
		`sortographer_http_requests_total{code="499",method="POST",route="POST /api/images"} 1`,
	} {
		if !strings.Contains(m, want) {
			g.t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, `code="500"`) {
		g.t.Error("an upload whose client went away is counted as a 500")
	}
}
