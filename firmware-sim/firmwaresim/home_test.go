package firmwaresim

import (
	"bytes"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

func dayMessages(seed uint64, index uint32, day time.Time) []byte {
	h := Home{Seed: seed, Index: index}
	var out bytes.Buffer
	for m := range 1440 {
		t := day.Add(time.Duration(m) * time.Minute)
		rs := h.Readings(nil, t)
		out.Write(devices.EncodeReadings(devices.ReadingBatch{SentAt: t, Readings: rs}))
		for _, e := range h.Events(nil, t) {
			out.Write(devices.EncodeEvent(e))
		}
	}
	return out.Bytes()
}

func TestDaysDeterministic(t *testing.T) {
	day := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC) // midnight KST
	tests := []struct {
		name       string
		seed       uint64
		index      uint32
		other      uint64
		otherIndex uint32
		same       bool
	}{
		{"same seed and home", 7, 3, 7, 3, true},
		{"other seed", 7, 3, 8, 3, false},
		{"other home", 7, 3, 7, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := dayMessages(tt.seed, tt.index, day), dayMessages(tt.other, tt.otherIndex, day)
			if bytes.Equal(a, b) != tt.same {
				t.Errorf("equal = %v, want %v", !tt.same, tt.same)
			}
		})
	}
}

func TestDayIsValidAndVaries(t *testing.T) {
	day := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	h := Home{Seed: 1, Index: 1}
	kinds := map[devices.EventKind]int{}
	maxTemp, maxHum := 0.0, 0.0
	now := day.Add(48 * time.Hour)
	for d := range 7 {
		for m := range 1440 {
			t0 := day.Add(time.Duration(d*1440+m) * time.Minute)
			rs := h.Readings(nil, t0)
			if _, err := devices.Decode(devices.Topic("hub-0001", devices.ChanReadings),
				devices.EncodeReadings(devices.ReadingBatch{SentAt: t0, Readings: rs}), now.Add(time.Duration(d)*24*time.Hour)); err != nil {
				t.Fatalf("day %d minute %d: %v", d, m, err)
			}
			for _, r := range rs {
				if r.Sensor == SensorKitchenSmoke && r.Metric == devices.MetricTemperature {
					maxTemp = max(maxTemp, r.Value)
				}
				if r.Sensor == SensorHallSmoke && r.Metric == devices.MetricHumidity {
					maxHum = max(maxHum, r.Value)
				}
			}
			for _, e := range h.Events(nil, t0) {
				kinds[e.Kind]++
			}
		}
	}
	if maxTemp < 26 {
		t.Errorf("cooking never warmed the kitchen: max %.1f", maxTemp)
	}
	if maxHum < 65 {
		t.Errorf("no shower steam: max humidity %.1f", maxHum)
	}
	if kinds[devices.EventDoorOpen] == 0 || kinds[devices.EventMotion] == 0 {
		t.Errorf("a week without outings or waking: %v", kinds)
	}
}
