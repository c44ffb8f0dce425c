package detectors

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

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
		tmpl := shardtest.SimMinute(b, "hub-0000000")
		now := tmpl.Readings.Received
		for _, s := range e.shards {
			s.startup(now)
		}
		shardtest.BenchIngest(b, hubs, func(id devices.HubID, first *devices.Message) {
			e.shardOf(id).Handle(engineOp{msg: first})
		}, func() {
			for _, s := range e.shards {
				s.collect(shard.EverySlot, 0)
			}
		}, func(msg *devices.Message) { e.shardOf(msg.Hub).Handle(engineOp{msg: msg}) })
	})
}
