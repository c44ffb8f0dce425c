package store

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// fenced: events are journaled only under their hub's current
	// ownership epoch (Config.Cluster, fence.go).
	fenced bool

	// pinger is the monitor's own connection, outside the pool: a ping
	// measures the server, not a pool busy with a burst of work.
	pinger struct {
		sync.Mutex
		cfg  *pgx.ConnConfig
		conn *pgx.Conn
	}
}

// markDirtyPG inserts rollup_dirty markers ($1 hub ids, $2 hour buckets);
// see writeSamples for why an existing marker is updated, not skipped.
const markDirtyPG = `INSERT INTO rollup_dirty (hub_id, bucket_us)
	SELECT * FROM unnest($1::text[], $2::bigint[])
	ON CONFLICT (hub_id, bucket_us) DO UPDATE SET bucket_us = excluded.bucket_us`

// defaultPoolConns is the pool size when the database URL does not set
// pool_max_conns: a connection for each writer and background loop, and
// room for reads beside them.
const defaultPoolConns = 16

// Connection settings against a database that stops answering, each taken
// unless the URL (or PGCONNECT_TIMEOUT) sets its own.
const (
	// pgStatementTimeout is the server-side statement_timeout: a statement
	// stuck on a lock or running away is cancelled by the server. The
	// longest ordinary statements (a flush, a sealing chunk, a retention
	// chunk) take seconds; migrations lift it (lockMigrations).
	pgStatementTimeout = time.Minute
	// pgConnectTimeout bounds a new connection, startup included: a server
	// that accepts TCP but does not answer (a stopped postmaster) would
	// otherwise hold a pool slot until it resumes, since pgxpool connects
	// on a context of its own.
	pgConnectTimeout = 5 * time.Second
)

// pgKeepAlive makes a dead server or network noticed within
// Idle + Interval*Count (30 s) on an idle connection, and pgUserTimeout
// within as long on one with a query on the wire (setUserTimeout). A
// server process that is stopped but whose machine runs still answers
// both: the store's deadlines (CommitTimeout, PingTimeout, the credential
// lookups') bound those waits.
var pgKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

const pgUserTimeout = 30 * time.Second

func openPostgres(ctx context.Context, databaseURL string) (*postgresBackend, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: %w: database URL: %v", devices.ErrInvalid, err)
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		// pgxpool's default is max(4, CPUs): 4 here, shared by the readings,
		// event and dispatch writers, the detectors' saves and up to 64
		// credential lookups of a connect wave, which then queued behind a
		// save's upserts (300,000 homes took 66 s to connect). The URL's
		// pool_max_conns overrides.
		cfg.MaxConns = defaultPoolConns
	}
	cc := cfg.ConnConfig
	if !strings.Contains(databaseURL, "statement_timeout") {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(pgStatementTimeout.Milliseconds(), 10)
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = pgConnectTimeout
	}
	dialer := &net.Dialer{Timeout: cc.ConnectTimeout, KeepAliveConfig: pgKeepAlive, Control: setUserTimeout(pgUserTimeout)}
	cc.DialFunc = dialer.DialContext
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect postgres %s@%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, err)
	}
	b := &postgresBackend{pgxQuerier: pgxQuerier{db: pool, execFn: pgxExec(pool)}, pool: pool}
	b.pinger.cfg = cc.Copy()
	return b, nil
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

func (b *postgresBackend) close() {
	b.pinger.Lock()
	if b.pinger.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = b.pinger.conn.Close(ctx)
		cancel()
		b.pinger.conn = nil
	}
	b.pinger.Unlock()
	b.pool.Close()
}

