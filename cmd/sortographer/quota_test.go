package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
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
	token := signUpToken(t, base, "q@example.com")
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

// TestServeResumesAnInterruptedErasure: an account whose erasure was interrupted (the
// server stopped right after marking it) is erased by the next `serve` on its own: the
// user's row and every object under their folder are gone.
func TestServeResumesAnInterruptedErasure(t *testing.T) {
	cfg := testConfig(t)
	base, stop := startServe(t, cfg)
	var session struct {
		User  struct{ ID int64 }
		Token string
	}
	session.Token = signUpToken(t, base, "e@example.com")
	req, _ := http.NewRequest("GET", base+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+session.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&session.User)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || session.User.ID == 0 {
		t.Fatalf("me = %d %+v, %v", res.StatusCode, session.User, err)
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	p, _ := w.CreateFormFile("file", "p.jpg")
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	if err := jpeg.Encode(p, img, nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	req, _ = http.NewRequest("POST", base+"/api/images", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+session.Token)
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("upload = %v, %v", res, err)
	}
	res.Body.Close()
	stop()

	userDir := filepath.Join(cfg.StorageDir(), "images", strconv.FormatInt(session.User.ID, 10))
	if files := filesUnder(t, userDir); files == 0 {
		t.Fatalf("the upload stored nothing under %s", userDir)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.Database, cfg.SQLiteFile())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.RequestErasure(ctx, session.User.ID); err != nil {
		t.Fatal(err)
	}

	cfg.ListenAddr, cfg.MetricsAddr = testenv.FreeAddr(t), testenv.FreeAddr(t)
	startServe(t, cfg)
	testenv.Eventually(t, 30*time.Second, "the interrupted erasure finishes", func() error {
		if _, err := st.UserByID(ctx, session.User.ID); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("the user's row: %w", err)
		}
		if n := filesUnder(t, userDir); n != 0 {
			return fmt.Errorf("%d files left under %s", n, userDir)
		}
		return nil
	})
}

// filesUnder counts the files under dir (none when it does not exist).
func filesUnder(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
