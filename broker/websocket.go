package broker

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// wsListener serves MQTT over WebSocket as a net.Listener: an HTTP server
// upgrades each request and hands the connection to Accept. WebSocket hubs
// thus take the same path as TCP ones (addNet): the CONNECT deadline of
// deadlineListener, the per-address limit on the remote address.
//
// mochi's own WebSocket listener is not used: it upgrades any origin, and
// gorilla clears the connection's deadlines after the handshake, so a
// socket that never sends CONNECT stayed open for good.
type wsListener struct {
	ln        net.Listener
	srv       *http.Server
	up        websocket.Upgrader
	conns     chan net.Conn
	done      chan struct{}
	serveOnce sync.Once
	closeOnce sync.Once
}

// newWSListener listens on addr. Requests must finish their handshake within
// timeout; origins are those allowed to upgrade (see Config.WSAllowedOrigins),
// and refused is called for each one refused.
func newWSListener(addr string, cfg Config, refused func()) (*wsListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &wsListener{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	allowed := originSet(cfg.WSAllowedOrigins)
	l.up = websocket.Upgrader{
		Subprotocols:     []string{"mqtt"},
		HandshakeTimeout: cfg.ConnectTimeout,
		ReadBufferSize:   cfg.ReadBufferSize,
		WriteBufferSize:  cfg.WriteBufferSize,
		CheckOrigin: func(r *http.Request) bool {
			if originAllowed(allowed, r.Header.Get("Origin")) {
				return true
			}
			refused()
			return false
		},
	}
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.upgrade),
		ReadHeaderTimeout: cfg.ConnectTimeout,
		// Only handshakes are served: a request is read in full or dropped
		// within the CONNECT deadline.
		ReadTimeout:  cfg.ConnectTimeout,
		WriteTimeout: cfg.ConnectTimeout,
		IdleTimeout:  cfg.ConnectTimeout,
		ErrorLog:     log.New(io.Discard, "", 0), // probes and scanners; refusals are counted
	}
	return l, nil
}

// originSet normalises the allowed origins for originAllowed.
func originSet(origins []string) map[string]bool {
	set := make(map[string]bool, len(origins))
	for _, o := range origins {
		if o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/")); o != "" {
			set[o] = true
		}
	}
	return set
}

// originAllowed: no Origin header (hubs are not browsers), or one on the
// list. Browsers always send Origin on a WebSocket upgrade, so a page on
// another site cannot open one without being listed.
func originAllowed(allowed map[string]bool, origin string) bool {
	return origin == "" || allowed[strings.ToLower(origin)]
}

func (l *wsListener) upgrade(w http.ResponseWriter, r *http.Request) {
	ws, err := l.up.Upgrade(w, r, nil) // answers 403 for a refused origin, 400 for a bad handshake
	if err != nil {
		return
	}
	c := &wsConn{Conn: ws.UnderlyingConn(), ws: ws}
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next upgraded connection. The HTTP server starts with
// the first call, that is when the broker starts serving.
func (l *wsListener) Accept() (net.Conn, error) {
	l.serveOnce.Do(func() { go l.srv.Serve(l.ln) })
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the HTTP server; connections already handed on belong to the
// broker.
func (l *wsListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		_ = l.srv.Close()
		_ = l.ln.Close()
	})
	return nil
}

func (l *wsListener) Addr() net.Addr { return l.ln.Addr() }

// wsConn is one WebSocket as the byte stream MQTT expects: each binary
// message carries one or more MQTT packets, or a part of one. Deadlines,
// addresses and Close are the underlying connection's.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader // the message being read, nil between messages
}

// errNotBinary: MQTT over WebSocket is carried in binary messages only.
var errNotBinary = errors.New("broker: websocket message is not binary")

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errNotBinary
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err != nil {
			c.r = nil // the end of the message, or of the connection
			if errors.Is(err, io.EOF) {
				if n == 0 {
					continue
				}
				err = nil
			}
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
