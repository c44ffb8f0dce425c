package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// The batched reads of a cluster's acquisition (docs/cluster.md, "How a
// node watches only what it owns"): when hubs move to this node, or it
// adopts them, the detectors load the saved state of up to a thousand at a
// time and replay their journal, instead of one query per hub.

// The detectors declare these ports (the health monitor's HubsOfLoader has
// LoadHubHealthOf's shape; store does not import the monitor's package).
var (
	_ detectors.HomesOfLoader = State{}
	_ detectors.HubsReplayer  = Journal{}
	_ detectors.FleetOf       = Registry{}
)

// acquireChunk bounds the hubs per query, as the detectors' loader does.
const acquireChunk = 1000

// byHubs runs read for each chunk of hubs: on PostgreSQL with the chunk as
// one array parameter ($1), on SQLite with its ids inlined as placeholders
// after args (the in-list, "(?,?,...)", is handed to read).
func (s *database) byHubs(hubs []devices.HubID, read func(inList string, args []any) error) error {
	for start := 0; start < len(hubs); start += acquireChunk {
		chunk := hubs[start:min(start+acquireChunk, len(hubs))]
		ids := make([]string, len(chunk))
		for i, h := range chunk {
			ids[i] = string(h)
		}
		if s.isPostgres() {
			if err := read("(SELECT unnest($1::text[]))", []any{ids}); err != nil {
				return err
			}
			continue
		}
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		if err := read(anonPlaceholders(1, len(ids)), args); err != nil {
			return err
		}
	}
	return nil
}

// LoadHomesOf returns the saved engine snapshots of hubs (those with none
// are left out), each with the epoch it was saved under
// (detectors.HomesOfLoader).
func (s State) LoadHomesOf(ctx context.Context, hubs []devices.HubID) ([]detectors.HomeSnapshot, error) {
	var out []detectors.HomeSnapshot
	err := s.byHubs(hubs, func(inList string, args []any) error {
		rows, err := s.st.query(ctx, `SELECT hub_id, data, epoch FROM home_state WHERE hub_id IN `+inList, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var hub string
			var data []byte
			var epoch int64
			if err := rows.Scan(&hub, &data, &epoch); err != nil {
				return err
			}
			out = append(out, detectors.HomeSnapshot{Hub: devices.HubID(hub), Data: data, Epoch: devices.Epoch(epoch)})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: load home state of %d hubs: %w", len(hubs), err)
	}
	return out, nil
}

// LoadHubHealthOf returns the saved health of hubs (those with none are
// left out), each with the epoch it was saved under (health.HubsOfLoader).
func (s State) LoadHubHealthOf(ctx context.Context, hubs []devices.HubID) ([]devices.HubHealthRecord, error) {
	var out []devices.HubHealthRecord
	err := s.byHubs(hubs, func(inList string, args []any) error {
		rows, err := s.st.query(ctx, `SELECT data, epoch FROM hub_health WHERE hub_id IN `+inList, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var data string
			var epoch int64
			if err := rows.Scan(&data, &epoch); err != nil {
				return err
			}
			h, err := decodeHealth(data)
			if err != nil {
				return err
			}
			h.Epoch = devices.Epoch(epoch)
			out = append(out, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: load hub health of %d hubs: %w", len(hubs), err)
	}
	return out, nil
}

// ReplayHubs calls fn, in journal order, for the stored events of each hub
// of after beyond its position there and beyond the hub's ownership floor
// (hub_owners.floor_seq: the events handled before the hub had an owner,
// which a claim at CONNECT does not hand the detectors), each marked
// Replayed and carrying its position (detectors.HubsReplayer). No consumer
// tracks them: a cluster keeps no global watermark. On PostgreSQL the
// events_hub_seq index serves each hub's range.
func (s Journal) ReplayHubs(ctx context.Context, after map[devices.HubID]int64, fn func(*devices.Event) error) error {
	hubs := make([]devices.HubID, 0, len(after))
	for h := range after {
		hubs = append(hubs, h)
	}
	const columns = `e.seq, e.hub_id, e.event_id, e.kind, e.sensor_id, e.ts_us, e.received_us, e.value, e.has_value, e.detail`
	var evs []*devices.Event
	for start := 0; start < len(hubs); start += acquireChunk {
		chunk := hubs[start:min(start+acquireChunk, len(hubs))]
		var q string
		var args []any
		if s.isPostgres() {
			ids, positions := make([]string, len(chunk)), make([]int64, len(chunk))
			for i, h := range chunk {
				ids[i], positions[i] = string(h), after[h]
			}
			q = `SELECT ` + columns + ` FROM unnest($1::text[], $2::bigint[]) AS u(h, a)
				LEFT JOIN hub_owners o ON o.hub_id = u.h
				JOIN events e ON e.hub_id = u.h AND e.seq > GREATEST(u.a, COALESCE(o.floor_seq, 0))
				ORDER BY e.seq`
			args = []any{ids, positions}
		} else {
			for _, h := range chunk {
				args = append(args, string(h), after[h])
			}
			q = `WITH u(h, a) AS (VALUES ` + anonPlaceholders(len(chunk), 2) + `)
				SELECT ` + columns + ` FROM u
				LEFT JOIN hub_owners o ON o.hub_id = u.h
				JOIN events e ON e.hub_id = u.h AND e.seq > max(u.a, COALESCE(o.floor_seq, 0))
				ORDER BY e.seq`
		}
		rows, err := s.be.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store: replay the events of %d hubs: %w", len(chunk), err)
		}
		// Read them all first, as ReplayEvents does.
		got, err := readReplayed(rows)
		if err != nil {
			return fmt.Errorf("store: replay the events of %d hubs: %w", len(chunk), err)
		}
		evs = append(evs, got...)
	}
	if len(hubs) > acquireChunk { // chunks are each in order; the whole is too
		slices.SortFunc(evs, func(a, b *devices.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	for _, e := range evs {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// FleetOf calls visit once for each registered hub of hubs with its
// sensors, as FleetSnapshot does for every hub (detectors.FleetOf): an
// acquired home's sensor locations, reporting intervals and end of life.
func (s Registry) FleetOf(ctx context.Context, hubs []devices.HubID, visit func(devices.Hub, []devices.Sensor) error) error {
	err := s.byHubs(hubs, func(inList string, args []any) error {
		rows, err := s.be.query(ctx, `SELECT id, resident_id, end_of_life_us, disabled FROM hubs WHERE id IN `+inList+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		page, err := scanInventory(rows)
		if err != nil || len(page) == 0 {
			return err
		}
		srows, err := s.be.query(ctx, `SELECT `+sensorColumns+` FROM sensors WHERE hub_id IN `+inList+` ORDER BY hub_id, id`, args...)
		if err != nil {
			return err
		}
		if err := addSensors(srows, page); err != nil {
			return err
		}
		for _, inv := range page {
			if err := visit(inv.hub, inv.sensors); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: registry of %d hubs: %w", len(hubs), err)
	}
	return nil
}
