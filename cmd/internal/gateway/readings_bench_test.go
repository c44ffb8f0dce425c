package gateway

import (
	"bytes"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
	"github.com/dolbom/dolbom/store/storetest"
)

// BenchmarkReadingsPublishToPuback is the whole gateway's cost for the
// message most hubs send, without a network: the simulator's 17-reading
// minute batch (devices/testdata/sim-minute.json) published at QoS 1 over
// the in-memory listener, through the broker's hooks, decode, the readings
// journal (SQLite on disk: its writer's share is in the figures, as B/op is
// the process's) and both detector stages, until the PUBACK. One hub, one
// message in flight; the per-hub readings limit is raised, the flood of one
// hub being far beyond it. Each iteration's batch is 100 ms later than the
// last, so that the detectors see time pass.
func BenchmarkReadingsPublishToPuback(b *testing.B) {
	fixture, err := os.ReadFile("../../../devices/testdata/sim-minute.json")
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := devices.Decode(devices.Topic("bench-0000", devices.ChanReadings), bytes.TrimSpace(fixture), time.UnixMilli(1796062080000+1000))
	if err != nil {
		b.Fatal(err)
	}
	g, pipe := startInProcessBroker(b, storetest.SQLite(b), broker.Config{ReadingsRate: 1e9, ReadingsBurst: 1 << 30})
	secrets := provisionHubs(b, g, 1)
	const hub = devices.HubID("bench-0000")
	// 4,096 batches from 5 minutes ago on, 100 ms apart: all within the
	// gateway's time bounds and the current hour's rollups.
	payloads := make([][]byte, 4096)
	base := time.Now().Add(-5 * time.Minute)
	for i := range payloads {
		shift := base.Add(time.Duration(i) * 100 * time.Millisecond).Sub(tmpl.Readings.SentAt)
		rb := devices.ReadingBatch{SentAt: tmpl.Readings.SentAt.Add(shift), Readings: append([]devices.Reading(nil), tmpl.Readings.Readings...)}
		for k := range rb.Readings {
			rb.Readings[k].At = rb.Readings[k].At.Add(shift)
		}
		payloads[i] = devices.EncodeReadings(rb)
	}
	c := dialHub(b, pipe, hub, secrets[hub])
	defer c.conn.Close()
	topic := devices.Topic(hub, devices.ChanReadings)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pid := uint16(i%60000 + 1)
		c.send(b, func(buf *bytes.Buffer) error {
			return firmwaresim.AppendPublish(buf, 4, topic, payloads[i%len(payloads)], 1, pid, false, false)
		})
		if pk := c.read(b); pk.FixedHeader.Type != packets.Puback || pk.PacketID != pid {
			b.Fatalf("want PUBACK %d, got %+v", pid, pk)
		}
		i++
	}
	if i > len(payloads) {
		b.Logf("%d batches: the last %d repeat earlier times (the detectors ignore them as old)", i, i-len(payloads))
	}
}

// dialHub connects hub (a clean MQTT 3.1.1 session) over the pipe.
func dialHub(tb testing.TB, pipe *broker.PipeListener, hub devices.HubID, secret string) *rawHub {
	tb.Helper()
	conn, err := pipe.Dial()
	if err != nil {
		tb.Fatal(err)
	}
	c := &rawHub{conn: conn}
	c.send(tb, func(buf *bytes.Buffer) error {
		return firmwaresim.AppendConnect(buf, firmwaresim.ConnectOptions{Version: 4, ClientID: string(hub), Username: string(hub),
			Password: secret, Clean: true, Keepalive: 60})
	})
	if pk := c.read(tb); pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
		tb.Fatalf("connect %s: %+v", hub, pk)
	}
	return c
}

// rawHub speaks MQTT frames over a net.Conn with firmware-sim's encoders:
// cheaper than a client library, so that the figures are the gateway's.
type rawHub struct {
	conn net.Conn
	out  bytes.Buffer
	in   []byte
	tmp  [4096]byte
	// renew is when the read deadline is set again.
	renew time.Time
}

func (h *rawHub) send(tb testing.TB, frame func(*bytes.Buffer) error) {
	h.out.Reset()
	if err := frame(&h.out); err != nil {
		tb.Fatal(err)
	}
	if _, err := h.conn.Write(h.out.Bytes()); err != nil {
		tb.Fatal(err)
	}
}

func (h *rawHub) read(tb testing.TB) packets.Packet {
	for {
		if n, fh, err := firmwaresim.SplitFrame(h.in); err == nil && n > 0 {
			pk, err := firmwaresim.DecodeFrame(h.in[:n], fh, 4)
			if err != nil {
				tb.Fatal(err)
			}
			h.in = h.in[:copy(h.in, h.in[n:])]
			return pk
		}
		// One deadline per second, not per read: a net.Pipe deadline
		// allocates a timer each time it is set (a TCP one does not), which
		// B/op would count as the gateway's.
		if now := time.Now(); now.After(h.renew) {
			h.conn.SetReadDeadline(now.Add(10 * time.Second))
			h.renew = now.Add(time.Second)
		}
		n, err := h.conn.Read(h.tmp[:])
		if err != nil {
			tb.Fatal(err)
		}
		h.in = append(h.in, h.tmp[:n]...)
	}
}
