package health

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/devices"
)

// TestCollectInChunks: a save takes at most limit hubs per step of a shard,
// says when more remain, and over the steps gives every changed one exactly
// once.
func TestCollectInChunks(t *testing.T) {
	const homes, limit = 2500, 100 // 4 shards: about 625 each, so several steps
	m, hubIDs := loadedMonitor(t, homes)
	now := time.Now()
	// Change every hub again after the loader's own collect.
	for _, id := range hubIDs {
		m.shardOf(id).Handle(op{kind: opConnection, conn: devices.ConnectionEvent{Hub: id, Connected: false, At: now.Add(time.Second), Reason: "lost"}})
	}

	seen := map[devices.HubID]int{}
	for _, s := range m.shards {
		for step := 0; ; step++ {
			got, more := s.collect(shard.EverySlot, limit)
			if len(got) > limit {
				t.Fatalf("health shard gave %d hubs in one step, limit %d", len(got), limit)
			}
			for _, r := range got {
				seen[r.Hub]++
			}
			if !more {
				break
			}
			if step > homes {
				t.Fatal("health shard never ran out")
			}
		}
	}
	for _, id := range hubIDs {
		if seen[id] != 1 {
			t.Fatalf("hub %s collected %d times, want 1", id, seen[id])
		}
	}
}
