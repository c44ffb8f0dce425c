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
// (status_; mochi's processPublish, on the hub's worker). Whether a collection shrinks
// the stacks depends on GODEBUG=gcshrinkstackoff
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

	clients := make([]*rawClient, n)
	conns := make([]net.Conn, n)
	for i := range n {
		conn, err := pl.Dial()
		if err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprintf("hub-%06d", i)
		c, ack := connectSync(b, conn, connectOpts{v: 4, id: id, user: id, pass: "s"})
		if ack.ReasonCode != 0 {
			b.Fatalf("connect %s: %#x", id, ack.ReasonCode)
		}
		clients[i], conns[i] = c, conn
	}
	waitConnected(b, s, n)
	b.ReportMetric(perHub(), "connect_stack_B/hub")

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
	online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now()})
	for i, c := range clients {
		hub := devices.HubID(fmt.Sprintf("hub-%06d", i))
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
			TopicName: devices.Topic(hub, devices.ChanStatus), Payload: online, PacketID: 4})
		if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Puback {
			b.Fatalf("puback: %v", err)
		}
	}
	b.ReportMetric(perHub(), "status_stack_B/hub")
	for _, c := range conns {
		c.Close()
	}
}

func stackInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}
