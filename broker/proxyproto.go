package broker

import (
	"errors"
	"fmt"
	"net"

	"github.com/pires/go-proxyproto"
)

// Behind a load balancer (HAProxy in TCP mode, docs/cluster.md) every hub
// connection reaches the gateway from the balancer's address: the per-address
// CONNECT limit (ConnectRate) then throttled every hub behind one balancer
// as if they were one address (200 CONNECTs a second for 7,500 hubs after a
// node's death: 30 s and more before the last was back), and the logs named
// the balancer instead of the hub. The PROXY protocol (HAProxy's
// send-proxy-v2) gives the gateway each connection's real source.

// proxyListener wraps l so that connections from the trusted senders in
// from (addresses or CIDR ranges) must begin with a PROXY protocol header
// (v1 or v2), whose source address becomes the connection's RemoteAddr;
// connections from any other address are closed at once and counted, so
// that nobody can reach a listener meant for the balancer directly and
// nobody but the balancer can claim another address.
func (s *Server) proxyListener(l net.Listener, from []string) (net.Listener, error) {
	trusted, err := proxyproto.TrustProxyHeaderFromRanges(from)
	if err != nil {
		return nil, fmt.Errorf("broker: PROXY protocol senders %v: %w", from, err)
	}
	return &proxyproto.Listener{
		Listener: l,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			p, err := trusted(o)
			if err != nil {
				s.m.refused.WithLabelValues(refuseProxyUntrusted).Inc()
			}
			return p, err
		},
		// The header comes first, before the CONNECT: the same deadline.
		ReadHeaderTimeout: s.cfg.ConnectTimeout,
	}, nil
}

// proxyHeaderErrors are the go-proxyproto errors of a missing or broken
// header from a trusted sender.
var proxyHeaderErrors = []error{
	proxyproto.ErrNoProxyProtocol, proxyproto.ErrUnknownProxyProtocolVersion,
	proxyproto.ErrLineMustEndWithCrlf, proxyproto.ErrCantReadProtocolVersionAndCommand,
	proxyproto.ErrCantReadAddressFamilyAndProtocol, proxyproto.ErrCantReadLength,
	proxyproto.ErrUnsupportedProtocolVersionAndCommand, proxyproto.ErrUnsupportedAddressFamilyAndProtocol,
	proxyproto.ErrInvalidLength, proxyproto.ErrInvalidAddress, proxyproto.ErrInvalidPortNumber,
	proxyproto.ErrTruncatedTLV, proxyproto.ErrMalformedTLV, proxyproto.ErrIncompatibleTLV,
}

func isProxyHeaderError(err error) bool {
	for _, e := range proxyHeaderErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
