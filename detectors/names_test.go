package detectors

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
// engine's shards directly.
func feedThirteen(tb testing.TB, homes int) (*Engine, []devices.HubID) {
	e, now := startedEngine(tb, 4, nil)
	ids := make([]devices.HubID, homes)
	for n := range homes {
		id := devices.HubID(fmt.Sprintf("hub-%07d", n))
		ids[n] = id
		rs := shardtest.ThirteenSensors(now)
		msg := &devices.Message{Hub: id, Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{Hub: id, SentAt: now, Received: now, Readings: rs}}
		e.shardOf(id).Handle(engineOp{msg: msg})
	}
	return e, ids
}

// sharedID is the shared table's own copy of id: every home's (and, in
// package health, every hub's) sensor id of that name is this string.
func sharedID(id devices.SensorID) unsafe.Pointer {
	var o shard.OwnIDs
	return unsafe.Pointer(unsafe.StringData(string(o.ID(o.Name(id)))))
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
		if unsafe.Pointer(unsafe.StringData(string(h.sensorID(0)))) != sharedID(h.sensorID(0)) {
			t.Errorf("%s: sensor id %q is a copy of its own", id, h.sensorID(0))
		}
	}
}

// BenchmarkThirteenSensorMemory: heap per home of the engine with the
// simulator's thirteen sensors (package health measures the monitor's).
func BenchmarkThirteenSensorMemory(b *testing.B) {
	for _, n := range []int{100_000} {
		b.Run(fmt.Sprintf("homes=%d/sensors=13", n), func(b *testing.B) {
			for b.Loop() {
				before := shardtest.HeapInUse()
				e, _ := feedThirteen(b, n)
				after := shardtest.HeapInUse()
				b.ReportMetric(float64(after-before)/float64(n), "heap_B/home")
				if e.shards[0].homes.Len() == 0 {
					b.Fatal("no homes")
				}
			}
		})
	}
}

// TestSensorListsHoldNoPointers: a home's sensor list is small and
// pointer-free, so 300,000 homes' lists are a few hundred bytes each that
// the collector never scans (issue 14); the ids are found through the
// shared table or the home's own ids. Package health checks a hub's.
func TestSensorListsHoldNoPointers(t *testing.T) {
	typ := reflect.TypeFor[sensorInfo]()
	if size, want := unsafe.Sizeof(sensorInfo{}), uintptr(4); size > want {
		t.Errorf("sensorInfo is %d bytes, want <= %d", size, want)
	}
	for f := range typ.Fields() {
		switch f.Type.Kind() {
		case reflect.String, reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			t.Errorf("sensorInfo.%s is a %s: the collector scans it", f.Name, f.Type.Kind())
		}
	}
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
