package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/dolbom/dolbom/devices"
)

// Journal positions: the events table is the journal, and its seq column an
// event's position. Each consumer of the journal (the rule engine, the
// device-health monitor) saves how far it has applied it, and on start
// replays what lies beyond. It implements detectors.Journal.
//
// A consumer's saved position is a watermark: every event at or below it was
// applied and its effects saved. Events are applied out of order across
// homes (shards run in parallel, and a hub's goroutine hands an event on only
// after its commit returns), so the watermark is computed here, where every
// commit is seen: the lowest position committed (or replayed) by this
// process that the consumer has not yet reported saved, minus one. The
// consumer's per-home positions, saved with its state, say which events
// beyond the watermark a home has applied already, so that a replay applies
// each event once.

// cursor is one consumer's watermark bookkeeping.
type cursor struct {
	pending map[int64]struct{} // committed or replayed, not yet reported saved
	high    int64              // highest position handed to the consumer (or loaded)
	saved   int64              // the position last written to journal_positions
}

type cursors struct {
	mu sync.Mutex
	by map[string]*cursor
	// With several event writers (Config.EventWriters) a group can commit
	// after a later one: one holding position 9 still in flight when one
	// holding 10 commits, is applied and saved. A watermark of 10 would
	// then skip 9 in a replay after a crash, an acknowledged event never
	// applied. So every group in flight holds the watermark at or below
	// the highest position committed before it began (its floor): the
	// positions it is given are above that.
	high     int64            // highest position committed or replayed in this process
	inflight map[uint64]int64 // group -> its floor
	nextID   uint64
}

// begin registers an event group about to be inserted; the group ends with
// committed or abandoned.
func (c *cursors) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight == nil {
		c.inflight = map[uint64]int64{}
	}
	c.nextID++
	c.inflight[c.nextID] = c.high
	return c.nextID
}

// abandoned ends a group that failed: nothing of it was committed.
func (c *cursors) abandoned(group uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inflight, group)
}

// committed registers group's freshly committed positions with every
// consumer, before the events are handed on, and ends the group.
func (c *cursors) committed(group uint64, seqs []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inflight, group)
	for _, seq := range seqs {
		c.high = max(c.high, seq)
	}
	for _, cur := range c.by {
		for _, seq := range seqs {
			cur.pending[seq] = struct{}{}
			cur.high = max(cur.high, seq)
		}
	}
}

// watermark is cur's highest position below every pending one and below
// every group still in flight (c.mu held).
func (c *cursors) watermark(cur *cursor) int64 {
	w := cur.high
	for seq := range cur.pending {
		w = min(w, seq-1)
	}
	for _, floor := range c.inflight {
		w = min(w, floor)
	}
	return w
}

// JournalPosition returns consumer's saved position (0 when it has none)
// and starts tracking what is committed from now on for it. A consumer asks
// once, before the broker takes events.
func (s Journal) JournalPosition(ctx context.Context, consumer string) (int64, error) {
	var seq int64
	err := s.st.queryRow(ctx, `SELECT seq FROM journal_positions WHERE consumer = $1`, consumer).Scan(&seq)
	if err != nil && !isNoRows(err) {
		return 0, fmt.Errorf("store: journal position of %s: %w", consumer, err)
	}
	s.cursors.mu.Lock()
	defer s.cursors.mu.Unlock()
	if s.cursors.by == nil {
		s.cursors.by = map[string]*cursor{}
	}
	cur := s.cursors.by[consumer]
	if cur == nil {
		cur = &cursor{pending: map[int64]struct{}{}}
		s.cursors.by[consumer] = cur
	}
	cur.high, cur.saved = max(cur.high, seq), max(cur.saved, seq)
	s.cursors.high = max(s.cursors.high, seq)
	return seq, nil
}

// ReplayEvents calls fn, in journal order, for every stored event after
// position after, of one hub or (hub "") of all; each is marked Replayed
// and carries its position. For a consumer that registered with
// JournalPosition, the positions are tracked until it reports them saved.
// fn may stop the replay by returning an error, which is returned.
func (s Journal) ReplayEvents(ctx context.Context, consumer string, hub devices.HubID, after int64, fn func(*devices.Event) error) error {
	w := where{}
	w.add("seq > ?", after)
	if hub != "" {
		w.add("hub_id = ?", string(hub))
	}
	rows, err := s.be.query(ctx, `SELECT seq, hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value, detail
		FROM events`+w.sql()+` ORDER BY seq`, w.args...)
	if err != nil {
		return fmt.Errorf("store: replay events: %w", err)
	}
	// Read them all first: fn feeds the detectors, whose saves need the
	// database (SQLite has one writer and the read would hold a snapshot).
	evs, err := readReplayed(rows)
	if err != nil {
		return fmt.Errorf("store: replay events: %w", err)
	}
	s.cursors.mu.Lock()
	if cur := s.cursors.by[consumer]; cur != nil {
		for _, e := range evs {
			cur.pending[e.Seq] = struct{}{}
			cur.high = max(cur.high, e.Seq)
		}
	}
	for _, e := range evs {
		s.cursors.high = max(s.cursors.high, e.Seq)
	}
	s.cursors.mu.Unlock()
	for _, e := range evs {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// readReplayed reads and closes rows of replayed events (columns seq,
// hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value,
// detail), each marked Replayed.
func readReplayed(rows rows) ([]*devices.Event, error) {
	defer rows.Close()
	var evs []*devices.Event
	for rows.Next() {
		e := &devices.Event{Replayed: true}
		var hubID, id, kind, sensor string
		var ts, received int64
		var detail *string
		if err := rows.Scan(&e.Seq, &hubID, &id, &kind, &sensor, &ts, &received, &e.Value, &e.HasValue, &detail); err != nil {
			return nil, err
		}
		e.Hub, e.ID, e.Kind, e.Sensor = devices.HubID(hubID), devices.EventID(id), devices.EventKind(kind), devices.SensorID(sensor)
		e.At, e.Received = fromUS(ts), fromUS(received)
		if detail != nil {
			e.Detail = json.RawMessage(*detail)
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// JournalApplied records that consumer has applied the events at seqs and
// saved their effects, and saves its position when that moves it forward.
// Positions it was never handed are ignored.
func (s Journal) JournalApplied(ctx context.Context, consumer string, seqs []int64) error {
	s.cursors.mu.Lock()
	cur := s.cursors.by[consumer]
	if cur == nil {
		s.cursors.mu.Unlock()
		return fmt.Errorf("store: %w: journal consumer %q never asked for its position", devices.ErrInvalid, consumer)
	}
	for _, seq := range seqs {
		delete(cur.pending, seq)
	}
	w := s.cursors.watermark(cur)
	due := w > cur.saved
	s.cursors.mu.Unlock()
	if !due {
		return nil
	}
	// Through inTx: on SQLite it waits behind the other saves at state.db's
	// gate. A durable commit in the state's own file, so that it is never
	// on disk without the relaxed state saves before it (stateTables).
	err := s.st.inTx(ctx, func(q querier) error {
		_, err := q.exec(ctx, `INSERT INTO journal_positions (consumer, seq, updated_us) VALUES ($1, $2, $3)
			ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_us = excluded.updated_us
			WHERE journal_positions.seq < excluded.seq`, consumer, w, toUS(s.now()))
		return err
	})
	if err != nil {
		// The positions stay settled: the next report saves a watermark at
		// least as high.
		return fmt.Errorf("store: save journal position of %s: %w", consumer, err)
	}
	s.cursors.mu.Lock()
	cur.saved = max(cur.saved, w)
	s.cursors.mu.Unlock()
	return nil
}
