package store

import (
	"context"
	"fmt"

	"github.com/dolbom/dolbom/devices"
)

// Poison: inputs whose handling panicked (devices.Poison), kept for an
// engineer. A hub looping on a bad message is disconnected each time, so the
// table grows slowly; it keeps the newest poisonKept rows all the same, and
// truncates what one row holds.
const (
	poisonKept     = 10000
	poisonMaxInput = 64 << 10
	poisonMaxStack = 16 << 10
)

// KeepPoison stores p.
func (s Journal) KeepPoison(ctx context.Context, p devices.Poison) error {
	input, stack := p.Input, p.Stack
	if len(input) > poisonMaxInput {
		input = input[:poisonMaxInput]
	}
	if len(stack) > poisonMaxStack {
		stack = stack[:poisonMaxStack]
	}
	err := s.be.inTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, `INSERT INTO poison (hub_id, stage, channel, event_id, seq, input, panic, stack, at_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			string(p.Hub), p.Stage, string(p.Channel), string(p.EventID), p.Seq, input, p.Panic, stack, toUS(p.At)); err != nil {
			return err
		}
		_, err := q.exec(ctx, `DELETE FROM poison WHERE id <= (SELECT max(id) FROM poison) - $1`, poisonKept)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: keep poison: %w", err)
	}
	return nil
}

// ListPoison returns the newest poison inputs, newest first, at most limit
// (default 100).
func (s Journal) ListPoison(ctx context.Context, limit int) ([]devices.Poison, error) {
	if limit <= 0 || limit > poisonKept {
		limit = 100
	}
	rows, err := s.be.query(ctx, `SELECT hub_id, stage, channel, event_id, seq, input, panic, stack, at_us
		FROM poison ORDER BY id DESC LIMIT $1`, limit)
	return collect(rows, err, "list poison", func(sc row) (devices.Poison, error) {
		var p devices.Poison
		var hub, channel, event string
		var at int64
		if err := sc.Scan(&hub, &p.Stage, &channel, &event, &p.Seq, &p.Input, &p.Panic, &p.Stack, &at); err != nil {
			return devices.Poison{}, err
		}
		p.Hub, p.Channel, p.EventID, p.At = devices.HubID(hub), devices.Channel(channel), devices.EventID(event), fromUS(at)
		return p, nil
	})
}
