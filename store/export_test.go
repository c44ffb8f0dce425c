package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dolbom/dolbom/console"

	"github.com/dolbom/dolbom/devices"
	"time"

	"github.com/rs/zerolog"
)

// OpenAtVersion creates cfg's database as a binary that knew migrations 1
// to version only would have, and returns a function that runs SQL on it
// ($N placeholders) and one that closes it.
func OpenAtVersion(ctx context.Context, cfg Config, version int) (exec func(query string, args ...any) error, closeDB func(), err error) {
	var be backend
	if cfg.DatabaseURL != "" {
		be, err = openPostgres(ctx, cfg.DatabaseURL)
	} else {
		be, err = openSQLite(ctx, cfg.DataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := migrateTo(ctx, be, zerolog.Nop(), version, time.Now()); err != nil {
		be.close()
		return nil, nil, err
	}
	exec = func(query string, args ...any) error { _, err := be.exec(ctx, query, args...); return err }
	return exec, be.close, nil
}

// SealRollups runs one pass of the rollup sealer (rollup_seal.go).
func SealRollups(ctx context.Context, s *Store) error { return s.sealRollups(ctx) }

// SealHour seals one hour again, as a crashed sealer's successor does.
func SealHour(ctx context.Context, s *Store, hour time.Time) error {
	_, err := s.sealHour(ctx, toUS(hour))
	return err
}

// SetSealInterrupt makes the sealer call f after each chunk of hubs; an
// error stops it there, as a crash would.
func SetSealInterrupt(s *Store, f func(chunk int) error) { s.sealInterrupt = f }

// SetAfterDirtyDelete makes the sealer call f inside the transaction that
// took a chunk of markers, right after the DELETE.
func SetAfterDirtyDelete(s *Store, f func()) { s.afterDirtyDelete = f }

// RollupState returns the sealed hour, the number of late-data markers and
// every stored hourly blob by "hub@bucket".
func RollupState(ctx context.Context, s *Store) (sealed time.Time, markers int, blobs map[string][]byte, err error) {
	sb, err := sealedBefore(ctx, s.rd)
	if err != nil {
		return time.Time{}, 0, nil, err
	}
	if err := s.rd.queryRow(ctx, `SELECT COUNT(*) FROM rollup_dirty`).Scan(&markers); err != nil {
		return time.Time{}, 0, nil, err
	}
	rows, err := s.rd.query(ctx, `SELECT hub_id, bucket_us, data FROM rollup_hub_1h`)
	if err != nil {
		return time.Time{}, 0, nil, err
	}
	defer rows.Close()
	blobs = map[string][]byte{}
	for rows.Next() {
		var hub string
		var bucket int64
		var data []byte
		if err := rows.Scan(&hub, &bucket, &data); err != nil {
			return time.Time{}, 0, nil, err
		}
		blobs[hub+"@"+fromUS(bucket).Format(time.RFC3339)] = data
	}
	return fromUS(sb), markers, blobs, rows.Err()
}

// EncodeHourBlob returns the hourly blob of one series.
func EncodeHourBlob(sensor devices.SensorID, metric devices.Metric, count int64, sum, min, max float64) []byte {
	return appendHourBlob(nil, []hourSeries{{sensorMetric{sensor, metric}, rollupAgg{count, sum, min, max}}})
}

// EncodeReadings returns the reading_batches blob of rs.
func EncodeReadings(rs []devices.Reading) []byte { return appendReadingsBlob(nil, rs) }

// SetWALResetBytes sets the WAL size past which the checkpoint loop resets
// the WAL, and returns a function that restores it.
func SetWALResetBytes(n int64) (restore func()) {
	old := walResetBytes
	walResetBytes = n
	return func() { walResetBytes = old }
}

// QueryRow runs a query on s's database (core tables) and scans its one row.
func QueryRow(ctx context.Context, s *Store, query string, args []any, dest ...any) error {
	return s.be.queryRow(ctx, query, args...).Scan(dest...)
}

// QueryStateRow runs a query on the database of s's saved state (state.db
// on the embedded store, see stateTables) and scans its one row.
func QueryStateRow(ctx context.Context, s *Store, query string, args []any, dest ...any) error {
	return s.st.queryRow(ctx, query, args...).Scan(dest...)
}

// FleetFill registers n residents (spread over 40 시도 of 7 시군구 each),
// n hubs and n hubs' health rows straight into the tables, in multi-row
// inserts, then runs ANALYZE so that both planners know the sizes: the
// setting of TestFleetQueryPlan.
func (s *Store) FleetFill(ctx context.Context, n int) error {
	const chunk = 500
	for start := 0; start < n; start += chunk {
		rows := min(chunk, n-start)
		var res, hubs, health []any
		for i := start; i < start+rows; i++ {
			id := fmt.Sprintf("%07d", i)
			district := fmt.Sprintf("%02d%03d", 11+i%40, i%7)
			res = append(res, "res-"+id, "x", []byte{}, int64(0), int64(0), district)
			hubs = append(hubs, "hub-"+id, "res-"+id, "M-"+strconv.Itoa(i%3), int64(0), int64(1+i), int64(0), int64(0))
			health = append(health, "hub-"+id, fmt.Sprintf(`{"hub_id":"hub-%s","online":%t,"battery":%d,"firmware":"1.%d","last_seen":"2026-12-01T00:00:00Z"}`, id, i%10 != 0, i%100, i%4), int64(0))
		}
		if _, err := s.be.exec(ctx, `INSERT INTO residents (id, name, access_sealed, created_us, updated_us, district_code) VALUES `+s.be.values(rows, 6), res...); err != nil {
			return err
		}
		if _, err := s.be.exec(ctx, `INSERT INTO hubs (id, resident_id, model, installed_us, end_of_life_us, created_us, updated_us) VALUES `+s.be.values(rows, 7), hubs...); err != nil {
			return err
		}
		if _, err := s.st.exec(ctx, `INSERT INTO hub_health (hub_id, data, updated_us) VALUES `+s.st.values(rows, 3), health...); err != nil {
			return err
		}
	}
	for _, b := range []backend{s.be, s.st} {
		if _, err := b.exec(ctx, `ANALYZE`); err != nil {
			return err
		}
	}
	return nil
}

// FleetPlan returns the plan of the fleet list (or, with groups, of the
// counts) for q: SQLite's EXPLAIN QUERY PLAN details or PostgreSQL's
// EXPLAIN lines.
func (s *Store) FleetPlan(ctx context.Context, q console.FleetQuery, groups bool) ([]string, error) {
	build := s.fleetListSQL
	if groups {
		build = s.fleetGroupsSQL
	}
	query, args, err := build(q)
	if err != nil {
		return nil, err
	}
	explain := "EXPLAIN QUERY PLAN "
	if s.isPostgres() {
		explain = "EXPLAIN "
	}
	rs, err := s.st.query(ctx, explain+query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var line string
		if s.isPostgres() {
			err = rs.Scan(&line)
		} else {
			var id, parent, unused int
			err = rs.Scan(&id, &parent, &unused, &line)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, rs.Err()
}
