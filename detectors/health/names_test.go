package health

import (
	"testing"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// feedThirteen feeds homes hubs thirteen sensors' readings each, to the
// monitor's shards directly.
func feedThirteen(tb testing.TB, homes int) (*Monitor, []devices.HubID) {
	m, now := startedMonitor(tb)
	ids := shardtest.FeedThirteen(homes, now, func(msg *devices.Message) { m.shardOf(msg.Hub).Handle(op{kind: opMessage, msg: msg}) })
	return m, ids
}

// TestPerHubListsAreTight: a hub's sensor list holds no unused capacity and
// its sensor ids are the shared table's strings, which the engine's homes
// use too.
func TestPerHubListsAreTight(t *testing.T) {
	m, ids := feedThirteen(t, 2)
	for _, id := range ids {
		ms := m.shardOf(id)
		hs := ms.hubs.At(ms.index[id])
		if len(hs.sensors) != 13 || cap(hs.sensors) != len(hs.sensors) {
			t.Errorf("health %s: %d sensors in a capacity of %d", id, len(hs.sensors), cap(hs.sensors))
		}
		if !shardtest.Shared(hs.sensorID(0)) {
			t.Errorf("%s: sensor id %q is a copy of its own", id, hs.sensorID(0))
		}
	}
}

// BenchmarkThirteenSensorMemory: heap per hub of the health monitor with
// the simulator's thirteen sensors (package detectors measures the
// engine's; the two together are a home's).
func BenchmarkThirteenSensorMemory(b *testing.B) {
	shardtest.BenchHeapPerHome(b, 100_000, func(tb testing.TB, homes int) func() bool {
		m, _ := feedThirteen(tb, homes)
		return func() bool { return m.shards[0].hubs.Len() > 0 }
	})
}

// TestSensorListsHoldNoPointers: a hub's sensor list is small and
// pointer-free (issue 14), as the engine's homes' are.
func TestSensorListsHoldNoPointers(t *testing.T) {
	shardtest.PointerFree[sensorState](t, 64)
}

// TestOwnSensorIDs: an id that found the shared table full is kept in the
// hub's own list and found again there.
func TestOwnSensorIDs(t *testing.T) {
	hs := &hubState{own: shard.OwnIDs{"x", "co-77"}, sensors: []sensorState{{name: shard.OwnName + 1}}}
	if k := sensorIndex(hs, "co-77"); k != 0 || len(hs.sensors) != 1 {
		t.Errorf("health: sensorIndex = %d with %d sensors, want 0 with 1", k, len(hs.sensors))
	}
}
