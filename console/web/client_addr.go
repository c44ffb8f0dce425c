package web

// Who sent a request: the peer, or behind trusted reverse proxies the
// address they report in X-Forwarded-For; and the "source" that per-client
// limits count under.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads a list of reverse proxies (commas or spaces
// between entries): addresses such as 10.0.0.5 or CIDR prefixes such as
// 10.0.0.0/8 and fd00::/8. A prefix of every address (0.0.0.0/0, ::/0) is
// refused: it would let any client choose the address it is counted under.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, field := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		p, err := parseTrustedProxy(field)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("console: trusted proxies: %w", err)
	}
	return out, nil
}

func parseTrustedProxy(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("%q: want an address or a CIDR prefix such as 10.0.0.0/8", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("%q: want an address or a CIDR prefix such as 10.0.0.0/8", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	// Peers are compared unmapped (::ffff:10.0.0.5 is 10.0.0.5), so an
	// IPv4-mapped prefix is kept as the IPv4 prefix it means.
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return p, fmt.Errorf("%q trusts every address: any client could then choose its own", s)
	}
	return p.Masked(), nil
}

// maxForwardedHops bounds how far X-Forwarded-For is read from the right:
// no real chain of proxies is longer, and the header is the client's to
// fill.
const maxForwardedHops = 16

// resolveClient returns the client's address: the peer's, or when the
// peer is a trusted proxy, the right-most address in X-Forwarded-For that
// is not a trusted proxy. Only that one was written by a proxy we trust;
// anything to its left is what the client sent. badForwarded reports an
// entry that is not an address where one was needed (a misconfigured
// proxy); the last trusted hop then stands for the client. ok is false
// when the peer's own address cannot be read (not a TCP peer).
func resolveClient(remoteAddr string, forwardedFor []string, trusted []netip.Prefix) (client netip.Addr, badForwarded, ok bool) {
	peer, ok := parseHostAddr(remoteAddr)
	if !ok {
		return netip.Addr{}, false, false
	}
	client = peer
	hops := 0
	for i := len(forwardedFor) - 1; i >= 0 && isTrusted(client, trusted); i-- {
		rest := forwardedFor[i]
		for rest != "" && isTrusted(client, trusted) {
			hop := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				hop, rest = rest[j+1:], rest[:j]
			} else {
				rest = ""
			}
			if hop = strings.TrimSpace(hop); hop == "" {
				continue
			}
			if hops++; hops > maxForwardedHops {
				return client, true, true
			}
			a, ok := parseHostAddr(hop)
			if !ok {
				return client, true, true
			}
			client = a
		}
	}
	return client, false, true
}

// parseHostAddr reads "addr", "addr:port", "[v6]" or "[v6]:port", unmapped
// and without a zone.
func parseHostAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sourceKey is what per-client limits count under: an IPv4 address, or
// the /64 of an IPv6 address. A home or a host is given a whole /64 and
// may use any address in it, so counting single IPv6 addresses would let
// one attacker have 2^64 fresh starts.
func sourceKey(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// clientOf returns the client's address for the audit log and sessions,
// and its source for the login limits.
func (w *web) clientOf(r *http.Request) (remote, source string) {
	a, badForwarded, ok := resolveClient(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), w.cfg.TrustedProxies)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return host, host
	}
	if badForwarded {
		w.metrics.badForwarded.Inc()
	}
	return a.String(), sourceKey(a)
}
