package broker

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

// BenchmarkReadingsToPuback is BenchmarkPublishToPuback for the message most
// hubs send: a minute's readings batch (20 readings) at QoS 1, with a
// journal that takes it at once. Its allocations per op are the broker's
// garbage per batch plus the benchmark client's.
func BenchmarkReadingsToPuback(b *testing.B) {
	now := time.Now()
	rs := make([]devices.Reading, 0, 20)
	for i := range 20 {
		rs = append(rs, devices.Reading{Sensor: "kitchen-heat", Metric: devices.MetricTemperature,
			At: now.Add(time.Duration(i) * time.Second), Value: 21.5 + float64(i)/10, Quality: -1})
	}
	payload := devices.EncodeReadings(devices.ReadingBatch{SentAt: now, Readings: rs})
	for _, path := range bothPaths {
		for _, v := range []byte{4, 5} {
			b.Run("path="+path.name+"/mqtt="+strconv.Itoa(int(v)), func(b *testing.B) {
				publishToPuback(b, Config{ReadingsRate: 1e9, ReadingsBurst: 1 << 30}, path, v, devices.ChanReadings, payload)
			})
		}
	}
}

// BenchmarkFleetReadingsToPuback is BenchmarkReadingsToPuback with many
// hubs (2,000 unless BROKER_FLEET_HUBS says otherwise), connected and
// subscribed as hubs are, publishing in turn, one message in flight at a
// time. With as many read goroutines as hubs, the collector's stack
// shrinking (Go's default; off with GODEBUG=gcshrinkstackoff=1, see
// cmd/internal/memlimit) costs a stack copy each time a publish
// grows a shrunk stack again: cpu_ns/op shows it, stack_B/hub what the
// stacks hold at the end (no collection forced), gcs/op the collections.
func BenchmarkFleetReadingsToPuback(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("BROKER_FLEET_HUBS")); err == nil && v > 0 {
		n = v
	}
	payload := readingsPayload()
	for _, path := range bothPaths {
		b.Run(fmt.Sprintf("path=%s/hubs=%d", path.name, n), func(b *testing.B) {
			s, pl, stop := startBenchOn(b, Config{ReadingsRate: 1e9, ReadingsBurst: 1 << 30, VerifyWorkers: runtime.GOMAXPROCS(0)}, path)
			defer stop()
			runtime.GC()
			base := stackInuse()
			clients := make([]*rawClient, n)
			topics := make([]string, n)
			for i := range n {
				conn, err := pl.Dial()
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				id := fmt.Sprintf("hub-%06d", i)
				c, ack := connectIdle(b, conn, id)
				if ack != 0 {
					b.Fatalf("connect %s: %#x", id, ack)
				}
				clients[i], topics[i] = c, devices.Topic(devices.HubID(id), devices.ChanReadings)
			}
			waitConnected(b, s, n)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			gcs := ms.NumGC
			b.ReportAllocs()
			cpu0 := cpuTime()
			i, id := 0, uint16(0)
			for b.Loop() {
				id = id%60000 + 1
				c := clients[i]
				c.publish(topics[i], payload, 1, id)
				if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Puback || pk.ReasonCode >= 0x80 {
					b.Fatalf("no PUBACK: %v %+v", err, pk)
				}
				i = (i + 1) % n
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu_ns/op")
			b.ReportMetric(float64(stackInuse()-base)/float64(n), "stack_B/hub")
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.NumGC-gcs)/float64(b.N), "gcs/op")
		})
	}
}
