package auth

import (
	"strings"
	"testing"
)

// FuzzDeviceVerify sends arbitrary cookie values to Devices.Verify, which reads what any
// browser sends. Properties: it never panics; a token verifies only for the account it
// was issued to (only ada's are issued here, and the seed corpus holds one of them:
// fuzzing workers issue their own, so the exact token is not the property); only a token
// with Issue's own header (HS256) verifies, so "none" and other algorithms never do.
func FuzzDeviceVerify(f *testing.F) {
	d, err := NewDevices([]byte(strings.Repeat("k", MinKeyBytes)))
	if err != nil {
		f.Fatal(err)
	}
	issued, _, err := d.Issue("ada@example.com")
	if err != nil {
		f.Fatal(err)
	}
	header := issued[:strings.IndexByte(issued, '.')+1]
	if id, ok := d.Verify(issued, "ada@example.com"); !ok || len(id) != 32 {
		f.Fatalf("the issued token does not verify: %q, %v", id, ok)
	}
	f.Add(issued, "ada@example.com")
	f.Add(issued, "bob@example.com")
	f.Add(issued[:len(issued)-1], "ada@example.com")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZGFAZXhhbXBsZS5jb20ifQ.", "ada@example.com")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, token, email string) {
		id, ok := d.Verify(token, email)
		if !ok {
			return
		}
		if email != "ada@example.com" || !strings.HasPrefix(token, header) || len(id) != 32 {
			t.Fatalf("Verify(%q, %q) = %q, true: want only ada's HS256 tokens", token, email, id)
		}
	})
}
