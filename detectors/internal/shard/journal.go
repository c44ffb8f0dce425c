package shard

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// Journal is the durable log of the events hubs sent (the store's events
// table, in commit order). The broker acknowledges an event once the journal
// has it; applying it to a home and committing what it raises happen after,
// in memory, so a crash in between would lose an acknowledged emergency. The
// journal closes that gap: each detector runtime (a consumer) saves, with
// its per-home state, the newest position it applied to each home, and the
// journal keeps the consumer's watermark; at start the consumer replays the
// events beyond it, skipping those a home's saved state has applied already.
type Journal interface {
	// JournalPosition returns the consumer's watermark (0 if none) and
	// starts tracking what is committed for it; asked once, at start.
	JournalPosition(ctx context.Context, consumer string) (int64, error)
	// ReplayEvents calls fn in journal order for each event after position
	// after, of one hub or (hub "") of all, marked Replayed.
	ReplayEvents(ctx context.Context, consumer string, hub devices.HubID, after int64, fn func(*devices.Event) error) error
	// JournalApplied reports positions applied and saved with their homes.
	JournalApplied(ctx context.Context, consumer string, seqs []int64) error
}

// Positions is a shard's record of journal positions it applied since its
// records were last handed to the save loop.
type Positions struct{ seqs []int64 }

// Take decides whether an event is applied to a home whose applied
// position is *applied, and records its position: a fresh event always is
// (a hub's goroutine may hand on its fresh event after a newer one of the
// same hub's new connection); a replayed one only beyond the position.
// Events without a position (not from the journal) are always applied.
func (p *Positions) Take(ev *devices.Event, applied *int64) bool {
	if ev.Seq == 0 {
		return true
	}
	p.seqs = append(p.seqs, ev.Seq)
	if ev.Replayed && ev.Seq <= *applied {
		return false
	}
	*applied = max(*applied, ev.Seq)
	return true
}

// Drain hands the recorded positions over.
func (p *Positions) Drain() []int64 {
	out := p.seqs
	p.seqs = nil
	return out
}

// ReplyWith builds a shard's answer to the save loop. The positions go with the
// round's last reply (more false): by then every record they changed has
// been taken, including a record taken in an earlier chunk and changed
// again since.
func ReplyWith[T any](items []T, more bool, p *Positions) SaveReply[T] {
	r := SaveReply[T]{Items: items, More: more}
	if !more {
		r.Applied = p.Drain()
	}
	return r
}

// SaveRound is what the save loop holds between rounds: records changed
// since saved, and the journal positions applied to them, which are reported
// once the records are saved.
type SaveRound[T any] struct {
	pending map[devices.HubID]T
	applied []int64
}

func NewSaveRound[T any]() *SaveRound[T] {
	return &SaveRound[T]{pending: map[devices.HubID]T{}}
}

// Persister saves one runtime's records: the sink is flushed first (the
// records may say an emergency was raised), then the records, then the
// journal learns which positions they applied.
type Persister[T any] struct {
	Store func(context.Context, []T) error // nil: nothing is kept
	// Flush, nil unless the sink can say so, returns once every detection
	// handed to the sink before the call is committed.
	Flush    func(context.Context) error
	Journal  Journal // nil: no positions
	Consumer string
	Log      zerolog.Logger
	What     string
	// Stale, in a cluster, names the homes a failed save refused as stale
	// (detectors.StaleError: they moved to another gateway), and OnStale
	// lets them go.
	Stale   func(err error) ([]devices.HubID, bool)
	OnStale func(hubs []devices.HubID)
}

// Save writes the round: the sink first, then the records, then the
// journal positions; on failure the round keeps what was not saved.
func (p *Persister[T]) Save(ctx context.Context, r *SaveRound[T]) error {
	if len(r.pending) == 0 && len(r.applied) == 0 {
		return nil
	}
	if p.Flush != nil {
		if err := p.Flush(ctx); err != nil {
			if ctx.Err() == nil {
				p.Log.Warn().Err(err).Msg("detections not yet committed; saving " + p.What + " later")
			}
			return err
		}
	}
	if p.Store == nil {
		clear(r.pending)
	} else if err := savePending(ctx, r.pending, p.Store, p.Log, p.What, p.Stale); err != nil {
		hubs, stale := staleOf(p.Stale, err)
		if !stale {
			return err
		}
		// The others were written; the refused ones are not retried (they
		// never would be accepted): their homes are let go.
		p.Log.Warn().Err(err).Int("homes", len(hubs)).Msg(p.What + " refused as stale: the homes moved to another gateway; let go here")
		clear(r.pending)
		if p.OnStale != nil {
			p.OnStale(hubs)
		}
	}
	if p.Journal != nil && len(r.applied) > 0 {
		if err := p.Journal.JournalApplied(ctx, p.Consumer, r.applied); err != nil && ctx.Err() == nil {
			p.Log.Warn().Err(err).Msg("journal position not saved; the next round saves it")
		}
	}
	r.applied = r.applied[:0]
	return nil
}

// ReplayJournal feeds the events beyond the consumer's watermark to put,
// homes with an emergency first (each home's events in journal order, so a
// cancel still follows its SOS), and returns how many it handed on.
func ReplayJournal(ctx context.Context, j Journal, consumer string, put func(*devices.Message), log zerolog.Logger) (int, error) {
	start := time.Now()
	after, err := j.JournalPosition(ctx, consumer)
	if err != nil {
		return 0, fmt.Errorf("detectors: journal position: %w", err)
	}
	byHub := map[devices.HubID][]*devices.Event{}
	var order []devices.HubID
	urgent := map[devices.HubID]bool{}
	err = j.ReplayEvents(ctx, consumer, "", after, func(e *devices.Event) error {
		if _, ok := byHub[e.Hub]; !ok {
			order = append(order, e.Hub)
		}
		byHub[e.Hub] = append(byHub[e.Hub], e)
		if e.Kind.IsEmergency() {
			urgent[e.Hub] = true
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("detectors: replay journal: %w", err)
	}
	// Stable: within each group, homes keep the order of their first event.
	slices.SortStableFunc(order, func(a, b devices.HubID) int {
		return cmp.Compare(b2i(!urgent[a]), b2i(!urgent[b]))
	})
	n := 0
	for _, hub := range order {
		for _, e := range byHub[hub] {
			put(&devices.Message{Hub: e.Hub, Channel: devices.ChanEvents, Event: e})
			n++
		}
	}
	if n > 0 {
		log.Info().Str("consumer", consumer).Int64("after", after).Int("events", n).Int("homes", len(order)).
			Int("homes_with_emergency", len(urgent)).Dur("took", time.Since(start)).Msg("replaying the journal")
	}
	return n, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TakeJournal hands put the journal's events beyond the consumer's
// watermark (ReplayJournal; none without a journal), then closes replayed.
func TakeJournal(ctx context.Context, j Journal, consumer string, log zerolog.Logger, put func(*devices.Message), replayed chan struct{}) error {
	if j != nil {
		if _, err := ReplayJournal(ctx, j, consumer, put, log); err != nil {
			return err
		}
	}
	close(replayed)
	return nil
}
