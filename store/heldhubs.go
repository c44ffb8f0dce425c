package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"time"
)

// SaveHeldHubs replaces the set of hubs that broker node `node` holds
// (broker.HeldHubs): hubs are the broker's 64-bit hashes of the hub ids, kept
// as they come, 8 bytes each, in one row per node. At 300,000 hubs the row
// is 2.4 MB, written when the set changed (the broker skips unchanged
// ones): one row is far cheaper to write and to read back at start than
// 300,000.
//
// It is a background write: on SQLite it waits behind the urgent writers
// (events, incidents) at the write gate like the other saves, and its
// commit does not wait for the disk (relaxed, as readings flushes are), so
// an SOS that comes after it waits for the row's copy into the WAL, not for
// an fsync of 2.4 MB; on PostgreSQL it commits with synchronous_commit off.
// Losing the last save in a power cut is harmless: the set only lets the
// node's own hubs past the load guard after a restart, and the save before
// it stays.
func (s State) SaveHeldHubs(ctx context.Context, node string, at time.Time, hubs []uint64) error {
	blob := make([]byte, 8*len(hubs))
	for i, h := range hubs {
		binary.BigEndian.PutUint64(blob[8*i:], h)
	}
	err := s.inRelaxedTx(ctx, s.st, func(q querier) error {
		_, err := q.exec(ctx, `INSERT INTO held_hubs (node, saved_us, hubs) VALUES ($1, $2, $3)
			ON CONFLICT (node) DO UPDATE SET saved_us = excluded.saved_us, hubs = excluded.hubs`, node, toUS(at), blob)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save held hubs of node %q: %w", node, err)
	}
	return nil
}

// LoadHeldHubs returns what SaveHeldHubs last saved for node and when; no
// hubs and a zero time when nothing was saved for it.
func (s State) LoadHeldHubs(ctx context.Context, node string) (hubs []uint64, at time.Time, err error) {
	var blob []byte
	var savedUS int64
	err = s.st.queryRow(ctx, `SELECT saved_us, hubs FROM held_hubs WHERE node = $1`, node).Scan(&savedUS, &blob)
	switch {
	case isNoRows(err):
		return nil, time.Time{}, nil
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("store: load held hubs of node %q: %w", node, err)
	case len(blob)%8 != 0:
		return nil, time.Time{}, fmt.Errorf("store: load held hubs of node %q: %d bytes is not a whole number of 8-byte hashes", node, len(blob))
	}
	hubs = make([]uint64, len(blob)/8)
	for i := range hubs {
		hubs[i] = binary.BigEndian.Uint64(blob[8*i:])
	}
	return hubs, fromUS(savedUS), nil
}

// inRelaxedTx runs fn in a background write transaction of be whose
// commit does not wait for the disk: on SQLite behind the urgent writers
// at the gate, with synchronous=NORMAL; on PostgreSQL with
// synchronous_commit off. For writes that a power cut may lose without
// harm because they can be rebuilt or are superseded. Order is kept on
// both: SQLite's WAL frames carry cumulative checksums and PostgreSQL
// flushes its WAL in order, so a later durable commit (a journal position)
// is never on disk without them. On SQLite that order holds within one
// file only: what must follow them durably lives in the same file
// (stateTables).
func (s *database) inRelaxedTx(ctx context.Context, be backend, fn func(q querier) error) error {
	if sb, ok := be.(*sqliteBackend); ok {
		return sb.txClass(ctx, bulkWrite, true, func(tx *sql.Tx) error { return fn(sqlQuerier{tx}) })
	}
	return be.inTx(ctx, func(q querier) error {
		if s.isPostgres() {
			if _, err := q.exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
				return err
			}
		}
		return fn(q)
	})
}
