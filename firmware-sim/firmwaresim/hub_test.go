package firmwaresim

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/devices"
)

// heldBatches returns the readings PUBLISHes among pks by packet id.
func heldBatches(pks []packets.Packet) map[uint16]packets.Packet {
	out := map[uint16]packets.Packet{}
	for _, pk := range pks {
		if _, ch, err := devices.ParseTopic(pk.TopicName); err == nil && ch == devices.ChanReadings {
			out[pk.PacketID] = pk
		}
	}
	return out
}

// publishMinutes has the hub publish n minutes of readings at once (well
// within the 30 s PUBACK timeout) and the broker's side read them.
func publishMinutes(t *testing.T, h *Hub, m *memBroker, wall time.Time, n int) {
	t.Helper()
	for i := range n {
		minute := wall.Truncate(time.Minute).Add(time.Duration(i) * time.Minute)
		h.PublishReadings(minute.Add(time.Minute), h.Home.Readings(nil, minute))
		m.drain(t)
	}
}

// churnPayloads takes pooled payload buffers, overwrites them and puts them
// back, as other hubs' batches would meanwhile: a payload released before
// its PUBACK would be overwritten.
func churnPayloads() {
	var held []*payloadBuf
	for range 8 {
		pb := getPayload()
		pb.b = append(pb.b[:0], bytes.Repeat([]byte("x"), 1500)...)
		held = append(held, pb)
	}
	for _, pb := range held {
		putPayload(pb, pb.b)
	}
}

// TestUnackedBatchResentIntactAfterReconnect: a readings batch whose PUBACK
// never came is resent after the reconnect with DUP, its packet id and the
// very bytes first sent, although pooled payload buffers were reused in
// between; once acknowledged, nothing is left in flight.
func TestUnackedBatchResentIntactAfterReconnect(t *testing.T) {
	wall := time.Now()
	h, m := connectedHub(t, wall)
	m.hold, m.capture = true, true
	publishMinutes(t, h, m, wall, 3)
	now := wall.UnixNano()
	first := heldBatches(m.published)
	if len(first) < 3 {
		t.Fatalf("%d batches sent, want 3", len(first))
	}
	churnPayloads()

	m.close() // the gateway ends the link
	h.mu.Lock()
	retry := h.retryAt
	h.mu.Unlock()
	now = max(now, retry) + 1
	m2 := dialHub(t, h, h.fleet.opts.Transport.(*MemListener), now, &memBroker{capture: true})
	again := heldBatches(m2.published)
	for pid, pk := range first {
		re, ok := again[pid]
		switch {
		case !ok:
			t.Errorf("batch %d not resent", pid)
		case !re.FixedHeader.Dup:
			t.Errorf("batch %d resent without DUP", pid)
		case !bytes.Equal(re.Payload, pk.Payload):
			t.Errorf("batch %d resent with other bytes:\n got %s\nwant %s", pid, re.Payload, pk.Payload)
		}
	}
	if q, inflight := h.Backlog(); q != 0 || inflight != 0 {
		t.Errorf("backlog %d queued, %d in flight after every PUBACK", q, inflight)
	}
}

// failingLink accepts writes until the failAt-th.
type failingLink struct{ writes, failAt int }

func (l *failingLink) Write([]byte) error {
	l.writes++
	if l.writes >= l.failAt {
		return ErrLinkClosed
	}
	return nil
}

func (l *failingLink) Close() error { return nil }

// TestResendCutShortKeepsMessagesInFlight: when the link fails while the
// hub resends after a reconnect, the messages not yet resent stay in flight
// for the next connection instead of being lost.
func TestResendCutShortKeepsMessagesInFlight(t *testing.T) {
	wall := time.Now()
	h, m := connectedHub(t, wall)
	m.hold = true
	publishMinutes(t, h, m, wall, 3)
	now := wall.UnixNano()
	_, want := h.Backlog()
	if want < 3 {
		t.Fatalf("%d messages in flight, want at least 3", want)
	}
	m.close()
	h.mu.Lock()
	now = max(now, h.retryAt) + 1
	h.mu.Unlock()
	h.tick(now) // dialling
	h.fleet.slots <- struct{}{}
	// CONNECT, then SUBSCRIBE and status, then the first resend fails.
	h.connected(h.rx.gen, &failingLink{failAt: 3}, nil)
	h.rx.Deliver([]byte{packets.Connack << 4, 2, 0, 0})
	if h.Online() {
		t.Fatal("hub online on a failed link")
	}
	if _, inflight := h.Backlog(); inflight != want {
		t.Errorf("%d messages in flight after the failed resend, want %d", inflight, want)
	}
}

// TestMemConnPooledBuffer: the broker reads exactly what the hub wrote, in
// order, across partial reads and writes in between, and an idle link holds
// no buffer once everything is read.
func TestMemConnPooledBuffer(t *testing.T) {
	c := &memConn{}
	c.cond.L = &c.mu
	steps := []struct {
		write string // written by the hub first, if any
		read  int    // then the broker reads up to this many bytes
		want  string
	}{
		{"abc", 2, "ab"},
		{"def", 10, "cdef"},
		{"", 0, ""},
		{"x", 1, "x"},
		{string(bytes.Repeat([]byte("y"), 5000)), 5000, string(bytes.Repeat([]byte("y"), 5000))},
	}
	for i, s := range steps {
		if s.write != "" {
			if err := c.Write([]byte(s.write)); err != nil {
				t.Fatal(err)
			}
		}
		if s.read == 0 {
			continue
		}
		p := make([]byte, s.read)
		n, err := c.Read(p)
		if err != nil || string(p[:n]) != s.want {
			t.Errorf("step %d: read %q, %v; want %q", i, p[:n], err, s.want)
		}
	}
	c.mu.Lock()
	held := c.inBuf != nil || c.in != nil
	c.mu.Unlock()
	if held {
		t.Error("a drained link still holds its buffer")
	}
	c.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after close: %v, want EOF", err)
	}
}
