package testservers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// DexServer is an OpenID provider (Dex) of one test's own, serving HTTPS on a loopback
// port with a certificate of a CA made for it, with static users (Dex's password
// database) and one static client. It starts in well under a second.
type DexServer struct {
	// Issuer is the provider's issuer URL (https://127.0.0.1:<port>/dex).
	Issuer string
	// ClientID and ClientSecret are the static client's credentials.
	ClientID, ClientSecret string
	// CA is the PEM certificate of the CA that signed the server's certificate.
	CA []byte

	opts DexOptions
	dir  string
	addr string
	tls  serverTLS
	proc *process
}

// DexUser is one of Dex's static users, who signs in on Dex's login form with Email and
// Password.
type DexUser struct {
	Email, Password string
	// Name is the "name" claim.
	Name string
	// ID is the subject ("sub" is derived from it and the connector); it stays the same
	// across Restart, so the gallery sees the same person.
	ID string
	// Groups is the "groups" claim (asked for with the groups scope).
	Groups []string
	// EmailUnverified makes Dex say email_verified false.
	EmailUnverified bool
}

// DexOptions configure Dex.
type DexOptions struct {
	// RedirectURIs are the static client's allowed redirect URIs (the gallery's
	// /api/auth/oidc/callback).
	RedirectURIs []string
	Users        []DexUser
}

// dexEnv names a dex binary to use instead of building the pinned one.
const dexEnv = "SORTOGRAPHER_DEX"

// dex is the pinned Dex (hack/dex.sh: about four minutes on 2 cores the first time;
// later runs reuse bin/ or the per-user cache).
var dex = pinnedTool{script: "dex.sh", env: dexEnv}

// Dex starts an OpenID provider for this test and stops it when the test ends. It fails
// the test when Dex cannot be built or started; only -short skips.
func Dex(t testing.TB, opts DexOptions) *DexServer {
	t.Helper()
	skipIfShort(t)
	bin, err := dex.path()
	if err != nil {
		t.Fatalf("start dex: %v", err)
	}
	dir, err := os.MkdirTemp("", "sortographer-dex-")
	if err != nil {
		t.Fatalf("start dex: %v", err)
	}
	certs, err := newServerTLS(dir, nil)
	if err != nil {
		t.Fatalf("start dex: %v", err)
	}
	d := &DexServer{
		ClientID:     "sortographer",
		ClientSecret: "sortographer-dex-test-client-secret",
		CA:           certs.CA,
		opts:         opts,
		dir:          dir,
		tls:          certs,
	}
	d.proc = &process{name: "dex", bin: bin, logPath: filepath.Join(dir, "dex.log"), stopSignal: syscall.SIGTERM}
	t.Cleanup(func() {
		d.proc.stop()
		_ = os.RemoveAll(dir)
	})
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("start dex: %v", err)
		}
		d.addr = "127.0.0.1:" + strconv.Itoa(port)
		d.Issuer = "https://" + d.addr + "/dex"
		if err = d.start(); err == nil {
			return d
		}
		if attempt == startAttempts || !portTaken(d.proc.logPath) {
			t.Fatalf("start dex: %v", err)
		}
	}
}

// Restart stops Dex and starts it again on the same address with users in place of its
// static users: how a Dex administrator changes a user's groups (static users live in
// Dex's configuration file). Dex keeps its state in memory, so its signing keys are new
// after a restart, as after a key rotation.
func (d *DexServer) Restart(t testing.TB, users []DexUser) {
	t.Helper()
	d.proc.stop()
	d.opts.Users = users
	if err := d.start(); err != nil {
		t.Fatalf("restart dex: %v", err)
	}
}

// HTTPClient is a client that trusts the server's certificate.
func (d *DexServer) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.CA)
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

func (d *DexServer) start() error {
	config, err := d.config()
	if err != nil {
		return err
	}
	path := filepath.Join(d.dir, "config.json")
	if err := os.WriteFile(path, config, 0o600); err != nil {
		return fmt.Errorf("write dex config: %w", err)
	}
	d.proc.args = []string{"serve", path}
	if err := d.proc.start(); err != nil {
		return err
	}
	client := d.HTTPClient()
	if err := d.proc.waitReady(func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, "GET", d.Issuer+"/.well-known/openid-configuration", nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("discovery answered %s", res.Status)
		}
		return nil
	}); err != nil {
		d.proc.stop()
		return err
	}
	return nil
}

// config is Dex's configuration file (JSON is YAML).
func (d *DexServer) config() ([]byte, error) {
	type staticPassword struct {
		Email         string   `json:"email"`
		Hash          string   `json:"hash"`
		Username      string   `json:"username"`
		Name          string   `json:"name,omitempty"`
		UserID        string   `json:"userID"`
		Groups        []string `json:"groups,omitempty"`
		EmailVerified bool     `json:"emailVerified"`
	}
	passwords := make([]staticPassword, 0, len(d.opts.Users))
	for _, u := range d.opts.Users {
		// bcrypt.MinCost is below Dex's floor of 10.
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), 10)
		if err != nil {
			return nil, fmt.Errorf("hash dex user password: %w", err)
		}
		id := u.ID
		if id == "" {
			id = u.Email
		}
		passwords = append(passwords, staticPassword{
			Email: u.Email, Hash: string(hash), Username: strings.Split(u.Email, "@")[0], Name: u.Name,
			UserID: id, Groups: u.Groups, EmailVerified: !u.EmailUnverified,
		})
	}
	return json.MarshalIndent(map[string]any{
		"issuer":  d.Issuer,
		"storage": map[string]any{"type": "memory"},
		"web":     map[string]any{"https": d.addr, "tlsCert": d.tls.CertFile, "tlsKey": d.tls.KeyFile},
		"oauth2":  map[string]any{"skipApprovalScreen": true},
		"logger":  map[string]any{"level": "info"},
		"staticClients": []map[string]any{{
			"id": d.ClientID, "secret": d.ClientSecret, "name": "Sortographer",
			"redirectURIs": d.opts.RedirectURIs,
		}},
		"enablePasswordDB": true,
		"staticPasswords":  passwords,
	}, "", "  ")
}
