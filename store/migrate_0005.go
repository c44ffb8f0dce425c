package store

import (
	"context"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/rs/zerolog"
)

// migrationSteps are Go steps run right after a migration's SQL, in the
// same transaction, for conversions SQL cannot express.
var migrationSteps = map[int]func(ctx context.Context, q querier, be backend, log zerolog.Logger, now time.Time) error{
	5: convertReadings0005,
	6: startSealing0006,
}

// convertReadings0005 moves the data of the row-per-reading tables into
// the packed ones that migration 5 created, then drops the old tables:
// readings become one batch row per hub and minute, and rollup_1h rows one
// blob per hub and hour. It works hub by hub, so memory holds one hub's
// rows at a time.
func convertReadings0005(ctx context.Context, q querier, be backend, log zerolog.Logger, _ time.Time) error {
	hubs, err := distinctHubs(ctx, q, "readings")
	if err != nil {
		return err
	}
	var batches, readings int
	for _, hub := range hubs {
		rows, err := q.query(ctx, `SELECT sensor_id, metric, ts_us, value, quality FROM readings WHERE hub_id = $1 ORDER BY ts_us`, hub)
		if err != nil {
			return fmt.Errorf("read readings: %w", err)
		}
		var rs []devices.Reading
		for rows.Next() {
			var sensor, metric string
			var ts int64
			var r devices.Reading
			var quality float64
			if err := rows.Scan(&sensor, &metric, &ts, &r.Value, &quality); err != nil {
				rows.Close()
				return fmt.Errorf("read readings: %w", err)
			}
			r.Sensor, r.Metric, r.At, r.Quality = devices.SensorID(sensor), devices.Metric(metric), fromUS(ts), float32(quality)
			rs = append(rs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read readings: %w", err)
		}
		var args []any
		n := 0
		flush := func() error {
			if n == 0 {
				return nil
			}
			_, err := q.exec(ctx, `INSERT INTO reading_batches (hub_id, from_us, to_us, n, received_us, data) VALUES `+be.values(n, 6), args...)
			args, n = args[:0], 0
			return err
		}
		for start := 0; start < len(rs); {
			minute := floorDiv(toUS(rs[start].At), usPerMinute)
			end := start + 1
			for end < len(rs) && floorDiv(toUS(rs[end].At), usPerMinute) == minute {
				end++
			}
			piece := rs[start:end]
			from, to := toUS(piece[0].At), toUS(piece[len(piece)-1].At)
			args = append(args, hub, from, to, len(piece), to, appendReadingsBlob(nil, piece))
			batches++
			readings += len(piece)
			if n++; n == 100 {
				if err := flush(); err != nil {
					return fmt.Errorf("write reading batches: %w", err)
				}
			}
			start = end
		}
		if err := flush(); err != nil {
			return fmt.Errorf("write reading batches: %w", err)
		}
	}

	hubs, err = distinctHubs(ctx, q, "rollup_1h")
	if err != nil {
		return err
	}
	hours := 0
	for _, hub := range hubs {
		rows, err := q.query(ctx, `SELECT sensor_id, metric, bucket_us, count, sum, min, max FROM rollup_1h WHERE hub_id = $1 ORDER BY bucket_us`, hub)
		if err != nil {
			return fmt.Errorf("read hourly rollups: %w", err)
		}
		var buckets []int64
		series := map[int64][]hourSeries{}
		for rows.Next() {
			var sensor, metric string
			var bucket int64
			var a rollupAgg
			if err := rows.Scan(&sensor, &metric, &bucket, &a.count, &a.sum, &a.min, &a.max); err != nil {
				rows.Close()
				return fmt.Errorf("read hourly rollups: %w", err)
			}
			if _, ok := series[bucket]; !ok {
				buckets = append(buckets, bucket)
			}
			series[bucket] = append(series[bucket], hourSeries{sensorMetric{devices.SensorID(sensor), devices.Metric(metric)}, a})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read hourly rollups: %w", err)
		}
		for start := 0; start < len(buckets); start += 100 {
			chunk := buckets[start:min(start+100, len(buckets))]
			args := make([]any, 0, 3*len(chunk))
			for _, b := range chunk {
				args = append(args, hub, b, appendHourBlob(nil, series[b]))
			}
			if _, err := q.exec(ctx, `INSERT INTO rollup_hub_1h (hub_id, bucket_us, data) VALUES `+be.values(len(chunk), 3), args...); err != nil {
				return fmt.Errorf("write hourly rollups: %w", err)
			}
			hours += len(chunk)
		}
	}
	for _, t := range []string{"readings", "rollup_1h"} {
		if _, err := q.exec(ctx, `DROP TABLE `+t); err != nil {
			return fmt.Errorf("drop %s: %w", t, err)
		}
	}
	if readings > 0 || hours > 0 {
		log.Info().Int("readings", readings).Int("reading_batches", batches).Int("hub_hours", hours).
			Msg("readings and hourly rollups converted to the packed tables")
	}
	return nil
}

func distinctHubs(ctx context.Context, q querier, table string) ([]string, error) {
	rows, err := q.query(ctx, `SELECT DISTINCT hub_id FROM `+table)
	if err != nil {
		return nil, fmt.Errorf("list hubs of %s: %w", table, err)
	}
	defer rows.Close()
	var hubs []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("list hubs of %s: %w", table, err)
		}
		hubs = append(hubs, h)
	}
	return hubs, rows.Err()
}
