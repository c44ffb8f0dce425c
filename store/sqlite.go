package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLiteFile is the database file's name in the data directory.
const SQLiteFile = "dolbom.db"

// SQLitePath returns the path of the embedded database under dataDir.
func SQLitePath(dataDir string) string { return filepath.Join(dataDir, SQLiteFile) }

// sqliteBackend is the embedded back end. SQLite has one writer at a time;
// writeMu makes writers queue in Go instead of in SQLite's busy handler,
// which sleeps in steps of milliseconds and would ruin commit latency.
type sqliteBackend struct {
	sqlQuerier
	db      *sql.DB
	writeMu sync.Mutex
}

func openSQLite(ctx context.Context, dataDir string) (*sqliteBackend, error) {
	if dataDir == "" {
		return nil, fmt.Errorf("store: %w: DataDir or DatabaseURL is required", ErrInvalid)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	// WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL
	// at every commit, which is what "durable before PUBACK" means here.
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)",
		// Checkpoints run in the background (checkpointLoop), not inside
		// whichever commit crosses the threshold, where they stall the
		// events waiting on that commit for tens of milliseconds.
		"wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + SQLitePath(dataDir) + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", SQLitePath(dataDir), err)
	}
	return &sqliteBackend{sqlQuerier: sqlQuerier{db}, db: db}, nil
}

func (b *sqliteBackend) name() string                                  { return "sqlite" }
func (b *sqliteBackend) migrations() fs.FS                             { return mustSub("migrations/sqlite") }
func (b *sqliteBackend) lockMigrations(context.Context, querier) error { return nil }
func (b *sqliteBackend) least() string                                 { return "min" }
func (b *sqliteBackend) greatest() string                              { return "max" }
func (b *sqliteBackend) values(rows, width int) string                 { return anonPlaceholders(rows, width) }
func (b *sqliteBackend) rowID() string                                 { return "rowid" }
func (b *sqliteBackend) close()                                        { _ = b.db.Close() }

// checkpointEvery is how often the WAL is copied back into the database.
const checkpointEvery = time.Second

// checkpointLoop checkpoints the WAL until ctx ends. A PASSIVE checkpoint
// runs beside the writer without blocking it; the WAL restarts from the
// beginning once a checkpoint has caught up, so it stays small.
func (b *sqliteBackend) checkpointLoop(ctx context.Context) error {
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if _, err := b.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil && ctx.Err() == nil {
				return fmt.Errorf("store: wal checkpoint: %w", err)
			}
		}
	}
}

func (b *sqliteBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	return b.tx(ctx, func(tx *sql.Tx) error { return fn(sqlQuerier{tx}) })
}

func (b *sqliteBackend) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// insertEvents: statements in SQLite run in-process, so one prepared INSERT
// per event inside the group's transaction costs microseconds, and its
// RowsAffected says exactly which events were new.
func (b *sqliteBackend) insertEvents(ctx context.Context, evs []*devices.Event) ([]bool, error) {
	fresh := make([]bool, len(evs))
	err := b.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO events
			(hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (hub_id, event_id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, e := range evs {
			res, err := st.ExecContext(ctx, eventArgs(e)...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			fresh[i] = n == 1
		}
		return nil
	})
	return fresh, err
}

// sqliteInsertChunk is rows per multi-row INSERT: large enough to amortise
// the statement, small enough for SQLite's parameter limit.
const sqliteInsertChunk = 128

func (b *sqliteBackend) writeSamples(ctx context.Context, w *sampleBatch) error {
	return b.tx(ctx, func(tx *sql.Tx) error {
		if err := insertChunked(ctx, tx, `INSERT INTO readings (hub_id, sensor_id, metric, ts_us, value, quality) VALUES `,
			6, len(w.readings), func(i int, args []any) []any {
				r := &w.readings[i]
				return append(args, string(r.hub), string(r.Sensor), string(r.Metric), toUS(r.At), r.Value, float64(r.Quality))
			}); err != nil {
			return fmt.Errorf("readings: %w", err)
		}
		if err := insertChunked(ctx, tx, `INSERT INTO accel (hub_id, sensor_id, ts_us, received_us, rate_hz, samples) VALUES `,
			6, len(w.accel), func(i int, args []any) []any {
				return append(args, accelArgs(w.accel[i])...)
			}); err != nil {
			return fmt.Errorf("accel: %w", err)
		}
		return upsertRollups(ctx, sqlQuerier{tx}, b, w)
	})
}

// insertChunked inserts n rows with prepared multi-row INSERTs.
func insertChunked(ctx context.Context, tx *sql.Tx, prefix string, width, n int, appendRow func(i int, args []any) []any) error {
	var full *sql.Stmt
	args := make([]any, 0, sqliteInsertChunk*width)
	for start := 0; start < n; start += sqliteInsertChunk {
		end := min(start+sqliteInsertChunk, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = appendRow(i, args)
		}
		var err error
		if end-start == sqliteInsertChunk {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, prefix+anonPlaceholders(sqliteInsertChunk, width)); err != nil {
					return err
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, prefix+anonPlaceholders(end-start, width), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
