package store

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// TestHealthJSONMatchesMarshal holds healthEncoder to the bytes
// json.Marshal wrote for every row saved before it, so old and new rows
// load alike.
func TestHealthJSONMatchesMarshal(t *testing.T) {
	base := time.Date(2026, 3, 1, 9, 30, 15, 123_000_000, time.UTC)
	full := devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: "hub-1", Online: true, LastSeen: base, LastConnect: base.Add(-time.Hour),
		LastDisconnect: base.Add(-2 * time.Hour), HeartbeatInterval: 5 * time.Minute, PowerKnown: true, OnMains: false, Battery: 41.5,
		ClockSkew: -1500 * time.Millisecond, ClockSkewMillis: -1500, Firmware: "1.2",
		Faults: []devices.Fault{devices.FaultPowerLost, devices.FaultClockSkew},
		Sensors: []devices.SensorHealth{
			{Sensor: "door", LastSeen: base, Battery: 12, Faults: []devices.Fault{devices.FaultBatteryLow}},
			{Sensor: "kitchen-smoke", LastSeen: base.Add(time.Nanosecond), Battery: float64(float32(87.3)), Faults: []devices.Fault{}},
			{Sensor: "x", Battery: -1},
		}},
		Episodes: []devices.FaultEpisode{{Fault: devices.FaultPowerLost, Since: base.Add(-time.Minute)},
			{Fault: devices.FaultBatteryLow, Sensor: "door", Since: base.Add(-2 * time.Hour)}}}
	cases := []struct {
		name string
		rec  devices.HubHealthRecord
	}{
		{"full", full},
		{"zero", devices.HubHealthRecord{}},
		{"empty lists", devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: "h", Battery: -1, Faults: []devices.Fault{}, Sensors: []devices.SensorHealth{}},
			Episodes: []devices.FaultEpisode{}}},
		{"firmware to escape", devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: "h", Firmware: "v<2> \"q\" & \\ é \u2028 \x01"}}},
		{"local time zone", devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: "h", LastSeen: base.In(time.FixedZone("KST", 9*3600))}}},
	}
	for _, b := range []float64{0, 100, 1e-7, 1.5e-9, 1e21, 123456789, 0.000001, -0.5, math.SmallestNonzeroFloat64, float64(float32(21.1))} {
		cases = append(cases, struct {
			name string
			rec  devices.HubHealthRecord
		}{fmt.Sprintf("battery %g", b), devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: "h", Battery: b}}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.rec
			want, err := json.Marshal(healthRecord{HubHealthRecord: h, HeartbeatIntervalMS: h.HeartbeatInterval.Milliseconds(), ClockSkewUS: h.ClockSkew.Microseconds()})
			if err != nil {
				t.Fatal(err)
			}
			if got := mustEncodeHealth(t, &h); string(got) != string(want) {
				t.Errorf("healthEncoder\n got %s\nwant %s", got, want)
			}
			if _, err := decodeHealth(string(mustEncodeHealth(t, &h))); err != nil {
				t.Errorf("decodeHealth: %v", err)
			}
		})
	}
}

// BenchmarkHealthJSON: the encoding of one hub's health record as a save
// round does it (13 sensors, as a simulated home has).
//
//	go test ./store -run XXX -bench HealthJSON -benchmem -benchtime 2000x
func BenchmarkHealthJSON(b *testing.B) {
	now := time.Now().UTC()
	h := devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: "sim-000123", Online: true, LastSeen: now, LastConnect: now,
		HeartbeatInterval: 300 * time.Second, PowerKnown: true, OnMains: true, Battery: -1, ClockSkew: 12 * time.Millisecond,
		ClockSkewMillis: 12, Firmware: "sim-1", Faults: []devices.Fault{}}}
	for i := range 13 {
		h.Sensors = append(h.Sensors, devices.SensorHealth{Sensor: devices.SensorID(fmt.Sprintf("sensor-%d", i)), LastSeen: now, Battery: 87, Faults: []devices.Fault{}})
	}
	b.Run("encoder=marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ := json.Marshal(healthRecord{HubHealthRecord: h, HeartbeatIntervalMS: h.HeartbeatInterval.Milliseconds(), ClockSkewUS: h.ClockSkew.Microseconds()})
			_ = string(buf)
		}
	})
	b.Run("encoder=reused", func(b *testing.B) {
		b.ReportAllocs()
		var enc healthEncoder
		for b.Loop() {
			if _, err := enc.encode(&h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func mustEncodeHealth(t *testing.T, h *devices.HubHealthRecord) string {
	t.Helper()
	var enc healthEncoder
	s, err := enc.encode(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
