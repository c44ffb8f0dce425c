package detectors

import (
	"context"

	"github.com/dolbom/dolbom/detectors/internal/shard"
)

// Journal is the durable log of the events hubs sent; see shard.Journal,
// declared with the runtime that replays it and reports what it applied.
type Journal = shard.Journal

// SinkFlusher is a Sink that can say when what it was handed is durable:
// Flush returns once every detection handed to it before the call is
// committed. The detectors flush before saving state that records an event
// as applied, so that a crash cannot leave an event both marked applied and
// without its incident.
type SinkFlusher interface {
	Sink
	Flush(ctx context.Context) error
}

// consumerEngine is the engine's journal consumer name, as saved in the
// store (the health monitor's is health's).
const consumerEngine = "engine"
