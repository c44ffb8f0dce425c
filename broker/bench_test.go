package broker

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/memowner"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// noopJournal takes everything at once: the benchmarks measure the broker.
type noopJournal struct{}

func (noopJournal) AppendEvent(context.Context, *devices.Event) (bool, error)   { return true, nil }
func (noopJournal) AppendReadings(context.Context, *devices.ReadingBatch) error { return nil }
func (noopJournal) AppendAccel(context.Context, *devices.AccelChunk) error      { return nil }
func (noopIngester) Ingest(*devices.Message)                                    {}
func (noopIngester) Connection(devices.ConnectionEvent)                         {}
func (f dirFunc) HubCredential(ctx context.Context, h devices.HubID) (devices.HubCredential, error) {
	return f(ctx, h)
}

type noopIngester struct{}

type dirFunc func(context.Context, devices.HubID) (devices.HubCredential, error)

// startBench runs a broker with no-op ports; every hub's secret is "s",
// hashed with cheap parameters so that connecting 300,000 hubs measures the
// broker, not argon2id.
func startBench(b testing.TB, cfg Config) (*Server, *PipeListener, func()) {
	b.Helper()
	return startBenchOn(b, cfg, handoffPath)
}

// startBenchOn is startBench with publishes handled on the given path.
func startBenchOn(b testing.TB, cfg Config, path publishPath) (*Server, *PipeListener, func()) {
	b.Helper()
	hash := devices.HashSecret("s", devices.SecretParams{Time: 1, Memory: 8, Threads: 1})
	dir := dirFunc(func(_ context.Context, h devices.HubID) (devices.HubCredential, error) {
		return devices.HubCredential{Hub: h, SecretHash: hash}, nil
	})
	cfg.TCPAddr = ListenerOff
	s, err := New(cfg, noopJournal{}, noopIngester{}, dir, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	s.direct = path.direct
	pl, cancel, done := servePiped(b, s)
	return s, pl, func() { cancel(); <-done }
}

// BenchmarkPublishToPuback is one hub publishing an SOS event at QoS 1 and
// waiting for its PUBACK, over the pipe listener, with a journal that
// returns at once: the broker's own cost per acknowledged event.
func BenchmarkPublishToPuback(b *testing.B) {
	for _, path := range bothPaths {
		for _, v := range []byte{4, 5} {
			b.Run("path="+path.name+"/mqtt="+strconv.Itoa(int(v)), func(b *testing.B) {
				publishToPuback(b, Config{EventsRate: 1e9, EventsBurst: 1 << 30}, path, v, devices.ChanEvents, eventPayload("sos-1", devices.EventSOS))
			})
		}
	}
}

// publishToPuback publishes payload on the channel at QoS 1, over and over,
// each time waiting for the PUBACK: one hub over the pipe listener.
func publishToPuback(b *testing.B, cfg Config, path publishPath, v byte, ch devices.Channel, payload []byte) {
	_, pl, stop := startBenchOn(b, cfg, path)
	defer stop()
	conn, err := pl.Dial()
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c, ack := connectRaw(b, conn, connectOpts{v: v, id: "hub-bench", user: "hub-bench", pass: "s", clean: true})
	if ack.ReasonCode != 0 {
		b.Fatalf("connect: %#x", ack.ReasonCode)
	}
	topic := devices.Topic("hub-bench", ch)
	id := uint16(0)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		id = id%60000 + 1
		c.publish(topic, payload, 1, id)
		if pk, err := c.readTimeout(5 * time.Second); err != nil || pk.FixedHeader.Type != packets.Puback || pk.ReasonCode >= 0x80 {
			b.Fatalf("no PUBACK: %v %+v", err, pk)
		}
	}
	// The process's CPU (broker and client) per message: on a shared
	// machine, steadier than the round trip's wall time.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu_ns/op")
}

// BenchmarkIdleHubs connects N hubs over the pipe listener (raw CONNECT with
// a persistent session, SUBSCRIBE to cmd and rejects, like a hub), leaves
// them idle, and reports the gateway's memory per hub and the CPU it spends
// while nothing happens (housekeeping). N is 20,000 unless BROKER_IDLE_HUBS
// says otherwise (the 300,000 figure: BROKER_IDLE_HUBS=300000).
//
// The hub side holds only its end of each net.Pipe (no goroutine); the cost
// of the pipe pairs themselves is reported separately as pipe_B/hub.
func BenchmarkIdleHubs(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("BROKER_IDLE_HUBS")); err == nil && v > 0 {
		n = v
	}
	b.Run(fmt.Sprintf("hubs=%d", n), func(b *testing.B) {
		for b.Loop() {
			idleHubs(b, n)
		}
	})
}

