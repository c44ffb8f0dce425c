package health

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
// monitor's shards directly.
func feedThirteen(tb testing.TB, homes int) (*Monitor, []devices.HubID) {
	m, now := startedMonitor(tb)
	ids := make([]devices.HubID, homes)
	for n := range homes {
		id := devices.HubID(fmt.Sprintf("hub-%07d", n))
		ids[n] = id
		rs := thirteenSensors(now)
		for k := range rs {
			rs[k].Sensor = devices.SensorID(string([]byte(rs[k].Sensor))) // not shared by the caller
		}
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
				before := heapInUse()
				m, _ := feedThirteen(b, n)
				after := heapInUse()
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
