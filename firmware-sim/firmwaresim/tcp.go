package firmwaresim

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// TCPTransport dials a gateway over TCP, spreading connections over several
// 127.0.0.x source addresses: each (source, destination) pair has only
// ~28,000 ephemeral ports. Each link has one reader goroutine; writes are
// made by the caller.
type TCPTransport struct {
	Addr    string
	Sources []net.IP // local addresses to bind; nil: the system's choice
	next    atomic.Uint64
}

// Dial implements Transport.
func (t *TCPTransport) Dial(ctx context.Context, rx Receiver) (Link, error) {
	d := net.Dialer{}
	if n := len(t.Sources); n > 0 {
		d.LocalAddr = &net.TCPAddr{IP: t.Sources[t.next.Add(1)%uint64(n)]}
	}
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("firmwaresim: dial %s: %w", t.Addr, err)
	}
	l := &tcpLink{c: c}
	go l.read(rx)
	return l, nil
}

type tcpLink struct {
	c      net.Conn
	wmu    sync.Mutex
	closed atomic.Bool
}

func (l *tcpLink) Write(p []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_, err := l.c.Write(p)
	return err
}

func (l *tcpLink) Close() error {
	l.closed.Store(true)
	return l.c.Close()
}

func (l *tcpLink) read(rx Receiver) {
	buf := make([]byte, 2048)
	for {
		n, err := l.c.Read(buf)
		if n > 0 {
			rx.Deliver(buf[:n])
		}
		if err != nil {
			if !l.closed.Load() {
				rx.Closed(err)
			}
			return
		}
	}
}

// LoopbackSources returns 127.0.0.1 .. 127.0.0.n.
func LoopbackSources(n int) []net.IP {
	out := make([]net.IP, n)
	for i := range out {
		out[i] = net.IPv4(127, 0, 0, byte(1+i%254))
	}
	return out
}
