package detectors

import (
	"testing"

	"github.com/dolbom/dolbom/detectors/internal/shard"
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
	seen := map[devices.HubID]int{}
	for _, s := range e.shards {
		for step := 0; ; step++ {
			got, more := s.collect(shard.EverySlot, limit)
			if len(got) > limit {
				t.Fatalf("engine shard gave %d homes in one step, limit %d", len(got), limit)
			}
			for _, h := range got {
				seen[h.Hub]++
			}
			if !more {
				break
			}
			if step > homes {
				t.Fatal("engine shard never ran out")
			}
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("home %s collected %d times, want 1", id, seen[id])
		}
	}
}
