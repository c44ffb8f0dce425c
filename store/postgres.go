package store

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/dolbom/dolbom/devices"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresBackend is the PostgreSQL back end, for production and for several
// gateways sharing one database.
type postgresBackend struct {
	pgxQuerier
	pool *pgxpool.Pool
}

func openPostgres(ctx context.Context, databaseURL string) (*postgresBackend, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: %w: database URL: %v", ErrInvalid, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect postgres %s@%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, err)
	}
	return &postgresBackend{pgxQuerier: pgxQuerier{db: pool, execFn: pgxExec(pool)}, pool: pool}, nil
}

func pgxExec(db interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}) func(ctx context.Context, sql string, args ...any) (int64, error) {
	return func(ctx context.Context, sql string, args ...any) (int64, error) {
		tag, err := db.Exec(ctx, sql, args...)
		return tag.RowsAffected(), err
	}
}

func (b *postgresBackend) name() string                  { return "postgres" }
func (b *postgresBackend) migrations() fs.FS             { return mustSub("migrations/postgres") }
func (b *postgresBackend) least() string                 { return "LEAST" }
func (b *postgresBackend) greatest() string              { return "GREATEST" }
func (b *postgresBackend) values(rows, width int) string { return placeholders(rows, width) }
func (b *postgresBackend) rowID() string                 { return "ctid" }
func (b *postgresBackend) close()                        { b.pool.Close() }

// lockMigrations takes a transaction-scoped advisory lock so that gateways
// starting together migrate one after the other.
func (b *postgresBackend) lockMigrations(ctx context.Context, q querier) error {
	_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(7242016)`)
	return err
}

func (b *postgresBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		return fn(pgxQuerier{db: tx, execFn: pgxExec(tx)})
	})
}

// insertEvents inserts the whole group with one statement: unnest turns the
// column arrays into rows, ON CONFLICT DO NOTHING skips stored ids (and a
// repeat within the group), RETURNING names the rows that were new.
func (b *postgresBackend) insertEvents(ctx context.Context, evs []*devices.Event) ([]bool, error) {
	n := len(evs)
	hubs, ids, kinds, sensors := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ts, received := make([]int64, n), make([]int64, n)
	values, hasValues := make([]float64, n), make([]bool, n)
	details := make([]*string, n)
	type key struct{ hub, id string }
	first := make(map[key]int, n)
	for i, e := range evs {
		hubs[i], ids[i], kinds[i], sensors[i] = string(e.Hub), string(e.ID), string(e.Kind), string(e.Sensor)
		ts[i], received[i], values[i], hasValues[i] = toUS(e.At), toUS(e.Received), e.Value, e.HasValue
		if len(e.Detail) > 0 {
			d := string(e.Detail)
			details[i] = &d
		}
		if _, ok := first[key{hubs[i], ids[i]}]; !ok {
			first[key{hubs[i], ids[i]}] = i
		}
	}
	fresh := make([]bool, n)
	rows, err := b.pool.Query(ctx, `INSERT INTO events
		(hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value, detail)
		SELECT h, i, k, s, t, r, v, hv, d::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
		            $7::float8[], $8::bool[], $9::text[]) AS u(h, i, k, s, t, r, v, hv, d)
		ON CONFLICT (hub_id, event_id) DO NOTHING
		RETURNING hub_id, event_id`,
		hubs, ids, kinds, sensors, ts, received, values, hasValues, details)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var k key
	for rows.Next() {
		if err := rows.Scan(&k.hub, &k.id); err != nil {
			return nil, err
		}
		fresh[first[k]] = true
	}
	return fresh, rows.Err()
}

// writeSamples uses COPY, PostgreSQL's fastest way in, for readings and
// chunks, and merges the rollups in the same transaction.
func (b *postgresBackend) writeSamples(ctx context.Context, w *sampleBatch) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if len(w.readings) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"readings"},
				[]string{"hub_id", "sensor_id", "metric", "ts_us", "value", "quality"},
				pgx.CopyFromSlice(len(w.readings), func(i int) ([]any, error) {
					r := &w.readings[i]
					return []any{string(r.hub), string(r.Sensor), string(r.Metric), toUS(r.At), r.Value, r.Quality}, nil
				}))
			if err != nil {
				return fmt.Errorf("copy readings: %w", err)
			}
		}
		if len(w.accel) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"accel"},
				[]string{"hub_id", "sensor_id", "ts_us", "received_us", "rate_hz", "samples"},
				pgx.CopyFromSlice(len(w.accel), func(i int) ([]any, error) { return accelArgs(w.accel[i]), nil }))
			if err != nil {
				return fmt.Errorf("copy accel: %w", err)
			}
		}
		return upsertRollups(ctx, pgxQuerier{db: tx, execFn: pgxExec(tx)}, b, w)
	})
}
