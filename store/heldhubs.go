package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// SaveHeldHubs replaces the set of hubs that broker node `node` holds
// (broker.HeldHubs): hubs are the broker's 64-bit hashes of the hub ids, kept
// as they come, 8 bytes each, in one row per node. At 300,000 hubs the row
// is 2.4 MB, written about once a minute: one row is far cheaper to write
// and to read back at start than 300,000.
func (s *Store) SaveHeldHubs(ctx context.Context, node string, at time.Time, hubs []uint64) error {
	blob := make([]byte, 8*len(hubs))
	for i, h := range hubs {
		binary.BigEndian.PutUint64(blob[8*i:], h)
	}
	err := s.be.inTx(ctx, func(q querier) error {
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
func (s *Store) LoadHeldHubs(ctx context.Context, node string) (hubs []uint64, at time.Time, err error) {
	var blob []byte
	var savedUS int64
	err = s.be.queryRow(ctx, `SELECT saved_us, hubs FROM held_hubs WHERE node = $1`, node).Scan(&savedUS, &blob)
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
