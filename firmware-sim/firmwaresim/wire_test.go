package firmwaresim

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// TestAppendReadingsMatchesDevicesEncoder holds the simulator's readings
// appender to the wire bytes of devices.EncodeReadings: hubs speak only the
// wire protocol, so the fast path must not change a byte.
func TestAppendReadingsMatchesDevicesEncoder(t *testing.T) {
	at := time.UnixMilli(1_740_000_000_123)
	r := func(sensor devices.SensorID, metric devices.Metric, v float64, q float32) devices.Reading {
		return devices.Reading{Sensor: sensor, Metric: metric, At: at, Value: v, Quality: q}
	}
	tests := []struct {
		name string
		rs   []devices.Reading
	}{
		{"empty", []devices.Reading{}},
		{"one without quality", []devices.Reading{r(SensorKitchenSmoke, devices.MetricTemperature, 22.5, -1)}},
		{"quality rounded to three decimals", []devices.Reading{r(SensorRadar, devices.MetricHeartRate, 63, 0.8765432)}},
		{"quality zero and one", []devices.Reading{r(SensorRadar, devices.MetricHeartRate, 63, 0), r(SensorWearable, devices.MetricHeartRate, 64, 1)}},
		{"quality NaN is left out", []devices.Reading{r(SensorRadar, devices.MetricHeartRate, 63, float32(math.NaN()))}},
		{"zero and negative zero", []devices.Reading{r(SensorDoor, devices.MetricDoor, 0, -1), r(SensorDoor, devices.MetricDoor, math.Copysign(0, -1), -1)}},
		{"negative and fractions", []devices.Reading{r(SensorCO, devices.MetricCO, -0.1, -1), r(SensorCO, devices.MetricCO, 1.0/3, -1)}},
		{"exponent forms", []devices.Reading{
			r(SensorCO, devices.MetricCO, 1e-7, -1), r(SensorCO, devices.MetricCO, 1e-6, -1), r(SensorCO, devices.MetricCO, 9.99e-7, -1),
			r(SensorCO, devices.MetricCO, 1e21, -1), r(SensorCO, devices.MetricCO, 1e20, -1), r(SensorCO, devices.MetricCO, -3e-10, -1),
			r(SensorCO, devices.MetricCO, 1.5e300, -1), r(SensorCO, devices.MetricCO, 5e-324, -1)}},
		{"strings JSON escapes", []devices.Reading{r(`we"ird\`, "m\n", 1, -1), r("<&>", "é\u2028", 2, 0.5)}},
		{"before 1970", []devices.Reading{{Sensor: SensorHub, Metric: devices.MetricMains, At: time.UnixMilli(-5), Value: 1, Quality: -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := devices.ReadingBatch{SentAt: at.Add(time.Second), Readings: tc.rs}
			want := devices.EncodeReadings(b)
			got := AppendReadings([]byte("prefix"), b)
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("AppendReadings\n got %s\nwant prefix%s", got, want)
			}
		})
	}
}

// TestAppendReadingsSimulatedDays compares every batch of a few simulated
// homes over two days, the payloads a load run actually sends.
func TestAppendReadingsSimulatedDays(t *testing.T) {
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var buf []byte
	var rs []devices.Reading
	for index := range uint32(4) {
		h := Home{Seed: 7, Index: index, HubBattery: 100, BatteryDrain: 0.01 * float32(index)}
		for m := range 2 * 1440 {
			t0 := start.Add(time.Duration(m) * time.Minute)
			rs = h.Readings(rs[:0], t0)
			b := devices.ReadingBatch{SentAt: t0.Add(time.Minute + 1234*time.Millisecond), Readings: rs}
			buf = AppendReadings(buf[:0], b)
			if want := devices.EncodeReadings(b); !bytes.Equal(buf, want) {
				t.Fatalf("home %d minute %d:\n got %s\nwant %s", index, m, buf, want)
			}
		}
	}
}

// FuzzAppendReadings compares the two encoders on arbitrary readings (the
// seeds run with go test; go test -fuzz explores further).
func FuzzAppendReadings(f *testing.F) {
	f.Add("smoke-1", "temperature", int64(1_740_000_000_000), 22.5, float32(-1))
	f.Add("radar", "heart_rate", int64(0), 1e-7, float32(0.9995))
	f.Add("a\"b", "c\\d", int64(-1), 1e21, float32(1e-9))
	f.Fuzz(func(t *testing.T, sensor, metric string, ts int64, v float64, q float32) {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.IsInf(float64(q), 1) {
			t.Skip("devices.EncodeReadings panics on what is not finite")
		}
		b := devices.ReadingBatch{SentAt: time.UnixMilli(ts / 2), Readings: []devices.Reading{
			{Sensor: devices.SensorID(sensor), Metric: devices.Metric(metric), At: time.UnixMilli(ts), Value: v, Quality: q}}}
		if got, want := AppendReadings(nil, b), devices.EncodeReadings(b); !bytes.Equal(got, want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}
