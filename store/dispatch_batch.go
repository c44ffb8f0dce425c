package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// insertChunkRows bounds the rows of one multi-row INSERT of the dispatch
// tables (SQLite allows 32,766 parameters; a mutation writes a few rows).
const insertChunkRows = 200

// txWriter runs the writes of ApplyIncidents. On PostgreSQL it queues
// them and sends them as one batch (one round trip) when the transaction
// next needs to read or commits: a detection's incident, outbox rows,
// timeline and NOTIFY then cost one round trip instead of one each. On
// SQLite, in process, it runs each write at once; the first error is kept
// and returned by flush.
type txWriter struct {
	ctx   context.Context // of the transaction, for SQLite's immediate writes
	q     querier
	tx    pgx.Tx // nil on SQLite
	batch *pgx.Batch
	err   error
	// enqueues is set once a mutation queued outbox rows (PostgreSQL then
	// sends NOTIFY).
	enqueues bool
	// changes is set once a mutation wrote an incident (PostgreSQL then
	// notifies the live feeds of every gateway).
	changes bool
}

func (s *database) newTxWriter(ctx context.Context, q querier) *txWriter {
	w := &txWriter{ctx: ctx, q: q}
	if pq, ok := q.(pgxQuerier); ok {
		if tx, ok := pq.db.(pgx.Tx); ok {
			w.tx, w.batch = tx, &pgx.Batch{}
		}
	}
	return w
}

// exec queues a statement; affected, when not nil, is given the number of
// rows it changed.
func (w *txWriter) exec(query string, args []any, affected func(n int64)) {
	if w.tx != nil {
		w.batch.Queue(query, args...).Exec(func(ct pgconn.CommandTag) error {
			if affected != nil {
				affected(ct.RowsAffected())
			}
			return nil
		})
		return
	}
	if w.err != nil {
		return
	}
	n, err := w.q.exec(w.ctx, query, args...)
	if err != nil {
		w.err = fmt.Errorf("%.40s...: %w", query, err)
		return
	}
	if affected != nil {
		affected(n)
	}
}

// queryRow queues a statement that returns one row, handed to scan.
func (w *txWriter) queryRow(query string, args []any, scan func(r interface{ Scan(...any) error }) error) {
	if w.tx != nil {
		w.batch.Queue(query, args...).QueryRow(func(r pgx.Row) error { return scan(r) })
		return
	}
	if w.err != nil {
		return
	}
	w.err = scan(w.q.queryRow(w.ctx, query, args...))
}

// flush sends what is queued and returns the first error.
func (w *txWriter) flush(ctx context.Context) error {
	if w.tx == nil || w.batch.Len() == 0 {
		return w.err
	}
	b := w.batch
	w.batch = &pgx.Batch{}
	if err := w.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}