func idleHubs(b *testing.B, n int) {
	pipeCost := pipePairCost(n)
	// A sample per 4 KiB allocated: exact enough for ~100 B per-hub objects
	// (the owner table), cheap enough for 300,000 hubs.
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 4 << 10
	s, pl, stop := startBench(b, Config{VerifyWorkers: runtime.GOMAXPROCS(0)})
	defer stop()
	base := footprint()
	baseOwners := memowner.Take()
	conns := make([]net.Conn, 0, n)
	for i := range n {
		conn, err := pl.Dial()
		if err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprintf("hub-%06d", i)
		c, ack := connectIdle(b, conn, id)
		if ack != 0 {
			b.Fatalf("connect %s: %#x", id, ack)
		}
		_ = c
		conns = append(conns, conn)
	}
	// The CONNACK is written a moment before the hub counts as connected.
	for deadline := time.Now().Add(10 * time.Second); s.Connected() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if s.Connected() != n {
		b.Fatalf("connected %d of %d", s.Connected(), n)
	}
	after := footprint()
	perHub := float64(after.total-base.total) / float64(n)
	b.ReportMetric(perHub, "B/hub")
	b.ReportMetric(float64(after.heap-base.heap)/float64(n), "heap_B/hub")
	b.ReportMetric(float64(after.stack-base.stack)/float64(n), "stack_B/hub")
	b.ReportMetric(float64(after.goroutines-base.goroutines)/float64(n), "goroutines/hub")
	b.ReportMetric(pipeCost, "pipe_B/hub")
	// The heap by owner (the pipes and the hubs' side counted apart), and
	// the stacks, which the heap profile does not see.
	owners := memowner.Take().Minus(baseOwners)
	var table strings.Builder
	owners.Write(&table, n)
	b.Logf("gateway memory per idle hub by owner, %d hubs:\n%s", n, table.String())
	b.ReportMetric(float64(owners.Bytes(memowner.Mochi))/float64(n), "mochi_heap_B/hub")
	b.ReportMetric(float64(owners.Bytes(memowner.Broker)+owners.Bytes(memowner.Credentials))/float64(n), "broker_heap_B/hub")
	b.ReportMetric(float64(owners.Bytes(memowner.Goroutines))/float64(n), "goroutine_records_B/hub")

	// Housekeeping: CPU used by the whole process while every hub is idle.
	const window = 10 * time.Second
	cpu0 := cpuTime()
	time.Sleep(window)
	used := cpuTime() - cpu0
	b.ReportMetric(100*used.Seconds()/window.Seconds(), "idle_cpu_%")

	for _, c := range conns {
		c.Close()
	}
}

// connectIdle does what a hub does on connecting (docs/protocol.md 2.3:
// CONNECT with its will, SUBSCRIBE, the retained online status)
// synchronously and starts no goroutine, so the hub side costs only its
// pipe end and its reader.
func connectIdle(b *testing.B, conn net.Conn, id string) (*rawClient, byte) {
	hub := devices.HubID(id)
	status := devices.Topic(hub, devices.ChanStatus)
	c, ack := connectSync(b, conn, connectOpts{v: 4, id: id, user: id, pass: "s", will: status})
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{
			{Filter: devices.Topic(hub, devices.ChanCmd), Qos: 1},
			{Filter: devices.Topic(hub, devices.ChanRejects), Qos: 0},
		}})
	pk, err := c.read()
	if err != nil || pk.FixedHeader.Type != packets.Suback {
		b.Fatalf("suback: %v", err)
	}
	online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now(), Firmware: "2.4.1", Model: "DBH-200"})
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, TopicName: status, Payload: online, PacketID: 2})
	if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Puback {
		b.Fatalf("status puback: %v", err)
	}
	return c, ack.ReasonCode
}

type mem struct {
	heap, stack, total uint64
	goroutines         int
}

func footprint() mem {
	// Several cycles: each may halve a goroutine stack that grew during the
	// connect and is mostly unused now.
	for range 5 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return mem{heap: m.HeapInuse, stack: m.StackInuse, total: m.HeapInuse + m.StackInuse, goroutines: runtime.NumGoroutine()}
}

// pipePairCost is the memory of n bare net.Pipe pairs, the part of the
// in-memory run that a real TCP socket would keep in the kernel instead.
func pipePairCost(n int) float64 {
	base := footprint()
	pairs := make([][2]net.Conn, n)
	for i := range pairs {
		a, b := net.Pipe()
		pairs[i] = [2]net.Conn{a, b}
	}
	after := footprint()
	for _, p := range pairs {
		p[0].Close()
		p[1].Close()
	}
	return float64(after.total-base.total) / float64(n)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
