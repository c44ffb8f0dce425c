package store

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Reads over the packed tables: reading_batches (a row per received batch
// and hour, readings_codec.go) and rollup_hub_1h (a row per hub and hour).
// They decode in Go and return exactly what the row-per-reading and
// row-per-series tables returned.

// hubReadings returns hub's readings with loUS <= time <= hiUS whose
// (sensor, metric) keep accepts (all when nil), in time order; readings at
// the same time keep their stored order.
func (s *database) hubReadings(ctx context.Context, hub devices.HubID, loUS, hiUS int64, keep func(devices.SensorID, devices.Metric) bool) ([]devices.Reading, error) {
	if hiUS < loUS {
		return nil, nil
	}
	// A row lies within one hour, so a row ending at or after loUS starts
	// at or after loUS's hour: the index range is bounded on both sides.
	// Ordered to the last tie (batchOrder), as the sealer reads them: float
	// sums folded in another order could differ in the last bit.
	rows, err := s.rd.query(ctx, `SELECT data FROM reading_batches
		WHERE hub_id = $1 AND from_us >= $2 AND from_us <= $3 AND to_us >= $4 ORDER BY `+batchOrder,
		string(hub), floorDiv(loUS, usPerHour)*usPerHour, hiUS, loUS)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []devices.Reading
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		n := len(out)
		if out, err = decodeReadingsBlob(data, out, keep); err != nil {
			return nil, err
		}
		kept := out[:n]
		for _, r := range out[n:] {
			if us := toUS(r.At); us >= loUS && us <= hiUS {
				kept = append(kept, r)
			}
		}
		out = kept
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortByTime(out)
	return out, nil
}

// oneSeries keeps the readings of one sensor's metric.
func oneSeries(sensor devices.SensorID, metric devices.Metric) func(devices.SensorID, devices.Metric) bool {
	return func(s devices.SensorID, m devices.Metric) bool { return s == sensor && m == metric }
}

// sortEvidence orders readings by time, then sensor, then metric, as the
// evidence queries always have.
func sortEvidence(rs []devices.Reading) {
	slices.SortStableFunc(rs, func(a, b devices.Reading) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Sensor, b.Sensor); c != 0 {
			return c
		}
		return cmp.Compare(a.Metric, b.Metric)
	})
}

// minuteRollups aggregates one series' raw readings per minute, for the
// buckets starting in [from, to).
func (s *database) minuteRollups(ctx context.Context, hub devices.HubID, sensor devices.SensorID, metric devices.Metric, from, to time.Time) ([]Rollup, error) {
	return s.rawRollups(ctx, hub, sensor, metric, toUS(from), toUS(to), usPerMinute)
}

// rawRollups aggregates one series' raw readings per bucket of unit µs,
// for the buckets starting in [fromUS, toUS): the minute rollups, and the
// hourly ones of hours not sealed yet.
func (s *database) rawRollups(ctx context.Context, hub devices.HubID, sensor devices.SensorID, metric devices.Metric, fromUS, toUS, unit int64) ([]Rollup, error) {
	lo, hi := ceilTo(fromUS, unit), ceilTo(toUS, unit)
	rs, err := s.hubReadings(ctx, hub, lo, hi-1, oneSeries(sensor, metric))
	if err != nil {
		return nil, err
	}
	var out []Rollup
	foldBuckets(rs, unit, func(bucket int64, a rollupAgg) { out = append(out, rollupOf(bucket, a)) })
	return out, nil
}

// foldBuckets folds readings in time order into per-bucket aggregates of
// unit µs, calling emit per bucket in time order. Its fold is foldSeries's,
// in the same order, so a sealed hour reads as it did unsealed.
func foldBuckets(rs []devices.Reading, unit int64, emit func(bucket int64, a rollupAgg)) {
	var agg rollupAgg
	bucket := int64(0)
	for _, r := range rs {
		b := floorDiv(toUS(r.At), unit) * unit
		if b != bucket || agg.count == 0 {
			if agg.count > 0 {
				emit(bucket, agg)
			}
			bucket, agg = b, rollupAgg{}
		}
		agg = mergeAgg(agg, oneAgg(r.Value))
	}
	if agg.count > 0 {
		emit(bucket, agg)
	}
}

func ceilTo(us, unit int64) int64 { return -floorDiv(-us, unit) * unit }

func rollupOf(bucketUS int64, a rollupAgg) Rollup {
	r := Rollup{Bucket: fromUS(bucketUS), Count: a.count, Sum: a.sum, Min: a.min, Max: a.max}
	if a.count > 0 {
		r.Avg = a.sum / float64(a.count)
	}
	return r
}

// hourRollups returns one series' hourly rollups of hub whose bucket starts
// in [from, to): the sealed hours from their blobs, the later ones from the
// raw readings (rollup_seal.go).
func (s *database) hourRollups(ctx context.Context, hub devices.HubID, sensor devices.SensorID, metric devices.Metric, from, to time.Time) ([]Rollup, error) {
	sb, err := blobsBefore(ctx, s.rd)
	if err != nil {
		return nil, err
	}
	fromUS, toUS := toUS(from), toUS(to)
	var out []Rollup
	if fromUS < sb {
		rows, err := s.rd.query(ctx, `SELECT bucket_us, data FROM rollup_hub_1h
			WHERE hub_id = $1 AND bucket_us >= $2 AND bucket_us < $3 ORDER BY bucket_us`,
			string(hub), fromUS, min(toUS, sb))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var bucket int64
			var data []byte
			if err := rows.Scan(&bucket, &data); err != nil {
				return nil, err
			}
			if err := forEachHourSeries(data, func(sn, mt []byte, a rollupAgg) {
				if string(sn) == string(sensor) && string(mt) == string(metric) {
					out = append(out, rollupOf(bucket, a))
				}
			}); err != nil {
				return nil, err
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if toUS > sb {
		recent, err := s.rawRollups(ctx, hub, sensor, metric, max(fromUS, sb), toUS, usPerHour)
		if err != nil {
			return nil, err
		}
		out = append(out, recent...)
	}
	return out, nil
}

// rawHourly calls fn with the hourly aggregates of metric of each sensor of
// hub, from the raw readings, for the hours starting in [fromUS, toUS):
// sensor by sensor in sensor order, as a sealed blob holds them.
func (s *database) rawHourly(ctx context.Context, hub devices.HubID, metric devices.Metric, fromUS, toUS int64, fn func(bucket int64, a rollupAgg)) error {
	lo, hi := ceilTo(fromUS, usPerHour), ceilTo(toUS, usPerHour)
	if lo >= hi {
		return nil
	}
	rs, err := s.hubReadings(ctx, hub, lo, hi-1, func(_ devices.SensorID, m devices.Metric) bool { return m == metric })
	if err != nil {
		return err
	}
	// A stable sort keeps each sensor's readings in time order.
	slices.SortStableFunc(rs, func(a, b devices.Reading) int { return cmp.Compare(a.Sensor, b.Sensor) })
	for start := 0; start < len(rs); {
		end := start
		for end < len(rs) && rs[end].Sensor == rs[start].Sensor {
			end++
		}
		foldBuckets(rs[start:end], usPerHour, fn)
		start = end
	}
	return nil
}
