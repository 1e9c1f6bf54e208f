package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/config"
)

// TestServeQuotaFromTheEnvironment: SORTOGRAPHER_QUOTA_PHOTOS, as the operator writes
// it from spec.auth.quota, limits every user of `serve`: GET /api/me shows it, and the
// upload past it is a 507.
func TestServeQuotaFromTheEnvironment(t *testing.T) {
	cfg := testConfig(t, config.EnvQuotaPhotos+"=1")
	base, _ := startServe(t, cfg)
	do := func(method, path, token, contentType string, body io.Reader) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, body)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	code, session := do("POST", "/api/auth/signup", "", "application/json", strings.NewReader(`{"email":"q@example.com","password":"long enough"}`))
	if code != http.StatusCreated {
		t.Fatalf("sign up = %d %v", code, session)
	}
	token, _ := session["token"].(string)
	upload := func(shade uint8) int {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		for i := range img.Pix {
			img.Pix[i] = shade
		}
		img.Set(0, 0, color.White)
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, nil); err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		p, _ := w.CreateFormFile("file", "p.jpg")
		_, _ = p.Write(b.Bytes())
		_ = w.Close()
		code, _ := do("POST", "/api/images", token, w.FormDataContentType(), &body)
		return code
	}
	if code := upload(40); code != http.StatusAccepted {
		t.Fatalf("first upload = %d", code)
	}
	if code := upload(200); code != http.StatusInsufficientStorage {
		t.Fatalf("upload past a one-photo quota = %d, want 507", code)
	}
	_, me := do("GET", "/api/me", token, "", nil)
	q, _ := me["quota"].(map[string]any)
	if q["photos"] != float64(1) || q["usedPhotos"] != float64(1) || q["storageBytes"] != nil {
		t.Errorf("GET /api/me quota = %v", q)
	}
}
