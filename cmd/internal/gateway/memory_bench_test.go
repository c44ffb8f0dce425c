package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
	"github.com/dolbom/dolbom/internal/memowner"
	"github.com/dolbom/dolbom/store"
)

// BenchmarkGatewayMemoryPerHub is issue 14's "memory per hub by owner" of a
// whole gateway (embedded store): N hubs connect over the in-memory
// listener as the protocol says (CONNECT with a will, SUBSCRIBE, the
// retained online status), each sends one readings batch from the
// simulator's thirteen sensors, and stay connected. It logs the live heap
// by owner and the goroutine stacks per hub, and reports the main owners.
// N is 5,000 unless GATEWAY_MEMORY_HUBS says otherwise:
//
//	GATEWAY_MEMORY_HUBS=20000 go test -run '^$' -bench GatewayMemoryPerHub -benchtime 1x ./cmd/internal/gateway/
//
// GATEWAY_MEMORY_PROFILE=FILE also writes the heap profile at that moment
// (go tool pprof -sample_index=inuse_space -top FILE: by function).
//
// dolbomd keeps stacks at the size they grew to (GODEBUG=gcshrinkstackoff=1,
// cmd/internal/memlimit/stacks.go); a test binary shrinks them, so run it
// with GODEBUG=gcshrinkstackoff=1 for the stacks dolbomd holds.
//
// The hubs' side keeps only its pipe end (no goroutine), counted apart as
// in-memory links, which TCP would keep in the kernel.
func BenchmarkGatewayMemoryPerHub(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("GATEWAY_MEMORY_HUBS")); err == nil && v > 0 {
		n = v
	}
	b.Run(fmt.Sprintf("hubs=%d", n), func(b *testing.B) {
		for b.Loop() {
			gatewayMemoryPerHub(b, n)
		}
	})
}

func gatewayMemoryPerHub(b *testing.B, n int) {
	// A sample per 4 KiB allocated: exact enough for the ~100 B objects
	// kept per hub.
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 4 << 10
	g, pipe := startInProcess(b, store.Config{})
	secrets := provisionHubs(b, g, n)
	base := memowner.Take()
	baseScan := scannableHeap()
	conns := make([]net.Conn, 0, n)
	for hub, secret := range secrets {
		conn, err := pipe.Dial()
		if err != nil {
			b.Fatal(err)
		}
		connectLikeAHub(b, conn, hub, secret)
		conns = append(conns, conn)
	}
	for deadline := time.Now().Add(time.Minute); g.Health.Stats().HubsOnline < int64(n); {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d hubs online", g.Health.Stats().HubsOnline, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the detectors' and the store's queues drain
	t := memowner.Take().Minus(base)
	scan := scannableHeap() - baseScan
	if path := os.Getenv("GATEWAY_MEMORY_PROFILE"); path != "" {
		writeHeapProfile(b, path) // by function and type: go tool pprof -sample_index=inuse_space -top
	}
	var table strings.Builder
	t.Write(&table, n)
	b.Logf("gateway memory per connected hub by owner, %d hubs:\n%s", n, table.String())
	per := func(owners ...string) float64 {
		var sum int64
		for _, o := range owners {
			sum += t.Bytes(o)
		}
		return float64(sum) / float64(n)
	}
	b.ReportMetric(float64(t.HeapBytes)/float64(n), "heap_B/hub")
	b.ReportMetric(float64(t.StackBytes)/float64(n), "stack_B/hub")
	// What the collector has to scan per hub (the heap's pointerful part,
	// the marking cost), beside heap_B/hub (what it keeps).
	b.ReportMetric(float64(scan)/float64(n), "scan_B/hub")
	b.ReportMetric(per(memowner.Mochi), "mochi_B/hub")
	b.ReportMetric(per(memowner.Broker, memowner.Credentials), "broker_B/hub")
	b.ReportMetric(per(memowner.Engine, memowner.Health), "detectors_B/hub")
	b.ReportMetric(per(memowner.Store), "store_B/hub")
	b.ReportMetric(per(memowner.Goroutines), "goroutine_records_B/hub")
	for _, c := range conns {
		c.Close()
	}
}

// scannableHeap is the runtime's count of heap bytes that may hold
// pointers (the part of the heap a collection scans), as of the last
// collection (memowner.Take has just run two).
func scannableHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// writeHeapProfile writes the heap profile as of the measurement (Take has
// just collected), with the hubs still connected.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// connectLikeAHub does a hub's connect (docs/protocol.md 2.3) and sends one
// readings batch, synchronously, leaving nothing behind on the hub's side
// but the connection.
func connectLikeAHub(b *testing.B, conn net.Conn, hub devices.HubID, secret string) {
	now := time.Now()
	status := devices.Topic(hub, devices.ChanStatus)
	var buf bytes.Buffer
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(firmwaresim.AppendConnect(&buf, firmwaresim.ConnectOptions{Version: 4, ClientID: string(hub), Username: string(hub),
		Password: secret, Keepalive: 600, WillTopic: status, WillPayload: devices.EncodeStatus(devices.Status{State: devices.HubOffline})}))
	must(firmwaresim.AppendSubscribe(&buf, 4, 1, devices.Topic(hub, devices.ChanCmd), devices.Topic(hub, devices.ChanRejects)))
	must(firmwaresim.AppendPublish(&buf, 4, status, devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: now,
		Firmware: "2.4.1", Model: "DBH-200"}), 1, 2, false, true))
	must(firmwaresim.AppendPublish(&buf, 4, devices.Topic(hub, devices.ChanReadings), thirteenSensorBatch(now), 1, 3, false, false))
	r := bufio.NewReaderSize(conn, 64)
	go func() { _, _ = conn.Write(buf.Bytes()) }() // net.Pipe: the writes wait for the gateway's reads
	for _, want := range []byte{packets.Connack, packets.Suback, packets.Puback, packets.Puback} {
		typ, body, err := readFrame(r)
		if err != nil || typ != want {
			b.Fatalf("%s: packet type %d (%v) %q, want %d", hub, typ, err, body, want)
		}
	}
}

