package broker

import (
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

// wsClientConn is a hub's end of MQTT over WebSocket as a net.Conn, so the
// raw client of the other tests speaks through it.
type wsClientConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader
}

func (c *wsClientConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsClientConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// dialWS opens a WebSocket to the broker's "ws" listener, with origin as
// the Origin header ("" sends none, as hubs do).
func dialWS(t *testing.T, e *env, origin string) (*wsClientConn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws://"+e.s.Addr("ws")+"/mqtt", h)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	return &wsClientConn{Conn: ws.UnderlyingConn(), ws: ws}, resp, nil
}

// A WebSocket that never sends CONNECT is closed after ConnectTimeout, as a
// TCP one is: mochi's own WebSocket listener set no deadline.
func TestWebSocketConnectDeadline(t *testing.T) {
	e := startEnv(t, Config{WSAddr: "127.0.0.1:0", ConnectTimeout: 100 * time.Millisecond})
	counter := e.s.m.refused.WithLabelValues(refuseConnectTimeout)
	before := value(counter)
	c, _, err := dialWS(t, e, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ws.NextReader()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a WebSocket that sent no CONNECT is still open after 5 s (ConnectTimeout 100 ms)")
	}
	waitFor(t, func() bool { return value(counter) == before+1 })

	// A hub that connects in time stays connected past the deadline: the
	// keepalive takes over from the CONNECT deadline.
	c, _, err = dialWS(t, e, "")
	if err != nil {
		t.Fatal(err)
	}
	hub, ack := connectRaw(t, c, connectOpts{v: 4, id: string(hubA), user: string(hubA), pass: secretA, clean: true})
	if ack.ReasonCode != packets.CodeSuccess.Code {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	// Three ConnectTimeouts without a word from the hub: still connected.
	if _, err := hub.readTimeout(300 * time.Millisecond); err != errTimeout {
		t.Fatalf("a connected hub was dropped: %v", err)
	}
	if ack := hub.subscribe(1, devices.Topic(hubA, devices.ChanCmd)); ack.FixedHeader.Type != packets.Suback {
		t.Fatalf("got %d, want SUBACK", ack.FixedHeader.Type)
	}
}

// Browsers send Origin: only the listed ones may open MQTT over WebSocket
// (a page elsewhere must not reach the broker through a visitor's browser);
// hubs send none and are let in.
func TestWebSocketOrigins(t *testing.T) {
	e := startEnv(t, Config{WSAddr: "127.0.0.1:0", WSAllowedOrigins: []string{"https://console.dolbom.example"}})
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://console.dolbom.example", true},
		{"HTTPS://Console.Dolbom.Example", true},
		{"https://evil.example", false},
		{"http://console.dolbom.example", false},
		{"null", false},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			c, resp, err := dialWS(t, e, tc.origin)
			if !tc.ok {
				if err == nil {
					t.Fatal("upgraded a WebSocket from an origin not on the list")
				}
				if resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("refusal: %v %v", resp, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hub, ack := connectRaw(t, c, connectOpts{v: 5, id: string(hubB), user: string(hubB), pass: secretB, clean: true})
			defer hub.conn.Close()
			if ack.ReasonCode != packets.CodeSuccess.Code {
				t.Fatalf("CONNACK %#x", ack.ReasonCode)
			}
		})
	}
}
