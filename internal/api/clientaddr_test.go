package api

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestClientAddress: X-Forwarded-For is believed only as far as trusted proxies wrote
// it; a client that sends its own header, directly or through the proxies, cannot
// choose the address it is counted under.
func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies configured: the peer", "203.0.113.7:5000", []string{"198.51.100.1"}, nil, "203.0.113.7"},
		{"untrusted peer with a spoofed header: the peer", "203.0.113.7:5000", []string{"198.51.100.1"}, trusted, "203.0.113.7"},
		{"untrusted peer that claims to be a proxy: the peer", "203.0.113.7:5000", []string{"10.0.0.5"}, trusted, "203.0.113.7"},
		{"trusted peer: the address it saw", "10.1.2.3:5000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"trusted peer, no header: the peer", "10.1.2.3:5000", nil, trusted, "10.1.2.3"},
		{"client-sent entries left of the proxy's are ignored", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"two trusted hops are skipped", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, trusted, "198.51.100.1"},
		{"several header lines read as one list", "10.1.2.3:5000", []string{"1.1.1.1", "198.51.100.1, 10.9.9.9"}, trusted, "198.51.100.1"},
		{"every hop trusted: the leftmost", "10.1.2.3:5000", []string{"10.8.8.8, 10.9.9.9"}, trusted, "10.8.8.8"},
		{"garbage ends the walk at the last trusted hop", "10.1.2.3:5000", []string{"198.51.100.1, nonsense"}, trusted, "10.1.2.3"},
		{"an entry with a port", "10.1.2.3:5000", []string{"198.51.100.1:4711"}, trusted, "198.51.100.1"},
		{"IPv6 peer and client", "[fd00::1]:5000", []string{"2001:db8::7"}, trusted, "2001:db8::7"},
		{"IPv4-mapped IPv6 peer counts as IPv4", "[::ffff:10.1.2.3]:5000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"IPv4-mapped client", "10.1.2.3:5000", []string{"::ffff:198.51.100.1"}, trusted, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := clientAddress(r, tc.trusted); got != tc.want {
				t.Errorf("clientAddress = %q, want %q", got, tc.want)
			}
		})
	}
}
