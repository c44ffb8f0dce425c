package health

import (
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// feedThirteen sends each of homes hubs one batch from thirteen sensors
// (each reading's id a fresh string, as decoding makes them), to the
// monitor's shards directly.
func feedThirteen(tb testing.TB, homes int) (*Monitor, []devices.HubID) {
	m, now := startedMonitor(tb)
	ids := make([]devices.HubID, homes)
	for n := range homes {
		id := devices.HubID(fmt.Sprintf("hub-%07d", n))
		ids[n] = id
		rs := shardtest.ThirteenSensors(now)
		msg := &devices.Message{Hub: id, Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{Hub: id, SentAt: now, Received: now, Readings: rs}}
		m.shardOf(id).Handle(op{kind: opMessage, msg: msg})
	}
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
		var o shard.OwnIDs
		if unsafe.StringData(string(hs.sensorID(0))) != unsafe.StringData(string(o.ID(o.Name(hs.sensorID(0))))) {
			t.Errorf("%s: sensor id %q is a copy of its own", id, hs.sensorID(0))
		}
	}
}

// BenchmarkThirteenSensorMemory: heap per hub of the health monitor with
// the simulator's thirteen sensors (package detectors measures the
// engine's; the two together are a home's).
func BenchmarkThirteenSensorMemory(b *testing.B) {
	for _, n := range []int{100_000} {
		b.Run(fmt.Sprintf("homes=%d/sensors=13", n), func(b *testing.B) {
			for b.Loop() {
				before := shardtest.HeapInUse()
				m, _ := feedThirteen(b, n)
				after := shardtest.HeapInUse()
				b.ReportMetric(float64(after-before)/float64(n), "heap_B/home")
				if m.shards[0].hubs.Len() == 0 {
					b.Fatal("no hubs")
				}
			}
		})
	}
}

// TestSensorListsHoldNoPointers: a hub's sensor list is small and
// pointer-free (issue 14), as the engine's homes' are.
func TestSensorListsHoldNoPointers(t *testing.T) {
	typ := reflect.TypeFor[sensorState]()
	if size, want := unsafe.Sizeof(sensorState{}), uintptr(64); size > want {
		t.Errorf("sensorState is %d bytes, want <= %d", size, want)
	}
	for f := range typ.Fields() {
		switch f.Type.Kind() {
		case reflect.String, reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			t.Errorf("sensorState.%s is a %s: the collector scans it", f.Name, f.Type.Kind())
		}
	}
}

// TestOwnSensorIDs: an id that found the shared table full is kept in the
// hub's own list and found again there.
func TestOwnSensorIDs(t *testing.T) {
	hs := &hubState{own: shard.OwnIDs{"x", "co-77"}, sensors: []sensorState{{name: shard.OwnName + 1}}}
	if k := sensorIndex(hs, "co-77"); k != 0 || len(hs.sensors) != 1 {
		t.Errorf("health: sensorIndex = %d with %d sensors, want 0 with 1", k, len(hs.sensors))
	}
}
