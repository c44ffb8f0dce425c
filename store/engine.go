package store

import (
	"context"
	"fmt"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// The rule engine's saved per-home state: opaque bytes that the detectors
// package encodes and decodes. It implements detectors.EngineStore.

// homeChunk is homes per multi-row upsert.
const homeChunk = 500

// SaveHomes upserts the snapshots of many homes, a few hundred per
// statement and one transaction per statement, so that the single SQLite
// writer is free between chunks for the emergencies that wait on it.
func (s *Store) SaveHomes(ctx context.Context, homes []detectors.HomeSnapshot) error {
	now := toUS(s.now())
	for start := 0; start < len(homes); start += homeChunk {
		chunk := homes[start:min(start+homeChunk, len(homes))]
		args := make([]any, 0, 3*len(chunk))
		seen := make(map[devices.HubID]bool, len(chunk))
		for i := len(chunk) - 1; i >= 0; i-- { // the last of a repeated home wins
			h := chunk[i]
			if h.Hub == "" || seen[h.Hub] {
				continue
			}
			seen[h.Hub] = true
			args = append(args, string(h.Hub), h.Data, now)
		}
		if len(args) == 0 {
			continue
		}
		err := s.be.inTx(ctx, func(q querier) error {
			_, err := q.exec(ctx, `INSERT INTO home_state (hub_id, data, updated_us) VALUES `+s.be.values(len(args)/3, 3)+
				` ON CONFLICT (hub_id) DO UPDATE SET data = excluded.data, updated_us = excluded.updated_us`, args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: save home state: %w", err)
		}
	}
	return nil
}

// LoadHomes returns every saved home snapshot, for the engine to start from.
func (s *Store) LoadHomes(ctx context.Context) ([]detectors.HomeSnapshot, error) {
	rows, err := s.be.query(ctx, `SELECT hub_id, data FROM home_state ORDER BY hub_id`)
	if err != nil {
		return nil, fmt.Errorf("store: load home state: %w", err)
	}
	defer rows.Close()
	var out []detectors.HomeSnapshot
	for rows.Next() {
		var hub string
		var data []byte
		if err := rows.Scan(&hub, &data); err != nil {
			return nil, fmt.Errorf("store: load home state: %w", err)
		}
		out = append(out, detectors.HomeSnapshot{Hub: devices.HubID(hub), Data: data})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load home state: %w", err)
	}
	return out, nil
}
