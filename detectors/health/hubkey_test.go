package health

import (
	"iter"
	"maps"
	"testing"

	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// TestHubKeysAreTheCallersString: the monitor keys a hub by the string it
// was handed, as the engine does.
func TestHubKeysAreTheCallersString(t *testing.T) {
	shardtest.KeysTheCallersString(t, "health", func(id devices.HubID) (devices.HubID, iter.Seq[devices.HubID]) {
		hs := &hubShard{index: map[devices.HubID]int32{}}
		j := hs.hubIndex(id)
		return hs.hubs.At(j).id, maps.Keys(hs.index)
	})
}
