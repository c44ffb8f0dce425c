package broker

import (
	"context"
	"errors"
	"net"
	"sync"
)

// ErrListenerClosed is returned by PipeListener.Dial and Accept after Close.
var ErrListenerClosed = errors.New("broker: listener closed")

// PipeListener is an in-memory net.Listener whose connections are net.Pipe
// pairs: tests, the simulator and the 300,000-hub memory run connect through
// it without sockets, ports or file descriptors. Add it with
// (*Server).AddListener.
type PipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

// NewPipeListener returns an open PipeListener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Dial connects to the listener and returns the client end. It waits until
// the broker accepts.
func (l *PipeListener) Dial() (net.Conn, error) {
	return l.DialContext(context.Background())
}

// DialContext is Dial bounded by ctx.
func (l *PipeListener) DialContext(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrListenerClosed
}

// Accept returns the server end of the next dialled pipe.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, ErrListenerClosed
	}
}

// Close stops Accept and Dial; connections already made stay open.
func (l *PipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// Addr returns the pipe's address ("pipe").
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