// ping runs SELECT 1 on the pinger's connection, connecting it first if
// needed. A connection that fails is closed; one that was broken (the
// server restarted, a proxy dropped it) rather than slow is made again at
// once and tried once more, so that only a server that does not answer
// fails the ping.
func (b *postgresBackend) ping(ctx context.Context) error {
	b.pinger.Lock()
	defer b.pinger.Unlock()
	for retry := b.pinger.conn != nil; ; retry = false {
		if b.pinger.conn == nil {
			conn, err := pgx.ConnectConfig(ctx, b.pinger.cfg)
			if err != nil {
				return err
			}
			b.pinger.conn = conn
		}
		_, err := b.pinger.conn.Exec(ctx, `SELECT 1`)
		if err == nil {
			return nil
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = b.pinger.conn.Close(cctx)
		cancel()
		b.pinger.conn = nil
		if !retry || pgconn.Timeout(err) || ctx.Err() != nil {
			return err
		}
	}
}

// readings: one database; its writers take row locks, not the database's,
// so a readings flush does not hold an event's commit back.
func (b *postgresBackend) readings() backend { return b }
func (b *postgresBackend) state() backend    { return b }

// probeWrite commits a transaction that has been given an id, which
// writes and flushes a commit record to the WAL, and touches no table.
func (b *postgresBackend) probeWrite(ctx context.Context) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT txid_current()`)
		return err
	})
}

// lockMigrations takes a transaction-scoped advisory lock so that gateways
// starting together migrate one after the other, and lifts the statement
// timeout for the migration (converting a national-scale table takes
// longer than any ordinary statement).
func (b *postgresBackend) lockMigrations(ctx context.Context, q querier) error {
	if _, err := q.exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
		return err
	}
	_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(7242016)`)
	return err
}

// Advisory lock keys of the jobs that one gateway of a database runs at a
// time (7242016 is the migrations' transaction lock).
const (
	sealLockKey      = 7242017 // the rollup sealer (rollup_seal.go)
	retentionLockKey = 7242018 // retention (retention_lock.go)
)

// tryLock takes a session-level advisory lock on a connection kept out
// of the pool until unlock; if the connection dies, PostgreSQL releases
// the lock with the session and another gateway takes over.
func (b *postgresBackend) tryLock(ctx context.Context, key int64) (func(), bool, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return func() {
		// Bounded: a hung database must not hold Store.Run at shutdown.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// Never hand a connection that may still hold the lock back
			// to the pool: closing the session releases it.
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}, true, nil
}

func (b *postgresBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		return fn(pgxQuerier{db: tx, execFn: pgxExec(tx)})
	})
}

// insertEventsSQL inserts a group of events given as column arrays.
const insertEventsSQL = `INSERT INTO events
		(hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value, detail)
		SELECT h, i, k, s, t, r, v, hv, d::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
		            $7::float8[], $8::bool[], $9::text[]) AS u(h, i, k, s, t, r, v, hv, d)
		ON CONFLICT (hub_id, event_id) DO NOTHING
		RETURNING hub_id, event_id, seq`

// insertEventsFencedSQL is insertEventsSQL in cluster mode: $10 holds
// each event's epoch, and an event is inserted only while that is its
// hub's current epoch (fence.go). Without the fence an event of the old
// owner's group could commit after the new owner read its replay: missed
// by the new owner, refused as a detection of the old one, and if the
// PUBACK went out, never resent (a lost SOS). With it, the insert commits
// before the claim (the replay sees it) or is refused (no PUBACK). The
// rows keep the group's order (ORDINALITY), as their positions did.
const insertEventsFencedSQL = `WITH ` + ownersForShare + `
	INSERT INTO events
		(hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value, detail)
		SELECT h, i, k, s, t, r, v, hv, d::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
		            $7::float8[], $8::bool[], $9::text[], $10::bigint[]) WITH ORDINALITY AS u(h, i, k, s, t, r, v, hv, d, ep, n)
		JOIN own ON own.hub_id = u.h AND own.epoch = u.ep
		ORDER BY u.n
		ON CONFLICT (hub_id, event_id) DO NOTHING
		RETURNING hub_id, event_id, seq`

