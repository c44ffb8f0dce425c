package detectors

import (
	"iter"
	"maps"
	"testing"

	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// TestHubKeysAreTheCallersString: the engine keys a home by the string it
// was handed (see engineShard.homeIndex).
func TestHubKeysAreTheCallersString(t *testing.T) {
	shardtest.KeysTheCallersString(t, "engine", func(id devices.HubID) (devices.HubID, iter.Seq[devices.HubID]) {
		es := &engineShard{e: &Engine{}, index: map[devices.HubID]int32{}}
		i := es.homeIndex(id)
		return es.homes.At(i).id, maps.Keys(es.index)
	})
}
