package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/config"
)

// TestServeSingleSignOnSettings: SORTOGRAPHER_OIDC_* reach the server: the web UI is told
// single sign-on is on under its name and passwords are off, password sign-in is refused,
// and the server starts while the provider is down (discovery waits for the first
// sign-in, which then answers 502 rather than failing the start).
func TestServeSingleSignOnSettings(t *testing.T) {
	cfg := testConfig(t,
		config.EnvOIDCIssuer+"=https://127.0.0.1:1/dex", config.EnvOIDCClientID+"=gallery",
		config.EnvOIDCClientSecret+"=a client secret", config.EnvOIDCLocalPasswords+"=false",
		config.EnvOIDCProviderName+"=University login")
	base, _ := startServe(t, cfg)
	get := func(path string) (int, map[string]any) {
		t.Helper()
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		return res.StatusCode, out
	}
	if code, c := get("/api/auth/config"); code != http.StatusOK || c["oidc"] != true || c["localPasswords"] != false || c["oidcProvider"] != "University login" {
		t.Errorf("GET /api/auth/config = %d %v", code, c)
	}
	res, err := http.Post(base+"/api/auth/signin", "application/json", strings.NewReader(`{"email":"a@example.com","password":"long enough!"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("password sign-in with local passwords off = %d, want 403", res.StatusCode)
	}
	if code, out := get("/api/auth/oidc/start"); code != http.StatusBadGateway {
		t.Errorf("start with the provider down = %d %v, want 502", code, out)
	}
}