// insertEvents inserts the whole group with one statement: unnest turns the
// column arrays into rows, ON CONFLICT DO NOTHING skips stored ids (and a
// repeat within the group), RETURNING names the rows that were new and their
// journal positions. Redeliveries' positions are read back in one more
// query, only when the group has any. Fenced (cluster mode), an event
// neither inserted nor stored was refused by the fence: its seq stays 0.
// The read-back tells the two apart: a redelivery that is stored is
// acknowledged whatever its epoch (it is durable, and the new owner's
// replay reads it), one that is not was refused.
func (b *postgresBackend) insertEvents(ctx context.Context, evs []*devices.Event, locked func()) ([]bool, []int64, error) {
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
	seqs := make([]int64, n)
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Release()
	if locked != nil {
		locked()
	}
	query, args := insertEventsSQL, []any{hubs, ids, kinds, sensors, ts, received, values, hasValues, details}
	if b.fenced {
		epochs := make([]int64, n)
		for i, e := range evs {
			epochs[i] = int64(e.Epoch)
		}
		query, args = insertEventsFencedSQL, append(args, epochs)
	}
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	var k key
	var seq int64
	inserted := 0
	for rows.Next() {
		if err := rows.Scan(&k.hub, &k.id, &seq); err != nil {
			rows.Close()
			return nil, nil, err
		}
		fresh[first[k]], seqs[first[k]] = true, seq
		inserted++
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if inserted == n {
		return fresh, seqs, nil
	}
	// Redeliveries (and repeats within the group): the positions of the
	// stored rows, committed before (or by the statement above).
	rows, err = conn.Query(ctx, `SELECT e.hub_id, e.event_id, e.seq FROM events e
		JOIN unnest($1::text[], $2::text[]) AS u(h, i) ON e.hub_id = u.h AND e.event_id = u.i`, hubs, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("positions of stored events: %w", err)
	}
	stored := make(map[key]int64, n-inserted)
	for rows.Next() {
		if err := rows.Scan(&k.hub, &k.id, &seq); err != nil {
			rows.Close()
			return nil, nil, err
		}
		stored[k] = seq
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for i := range evs {
		if seqs[i] == 0 {
			seqs[i] = stored[key{hubs[i], ids[i]}]
		}
	}
	return fresh, seqs, nil
}

// writeSamples uses COPY, PostgreSQL's fastest way in, for batch rows and
// chunks. Hourly blobs are the sealer's (rollup_seal.go); in the same
// transaction as the rows go only the markers of late rows and the merge of
// very old ones (sampleBatch.planLate), so that neither can be separated
// from the rows it accounts for.
func (b *postgresBackend) writeSamples(ctx context.Context, w *sampleBatch) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if len(w.batches) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"reading_batches"},
				[]string{"hub_id", "from_us", "to_us", "n", "received_us", "data"},
				pgx.CopyFromSlice(len(w.batches), func(i int) ([]any, error) {
					r := &w.batches[i]
					return []any{string(r.hub), r.fromUS, r.toUS, int32(r.n), r.receivedUS, w.data(r)}, nil
				}))
			if err != nil {
				return fmt.Errorf("copy reading batches: %w", err)
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
		if len(w.dirty) > 0 {
			hubs, buckets := hourKeyArrays(w.dirty)
			// DO UPDATE, not DO NOTHING: the no-op update locks an existing
			// marker until this flush commits, so the sealer's DELETE of it
			// waits and then either takes it (its raw read sees our rows) or
			// leaves it for the next round. DO NOTHING takes no lock: the
			// sealer could delete the old marker and read the raw rows
			// before our commit, and our late rows would never be folded in.
			if _, err := tx.Exec(ctx, markDirtyPG, hubs, buckets); err != nil {
				return fmt.Errorf("rollup markers: %w", err)
			}
		}
		if len(w.old) > 0 {
			if err := mergeOldHoursPG(ctx, tx, w); err != nil {
				return fmt.Errorf("hourly rollups: %w", err)
			}
		}
		return nil
	})
}

