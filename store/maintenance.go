package store

import (
	"context"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/internal/every"
)

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
func usDuration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// runMaintenance runs retention every MaintenanceInterval until ctx ends.
func (s *Store) runMaintenance(ctx context.Context) {
	every.Tick(ctx, s.cfg.MaintenanceInterval, func() {
		res, ran, err := s.RunRetentionAlone(ctx, s.cfg.Now())
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("retention failed; will retry")
			}
			return
		}
		if !ran {
			s.log.Debug().Msg("retention skipped: another gateway of the database runs it")
			return
		}
		s.log.Debug().Int64("readings", res.Readings).Int64("accel", res.Accel).
			Int64("rollups_1h", res.HourRollups).Msg("retention done")
	})
}

// RetentionResult counts what one retention pass deleted: Readings counts
// readings (in whole batches), HourRollups (hub, hour) rows. Minute
// summaries are computed from the raw readings and go with them.
type RetentionResult struct {
	Readings, Accel, HourRollups int64
}

// retentionChunk is rows deleted per statement, so that no transaction holds
// the writer (and the events behind it) for long.
const retentionChunk = 5000

// RunRetention deletes, as of now, raw readings older than RawRetention,
// accel chunks older than AccelRetention (both except incident evidence),
// and hourly rollups (and late-data markers) past HourRollupRetention.
// Readings go by batch: a batch is deleted once its newest reading is past
// RawRetention, and a batch overlapping an evidence window of its hub is
// kept whole. The raw batches are also the source of the hourly rollups
// (rollup_seal.go), so a batch is kept from blobsBefore on: while its hour
// is not sealed, or from the earliest hour with a marker waiting, where the
// hourly queries read raw rows and the sealer recomputes from them. With the defaults (72 h against a seal 1 h + SealGrace after the
// hour starts) that never holds a batch back unless the sealer is behind.
// Run calls it periodically.
func (s *Store) RunRetention(ctx context.Context, now time.Time) (RetentionResult, error) {
	var res RetentionResult
	rid := s.rd.rowID()
	for _, job := range []struct {
		table, cond string
		keep        time.Duration
		count       string // what RETURNING sums into deleted
		deleted     *int64
	}{
		// Raw rows from blobsBefore on stay: the hourly queries aggregate
		// them, and that covers unsealed hours and every hour with a
		// marker waiting (the sealer recomputes those from raw).
		{"reading_batches", `to_us < $1 AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.hub_id = t.hub_id
			AND e.from_us <= t.to_us AND e.to_us >= t.from_us)
			AND t.from_us < ` + blobsBeforeSQL, s.cfg.RawRetention, "n", &res.Readings},
		{"accel", `ts_us < $1 AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.hub_id = t.hub_id
			AND t.ts_us BETWEEN e.from_us AND e.to_us)`, s.cfg.AccelRetention, "1", &res.Accel},
		{"rollup_hub_1h", `bucket_us < $1`, s.cfg.HourRollupRetention, "1", &res.HourRollups},
		// Markers of hours past the rollups' retention: nothing to recompute.
		{"rollup_dirty", `bucket_us < $1`, s.cfg.HourRollupRetention, "1", new(int64)},
	} {
		query := fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s t WHERE %[3]s LIMIT %[4]d) RETURNING %[5]s`,
			job.table, rid, job.cond, retentionChunk, job.count)
		cutoff := toUS(now.Add(-job.keep))
		for {
			var rowsDeleted, n int64
			err := s.rd.inTx(ctx, func(q querier) error {
				rowsDeleted, n = 0, 0
				rows, err := q.query(ctx, query, cutoff)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var c int64
					if err := rows.Scan(&c); err != nil {
						return err
					}
					rowsDeleted++
					n += c
				}
				return rows.Err()
			})
			if err != nil {
				return res, fmt.Errorf("store: retention of %s: %w", job.table, err)
			}
			*job.deleted += n
			if rowsDeleted < retentionChunk {
				break
			}
		}
	}
	return res, nil
}

// Evidence is the raw data of one hub kept for an incident.
type Evidence struct {
	IncidentID string
	Hub        devices.HubID
	From, To   time.Time
	Readings   []devices.Reading    // every sensor and metric, in time order
	Accel      []devices.AccelChunk // in time order
}

// KeepEvidence marks the raw readings and accelerometer chunks of hub from
// from to to (inclusive) as the evidence of an incident: retention skips
// them. It marks a window rather than copying rows, so readings still in the
// write queue, or store-and-forwarded later by the hub, are kept too.
// Calling it again for the same incident widens the window; an incident
// belongs to one hub (another hub is devices.ErrConflict).
func (s Incidents) KeepEvidence(ctx context.Context, incidentID string, hub devices.HubID, from, to time.Time) error {
	if incidentID == "" || len(incidentID) > 128 || hub == "" {
		return invalid("evidence needs an incident id (at most 128 characters) and a hub")
	}
	if to.Before(from) {
		return invalid("evidence window ends (%s) before it starts (%s)", to, from)
	}
	return s.be.inTx(ctx, func(q querier) error {
		_, err := q.exec(ctx, fmt.Sprintf(`INSERT INTO evidence (incident_id, hub_id, from_us, to_us, created_us)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident_id) DO UPDATE SET
			from_us = %s(evidence.from_us, excluded.from_us), to_us = %s(evidence.to_us, excluded.to_us)
			WHERE evidence.hub_id = excluded.hub_id`, s.be.least(), s.be.greatest()),
			incidentID, string(hub), toUS(from), toUS(to), toUS(s.now()))
		if err != nil {
			return fmt.Errorf("store: keep evidence: %w", err)
		}
		var stored string
		if err := q.queryRow(ctx, `SELECT hub_id FROM evidence WHERE incident_id = $1`, incidentID).Scan(&stored); err != nil {
			return fmt.Errorf("store: keep evidence: %w", err)
		}
		if stored != string(hub) {
			return fmt.Errorf("store: %w: %w: incident %s of hub %s, not %s", devices.ErrConflict, dispatch.ErrEvidenceOfAnotherHub, incidentID, stored, hub)
		}
		return nil
	})
}

// Evidence returns what KeepEvidence kept for an incident.
func (s Incidents) Evidence(ctx context.Context, incidentID string) (Evidence, error) {
	ev := Evidence{IncidentID: incidentID}
	var hub string
	var from, to int64
	err := s.be.queryRow(ctx, `SELECT hub_id, from_us, to_us FROM evidence WHERE incident_id = $1`, incidentID).Scan(&hub, &from, &to)
	if isNoRows(err) {
		return ev, fmt.Errorf("store: evidence of incident %s: %w", incidentID, devices.ErrNotFound)
	}
	if err != nil {
		return ev, fmt.Errorf("store: evidence: %w", err)
	}
	ev.Hub, ev.From, ev.To = devices.HubID(hub), fromUS(from), fromUS(to)
	if ev.Readings, err = s.hubReadings(ctx, ev.Hub, from, to, nil); err != nil {
		return ev, fmt.Errorf("store: evidence readings: %w", err)
	}
	sortEvidence(ev.Readings)
	arows, err := s.rd.query(ctx, `SELECT sensor_id, ts_us, received_us, rate_hz, samples FROM accel
		WHERE hub_id = $1 AND ts_us BETWEEN $2 AND $3 ORDER BY ts_us`, hub, from, to)
	if err != nil {
		return ev, fmt.Errorf("store: evidence accel: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		c := devices.AccelChunk{Hub: ev.Hub}
		var sensor string
		var ts, received int64
		var samples []byte
		if err := arows.Scan(&sensor, &ts, &received, &c.RateHz, &samples); err != nil {
			return ev, fmt.Errorf("store: evidence accel: %w", err)
		}
		c.Sensor, c.At, c.Received = devices.SensorID(sensor), fromUS(ts), fromUS(received)
		if err := decodeSamples(samples, &c); err != nil {
			return ev, err
		}
		ev.Accel = append(ev.Accel, c)
	}
	return ev, arows.Err()
}
