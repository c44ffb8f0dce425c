package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/dolbom/dolbom/devices"
)

// healthRecord is how a HubHealthRecord is stored: as JSON, with the two
// durations that devices.HubHealth leaves out of its JSON.
type healthRecord struct {
	devices.HubHealthRecord
	HeartbeatIntervalMS int64 `json:"heartbeat_interval_ms"`
	ClockSkewUS         int64 `json:"clock_skew_us"`
}

// SaveHubHealth upserts the health of many hubs (see upsertByHub). Each
// record is encoded into one buffer reused for the whole call: at national
// scale a save round holds thousands of hubs, and json.Marshal cost ~5 KB
// of garbage per record.
func (s State) SaveHubHealth(ctx context.Context, hs []devices.HubHealthRecord) error {
	var enc healthEncoder
	err := upsertByHub(ctx, s.database, "hub_health", hs,
		func(h devices.HubHealthRecord) devices.HubID { return h.Hub },
		func(h devices.HubHealthRecord) devices.Epoch { return h.Epoch },
		func(h devices.HubHealthRecord) (any, error) { return enc.encode(&h) })
	if err != nil {
		return fmt.Errorf("store: save hub health: %w", err)
	}
	return nil
}

// hubChunk is hubs per multi-row upsert in upsertByHub.
const hubChunk = 500

// upsertByHub writes one (hub_id, data, updated_us) row per record into
// table, replacing a hub's earlier row; the last of a repeated hub wins.
// Each chunk of a few hundred hubs is its own transaction: at national scale
// a save holds thousands of hubs, and the writer must be free between
// chunks for the other saves and the journal positions (on PostgreSQL and,
// before state.db, on SQLite: for the emergencies too).
//
// The chunks commit relaxed (inRelaxedTx): an fsync per chunk held the
// writer for as long as the disk took, ~50 chunks of the engine's and as
// many of the health monitor's every 5 s at 300,000 homes (when they were
// in dolbom.db, an SOS waited for the chunk in progress). A power cut may
// lose the newest saved state, which is harmless: the journal position a
// consumer saves after its state is a later commit of the same file
// (stateTables), never on disk without the state before it, and the
// events beyond the position on disk are replayed (docs/faults.md, "The
// journal").
//
// In cluster mode each record is written only under its hub's current
// ownership epoch (upsertFenced); the single gateway ignores epoch.
func upsertByHub[T any](ctx context.Context, s *database, table string, recs []T, hub func(T) devices.HubID, epoch func(T) devices.Epoch, data func(T) (any, error)) error {
	if s.fenced() {
		return upsertFenced(ctx, s, table, recs, hub, epoch, data)
	}
	now := toUS(s.now())
	for start := 0; start < len(recs); start += hubChunk {
		chunk := recs[start:min(start+hubChunk, len(recs))]
		args := make([]any, 0, 3*len(chunk))
		for _, i := range lastOfEachHub(chunk, hub) {
			d, err := data(chunk[i])
			if err != nil {
				return err
			}
			args = append(args, string(hub(chunk[i])), d, now)
		}
		if len(args) == 0 {
			continue
		}
		err := s.inRelaxedTx(ctx, s.st, func(q querier) error {
			_, err := q.exec(ctx, `INSERT INTO `+table+` (hub_id, data, updated_us) VALUES `+s.st.values(len(args)/3, 3)+
				` ON CONFLICT (hub_id) DO UPDATE SET data = excluded.data, updated_us = excluded.updated_us`, args...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lastOfEachHub returns the indexes of the records of chunk to write, from
// the last: the last record of a repeated hub wins, and records without a
// hub are skipped.
func lastOfEachHub[T any](chunk []T, hub func(T) devices.HubID) []int {
	out := make([]int, 0, len(chunk))
	seen := make(map[devices.HubID]bool, len(chunk))
	for i := len(chunk) - 1; i >= 0; i-- {
		if id := hub(chunk[i]); id != "" && !seen[id] {
			seen[id] = true
			out = append(out, i)
		}
	}
	return out
}

// healthEncoder writes health records as encoding/json wrote them (the
// same bytes, so rows written before and after load alike) into one buffer,
// through the json/v2 encoder with its v1 options: json.Marshal allocates a
// fresh buffer and encode state per record.
type healthEncoder struct {
	buf bytes.Buffer
	rec healthRecord
}

func (e *healthEncoder) encode(h *devices.HubHealthRecord) (string, error) {
	e.rec = healthRecord{HubHealthRecord: *h, HeartbeatIntervalMS: h.HeartbeatInterval.Milliseconds(), ClockSkewUS: h.ClockSkew.Microseconds()}
	e.buf.Reset()
	if err := jsonv2.MarshalWrite(&e.buf, &e.rec, jsonv1.DefaultOptionsV1()); err != nil {
		return "", err
	}
	// MarshalWrite ends the value with a newline, as v1's Encoder does.
	return string(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))), nil
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
func (s State) LoadHubHealth(ctx context.Context) ([]devices.HubHealthRecord, error) {
	rows, err := s.st.query(ctx, `SELECT data FROM hub_health ORDER BY hub_id`)
	return collect(rows, err, "load hub health", func(sc row) (devices.HubHealthRecord, error) {
		var data string
		if err := sc.Scan(&data); err != nil {
			return devices.HubHealthRecord{}, err
		}
		return decodeHealth(data)
	})
}

// GetHubHealth returns one hub's stored health.
func (s State) GetHubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealthRecord, error) {
	var data string
	err := s.st.queryRow(ctx, `SELECT data FROM hub_health WHERE hub_id = $1`, string(hub)).Scan(&data)
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
