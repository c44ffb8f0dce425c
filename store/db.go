package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/jackc/pgx/v5"
)

// querier is the little of a database connection or transaction that the
// shared SQL needs. database/sql (SQLite) and pgx (PostgreSQL) are adapted to
// it, so registry, health and query code is written once; only bulk writes,
// where each back end has its own fast path, live in the back-end files.
// Every statement uses $N placeholders, which both drivers accept.
type querier interface {
	exec(ctx context.Context, sql string, args ...any) (int64, error)
	query(ctx context.Context, sql string, args ...any) (rows, error)
	queryRow(ctx context.Context, sql string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface{ Scan(dest ...any) error }

// backend is one database engine.
type backend interface {
	querier
	// name is "sqlite" or "postgres", for logs and errors.
	name() string
	// inTx runs fn in one write transaction, committed when fn returns nil.
	inTx(ctx context.Context, fn func(q querier) error) error
	// migrations is the back end's embedded set of NNNN_name.sql files.
	migrations() fs.FS
	// lockMigrations serialises migrations of several gateways starting at
	// once against one database (no-op where one process owns the file).
	lockMigrations(ctx context.Context, q querier) error
	// insertEvents inserts events in one transaction and reports, per event,
	// whether it was new and its journal position (seq), the stored row's
	// for one that was not; a (hub, id) repeated within evs is new once.
	// locked, if not nil, is called once the writer holds what the commit
	// needs (SQLite's write lock, a PostgreSQL connection), so that the
	// journal can tell waiting for it from committing. A seq of 0 marks an
	// event refused because its epoch is not its hub's current one
	// (PostgreSQL in cluster mode only, fence.go).
	insertEvents(ctx context.Context, evs []*devices.Event, locked func()) (fresh []bool, seqs []int64, err error)
	// writeSamples appends readings and accelerometer chunks, the markers
	// of late rows and the merge of very old ones, all in one transaction.
	writeSamples(ctx context.Context, w *sampleBatch) error
	// ping checks that the database answers, within ctx.
	ping(ctx context.Context) error
	// probeWrite makes a small durable write (a commit that must reach the
	// disk) and changes no data, to learn that writes work again.
	probeWrite(ctx context.Context) error
	// tryLock takes the lock key (sealLockKey, retentionLockKey) if no
	// other gateway holds it; unlock releases it. ok is false when another
	// gateway holds it.
	tryLock(ctx context.Context, key int64) (unlock func(), ok bool, err error)
	// least and greatest are the two-argument min and max functions.
	least() string
	greatest() string
	// values returns the placeholders of a multi-row VALUES list.
	values(rowCount, width int) string
	// rowID names the physical row address used to delete in chunks.
	rowID() string
	// readings is the back end of the readings tables (raw batches, accel,
	// hourly rollups and their markers): the embedded store keeps them in a
	// file of their own, with its own write lock; PostgreSQL in the same
	// database (itself).
	readings() backend
	// state is the back end of the State sub-store's tables and the
	// journal positions: on the embedded store a file of their own (see
	// stateTables), on PostgreSQL the same database (itself).
	state() backend
	close()
}

// isNoRows reports the "no row" error of either driver.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// Times are stored as Unix microseconds in BIGINT columns on both back ends:
// one encoding, no time-zone conversions, and compact in SQLite. The zero
// time is stored as 0.
func toUS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromUS(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// anonPlaceholders returns "(?,?,?),(?,?,?)". SQLite binds "?" by position,
// while finding a "$N" parameter's number costs a scan of all parameter
// names: quadratic in a statement of a thousand parameters.
func anonPlaceholders(rowCount, width int) string {
	row := "(" + strings.Repeat("?,", width-1) + "?)"
	return strings.Repeat(row+",", rowCount-1) + row
}

// placeholders returns "($1,$2,$3),($4,$5,$6)" for rows of width columns,
// numbering from 1.
func placeholders(rowCount, width int) string {
	var b strings.Builder
	n := 1
	for r := range rowCount {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range width {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "$%d", n)
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// sqlDB adapts database/sql to querier.
type sqlDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type sqlQuerier struct{ db sqlDB }

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	r, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (q sqlQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.db.QueryRowContext(ctx, query, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// pgxQuerier adapts a pgx pool or transaction to querier.
type pgxQuerier struct {
	db interface {
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
	execFn func(ctx context.Context, sql string, args ...any) (int64, error)
}

func (q pgxQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return q.execFn(ctx, query, args...)
}

func (q pgxQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return q.db.Query(ctx, query, args...)
}

func (q pgxQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.db.QueryRow(ctx, query, args...)
}

// collect reads every row of a query (rs, or the query's error err) with
// scan, the store's list methods' one loop: each error, the query's, a
// row's or the iteration's, is wrapped as "store: what: ...".
func collect[T any](rs rows, err error, what string, scan func(row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// one is the result of a read of one record by its id: devices.ErrNotFound,
// naming the record, when no row came back; any other error wrapped as
// "store: get what".
func one[T any](v T, err error, what string, id any) (T, error) {
	if isNoRows(err) {
		return v, fmt.Errorf("store: %s %v: %w", what, id, devices.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("store: get %s: %w", what, err)
	}
	return v, nil
}
