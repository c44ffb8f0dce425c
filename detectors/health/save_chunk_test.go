package health

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
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

	var steps []func(int) ([]devices.HubHealthRecord, bool)
	for _, s := range m.shards {
		steps = append(steps, func(limit int) ([]devices.HubHealthRecord, bool) { return s.collect(shard.EverySlot, limit) })
	}
	shardtest.CollectsOnceInChunks(t, "health", steps, func(r devices.HubHealthRecord) devices.HubID { return r.Hub }, hubIDs, limit)
}
