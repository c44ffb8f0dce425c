package detectors

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/devices"
)

// simMinute decodes the simulator's 17-reading night minute
// (devices/testdata/sim-minute.json, written by firmware-sim's
// TestSimMinuteFixture) as hub's, received 1 s after it was sent.
func simMinute(tb testing.TB, hub devices.HubID) *devices.Message {
	tb.Helper()
	payload, err := os.ReadFile("../devices/testdata/sim-minute.json")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := devices.Decode(devices.Topic(hub, devices.ChanReadings), bytes.TrimSpace(payload), time.UnixMilli(1796062080000+1000))
	if err != nil {
		tb.Fatal(err)
	}
	return &m
}

// shiftMinute moves every time of batch b forward by d.
func shiftMinute(b *devices.ReadingBatch, d time.Duration) {
	b.SentAt, b.Received = b.SentAt.Add(d), b.Received.Add(d)
	for i := range b.Readings {
		b.Readings[i].At = b.Readings[i].At.Add(d)
	}
}

// BenchmarkIngestSimMinute is the engine's work for one hub's minute batch
// (the simulator's 17 readings), without its queue: the engine's part of the
// per-message cost of detection at national scale (package health measures
// the monitor's part under the same name; the gateway hands each batch to
// both). Every hub has sent a batch before (steady state); each iteration
// is the next minute of one hub.
func BenchmarkIngestSimMinute(b *testing.B) {
	const hubs = 30_000
	b.Run(fmt.Sprintf("hubs=%d", hubs), func(b *testing.B) {
		e, err := NewEngine(EngineConfig{Sink: SinkFunc(func(Detection) {}), Shards: 2, Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		tmpl := simMinute(b, "hub-0000000")
		now := tmpl.Readings.Received
		for _, s := range e.shards {
			s.startup(now)
		}
		msgs := make([]*devices.Message, hubs)
		for n := range hubs {
			id := devices.HubID(fmt.Sprintf("hub-%07d", n))
			msg := simMinute(b, id)
			e.shardOf(id).Handle(engineOp{msg: msg})
			msgs[n] = msg
		}
		for _, s := range e.shards {
			s.collect(shard.EverySlot, 0)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			msg := msgs[(i*7919)%hubs]
			shiftMinute(msg.Readings, time.Minute)
			e.shardOf(msg.Hub).Handle(engineOp{msg: msg})
			i++
		}
	})
}
