package store

import (
	"context"
	"fmt"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// State is the sub-store of what the detectors and the broker save to
// survive a restart: the rule engine's per-home state
// (detectors.EngineStore: opaque bytes that the detectors package encodes
// and decodes), device health (detectors.HealthStore) and the hubs a node
// held (broker.HeldHubs). Its tables are the database's st (state.db on
// the embedded store, see stateTables).
type State struct{ *database }

// State returns the sub-store of saved home state, device health and held
// hubs.
func (s *Store) State() State { return State{s.database} }

// SaveHomes upserts the snapshots of many homes (see upsertByHub).
func (s State) SaveHomes(ctx context.Context, homes []detectors.HomeSnapshot) error {
	err := upsertByHub(ctx, s.database, "home_state", homes,
		func(h detectors.HomeSnapshot) devices.HubID { return h.Hub },
		func(h detectors.HomeSnapshot) devices.Epoch { return h.Epoch },
		func(h detectors.HomeSnapshot) (any, error) { return h.Data, nil })
	if err != nil {
		return fmt.Errorf("store: save home state: %w", err)
	}
	return nil
}

// LoadHomes returns every saved home snapshot, for the engine to start from.
func (s State) LoadHomes(ctx context.Context) ([]detectors.HomeSnapshot, error) {
	rows, err := s.st.query(ctx, `SELECT hub_id, data FROM home_state ORDER BY hub_id`)
	return collect(rows, err, "load home state", func(sc row) (detectors.HomeSnapshot, error) {
		var hub string
		var data []byte
		err := sc.Scan(&hub, &data)
		return detectors.HomeSnapshot{Hub: devices.HubID(hub), Data: data}, err
	})
}

// LoadHome returns one home's saved snapshot, if any: the engine reads a
// home on its own when an event comes while LoadHomes is still running.
func (s State) LoadHome(ctx context.Context, hub devices.HubID) (detectors.HomeSnapshot, bool, error) {
	var data []byte
	err := s.st.queryRow(ctx, `SELECT data FROM home_state WHERE hub_id = $1`, string(hub)).Scan(&data)
	if isNoRows(err) {
		return detectors.HomeSnapshot{}, false, nil
	}
	if err != nil {
		return detectors.HomeSnapshot{}, false, fmt.Errorf("store: load home state of %s: %w", hub, err)
	}
	return detectors.HomeSnapshot{Hub: hub, Data: data}, true, nil
}
