package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
)

// TestServeSessionLifetimes: serve gives sessions the lifetimes of its configuration,
// SORTOGRAPHER_SESSION_MAX_LIFETIME (spec.auth.sessionMaxLifetime) capping the idle
// lifetime, and sign-out revokes the session in the running server.
func TestServeSessionLifetimes(t *testing.T) {
	cfg := testConfig(t, config.EnvSessionMaxLifetime+"=3h", config.EnvTokenLifetime+"=24h")
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + cfg.ListenAddr
	waitReady(t, base)

	creds := `{"email":"life@example.com","password":"long enough!","bearer":true}`
	res, err := http.Post(base+"/api/auth/signup", "application/json", strings.NewReader(creds))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("sign up = %d", res.StatusCode)
	}
	before := time.Now()
	res, err = http.Post(base+"/api/auth/signin", "application/json", strings.NewReader(creds))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Token                    string
		ExpiresAt, IdleExpiresAt time.Time
	}
	_ = json.NewDecoder(res.Body).Decode(&s)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || s.Token == "" {
		t.Fatalf("sign in = %d %+v", res.StatusCode, s)
	}
	if life := s.ExpiresAt.Sub(before); life < 3*time.Hour-time.Minute || life > 3*time.Hour+time.Minute {
		t.Errorf("absolute lifetime %s, want 3h", life)
	}
	if !s.IdleExpiresAt.Equal(s.ExpiresAt) {
		t.Errorf("idle expiry %v past the absolute one %v: the 24h idle lifetime must be capped", s.IdleExpiresAt, s.ExpiresAt)
	}
	call := func(method, path string) int {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := call("GET", "/api/me"); got != http.StatusOK {
		t.Fatalf("me = %d", got)
	}
	if got := call("POST", "/api/auth/signout"); got != http.StatusNoContent {
		t.Fatalf("sign out = %d", got)
	}
	if got := call("GET", "/api/me"); got != http.StatusUnauthorized {
		t.Errorf("me after sign-out = %d, want 401", got)
	}
}
