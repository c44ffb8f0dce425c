package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dolbom/dolbom/devices"
)

// healthRecord is how a HubHealthRecord is stored: as JSON, with the two
// durations that devices.HubHealth leaves out of its JSON.
type healthRecord struct {
	devices.HubHealthRecord
	HeartbeatIntervalMS int64 `json:"heartbeat_interval_ms"`
	ClockSkewUS         int64 `json:"clock_skew_us"`
}

// healthChunk is hubs per multi-row upsert.
const healthChunk = 500

// SaveHubHealth upserts the health of many hubs, a few hundred per
// statement and one transaction per statement: at national scale a save
// holds thousands of hubs, and the single SQLite writer must be free
// between chunks for the emergencies that wait on it.
func (s *Store) SaveHubHealth(ctx context.Context, hs []devices.HubHealthRecord) error {
	now := toUS(s.now())
	for start := 0; start < len(hs); start += healthChunk {
		chunk := hs[start:min(start+healthChunk, len(hs))]
		args := make([]any, 0, 3*len(chunk))
		seen := make(map[devices.HubID]bool, len(chunk))
		for i := len(chunk) - 1; i >= 0; i-- { // the last of a repeated hub wins
			h := chunk[i]
			if h.Hub == "" || seen[h.Hub] {
				continue
			}
			seen[h.Hub] = true
			b, err := json.Marshal(healthRecord{HubHealthRecord: h, HeartbeatIntervalMS: h.HeartbeatInterval.Milliseconds(), ClockSkewUS: h.ClockSkew.Microseconds()})
			if err != nil {
				return fmt.Errorf("store: save hub health: %w", err)
			}
			args = append(args, string(h.Hub), string(b), now)
		}
		if len(args) == 0 {
			continue
		}
		err := s.be.inTx(ctx, func(q querier) error {
			_, err := q.exec(ctx, `INSERT INTO hub_health (hub_id, data, updated_us) VALUES `+s.be.values(len(args)/3, 3)+
				` ON CONFLICT (hub_id) DO UPDATE SET data = excluded.data, updated_us = excluded.updated_us`, args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: save hub health: %w", err)
		}
	}
	return nil
}

func decodeHealth(data string) (devices.HubHealthRecord, error) {
	var rec healthRecord
	if err := json.Unmarshal([]byte(data), &rec); err != nil {
		return devices.HubHealthRecord{}, err
	}
	h := rec.HubHealthRecord
	h.HeartbeatInterval = msDuration(rec.HeartbeatIntervalMS)
	h.ClockSkew = usDuration(rec.ClockSkewUS)
	return h, nil
}

// LoadHubHealth returns the stored health of every hub, for the monitor to
// start from after a restart.
func (s *Store) LoadHubHealth(ctx context.Context) ([]devices.HubHealthRecord, error) {
	rows, err := s.be.query(ctx, `SELECT data FROM hub_health ORDER BY hub_id`)
	if err != nil {
		return nil, fmt.Errorf("store: load hub health: %w", err)
	}
	defer rows.Close()
	var out []devices.HubHealthRecord
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("store: load hub health: %w", err)
		}
		h, err := decodeHealth(data)
		if err != nil {
			return nil, fmt.Errorf("store: load hub health: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load hub health: %w", err)
	}
	return out, nil
}

// GetHubHealth returns one hub's stored health.
func (s *Store) GetHubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealthRecord, error) {
	var data string
	err := s.be.queryRow(ctx, `SELECT data FROM hub_health WHERE hub_id = $1`, string(hub)).Scan(&data)
	if isNoRows(err) {
		return devices.HubHealthRecord{}, fmt.Errorf("store: health of hub %s: %w", hub, devices.ErrNotFound)
	}
	if err != nil {
		return devices.HubHealthRecord{}, fmt.Errorf("store: get hub health: %w", err)
	}
	h, err := decodeHealth(data)
	if err != nil {
		return h, fmt.Errorf("store: get hub health: %w", err)
	}
	return h, nil
}
