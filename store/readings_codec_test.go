package store

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

func TestReadingsBlobRoundTrip(t *testing.T) {
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		rs   []devices.Reading
	}{
		{"one", []devices.Reading{{Sensor: "radar", Metric: devices.MetricHeartRate, At: at, Value: 72, Quality: 0.9}}},
		{"values that need every encoding", []devices.Reading{
			{Sensor: "k", Metric: devices.MetricTemperature, At: at.Add(59 * time.Second), Value: 21.5, Quality: -1},
			{Sensor: "k", Metric: devices.MetricTemperature, At: at, Value: 0.1 + 0.2, Quality: -1}, // not a short decimal
			{Sensor: "k", Metric: devices.MetricHumidity, At: at.Add(time.Microsecond), Value: -0.0, Quality: -1},
			{Sensor: "s", Metric: devices.MetricSmoke, At: at.Add(-time.Hour), Value: 0.025, Quality: 0},
			{Sensor: "s", Metric: devices.MetricSmoke, At: at, Value: math.NaN(), Quality: 1},
			{Sensor: "s", Metric: devices.MetricSmoke, At: at, Value: math.Inf(-1), Quality: -1},
			{Sensor: "s", Metric: devices.MetricCO, At: at, Value: 1e300, Quality: -1},
			{Sensor: "s", Metric: devices.MetricCO, At: at, Value: -4503599627370497, Quality: -1},
			{Sensor: "", Metric: "", At: at, Value: 5e-324, Quality: float32(math.NaN())},
		}},
		{"before 1970", []devices.Reading{{Sensor: "x", Metric: devices.MetricMotion, At: time.UnixMicro(-123456789).UTC(), Value: 3, Quality: -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blob := appendReadingsBlob(nil, tc.rs)
			got, err := decodeReadingsBlob(blob, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.rs) {
				t.Fatalf("decoded %d readings, want %d", len(got), len(tc.rs))
			}
			for i, w := range tc.rs {
				g := got[i]
				if g.Sensor != w.Sensor || g.Metric != w.Metric || !g.At.Equal(w.At) ||
					math.Float64bits(g.Value) != math.Float64bits(w.Value) || math.Float32bits(g.Quality) != math.Float32bits(w.Quality) {
					t.Errorf("reading %d: got %+v, want %+v", i, g, w)
				}
			}
			only, err := decodeReadingsBlob(blob, nil, oneSeries("s", devices.MetricSmoke))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range only {
				if r.Sensor != "s" || r.Metric != devices.MetricSmoke {
					t.Errorf("filtered decode returned %+v", r)
				}
			}
		})
	}
}

func TestReadingsBlobCompact(t *testing.T) {
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	var rs []devices.Reading
	for i := range 17 {
		rs = append(rs, devices.Reading{Sensor: devices.SensorID("sensor-" + string(rune('a'+i%9))), Metric: devices.MetricTemperature,
			At: at.Add(time.Duration(i) * 3 * time.Second), Value: 21.5, Quality: -1})
	}
	blob := appendReadingsBlob(nil, rs)
	// 9 pairs of ~20 bytes, then at most 8 bytes a reading.
	if len(blob) > 9*22+17*8+16 {
		t.Errorf("17 readings took %d bytes", len(blob))
	}
}

func TestReadingsBlobMalformed(t *testing.T) {
	good := appendReadingsBlob(nil, []devices.Reading{{Sensor: "k", Metric: devices.MetricTemperature, At: time.Unix(1, 0), Value: 1.5, Quality: -1}})
	tests := map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"huge count":     {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad pair index": {1, 0, 1, 0, 5, 1, 0, 0},
	}
	for name, b := range tests {
		if _, err := decodeReadingsBlob(b, nil, nil); !errors.Is(err, errBadReadingsBlob) {
			t.Errorf("%s: err = %v, want errBadReadingsBlob", name, err)
		}
	}
}

func TestHourBlobMerge(t *testing.T) {
	k := sensorMetric{"k", devices.MetricTemperature}
	m := sensorMetric{"m", devices.MetricMotion}
	b1, err := mergeHourBlob(nil, []hourSeries{{k, rollupAgg{count: 2, sum: 42, min: 20, max: 22}}})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := mergeHourBlob(b1, []hourSeries{{m, rollupAgg{count: 1, sum: 4, min: 4, max: 4}}, {k, rollupAgg{count: 1, sum: 30, min: 30, max: 30}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[sensorMetric]rollupAgg{}
	if err := forEachHourSeries(b2, func(s, mt []byte, a rollupAgg) { got[sensorMetric{devices.SensorID(s), devices.Metric(mt)}] = a }); err != nil {
		t.Fatal(err)
	}
	want := map[sensorMetric]rollupAgg{k: {count: 3, sum: 72, min: 20, max: 30}, m: {count: 1, sum: 4, min: 4, max: 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged = %+v, want %+v", got, want)
	}
	if _, err := mergeHourBlob([]byte{1, 5}, nil); !errors.Is(err, errBadReadingsBlob) {
		t.Errorf("merge into a malformed blob: %v", err)
	}
}

// FuzzReadingsBlob: decoding arbitrary bytes never panics and fails with
// errBadReadingsBlob; whatever decodes re-encodes to readings that decode
// the same.
func FuzzReadingsBlob(f *testing.F) {
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	f.Add(appendReadingsBlob(nil, []devices.Reading{
		{Sensor: "radar", Metric: devices.MetricHeartRate, At: at, Value: 72, Quality: 0.9},
		{Sensor: "k", Metric: devices.MetricTemperature, At: at.Add(time.Second), Value: 21.37, Quality: -1},
	}))
	f.Add([]byte{1, 0, 0, 0})
	f.Add(appendHourBlob(nil, []hourSeries{{sensorMetric{"k", "t"}, rollupAgg{1, 2, 3, 4}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := decodeReadingsBlob(b, nil, nil)
		if err != nil {
			if !errors.Is(err, errBadReadingsBlob) {
				t.Fatalf("error %v does not wrap errBadReadingsBlob", err)
			}
		} else if len(rs) > 0 {
			again, err := decodeReadingsBlob(appendReadingsBlob(nil, rs), nil, nil)
			if err != nil || len(again) != len(rs) {
				t.Fatalf("re-encoding %d readings: %d, %v", len(rs), len(again), err)
			}
			for i := range rs {
				if !again[i].At.Equal(rs[i].At) || math.Float64bits(again[i].Value) != math.Float64bits(rs[i].Value) {
					t.Fatalf("reading %d: %+v then %+v", i, rs[i], again[i])
				}
			}
		}
		if err := forEachHourSeries(b, func([]byte, []byte, rollupAgg) {}); err != nil && !errors.Is(err, errBadReadingsBlob) {
			t.Fatalf("hourly: error %v does not wrap errBadReadingsBlob", err)
		}
	})
}
