package firmwaresim

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Receiver takes what the gateway sends on a link. Deliver gets whole writes
// of the gateway, which may hold several frames or part of one; it must not
// block. Closed is called once when the gateway's side ends the link (not
// when the hub closes it).
type Receiver interface {
	Deliver(p []byte)
	Closed(err error)
}

// Link is a hub's end of a connection. Write must not block for long: the
// fleet's scheduler goroutines call it.
type Link interface {
	Write(p []byte) error
	Close() error
}

// Transport opens links to the gateway.
type Transport interface {
	Dial(ctx context.Context, rx Receiver) (Link, error)
}

// ErrLinkClosed is returned by writes on a closed link.
var ErrLinkClosed = errors.New("firmwaresim: link closed")

// MemListener is an in-memory net.Listener for the gateway's broker (pass it
// as gateway.Options.Listener) and a Transport for hubs. Unlike net.Pipe, a
// hub's writes are buffered (the scheduler never waits for the broker to
// read) and the broker's writes are handed to the hub by a direct call, so a
// connected hub costs no goroutine of the simulator's and no OS resources.
type MemListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewMemListener returns an open MemListener.
func NewMemListener() *MemListener {
	return &MemListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Dial implements Transport.
func (l *MemListener) Dial(ctx context.Context, rx Receiver) (Link, error) {
	c := &memConn{rx: rx}
	c.cond.L = &c.mu
	select {
	case l.conns <- brokerConn{c}:
		return c, nil
	case <-l.done:
		return nil, ErrLinkClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// DialConn opens a net.Pipe to the broker, for clients that want a
// net.Conn (paho): each costs a reader goroutine on the client's side.
func (l *MemListener) DialConn(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		client.Close()
		server.Close()
		return nil, ErrLinkClosed
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
}

// Accept implements net.Listener.
func (l *MemListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; open connections stay open.
func (l *MemListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *MemListener) Addr() net.Addr { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

// memConn is both ends of one in-memory connection: the broker uses it as a
// net.Conn, the hub as a Link.
type memConn struct {
	mu     sync.Mutex
	cond   sync.Cond
	in     []byte // hub -> broker, not yet read
	inBuf  *linkBuf
	off    int
	closed bool
	rx     Receiver
}

// linkBuf is a pooled buffer of what a hub wrote and the broker has not
// read yet. A hub writes about once a minute, so a buffer kept per hub would
// hold up to a few KiB x 300,000 for nothing, and a fresh one per write was
// one of the simulator's largest sources of garbage (a copy of every frame):
// a connection takes one from the pool when the hub writes and gives it back
// once the broker has read it all.
type linkBuf struct{ b []byte }

// maxPooledLink keeps a rare large backlog (a hub replaying its store and
// forward queue) out of the pool.
const maxPooledLink = 64 << 10

var linkPool = sync.Pool{New: func() any { return &linkBuf{b: make([]byte, 0, 4096)} }}

// Write is the hub's side: buffer and wake the broker's reader.
func (c *memConn) Write(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrLinkClosed
	}
	if c.inBuf == nil {
		c.inBuf = linkPool.Get().(*linkBuf)
		c.in = c.inBuf.b[:0]
	}
	c.in = append(c.in, p...)
	c.cond.Signal()
	return nil
}

// releaseIn hands the read buffer back to the pool; c.mu is held.
func (c *memConn) releaseIn() {
	if c.inBuf != nil && cap(c.in) <= maxPooledLink {
		c.inBuf.b = c.in[:0]
		linkPool.Put(c.inBuf)
	}
	c.inBuf, c.in, c.off = nil, nil, 0
}

// Close is the hub's side hanging up: the broker reads EOF and, since no
// DISCONNECT came first, publishes the will.
func (c *memConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.rx = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

// Read implements net.Conn for the broker.
func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.off == len(c.in) && !c.closed {
		c.cond.Wait()
	}
	if c.off == len(c.in) {
		return 0, io.EOF
	}
	n := copy(p, c.in[c.off:])
	c.off += n
	if c.off == len(c.in) {
		// Keep nothing for an idle hub (see linkBuf).
		c.releaseIn()
	}
	return n, nil
}

// writeFromBroker hands the broker's bytes to the hub.
func (c *memConn) writeFromBroker(p []byte) (int, error) {
	c.mu.Lock()
	rx, closed := c.rx, c.closed
	c.mu.Unlock()
	if closed || rx == nil {
		return 0, net.ErrClosed
	}
	rx.Deliver(p)
	return len(p), nil
}

func (c *memConn) closeFromBroker() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	rx := c.rx
	c.rx = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	if rx != nil {
		rx.Closed(io.EOF)
	}
	return nil
}

// brokerConn is the broker's end of a memConn, a net.Conn. Deadlines are
// not kept: an in-memory link never goes quiet unless the simulator closes
// it, and then the broker reads EOF at once.
type brokerConn struct{ c *memConn }

func (b brokerConn) Read(p []byte) (int, error)       { return b.c.Read(p) }
func (b brokerConn) Write(p []byte) (int, error)      { return b.c.writeFromBroker(p) }
func (b brokerConn) Close() error                     { return b.c.closeFromBroker() }
func (b brokerConn) LocalAddr() net.Addr              { return memAddr{} }
func (b brokerConn) RemoteAddr() net.Addr             { return memAddr{} }
func (b brokerConn) SetDeadline(time.Time) error      { return nil }
func (b brokerConn) SetReadDeadline(time.Time) error  { return nil }
func (b brokerConn) SetWriteDeadline(time.Time) error { return nil }
