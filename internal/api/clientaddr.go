package api

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address a request came from, for rate limits and logs: see
// clientAddress.
func (s *Server) clientAddr(r *http.Request) string {
	return clientAddress(r, s.d.TrustedProxies)
}

// clientAddress is the address a request came from: the TCP peer, unless the peer is a
// trusted proxy (the ingress, the load balancer). Then X-Forwarded-For is read from
// right to left, each proxy having appended the address it saw: trusted hops are
// skipped and the first untrusted address is the client. Only the part of the header
// that trusted proxies wrote is believed, so a client cannot choose its address by
// sending the header itself; an entry that is not an address ends the walk at the
// last trusted hop.
func clientAddress(r *http.Request, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr // not from a TCP listener (tests); nothing better to say
	}
	addr := peer.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr.String()
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			break
		}
		addr = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	return addr.String()
}

// parseHop reads one X-Forwarded-For entry: an address, some proxies adding a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// limitAddress is the part of a client address the per-address limits count: an IPv4
// address, or an IPv6 address's /64, which one subscriber usually holds whole (else a
// client could step through 2^64 addresses past every per-address limit).
func limitAddress(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Is4In6() {
		return addr
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
