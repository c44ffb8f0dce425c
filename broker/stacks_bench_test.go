package broker

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

// BenchmarkHubStacks measures what each hub's goroutines hold in stacks
// (runtime.MemStats.StackInuse, per hub) at each step of a hub's life, on
// both publish paths: N hubs (2,000 unless BROKER_STACK_HUBS says otherwise)
// connect over the pipe listener with raw frames (the hub side has no
// goroutine: connect_stack_B/hub), then subscribe to cmd and rejects
// (subscribe_), then the runtime collects twice (subscribe_gc_), then every
// hub publishes a readings batch and an SOS at QoS 1 (publish_), and the
// runtime collects twice again (publish_gc_); then each hub sends a PINGREQ
// (ping_; on the read goroutine) and publishes its retained status
// (status_; mochi's processPublish, on the hub's worker); then every hub
// disconnects and connects again with its session kept, subscribes and
// sends its status (reconnect_gc_, after two collections). Whether a collection shrinks
// the stacks, and how big new goroutines start, depend on
// GODEBUG=gcshrinkstackoff and adaptivestackstart
// (cmd/internal/memlimit/stacks.go): run it both ways. Run one path per
// process (-bench 'HubStacks/path=handoff'): stacks freed by one run are
// reused by the next.
func BenchmarkHubStacks(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("BROKER_STACK_HUBS")); err == nil && v > 0 {
		n = v
	}
	for _, path := range bothPaths {
		b.Run(fmt.Sprintf("path=%s/hubs=%d", path.name, n), func(b *testing.B) {
			for b.Loop() {
				hubStacks(b, n, path)
			}
		})
	}
}

func hubStacks(b *testing.B, n int, path publishPath) {
	s, pl, stop := startBenchOn(b, Config{VerifyWorkers: runtime.GOMAXPROCS(0)}, path)
	defer stop()
	runtime.GC()
	runtime.GC()
	base := stackInuse()
	perHub := func() float64 { return float64(stackInuse()-base) / float64(n) }

	clients, conns := connectHubs(b, s, pl, n, false)
	b.ReportMetric(perHub(), "connect_stack_B/hub")

	subscribeHubs(b, clients)
	b.ReportMetric(perHub(), "subscribe_stack_B/hub")
	runtime.GC()
	runtime.GC()
	b.ReportMetric(perHub(), "subscribe_gc_stack_B/hub")

	readings, sos := readingsPayload(), eventPayload("sos-1", devices.EventSOS)
	for i, c := range clients {
		hub := devices.HubID(fmt.Sprintf("hub-%06d", i))
		// One at a time: net.Pipe has no buffer, and mochi's path writes
		// the PUBACK on the goroutine that would read the next publish.
		for j, m := range []struct {
			ch      devices.Channel
			payload []byte
		}{{devices.ChanReadings, readings}, {devices.ChanEvents, sos}} {
			c.publish(devices.Topic(hub, m.ch), m.payload, 1, uint16(2+j))
			if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Puback {
				b.Fatalf("puback: %v", err)
			}
		}
	}
	b.ReportMetric(perHub(), "publish_stack_B/hub")
	b.ReportMetric(float64(s.pool.workers.Load()), "handoff_workers")

	runtime.GC()
	runtime.GC()
	b.ReportMetric(perHub(), "publish_gc_stack_B/hub")

	// What stays on mochi's path and comes again while a hub is connected:
	// PINGREQ (hubs with nothing to send), and the retained online status
	// (after set_heartbeat).
	for _, c := range clients {
		c.ping()
		if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Pingresp {
			b.Fatalf("pingresp: %v", err)
		}
	}
	b.ReportMetric(perHub(), "ping_stack_B/hub")
	statusHubs(b, clients)
	b.ReportMetric(perHub(), "status_stack_B/hub")

	// A reconnect wave (a restart, a regional power cut): every hub comes
	// back with its session kept (mochi inherits it: SessionPresent),
	// subscribes and sends its status again. Its two goroutines are new,
	// started after collections that saw every hub's read goroutine at
	// 16 KiB: how big they start is the runtime's choice (GODEBUG
	// adaptivestackstart; cmd/internal/memlimit turns it off). No collection
	// between the old goroutines' end and the new ones' start, as in a
	// restart's wave.
	for _, c := range conns {
		c.Close()
	}
	waitConnected(b, s, 0)
	clients, conns = connectHubs(b, s, pl, n, true)
	subscribeHubs(b, clients)
	statusHubs(b, clients)
	runtime.GC()
	runtime.GC()
	b.ReportMetric(perHub(), "reconnect_gc_stack_B/hub")
	for _, c := range conns {
		c.Close()
	}
}

// connectHubs connects n hubs (hub-000000 ...) and waits until the broker
// counts them; sessionPresent is what each CONNACK must say.
func connectHubs(b *testing.B, s *Server, pl *PipeListener, n int, sessionPresent bool) ([]*rawClient, []net.Conn) {
	clients := make([]*rawClient, n)
	conns := make([]net.Conn, n)
	for i := range n {
		conn, err := pl.Dial()
		if err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprintf("hub-%06d", i)
		c, ack := connectSync(b, conn, connectOpts{v: 4, id: id, user: id, pass: "s"})
		if ack.ReasonCode != 0 || ack.SessionPresent != sessionPresent {
			b.Fatalf("connect %s: %#x, session present %v, want %v", id, ack.ReasonCode, ack.SessionPresent, sessionPresent)
		}
		clients[i], conns[i] = c, conn
	}
	waitConnected(b, s, n)
	return clients, conns
}

// subscribeHubs subscribes each hub to its cmd and rejects.
func subscribeHubs(b *testing.B, clients []*rawClient) {
	for i, c := range clients {
		hub := devices.HubID(fmt.Sprintf("hub-%06d", i))
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
			Filters: packets.Subscriptions{
				{Filter: devices.Topic(hub, devices.ChanCmd), Qos: 1},
				{Filter: devices.Topic(hub, devices.ChanRejects), Qos: 1},
			}})
		if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Suback {
			b.Fatalf("suback: %v", err)
		}
	}
}

// statusHubs has each hub publish its retained online status.
func statusHubs(b *testing.B, clients []*rawClient) {
	online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now()})
	for i, c := range clients {
		hub := devices.HubID(fmt.Sprintf("hub-%06d", i))
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
			TopicName: devices.Topic(hub, devices.ChanStatus), Payload: online, PacketID: 4})
		if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Puback {
			b.Fatalf("puback: %v", err)
		}
	}
}

func stackInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}
