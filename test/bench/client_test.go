package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// photoGlob is where the photos come from: real JPEGs of 110 KB to 1.4 MB that the
// darknet package ships (hack/install-deps.sh installs it).
const photoGlob = "/usr/share/darknet/data/*.jpg"

// upload is one photo ready to send: a whole multipart body, built once so that
// encoding it is not part of what is measured.
type upload struct {
	name        string
	body        []byte
	contentType string
}

func loadPhotos(b *testing.B) []upload {
	b.Helper()
	paths, _ := filepath.Glob(photoGlob)
	if len(paths) == 0 {
		b.Fatalf("no photos at %s: run hack/install-deps.sh (it installs darknet)", photoGlob)
	}
	// A user's second upload of the same bytes is answered with the existing image and
	// not classified again, so every upload of a round must differ: the photos are
	// cycled, each copy numbered in a JPEG comment (a COM segment after SOI).
	var out []upload
	for k := range max(*uploadsFlag, len(paths)) {
		p := paths[k%len(paths)]
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		if len(data) < 2 || data[0] != 0xff || data[1] != 0xd8 {
			b.Fatalf("%s is not a JPEG", p)
		}
		comment := fmt.Appendf(nil, "sortographer bench copy %d", k)
		segment := append([]byte{0xff, 0xfe, byte((len(comment) + 2) >> 8), byte(len(comment) + 2)}, comment...)
		data = append(append(append([]byte{}, data[:2]...), segment...), data[2:]...)
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		part, err := mw.CreateFormFile("file", filepath.Base(p))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = part.Write(data)
		_ = mw.Close()
		out = append(out, upload{name: filepath.Base(p), body: body.Bytes(), contentType: mw.FormDataContentType()})
	}
	return out
}

// image is what GET /api/images/{id} says, as far as the benchmark cares.
type image struct {
	ID            string     `json:"id"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"createdAt"`
	LabelledAt    *time.Time `json:"labelledAt"`
	FailureReason string     `json:"failureReason"`
	Labels        []struct {
		Name string `json:"name"`
	} `json:"labels"`
}

// final reports whether the image's classification is over, one way or the other.
func (i image) final() bool { return i.Status == "labelled" || i.Status == "failed" }

// client is one signed-up user of a gallery.
type client struct {
	base  string
	token string
	// addr is the client's address, which the gallery (trusting the loopback proxy)
	// reads from X-Forwarded-For.
	addr string
	http *http.Client
}

var users atomic.Int64

// signUp creates a new user; each round has its own, so no round runs into the upload
// rate limit (60 requests a minute per user) that an earlier one used up.
func signUp(ctx context.Context, base string) (*client, error) {
	c := &client{base: base, http: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 32},
		Timeout:   60 * time.Second,
	}}
	n := users.Add(1)
	c.addr = fmt.Sprintf("198.18.%d.%d", n/250%250, n%250+1)
	email := fmt.Sprintf("bench-%d-%d@example.com", os.Getpid(), n)
	body := fmt.Sprintf(`{"email":%q,"password":"a benchmark password","bearer":true}`, email)
	// Sign-up starts no session (it answers alike for a taken address): sign in next.
	var accepted struct{ Status string }
	if err := c.do(ctx, http.MethodPost, "/api/auth/signup", "application/json", strings.NewReader(body), http.StatusAccepted, &accepted); err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	var session struct{ Token string }
	if err := c.do(ctx, http.MethodPost, "/api/auth/signin", "application/json", strings.NewReader(body), http.StatusOK, &session); err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	c.token = session.Token
	return c, nil
}

// upload sends one photo and returns the image the server recorded.
func (c *client) upload(ctx context.Context, u upload) (image, error) {
	var page struct{ Images []image }
	if err := c.do(ctx, http.MethodPost, "/api/images", u.contentType, bytes.NewReader(u.body), http.StatusAccepted, &page); err != nil {
		return image{}, fmt.Errorf("upload %s: %w", u.name, err)
	}
	if len(page.Images) != 1 {
		return image{}, fmt.Errorf("upload %s: answered %d images, want 1", u.name, len(page.Images))
	}
	return page.Images[0], nil
}

func (c *client) image(ctx context.Context, id string) (image, error) {
	var img image
	err := c.do(ctx, http.MethodGet, "/api/images/"+id, "", nil, http.StatusOK, &img)
	return img, err
}

// images lists the user's newest images, up to limit.
func (c *client) images(ctx context.Context, limit int) ([]image, error) {
	var page struct{ Images []image }
	err := c.do(ctx, http.MethodGet, "/api/images?limit="+strconv.Itoa(limit), "", nil, http.StatusOK, &page)
	return page.Images, err
}

func (c *client) do(ctx context.Context, method, path, contentType string, body io.Reader, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.addr != "" {
		req.Header.Set("X-Forwarded-For", c.addr)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s answered %d: %s", method, path, res.StatusCode, bytes.TrimSpace(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}
