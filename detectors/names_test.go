package detectors

import (
	"testing"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// feedThirteen feeds homes hubs thirteen sensors' readings each, to the
// engine's shards directly.
func feedThirteen(tb testing.TB, homes int) (*Engine, []devices.HubID) {
	e, now := startedEngine(tb, 4, nil)
	ids := shardtest.FeedThirteen(homes, now, func(m *devices.Message) { e.shardOf(m.Hub).Handle(engineOp{msg: m}) })
	return e, ids
}

// TestPerHomeListsAreTight: a home's sensor and track lists hold no unused
// capacity and sensor ids are one string for all homes, the shared table's,
// which the health monitor's hubs use too (~700 B per home of the
// simulator's homes).
func TestPerHomeListsAreTight(t *testing.T) {
	e, ids := feedThirteen(t, 2)
	for _, id := range ids {
		s := e.shardOf(id)
		h := s.homes.At(s.index[id])
		if len(h.sensors) != 10 || cap(h.sensors) != len(h.sensors) { // battery-only sensors are the monitor's
			t.Errorf("engine %s: %d sensors in a capacity of %d", id, len(h.sensors), cap(h.sensors))
		}
		if len(h.tracks) != 12 || cap(h.tracks) != len(h.tracks) {
			t.Errorf("engine %s: %d tracks in a capacity of %d", id, len(h.tracks), cap(h.tracks))
		}
		if !shardtest.Shared(h.sensorID(0)) {
			t.Errorf("%s: sensor id %q is a copy of its own", id, h.sensorID(0))
		}
	}
}

// BenchmarkThirteenSensorMemory: heap per home of the engine with the
// simulator's thirteen sensors (package health measures the monitor's).
func BenchmarkThirteenSensorMemory(b *testing.B) {
	shardtest.BenchHeapPerHome(b, 100_000, func(tb testing.TB, homes int) func() bool {
		e, _ := feedThirteen(tb, homes)
		return func() bool { return e.shards[0].homes.Len() > 0 }
	})
}

// TestSensorListsHoldNoPointers: a home's sensor list is small and
// pointer-free, so 300,000 homes' lists are a few hundred bytes each that
// the collector never scans (issue 14); the ids are found through the
// shared table or the home's own ids. Package health checks a hub's.
func TestSensorListsHoldNoPointers(t *testing.T) {
	shardtest.PointerFree[sensorInfo](t, 4)
}

// TestOwnSensorIDs: an id that found the shared table full is kept in the
// home's own list and found again there.
func TestOwnSensorIDs(t *testing.T) {
	h := &home{own: shard.OwnIDs{"smoke-8f3a21"}, sensors: []sensorInfo{{name: shard.OwnName, loc: codeOf(devices.LocKitchen)}}}
	if k := h.sensorIdx("smoke-8f3a21"); k != 0 || len(h.sensors) != 1 {
		t.Errorf("engine: sensorIdx = %d with %d sensors, want 0 with 1", k, len(h.sensors))
	}
	if got := h.sensorID(0); got != "smoke-8f3a21" {
		t.Errorf("engine: sensorID(0) = %q", got)
	}
	if got := codeOf("garage").location(); got != devices.LocOther {
		t.Errorf("a location the registry refuses is %q, want other", got)
	}
}
