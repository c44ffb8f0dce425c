package broker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/pires/go-proxyproto"
	"github.com/rs/zerolog"
)

// proxyDial connects as a balancer would: a PROXY v2 header naming src as
// the hub's address, then the MQTT bytes; src "" sends no header.
func proxyDial(t *testing.T, addr, src string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if src != "" {
		from, err := net.ResolveTCPAddr("tcp", src)
		if err != nil {
			t.Fatal(err)
		}
		h := proxyproto.HeaderProxyFromAddrs(2, from, conn.RemoteAddr())
		if _, err := h.WriteTo(conn); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// expectClosed reads conn until the gateway closes it, without an answer.
// A close with bytes of ours still unread arrives as a reset: also closed.
func expectClosed(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("%s: %v, want the connection closed", what, err)
	}
	if len(got) > 0 {
		t.Fatalf("%s: answered % x, want the connection closed without an answer", what, got)
	}
}

// TestProxyProtocolLimitsEachHubsAddress: behind a balancer that sends the
// PROXY protocol, the per-address CONNECT limit counts the hubs' own
// addresses, not the balancer's (which all connections share); a
// connection from the balancer without a header is refused and counted.
func TestProxyProtocolLimitsEachHubsAddress(t *testing.T) {
	e := startEnv(t, Config{TCPAddr: "127.0.0.1:0", ProxyFrom: []string{"127.0.0.0/8"}, ConnectRate: 0.001, ConnectBurst: 1})
	addr := e.s.Addr("tcp")
	answer := func(src string, hub string, secret string) byte {
		c, ack := connectSync(t, proxyDial(t, addr, src), connectOpts{v: 5, id: hub, user: hub, pass: secret})
		c.conn.Close()
		return ack.ReasonCode
	}
	if code := answer("203.0.113.1:40000", string(hubA), secretA); code != 0 {
		t.Fatalf("first CONNECT from 203.0.113.1: reason %#x, want success", code)
	}
	if code := answer("203.0.113.1:40001", string(hubB), secretB); code != 0x9F {
		t.Errorf("second CONNECT from 203.0.113.1 (burst 1): reason %#x, want 0x9F connection rate exceeded", code)
	}
	// Another hub address behind the same balancer has its own bucket.
	if code := answer("198.51.100.7:40000", string(hubB), secretB); code != 0 {
		t.Errorf("CONNECT from 198.51.100.7: reason %#x, want success (the balancer's address is not the limit's key)", code)
	}
	if n := value(e.s.m.refused.WithLabelValues(refuseRate)); n != 1 {
		t.Errorf("refused{connect_rate} = %v, want 1", n)
	}

	bare := proxyDial(t, addr, "")
	c := &rawClient{t: t, conn: bare}
	c.write(connectPacket(connectOpts{v: 5, id: string(hubA), user: string(hubA), pass: secretA}))
	expectClosed(t, bare, "a CONNECT without a PROXY header")
	waitFor(t, func() bool { return value(e.s.m.refused.WithLabelValues(refuseProxyHeader)) == 1 })
}

// TestProxyProtocolRefusesOtherSenders: only the listed balancers may
// connect to a listener behind the PROXY protocol; anyone else is closed at
// once and counted, header or not (nobody else may name a hub's address).
func TestProxyProtocolRefusesOtherSenders(t *testing.T) {
	e := startEnv(t, Config{TCPAddr: "127.0.0.1:0", ProxyFrom: []string{"192.0.2.1"}})
	for i, src := range []string{"203.0.113.1:40000", ""} {
		expectClosed(t, proxyDial(t, e.s.Addr("tcp"), src), fmt.Sprintf("connection %d from an address not listed", i))
	}
	waitFor(t, func() bool { return value(e.s.m.refused.WithLabelValues(refuseProxyUntrusted)) == 2 })
}

// A ProxyFrom entry that is neither an address nor a range is refused at
// start, naming it.
func TestProxyFromRefusesBadEntry(t *testing.T) {
	s, err := New(Config{TCPAddr: "127.0.0.1:0", ProxyFrom: []string{"haproxy.local"}}, noopJournal{}, noopIngester{}, &fakeDir{creds: map[devices.HubID]devices.HubCredential{}}, zerolog.Nop(), nil)
	if err == nil || !strings.Contains(err.Error(), "haproxy.local") {
		t.Fatalf("New with ProxyFrom [haproxy.local] = %v, want an error naming it", err)
	}
	if s != nil {
		t.Error("a server came back with the error")
	}
}
