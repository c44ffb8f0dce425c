package health

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
)

// BenchmarkShardQueued is the monitor's shard under queued inputs
// (shardtest.BenchQueued; package detectors measures the engine's).
func BenchmarkShardQueued(b *testing.B) {
	shardtest.BenchQueued(b, func(b *testing.B) shardtest.Queued {
		m, err := New(Config{Sink: detectors.SinkFunc(func(detectors.Detection) {}), Shards: 1, Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		return shardtest.Queued{Run: m.Run, Ingest: m.Ingest, Drained: func() bool { return m.shards[0].rt.Lanes.Len() == 0 }}
	})
}
