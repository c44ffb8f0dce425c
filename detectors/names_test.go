package detectors

import (
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/devices"
)

// thirteenSensors is a reading from each sensor of the simulator's home
// (firmware-sim/home.go): fifteen tracks on thirteen sensors.
func thirteenSensors(now time.Time) []devices.Reading {
	r := func(s devices.SensorID, m devices.Metric, v float64) devices.Reading {
		return devices.Reading{Sensor: s, Metric: m, At: now, Value: v, Quality: -1}
	}
	return []devices.Reading{
		r("kitchen-smoke", devices.MetricSmoke, 0.1), r("kitchen-smoke", devices.MetricTemperature, 23),
		r("hallway-smoke", devices.MetricSmoke, 0.1), r("kitchen-heat", devices.MetricTemperature, 23),
		r("utility-co", devices.MetricCO, 1), r("motion-living", devices.MetricMotion, 0),
		r("motion-kitchen", devices.MetricMotion, 0), r("motion-bedroom", devices.MetricMotion, 0),
		r("motion-bathroom", devices.MetricMotion, 0), r("entrance-door", devices.MetricDoor, 0),
		r("bedroom-radar", devices.MetricPresence, 1), r("bedroom-radar", devices.MetricRespiration, 14),
		r("wearable-1", devices.MetricBattery, 80), r("pendant-1", devices.MetricBattery, 80),
		r("hub", devices.MetricBattery, 100),
	}
}

// feedThirteen sends each of homes hubs one batch from thirteen sensors
// (each reading's id a fresh string, as decoding makes them), to the
// engine's and the monitor's shards directly.
func feedThirteen(tb testing.TB, homes int) (*Engine, *HealthMonitor, []devices.HubID) {
	e, now := startedEngine(tb, 4, nil)
	m, _ := startedMonitor(tb)
	ids := make([]devices.HubID, homes)
	for n := range homes {
		id := devices.HubID(fmt.Sprintf("hub-%07d", n))
		ids[n] = id
		rs := thirteenSensors(now)
		for k := range rs {
			rs[k].Sensor = devices.SensorID(string([]byte(rs[k].Sensor))) // not shared by the caller
		}
		msg := &devices.Message{Hub: id, Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{Hub: id, SentAt: now, Received: now, Readings: rs}}
		e.shardOf(id).handle(engineOp{msg: msg})
		m.shardOf(id).handle(op{kind: opMessage, msg: msg})
	}
	return e, m, ids
}

// TestPerHomeListsAreTight: a home's sensor and track lists hold no unused
// capacity and sensor ids are one string for all homes, in the engine and
// the health monitor alike (~700 B per home of the simulator's homes).
func TestPerHomeListsAreTight(t *testing.T) {
	e, m, ids := feedThirteen(t, 2)
	var first unsafe.Pointer
	for _, id := range ids {
		s := e.shardOf(id)
		h := s.homes.At(s.index[id])
		if len(h.sensors) != 10 || cap(h.sensors) != len(h.sensors) { // battery-only sensors are the monitor's
			t.Errorf("engine %s: %d sensors in a capacity of %d", id, len(h.sensors), cap(h.sensors))
		}
		if len(h.tracks) != 12 || cap(h.tracks) != len(h.tracks) {
			t.Errorf("engine %s: %d tracks in a capacity of %d", id, len(h.tracks), cap(h.tracks))
		}
		ms := m.shardOf(id)
		hs := ms.hubs.At(ms.index[id])
		if len(hs.sensors) != 13 || cap(hs.sensors) != len(hs.sensors) {
			t.Errorf("health %s: %d sensors in a capacity of %d", id, len(hs.sensors), cap(hs.sensors))
		}
		for _, p := range []unsafe.Pointer{unsafe.Pointer(unsafe.StringData(string(h.sensorID(0)))),
			unsafe.Pointer(unsafe.StringData(string(hs.sensorID(0))))} {
			if first == nil {
				first = p
			} else if p != first {
				t.Errorf("%s: sensor id %q is a copy of its own", id, h.sensorID(0))
			}
		}
	}
}

// BenchmarkThirteenSensorMemory: heap per home of the engine and the
// health monitor together, with the simulator's thirteen sensors.
func BenchmarkThirteenSensorMemory(b *testing.B) {
	for _, n := range []int{100_000} {
		b.Run(fmt.Sprintf("homes=%d/sensors=13", n), func(b *testing.B) {
			for b.Loop() {
				before := heapInUse()
				e, m, _ := feedThirteen(b, n)
				after := heapInUse()
				b.ReportMetric(float64(after-before)/float64(n), "heap_B/home")
				if e.shards[0].homes.Len() == 0 || m.shards[0].hubs.Len() == 0 {
					b.Fatal("no homes")
				}
			}
		})
	}
}

// TestSensorListsHoldNoPointers: a home's sensor list (engine) and a hub's
// (health monitor) are small and pointer-free, so 300,000 homes' lists are
// a few hundred bytes each that the collector never scans (issue 14); the
// ids are found through the shared table or the home's own ids.
func TestSensorListsHoldNoPointers(t *testing.T) {
	for _, c := range []struct {
		name       string
		typ        reflect.Type
		size, want uintptr
	}{
		{"sensorInfo", reflect.TypeFor[sensorInfo](), unsafe.Sizeof(sensorInfo{}), 4},
		{"sensorState", reflect.TypeFor[sensorState](), unsafe.Sizeof(sensorState{}), 64},
	} {
		if c.size > c.want {
			t.Errorf("%s is %d bytes, want <= %d", c.name, c.size, c.want)
		}
		for f := range c.typ.Fields() {
			switch f.Type.Kind() {
			case reflect.String, reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
				t.Errorf("%s.%s is a %s: the collector scans it", c.name, f.Name, f.Type.Kind())
			}
		}
	}
}

// TestOwnSensorIDs: an id that found the shared table full is kept in the
// home's own list and found again there, by the engine and the monitor.
func TestOwnSensorIDs(t *testing.T) {
	h := &home{own: shard.OwnIDs{"smoke-8f3a21"}, sensors: []sensorInfo{{name: shard.OwnName, loc: codeOf(devices.LocKitchen)}}}
	if k := h.sensorIdx("smoke-8f3a21"); k != 0 || len(h.sensors) != 1 {
		t.Errorf("engine: sensorIdx = %d with %d sensors, want 0 with 1", k, len(h.sensors))
	}
	if got := h.sensorID(0); got != "smoke-8f3a21" {
		t.Errorf("engine: sensorID(0) = %q", got)
	}
	hs := &hubState{own: shard.OwnIDs{"x", "co-77"}, sensors: []sensorState{{name: shard.OwnName + 1}}}
	if k := sensorIndex(hs, "co-77"); k != 0 || len(hs.sensors) != 1 {
		t.Errorf("health: sensorIndex = %d with %d sensors, want 0 with 1", k, len(hs.sensors))
	}
	if got := codeOf("garage").location(); got != devices.LocOther {
		t.Errorf("a location the registry refuses is %q, want other", got)
	}
}
