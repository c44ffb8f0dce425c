package twilio

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckPublicURL reports whether raw can be the base of the webhook URLs
// Twilio is given: an absolute http or https URL with a host, and without
// credentials, query or fragment (Twilio signs the exact URL it calls, and
// the signature is checked against it). When Twilio itself calls back
// (fromInternet: the real API, not a stand-in), the host must also be one it
// can reach: not a wildcard listen address (0.0.0.0, ::), not loopback or
// localhost, not a private or link-local address. A listen address such as
// http://[::]:8080 passes none of these: callbacks to it never arrive, and
// with them every keypad and SMS acknowledgement.
func CheckPublicURL(raw string, fromInternet bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("public URL %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("public URL %q: want an absolute http:// or https:// URL", raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("public URL %q: no host", raw)
	case u.User != nil:
		return fmt.Errorf("public URL %q: no user or password in it", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("public URL %q: no query or fragment in it", raw)
	}
	if !fromInternet {
		return nil
	}
	if err := reachableHost(u.Hostname()); err != nil {
		return fmt.Errorf("public URL %q: %w", raw, err)
	}
	return nil
}

// errUnreachable says why Twilio cannot call a host.
var errUnreachable = errors.New("Twilio cannot reach this host from the internet; give the address Twilio calls (e.g. https://gw.dolbom.example.kr)")

func reachableHost(host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return fmt.Errorf("localhost: %w", errUnreachable)
	}
	ip := net.ParseIP(h)
	switch {
	case ip == nil:
		return nil
	case ip.IsUnspecified():
		return fmt.Errorf("%s is a wildcard listen address: %w", host, errUnreachable)
	case ip.IsLoopback():
		return fmt.Errorf("%s is loopback: %w", host, errUnreachable)
	case ip.IsPrivate(), ip.IsLinkLocalUnicast():
		return fmt.Errorf("%s is a private address: %w", host, errUnreachable)
	}
	return nil
}
