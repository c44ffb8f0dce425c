package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// EventQuery selects stored events.
type EventQuery struct {
	Hub   devices.HubID // "" for every hub
	Since time.Time     // received at or after
	Limit int           // default 100, at most 10000
}

// ListEvents returns events in the order the gateway received them.
func (s *Store) ListEvents(ctx context.Context, eq EventQuery) ([]devices.Event, error) {
	limit := eq.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	w := where{}
	w.add("received_us >= ?", toUS(eq.Since))
	if eq.Hub != "" {
		w.add("hub_id = ?", string(eq.Hub))
	}
	rows, err := s.be.query(ctx, `SELECT hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value, detail
		FROM events`+w.sql()+fmt.Sprintf(` ORDER BY received_us, seq LIMIT %d`, limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	defer rows.Close()
	var out []devices.Event
	for rows.Next() {
		var e devices.Event
		var hub, id, kind, sensor string
		var ts, received int64
		var detail *string
		if err := rows.Scan(&hub, &id, &kind, &sensor, &ts, &received, &e.Value, &e.HasValue, &detail); err != nil {
			return nil, fmt.Errorf("store: list events: %w", err)
		}
		e.Hub, e.ID, e.Kind, e.Sensor = devices.HubID(hub), devices.EventID(id), devices.EventKind(kind), devices.SensorID(sensor)
		e.At, e.Received = fromUS(ts), fromUS(received)
		if detail != nil {
			e.Detail = json.RawMessage(*detail)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	return out, nil
}

// Readings returns the raw readings of one sensor's metric with from <= At <
// to, in time order. Raw readings are kept for RawRetention.
func (s *Store) Readings(ctx context.Context, hub devices.HubID, sensor devices.SensorID, metric devices.Metric, from, to time.Time) ([]devices.Reading, error) {
	rows, err := s.be.query(ctx, `SELECT sensor_id, metric, ts_us, value, quality FROM readings
		WHERE hub_id = $1 AND ts_us >= $2 AND ts_us < $3 AND sensor_id = $4 AND metric = $5 ORDER BY ts_us`,
		string(hub), toUS(from), toUS(to), string(sensor), string(metric))
	if err != nil {
		return nil, fmt.Errorf("store: readings: %w", err)
	}
	return scanReadings(rows)
}

func scanReadings(rows rows) ([]devices.Reading, error) {
	defer rows.Close()
	var out []devices.Reading
	for rows.Next() {
		var r devices.Reading
		var sensor, metric string
		var ts int64
		var quality float64
		if err := rows.Scan(&sensor, &metric, &ts, &r.Value, &quality); err != nil {
			return nil, fmt.Errorf("store: readings: %w", err)
		}
		r.Sensor, r.Metric, r.At, r.Quality = devices.SensorID(sensor), devices.Metric(metric), fromUS(ts), float32(quality)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: readings: %w", err)
	}
	return out, nil
}

// Rollup is the summary of one metric of one sensor over one bucket.
type Rollup struct {
	Bucket             time.Time // start of the minute or hour
	Count              int64
	Sum, Min, Max, Avg float64
}

// Rollups returns per-minute (resolution time.Minute) or per-hour
// (time.Hour) summaries whose bucket starts in [from, to), in time order.
func (s *Store) Rollups(ctx context.Context, hub devices.HubID, sensor devices.SensorID, metric devices.Metric, resolution time.Duration, from, to time.Time) ([]Rollup, error) {
	var table string
	switch resolution {
	case time.Minute:
		table = "rollup_1m"
	case time.Hour:
		table = "rollup_1h"
	default:
		return nil, invalid("rollup resolution %s: want 1m or 1h", resolution)
	}
	rows, err := s.be.query(ctx, `SELECT bucket_us, count, sum, min, max FROM `+table+`
		WHERE hub_id = $1 AND sensor_id = $2 AND metric = $3 AND bucket_us >= $4 AND bucket_us < $5 ORDER BY bucket_us`,
		string(hub), string(sensor), string(metric), toUS(from), toUS(to))
	if err != nil {
		return nil, fmt.Errorf("store: rollups: %w", err)
	}
	return scanRollups(rows, "rollups")
}

// scanRollups reads rows of (bucket_us, count, sum, min, max), one sensor's
// or summed over several, and closes them. op names the query in errors.
func scanRollups(rows rows, op string) ([]Rollup, error) {
	defer rows.Close()
	var out []Rollup
	for rows.Next() {
		var r Rollup
		var bucket int64
		if err := rows.Scan(&bucket, &r.Count, &r.Sum, &r.Min, &r.Max); err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		r.Bucket = fromUS(bucket)
		if r.Count > 0 {
			r.Avg = r.Sum / float64(r.Count)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return out, nil
}
