package detectors

import (
	"testing"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// TestCollectInChunks: a save takes at most limit homes per step of a
// shard, says when more remain, and over the steps gives every changed one
// exactly once.
func TestCollectInChunks(t *testing.T) {
	const homes, limit = 2500, 100 // 4 shards: about 625 each, so several steps
	e, ids, now := loadedEngine(t, homes, nil)
	// Change every home and hub again after the loaders' own collect.
	for _, id := range ids {
		e.shardOf(id).Handle(engineOp{msg: &devices.Message{Hub: id, Channel: devices.ChanEvents,
			Event: &devices.Event{Hub: id, ID: "door-1", Kind: devices.EventDoorOpen, Sensor: "door", At: now, Received: now}}})
	}
	var steps []func(int) ([]HomeSnapshot, bool)
	for _, s := range e.shards {
		steps = append(steps, func(limit int) ([]HomeSnapshot, bool) { return s.collect(shard.EverySlot, limit) })
	}
	shardtest.CollectsOnceInChunks(t, "engine", steps, func(h HomeSnapshot) devices.HubID { return h.Hub }, ids, limit)
}
