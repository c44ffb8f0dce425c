package firmwaresim

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Receiver takes what the gateway sends on a link. Deliver gets what the
// gateway wrote, in order, in pieces that may hold several frames or part of
// one; it must not block for long. Closed is called once, after the last
// Deliver, when the gateway's side ends the link (not when the hub closes
// it). Neither is called on a goroutine of the gateway's.
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
// read), and so are the broker's: they are handed to the hub by one of a few
// delivery goroutines (see deliverer), so a connected hub costs no goroutine
// of the simulator's and no OS resources, and the hub's code never runs on
// the broker's goroutines (whose stacks it would grow, distorting the
// gateway's memory figures).
type MemListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	dl    []deliverer
	next  atomic.Uint32
}

// NewMemListener returns an open MemListener.
func NewMemListener() *MemListener {
	l := &MemListener{conns: make(chan net.Conn), done: make(chan struct{}), dl: make([]deliverer, runtime.GOMAXPROCS(0))}
	for i := range l.dl {
		d := &l.dl[i]
		d.idle.L = &d.mu
		d.runFn = d.run
	}
	return l
}

// Dial implements Transport.
func (l *MemListener) Dial(ctx context.Context, rx Receiver) (Link, error) {
	c := &memConn{rx: rx, dl: &l.dl[int(l.next.Add(1))%len(l.dl)]}
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
	mu    sync.Mutex
	cond  sync.Cond
	in    []byte // hub -> broker, not yet read
	inBuf *linkBuf
	off   int
	rx    Receiver // nil once the hub hung up or was told Closed
	// Broker -> hub: out holds what the broker wrote and the hub has not
	// been given yet (nil when there is none: see linkBuf); closing says
	// Closed is due after it; queued says the connection is in dl's queue.
	out     *linkBuf
	dl      *deliverer
	closed  bool
	closing bool
	queued  bool
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
// DISCONNECT came first, publishes the will. What the broker wrote and the
// hub was not given yet is dropped, as a closed socket's receive buffer is.
func (c *memConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.rx = nil
	c.closing = false
	c.releaseOut(c.out)
	c.out = nil
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

// writeFromBroker queues the broker's bytes for the hub and returns at once:
// the hub decodes and answers them on a delivery goroutine, as a real hub
// does on its own CPU after a network hop, never on the broker's goroutine
// (mochi's reader for CONNACK, SUBACK and PINGRESP, its writer for commands,
// the broker's handoff workers for PUBACK).
func (c *memConn) writeFromBroker(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed || c.rx == nil {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if c.out == nil {
		c.out = linkPool.Get().(*linkBuf)
	}
	c.out.b = append(c.out.b, p...)
	wake := !c.queued
	c.queued = true
	c.mu.Unlock()
	if wake {
		c.dl.push(c)
	}
	return len(p), nil
}

func (c *memConn) closeFromBroker() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.cond.Broadcast()
	// Closed goes through the queue too: after every byte written before.
	c.closing = true
	wake := !c.queued
	c.queued = true
	c.mu.Unlock()
	if wake {
		c.dl.push(c)
	}
	return nil
}

// deliver is the delivery goroutine's turn with c: it takes what is pending
// (a later write queues c again, behind this turn on the same goroutine, so
// order holds) and hands it to the receiver outside c.mu, since the hub's
// handling writes back on this link.
func (c *memConn) deliver() {
	c.mu.Lock()
	out, rx, closing := c.out, c.rx, c.closing
	c.out, c.closing, c.queued = nil, false, false
	if closing {
		c.rx = nil // the broker may keep the conn a while; the hub need not stay with it
	}
	c.mu.Unlock()
	if out != nil {
		if rx != nil && len(out.b) > 0 {
			rx.Deliver(out.b)
		}
		c.releaseOut(out)
	}
	if closing && rx != nil {
		rx.Closed(io.EOF)
	}
}

// releaseOut hands a delivered (or dropped) buffer back to the pool; the
// receiver keeps no reference to what Deliver gave it.
func (c *memConn) releaseOut(b *linkBuf) {
	if b != nil && cap(b.b) <= maxPooledLink {
		b.b = b.b[:0]
		linkPool.Put(b)
	}
}

// deliverer hands the broker's writes to hubs. A listener has GOMAXPROCS of
// them and gives each connection to one (round robin at dial), which keeps
// each connection's deliveries, and its Closed, in order without a goroutine
// per hub. A deliverer's queue is unbounded, so the broker never waits for
// the simulator; it holds connections, not bytes (each connection appends
// to its own pending buffer and is queued once until its turn).
//
// The goroutine runs only while the queue has work and exits when it runs
// dry: there is nothing to stop when the listener closes (its connections
// outlive it and still get their Closed), and nothing is left blocked in a
// testing/synctest bubble. Under load the queue rarely empties, so a new
// goroutine is seldom started.
type deliverer struct {
	mu      sync.Mutex
	idle    sync.Cond // broadcast when the goroutine exits (see wait)
	queue   []*memConn
	running bool
	runFn   func() // d.run, made once: "go d.run()" would allocate a closure per start
}

func (d *deliverer) push(c *memConn) {
	d.mu.Lock()
	d.queue = append(d.queue, c)
	start := !d.running
	d.running = true
	d.mu.Unlock()
	if start {
		go d.runFn()
	}
}

func (d *deliverer) run() {
	var turn []*memConn
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.queue = turn[:0] // keep the capacity for the next burst
			d.running = false
			d.idle.Broadcast()
			d.mu.Unlock()
			return
		}
		turn, d.queue = d.queue, turn[:0]
		d.mu.Unlock()
		for i, c := range turn {
			c.deliver()
			turn[i] = nil
		}
	}
}

// wait returns once the deliverer has handed over everything queued so far
// and gone idle: tests that drive a link by hand call it before looking at
// the hub.
func (d *deliverer) wait() {
	d.mu.Lock()
	for d.running {
		d.idle.Wait()
	}
	d.mu.Unlock()
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