// mergeOldHoursPG merges the aggregates of w.old into the hourly blobs. Several
// gateways may share the database and a hub may move between them, so the
// stored blobs are read FOR NO KEY UPDATE (the lock the UPDATE takes), in
// key order so that two writers cannot deadlock; keys with no row yet are
// inserted with ON CONFLICT DO NOTHING, and a key another writer inserted
// meanwhile is read again, locked, and merged like the others. No cache
// across flushes: another gateway may have changed a blob since.
func mergeOldHoursPG(ctx context.Context, tx pgx.Tx, w *sampleBatch) error {
	keys := w.sortedOldKeys()
	for start := 0; start < len(keys); start += hourChunk {
		chunk := keys[start:min(start+hourChunk, len(keys))]
		old, err := lockHoursPG(ctx, tx, chunk)
		if err != nil {
			return err
		}
		var upd, ins []hourKey
		for _, k := range chunk {
			if _, ok := old[k]; ok {
				upd = append(upd, k)
			} else {
				ins = append(ins, k)
			}
		}
		if len(ins) > 0 {
			hubs, buckets := hourKeyArrays(ins)
			data := make([][]byte, len(ins))
			for i, k := range ins {
				data[i] = w.mergedHour(k, nil)
			}
			rows, err := tx.Query(ctx, `INSERT INTO rollup_hub_1h (hub_id, bucket_us, data)
				SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
				ON CONFLICT (hub_id, bucket_us) DO NOTHING RETURNING hub_id, bucket_us`, hubs, buckets, data)
			if err != nil {
				return err
			}
			inserted := make(map[hourKey]bool, len(ins))
			for rows.Next() {
				k, err := scanHourKey(rows, nil)
				if err != nil {
					rows.Close()
					return err
				}
				inserted[k] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			var raced []hourKey
			for _, k := range ins {
				if !inserted[k] {
					raced = append(raced, k)
				}
			}
			if len(raced) > 0 {
				more, err := lockHoursPG(ctx, tx, raced)
				if err != nil {
					return err
				}
				for k, b := range more {
					old[k] = b
				}
				upd = append(upd, raced...)
			}
		}
		if len(upd) > 0 {
			hubs, buckets := hourKeyArrays(upd)
			data := make([][]byte, len(upd))
			for i, k := range upd {
				data[i] = w.mergedHour(k, old[k])
			}
			if _, err := tx.Exec(ctx, `UPDATE rollup_hub_1h r SET data = u.d
				FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS u(h, b, d)
				WHERE r.hub_id = u.h AND r.bucket_us = u.b`, hubs, buckets, data); err != nil {
				return err
			}
		}
	}
	return nil
}

func hourKeyArrays(keys []hourKey) ([]string, []int64) {
	hubs, buckets := make([]string, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		hubs[i], buckets[i] = string(k.hub), k.bucket
	}
	return hubs, buckets
}

// lockHoursPG returns the stored blobs of keys (sorted), locked until the
// transaction ends.
func lockHoursPG(ctx context.Context, tx pgx.Tx, keys []hourKey) (map[hourKey][]byte, error) {
	hubs, buckets := hourKeyArrays(keys)
	rows, err := tx.Query(ctx, `SELECT r.hub_id, r.bucket_us, r.data FROM rollup_hub_1h r
		JOIN unnest($1::text[], $2::bigint[]) AS u(h, b) ON r.hub_id = u.h AND r.bucket_us = u.b
		ORDER BY r.hub_id COLLATE "C", r.bucket_us FOR NO KEY UPDATE OF r`, hubs, buckets)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	old := make(map[hourKey][]byte, len(keys))
	for rows.Next() {
		var data []byte
		k, err := scanHourKey(rows, &data)
		if err != nil {
			return nil, err
		}
		old[k] = data
	}
	return old, rows.Err()
}
