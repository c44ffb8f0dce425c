package firmwaresim

import (
	"context"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// memBroker is the broker's end of one in-memory link, driven by hand: it
// reads what the hub wrote and acknowledges each QoS 1 PUBLISH, the way
// mochi's reader would, without allocating itself, so that a benchmark
// counts only what the simulator and its link allocate.
type memBroker struct {
	conn    brokerConn
	rbuf    []byte // what was read and not yet parsed
	scratch [1024]byte
	out     []byte
	msgs    int // PUBLISH frames seen
	// Tests: hold leaves QoS 1 PUBLISHes unacknowledged; capture keeps a
	// copy of each PUBLISH.
	hold, capture bool
	published     []packets.Packet
}

// drain reads everything the hub has written so far and answers it.
func (m *memBroker) drain(tb testing.TB) {
	for {
		m.conn.c.mu.Lock()
		avail := len(m.conn.c.in) - m.conn.c.off
		m.conn.c.mu.Unlock()
		if avail == 0 {
			return
		}
		// The size of mochi's default read buffer (broker.Config).
		n, err := m.conn.Read(m.scratch[:])
		if err != nil {
			tb.Fatal(err)
		}
		m.rbuf = append(m.rbuf, m.scratch[:n]...)
		p := m.rbuf
		m.out = m.out[:0]
		for {
			n, fh, err := SplitFrame(p)
			if err != nil {
				tb.Fatal(err)
			}
			if n == 0 {
				break
			}
			body := p[n-fh.Remaining : n]
			switch fh.Type {
			case packets.Connect:
				m.out = append(m.out, packets.Connack<<4, 2, 0, 0)
			case packets.Subscribe:
				m.out = append(m.out, packets.Suback<<4, 4, body[0], body[1], 1, 1)
			case packets.Publish:
				m.msgs++
				if m.capture {
					pk, err := DecodeFrame(append([]byte(nil), p[:n]...), fh, 4)
					if err != nil {
						tb.Fatal(err)
					}
					m.published = append(m.published, pk)
				}
				if fh.Qos > 0 && !m.hold {
					tl := int(body[0])<<8 | int(body[1])
					m.out = append(m.out, packets.Puback<<4, 2, body[2+tl], body[3+tl])
				}
			case packets.Pingreq:
				m.out = append(m.out, packets.Pingresp<<4, 0)
			}
			p = p[n:]
		}
		m.rbuf = append(m.rbuf[:0], p...)
		if len(m.out) > 0 {
			if _, err := m.conn.Write(m.out); err != nil {
				tb.Fatal(err)
			}
			m.conn.c.dl.wait() // the hub has handled it
		}
	}
}

// close ends the link from the broker's side, once the hub has been told.
func (m *memBroker) close() {
	m.conn.Close()
	m.conn.c.dl.wait()
}

// connectedHub returns a hub online over a MemListener link whose broker
// side the caller drives, with no scheduler or dialer running: the caller
// ticks the hub at wall times of its choosing. Simulated time runs at wall
// speed from 30 days back, so a tick a minute later is a minute of the
// resident's day.
func connectedHub(tb testing.TB, wall time.Time) (*Hub, *memBroker) {
	tb.Helper()
	l := NewMemListener()
	f := NewFleet(Options{Transport: l, Seed: 1, Clock: Clock{WallStart: wall, SimStart: wall.Add(-30 * 24 * time.Hour), Speed: 1}})
	h := f.Add("sim-0000001", "secret", 1)
	h.state = stOffline
	h.retryAt = 0
	return h, dialHub(tb, h, l, wall.UnixNano(), &memBroker{})
}

// dialHub connects an offline hub whose retry time has come, by hand, with
// m (its options set) as the broker's side of the new link.
func dialHub(tb testing.TB, h *Hub, l *MemListener, now int64, m *memBroker) *memBroker {
	tb.Helper()
	f := h.fleet
	h.tick(now) // dialling
	if h.state != stDialing {
		tb.Fatalf("hub state %d after its retry time, want dialling", h.state)
	}
	accepted := make(chan brokerConn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c.(brokerConn)
	}()
	link, err := l.Dial(context.Background(), h.rx)
	if err != nil {
		tb.Fatal(err)
	}
	f.slots <- struct{}{} // the token a dialer would have taken
	h.connected(h.rx.gen, link, nil)
	m.conn = <-accepted
	m.drain(tb) // CONNECT -> CONNACK -> SUBSCRIBE and status -> acks
	m.drain(tb)
	if !h.Online() {
		tb.Fatal("hub not online")
	}
	return m
}

// BenchmarkHubMinute is one home's minute over the in-memory link: the hub
// generates and sends the minute's readings batch (and its events, a
// heartbeat every 5 minutes), and the broker's side reads it and answers
// PUBACK, which releases the message. Allocations per op are what a
// simulated home adds to the shared garbage collector per minute in a
// one-process load run; msgs/op says how many messages that was.
func BenchmarkHubMinute(b *testing.B) {
	wall := time.Now()
	h, m := connectedHub(b, wall)
	now := wall.UnixNano()
	// Warm up: the first ticks plan the day and size the pools.
	for range 3 {
		now += int64(time.Minute)
		h.tick(now)
		m.drain(b)
	}
	m.msgs = 0
	ops := 0
	b.ReportAllocs()
	for b.Loop() {
		now += int64(time.Minute)
		h.tick(now)
		m.drain(b)
		ops++
	}
	b.ReportMetric(float64(m.msgs)/float64(ops), "msgs/op")
	if q, inflight := h.Backlog(); q != 0 || inflight != 0 {
		b.Fatalf("backlog %d queued %d in flight: the broker side did not ack everything", q, inflight)
	}
}
