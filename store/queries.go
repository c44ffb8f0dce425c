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

// HubEvents returns the hub's events received at or after since, oldest
// first (api.EventLog).
func (s Journal) HubEvents(ctx context.Context, hub devices.HubID, since time.Time, limit int) ([]devices.Event, error) {
	return s.ListEvents(ctx, EventQuery{Hub: hub, Since: since, Limit: limit})
}

// ListEvents returns events in the order the gateway received them.
func (s Journal) ListEvents(ctx context.Context, eq EventQuery) ([]devices.Event, error) {
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
	return collect(rows, err, "list events", func(sc row) (devices.Event, error) {
		var e devices.Event
		var hub, id, kind, sensor string
		var ts, received int64
		var detail *string
		if err := sc.Scan(&hub, &id, &kind, &sensor, &ts, &received, &e.Value, &e.HasValue, &detail); err != nil {
			return devices.Event{}, err
		}
		e.Hub, e.ID, e.Kind, e.Sensor = devices.HubID(hub), devices.EventID(id), devices.EventKind(kind), devices.SensorID(sensor)
		e.At, e.Received = fromUS(ts), fromUS(received)
		if detail != nil {
			e.Detail = json.RawMessage(*detail)
		}
		return e, nil
	})
}

// Readings returns the raw readings of one sensor's metric with from <= At <
// to, in time order. Raw readings are kept for RawRetention (a batch is
// deleted once its newest reading is past it).
func (s Journal) Readings(ctx context.Context, hub devices.HubID, sensor devices.SensorID, metric devices.Metric, from, to time.Time) ([]devices.Reading, error) {
	rs, err := s.hubReadings(ctx, hub, toUS(from), toUS(to)-1, oneSeries(sensor, metric))
	if err != nil {
		return nil, fmt.Errorf("store: readings: %w", err)
	}
	return rs, nil
}

// Rollup is the summary of one metric of one sensor over one bucket.
type Rollup struct {
	Bucket             time.Time // start of the minute or hour
	Count              int64
	Sum, Min, Max, Avg float64
}

// Rollups returns per-minute (resolution time.Minute) or per-hour
// (time.Hour) summaries whose bucket starts in [from, to), in time order.
// Minute summaries are computed from the raw readings, so they exist only
// within RawRetention (72 h by default); hourly ones are stored (one row per
// hub and hour, sealed from the raw readings once the hour is over:
// rollup_seal.go) for HourRollupRetention, and computed from the raw
// readings for the hours not sealed yet.
func (s Journal) Rollups(ctx context.Context, hub devices.HubID, sensor devices.SensorID, metric devices.Metric, resolution time.Duration, from, to time.Time) ([]Rollup, error) {
	var out []Rollup
	var err error
	switch resolution {
	case time.Minute:
		out, err = s.minuteRollups(ctx, hub, sensor, metric, from, to)
	case time.Hour:
		out, err = s.hourRollups(ctx, hub, sensor, metric, from, to)
	default:
		return nil, invalid("rollup resolution %s: want 1m or 1h", resolution)
	}
	if err != nil {
		return nil, fmt.Errorf("store: rollups: %w", err)
	}
	return out, nil
}

// maxWindowReadings bounds HubSamples' readings.
const maxWindowReadings = 200000

// HubSamples returns every raw reading and accelerometer chunk of a hub
// with from <= time <= to, as Evidence does for a kept window
// (web.EvidenceReader). The consoles read it around an incident whether
// or not KeepEvidence was called (raw samples live for RawRetention).
func (s Journal) HubSamples(ctx context.Context, hub devices.HubID, from, to time.Time) ([]devices.Reading, []devices.AccelChunk, error) {
	var ev Evidence
	rs, err := s.hubReadings(ctx, hub, toUS(from), toUS(to), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("store: evidence window readings: %w", err)
	}
	sortEvidence(rs)
	ev.Readings = rs[:min(len(rs), maxWindowReadings)]
	// A chunk that started shortly before from still covers it.
	arows, err := s.rd.query(ctx, `SELECT sensor_id, ts_us, received_us, rate_hz, samples FROM accel
		WHERE hub_id = $1 AND ts_us BETWEEN $2 AND $3 ORDER BY ts_us LIMIT 5000`, string(hub), toUS(from.Add(-10*time.Second)), toUS(to))
	if err != nil {
		return nil, nil, fmt.Errorf("store: evidence window accel: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		c := devices.AccelChunk{Hub: hub}
		var sensor string
		var ts, received int64
		var samples []byte
		if err := arows.Scan(&sensor, &ts, &received, &c.RateHz, &samples); err != nil {
			return nil, nil, fmt.Errorf("store: evidence window accel: %w", err)
		}
		c.Sensor, c.At, c.Received = devices.SensorID(sensor), fromUS(ts), fromUS(received)
		if err := decodeSamples(samples, &c); err != nil {
			return nil, nil, err
		}
		ev.Accel = append(ev.Accel, c)
	}
	return ev.Readings, ev.Accel, arows.Err()
}
