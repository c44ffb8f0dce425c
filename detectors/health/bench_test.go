package health

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// loadedMonitor builds a monitor's shard state for hubs hubs with four
// supervised sensors each, connected and reporting, without starting Run:
// the shards are driven directly, as their goroutines would.
func loadedMonitor(tb testing.TB, hubs int) (*Monitor, []devices.HubID) {
	m, now := startedMonitor(tb)
	ids := make([]devices.HubID, hubs)
	kinds := []devices.SensorKind{devices.SensorHub, devices.SensorMotion, devices.SensorDoor, devices.SensorSmoke}
	for n := range hubs {
		id := devices.HubID(fmt.Sprintf("hub-%07d", n))
		ids[n] = id
		sensors := make([]devices.Sensor, len(kinds))
		for k, kind := range kinds {
			sensors[k] = sensor(id, devices.SensorID(fmt.Sprintf("%s-%d", kind, k)), kind, 60)
		}
		s := m.shardOf(id)
		s.Handle(op{kind: opRefresh, refresh: &registryEntry{hub: devices.Hub{ID: id, Firmware: "1.2.3", EndOfLife: now.AddDate(5, 0, 0)}, sensors: sensors}})
		s.Handle(op{kind: opConnection, conn: devices.ConnectionEvent{Hub: id, Connected: true, At: now}})
		rs := make([]devices.Reading, len(kinds))
		for k := range kinds {
			rs[k] = devices.Reading{Sensor: sensors[k].ID, Metric: devices.MetricBattery, At: now, Value: 90, Quality: -1}
		}
		s.Handle(op{kind: opMessage, msg: &devices.Message{Hub: id, Channel: devices.ChanReadings,
			Readings: &devices.ReadingBatch{Hub: id, SentAt: now, Received: now, Readings: rs}}})
	}
	for _, s := range m.shards {
		s.collect(shard.EverySlot, 0) // as the first save would
	}
	return m, ids
}

// startedMonitor is a monitor of four shards, started but not running: a
// test drives them directly.
func startedMonitor(tb testing.TB) (*Monitor, time.Time) {
	m, err := New(Config{Sink: detectors.SinkFunc(func(detectors.Detection) {}), Shards: 4, Logger: zerolog.Nop()})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	for _, s := range m.shards {
		s.startup(now)
	}
	return m, now
}

// BenchmarkHealthMemory reports the monitor's heap per hub (four sensors
// each): map entry, state, sensor slice and wheel node.
func BenchmarkHealthMemory(b *testing.B) {
	for _, hubs := range []int{30_000, 300_000} {
		b.Run(fmt.Sprintf("hubs=%d/sensors=4", hubs), func(b *testing.B) {
			var perHub float64
			for b.Loop() {
				before := shardtest.HeapInUse()
				m, ids := loadedMonitor(b, hubs)
				ids = nil
				after := shardtest.HeapInUse()
				perHub = float64(after-before) / float64(hubs)
				runtime.KeepAlive(m)
				runtime.KeepAlive(ids)
			}
			b.ReportMetric(perHub, "bytes/hub")
		})
	}
}

// TestHealthMemoryPerHub keeps the state of a hub within 1 KiB, leaving
// the emergency rules most of the 2 KiB per home that issue 3 allows.
func TestHealthMemoryPerHub(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 30,000 hubs")
	}
	const hubs = 30_000
	before := shardtest.HeapInUse()
	m, _ := loadedMonitor(t, hubs)
	perHub := float64(shardtest.HeapInUse()-before) / hubs
	runtime.KeepAlive(m)
	t.Logf("%.0f bytes per hub with 4 sensors", perHub)
	if perHub > 1024 {
		t.Fatalf("%.0f bytes per hub, budget 1024", perHub)
	}
}

// BenchmarkIngestReadings is the shard's work for one readings batch of
// four sensors from one of many hubs: the hot path, without the queue.
func BenchmarkIngestReadings(b *testing.B) {
	for _, hubs := range []int{30_000, 300_000} {
		b.Run(fmt.Sprintf("hubs=%d", hubs), func(b *testing.B) {
			m, ids := loadedMonitor(b, hubs)
			msgs := make([]*devices.Message, 1024)
			for i := range msgs {
				id := ids[(i*7919)%len(ids)]
				now := time.Now()
				msgs[i] = &devices.Message{Hub: id, Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{
					Hub: id, SentAt: now, Received: now, Readings: []devices.Reading{
						{Sensor: "motion-1", Metric: devices.MetricMotion, At: now, Value: 1, Quality: -1},
						{Sensor: "door-2", Metric: devices.MetricDoor, At: now, Value: 0, Quality: -1},
						{Sensor: "smoke-3", Metric: devices.MetricTemperature, At: now, Value: 21, Quality: -1},
						{Sensor: "hub-0", Metric: devices.MetricMains, At: now, Value: 1, Quality: -1},
					}}}
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				msg := msgs[i%len(msgs)]
				m.shardOf(msg.Hub).Handle(op{kind: opMessage, msg: msg})
				i++
			}
		})
	}
}

// BenchmarkEnqueue is Ingest's cost to the broker's goroutine: hash the hub
// and queue (a consumer drains the queue concurrently).
func BenchmarkEnqueue(b *testing.B) {
	m, err := New(Config{Sink: detectors.SinkFunc(func(detectors.Detection) {}), Shards: 1, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	in, _ := m.shards[0].rt.Lanes.OrdinaryReady() // the ordinary channel: nothing is backlogged
	go func() {
		for {
			select {
			case <-in:
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	msg := heartbeat("hub-0000001")
	b.ReportAllocs()
	for b.Loop() {
		m.Ingest(msg)
	}
}
