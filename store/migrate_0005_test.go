package store_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// TestMigrateReadings0005: a database left by a binary at schema 4 (a row
// per reading, per-series rollups) opened by this one returns the same
// readings and rollups.
func TestMigrateReadings0005(t *testing.T) {
	base := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	migrateFrom(t, 4, func(t *testing.T, exec func(string, ...any) error) {
		type row struct {
			hub, sensor string
			metric      devices.Metric
			at          time.Time
			value       float64
			quality     float32
		}
		rows := []row{
			{"hub-1", "k", devices.MetricTemperature, base.Add(5 * time.Second), 20, -1},
			{"hub-1", "k", devices.MetricTemperature, base.Add(25 * time.Second), 22.5, -1},
			{"hub-1", "b", devices.MetricTemperature, base.Add(25 * time.Second), 99, -1},
			{"hub-1", "k", devices.MetricTemperature, base.Add(60 * time.Second), 30, -1},
			{"hub-1", "k", devices.MetricTemperature, base.Add(61 * time.Minute), 10, -1},
			{"hub-1", "radar", devices.MetricHeartRate, base.Add(61 * time.Minute), 71, 0.875},
			{"hub-2", "k", devices.MetricTemperature, base.Add(5 * time.Second), 18, -1},
		}
		type key struct {
			hub, sensor string
			metric      devices.Metric
			bucket      int64
		}
		type agg struct {
			count         int64
			sum, min, max float64
		}
		hours := map[key]agg{}
		for _, r := range rows {
			if err := exec(`INSERT INTO readings (hub_id, sensor_id, metric, ts_us, value, quality) VALUES ($1, $2, $3, $4, $5, $6)`,
				r.hub, r.sensor, string(r.metric), r.at.UnixMicro(), r.value, float64(r.quality)); err != nil {
				t.Fatal(err)
			}
			k := key{r.hub, r.sensor, r.metric, r.at.Truncate(time.Hour).UnixMicro()}
			a, ok := hours[k]
			if !ok {
				a = agg{min: r.value, max: r.value}
			}
			a.count++
			a.sum += r.value
			a.min, a.max = math.Min(a.min, r.value), math.Max(a.max, r.value)
			hours[k] = a
		}
		// An hour whose raw readings are already past retention.
		hours[key{"hub-1", "k", devices.MetricTemperature, base.Add(-30 * 24 * time.Hour).UnixMicro()}] = agg{4, 80, 19, 21}
		for k, a := range hours {
			if err := exec(`INSERT INTO rollup_1h (hub_id, sensor_id, metric, bucket_us, count, sum, min, max) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				k.hub, k.sensor, string(k.metric), k.bucket, a.count, a.sum, a.min, a.max); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, ctx context.Context, s *store.Store, _ string) {
		rs, err := s.Journal().Readings(ctx, "hub-1", "k", devices.MetricTemperature, base, base.Add(2*time.Hour))
		if err != nil || len(rs) != 4 || rs[0].Value != 20 || rs[1].Value != 22.5 || rs[3].Value != 10 ||
			!rs[3].At.Equal(base.Add(61*time.Minute)) || rs[0].Quality != -1 {
			t.Errorf("Readings = %+v, %v", rs, err)
		}
		hr, err := s.Journal().Readings(ctx, "hub-1", "radar", devices.MetricHeartRate, base, base.Add(2*time.Hour))
		if err != nil || len(hr) != 1 || hr[0].Value != 71 || hr[0].Quality != 0.875 {
			t.Errorf("heart rate = %+v, %v", hr, err)
		}
		storetest.WantRollups(t, s, time.Minute, base, base.Add(2*time.Hour), []store.Rollup{
			{Bucket: base, Count: 2, Sum: 42.5, Min: 20, Max: 22.5, Avg: 21.25},
			{Bucket: base.Add(time.Minute), Count: 1, Sum: 30, Min: 30, Max: 30, Avg: 30},
			{Bucket: base.Add(61 * time.Minute), Count: 1, Sum: 10, Min: 10, Max: 10, Avg: 10},
		})
		storetest.WantRollups(t, s, time.Hour, base.Add(-31*24*time.Hour), base.Add(2*time.Hour), []store.Rollup{
			{Bucket: base.Add(-30 * 24 * time.Hour), Count: 4, Sum: 80, Min: 19, Max: 21, Avg: 20},
			{Bucket: base, Count: 3, Sum: 72.5, Min: 20, Max: 30, Avg: 72.5 / 3},
			{Bucket: base.Add(time.Hour), Count: 1, Sum: 10, Min: 10, Max: 10, Avg: 10},
		})
		other, err := s.Journal().Readings(ctx, "hub-2", "k", devices.MetricTemperature, base, base.Add(time.Hour))
		if err != nil || len(other) != 1 || other[0].Value != 18 {
			t.Errorf("hub-2 readings = %+v, %v", other, err)
		}
	})
}