// thirteenSensorBatch is one reading from each sensor of the simulator's
// home (firmware-sim/home.go).
func thirteenSensorBatch(now time.Time) []byte {
	r := func(s devices.SensorID, m devices.Metric, v float64) devices.Reading {
		q := float32(-1)
		if m == devices.MetricRespiration || m == devices.MetricHeartRate {
			q = 0.8 // vital signs carry their signal quality
		}
		return devices.Reading{Sensor: s, Metric: m, At: now, Value: v, Quality: q}
	}
	return devices.EncodeReadings(devices.ReadingBatch{SentAt: now, Readings: []devices.Reading{
		r(firmwaresim.SensorKitchenSmoke, devices.MetricSmoke, 0.1), r(firmwaresim.SensorKitchenSmoke, devices.MetricTemperature, 23),
		r(firmwaresim.SensorHallSmoke, devices.MetricSmoke, 0.1), r(firmwaresim.SensorKitchenHeat, devices.MetricTemperature, 23),
		r(firmwaresim.SensorCO, devices.MetricCO, 1), r(firmwaresim.SensorMotionLiving, devices.MetricMotion, 0),
		r(firmwaresim.SensorMotionKitchen, devices.MetricMotion, 0), r(firmwaresim.SensorMotionBedroom, devices.MetricMotion, 1),
		r(firmwaresim.SensorMotionBath, devices.MetricMotion, 0), r(firmwaresim.SensorDoor, devices.MetricDoor, 0),
		r(firmwaresim.SensorRadar, devices.MetricPresence, 1), r(firmwaresim.SensorRadar, devices.MetricRespiration, 14),
		r(firmwaresim.SensorWearable, devices.MetricBattery, 80), r(firmwaresim.SensorPendant, devices.MetricBattery, 80),
		r(firmwaresim.SensorHub, devices.MetricBattery, 100),
	}})
}

// readFrame reads one MQTT packet and returns its type and body.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	size, shift := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		size |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, size)
	_, err = io.ReadFull(r, body)
	return first >> 4, body, err
}
