package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testenv"
)

// TestServeSharingSwitches: SORTOGRAPHER_SHARE_MAX_LIFETIME caps a link made through
// `serve`, and SORTOGRAPHER_SHARING_ENABLED=false refuses new links and stops the
// existing one, on the same database.
func TestServeSharingSwitches(t *testing.T) {
	cfg := testConfig(t, config.EnvShareMaxLifetime+"=2h")
	base, stop := startServe(t, cfg)
	post := func(path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		return res.StatusCode, out
	}
	token := signUpToken(t, base, "s@example.com")
	code, album := post("/api/albums", token, `{"name":"Shared"}`)
	if code != http.StatusCreated {
		t.Fatalf("create album = %d %v", code, album)
	}
	code, share := post("/api/shares", token, `{"albumId":"`+album["id"].(string)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("share = %d %v", code, share)
	}
	expires, err := time.Parse(time.RFC3339Nano, share["expiresAt"].(string))
	if err != nil || time.Until(expires) < 119*time.Minute || time.Until(expires) > 2*time.Hour {
		t.Errorf("link without expiry expires %v (%v), want capped at 2h from now", share["expiresAt"], err)
	}
	link := base + "/api/shared/" + share["token"].(string)
	if res, err := http.Get(link); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("open link = %v, %v", res, err)
	}
	stop()

	// The same data directory, served with sharing off.
	cfg.Auth.SharingEnabled = false
	cfg.ListenAddr = testenv.FreeAddr(t)
	base, _ = startServe(t, cfg)
	link = base + "/api/shared/" + share["token"].(string)
	if code, out := post("/api/shares", token, `{"albumId":"`+album["id"].(string)+`"}`); code != http.StatusForbidden {
		t.Errorf("share with sharing off = %d %v, want 403", code, out)
	}
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("existing link with sharing off = %d, want 403", res.StatusCode)
	}
}

// startServe runs `serve` with cfg (SQLite, which it migrates) until the returned stop
// or the test's end.
func startServe(t *testing.T, cfg config.Config) (base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	// The server's warnings and errors are kept and printed only if the test fails: what
	// a request found wrong (a lost database connection, an object removed) is what a
	// failure needs explained.
	logs := &testenv.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the server's warnings and errors (%s):\n%s", cfg.ListenAddr, logs.String())
		}
	})
	go func() { served <- serve(ctx, cfg, logger) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	base = "http://" + cfg.ListenAddr
	waitReady(t, base)
	return base, stop
}

// TestServeStripsLocationFromSharedPhotos: `serve` strips location from what share
// links serve unless SORTOGRAPHER_SHARE_STRIP_LOCATION=false, which the operator writes
// for spec.auth.sharing.stripLocation false: the setting reaches the server.
func TestServeStripsLocationFromSharedPhotos(t *testing.T) {
	var src bytes.Buffer
	if err := jpeg.Encode(&src, image.NewGray(image.Rect(0, 0, 32, 24)), nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "gps.jpg")
	if err := os.WriteFile(p, src.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("exiftool", "-q", "-overwrite_original", "-GPSLatitude=48.8584", "-GPSLatitudeRef=N", p).CombinedOutput(); err != nil {
		t.Fatalf("exiftool (run hack/install-deps.sh): %v\n%s", err, b)
	}
	located, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	exif := []byte("Exif\x00\x00")
	if !bytes.Contains(located, exif) {
		t.Fatal("exiftool wrote no EXIF")
	}
	for _, c := range []struct {
		name  string
		env   []string
		keeps bool
	}{{"default", nil, false}, {"kept", []string{config.EnvShareStripLocation + "=false"}, true}} {
		t.Run(c.name, func(t *testing.T) {
			base, _ := startServe(t, testConfig(t, c.env...))
			token := signUpToken(t, base, "gps-"+c.name+"@example.com")
			id := uploadBytes(t, base, token, "gps.jpg", located)
			var share struct{ Token string }
			_ = json.Unmarshal(apiCaller(t, base, token)("POST", "/api/shares", strings.NewReader(`{"imageId":"`+id+`"}`), "application/json"), &share)
			res, err := http.Get(base + "/api/shared/" + share.Token + "/images/" + id + "/original")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || bytes.Equal(got, located) != c.keeps || bytes.Contains(got, exif) != c.keeps {
				t.Errorf("shared original: %d, the upload byte for byte: %v, EXIF: %v; want both %v",
					res.StatusCode, bytes.Equal(got, located), bytes.Contains(got, exif), c.keeps)
			}
		})
	}
}
