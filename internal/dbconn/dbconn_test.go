package dbconn

import (
	"path/filepath"
	"testing"

	"github.com/sortographer/sortographer/internal/config"
)

func TestTLSConfig(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		wantNil    bool
		wantVerify bool
	}{
		{"disable", true, false},
		{"require", false, false},
		{"verify-full", false, true},
	} {
		c, err := TLS(tc.mode, nil, "db.example.com")
		if err != nil {
			t.Fatalf("%s: %v", tc.mode, err)
		}
		if (c == nil) != tc.wantNil {
			t.Fatalf("%s: config %v, want nil %v", tc.mode, c, tc.wantNil)
		}
		if c != nil && c.InsecureSkipVerify == tc.wantVerify {
			t.Errorf("%s: InsecureSkipVerify %v", tc.mode, c.InsecureSkipVerify)
		}
		if tc.wantVerify && c.ServerName != "db.example.com" {
			t.Errorf("%s: server name %q", tc.mode, c.ServerName)
		}
	}
	if _, err := TLS("verify-full", []byte("not PEM"), "h"); err == nil {
		t.Error("a CA bundle without certificates: want an error")
	}
	if _, err := ReadCA(config.Database{TLSMode: "verify-full", CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("missing CA file: want an error")
	}
	if ca, err := ReadCA(config.Database{TLSMode: "disable", CAFile: "/nonexistent"}); err != nil || ca != nil {
		t.Errorf("TLS off: ReadCA = %q, %v; want nothing read", ca, err)
	}
	if _, err := TLS("sometimes", nil, "h"); err == nil {
		t.Error("unknown mode: want an error")
	}
}
