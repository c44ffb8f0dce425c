package detectors

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shardtest"
)

// BenchmarkShardQueued is the engine's shard under queued inputs
// (shardtest.BenchQueued; package health measures the monitor's).
func BenchmarkShardQueued(b *testing.B) {
	shardtest.BenchQueued(b, func(b *testing.B) shardtest.Queued {
		e, err := NewEngine(EngineConfig{Sink: SinkFunc(func(Detection) {}), Shards: 1, Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		return shardtest.Queued{Run: e.Run, Ingest: e.Ingest, Drained: func() bool { return e.shards[0].rt.Lanes.Len() == 0 }}
	})
}
