package shard

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/every"
)

// SaveReq asks a shard's goroutine for the records it changed since the last
// ask, at most limit of them (0: all): every state change, and the
// activity-only changes of the homes or hubs in seen slot slot (EverySlot:
// of all of them).
type SaveReq[T any] struct {
	Slot  int
	Limit int
	Reply chan SaveReply[T]
}

type SaveReply[T any] struct {
	Items []T
	More  bool // the shard has more to give for this round
	// Applied are the journal positions the shard applied since its last
	// reply without More: every record they changed is in this round.
	Applied []int64
}

// SaveChunk is how many homes or hubs a shard encodes for a save in one step
// of its loop (about a millisecond): at 300,000 homes a shard holds 150,000,
// and encoding them all in one step would hold its detections back for a
// few hundred milliseconds.
const SaveChunk = 1000

// EverySlot asks for the activity-only changes of every slot at once: the
// final save at shutdown, which must leave nothing behind.
const EverySlot = -1

// SeenRounds is how many save rounds an activity-only change may wait: the
// number of seen slots a shard spreads its homes or hubs over.
func SeenRounds(saveInterval, seenInterval time.Duration) int {
	return max(1, int(seenInterval/saveInterval))
}

// RunSaves is the save loop of the engine and of the health monitor: every
// interval it collects what each shard changed, a chunk at a time, and hands
// it to save. State changes go out every round. Activity-only changes go
// out in the round of their seen slot, round%seenEvery: at national scale
// every home is seen every minute, and saving them all in one round would be
// a burst of 300,000 upserts holding the store's writer (SQLite has one) for
// seconds while emergencies wait; one slot per round writes 1/seenEvery of
// the fleet each time, and every change still waits at most seenEvery
// rounds. A failed save keeps its records (and the journal positions they
// applied) in round for the next round (newer records replace older). It
// returns when ctx ends; round then holds what was not saved.
func RunSaves[T any](ctx context.Context, interval time.Duration, seenEvery int, shards []chan SaveReq[T],
	hub func(T) devices.HubID, round *SaveRound[T], save func(context.Context, *SaveRound[T]) error) {
	n := 0
	every.Tick(ctx, interval, func() {
		n++
		for _, saves := range shards {
			for more := true; more && ctx.Err() == nil; {
				req := SaveReq[T]{Slot: n % seenEvery, Limit: SaveChunk, Reply: make(chan SaveReply[T], 1)}
				select {
				case saves <- req:
					r := <-req.Reply
					round.Add(r, hub)
					more = r.More
				case <-ctx.Done():
				}
			}
		}
		_ = save(ctx, round) // save logs its own failures
	})
}

// Add takes a shard's reply into the round.
func (r *SaveRound[T]) Add(rep SaveReply[T], hub func(T) devices.HubID) {
	for _, it := range rep.Items {
		r.pending[hub(it)] = it
	}
	r.applied = append(r.applied, rep.Applied...)
}

// SaveQueue is a shard's record of which homes or hubs (by index) changed
// since they were last saved, in the order the save loop wants them: one
// list of state changes, drained every round, and one list of
// activity-only changes per seen slot (index % slots), drained in that
// slot's round. Per-slot lists let a round take its share without scanning
// the rest of the fleet: a shard holds up to 150,000 homes, nearly all
// seen-dirty, and is asked once per chunk of SaveChunk.
type SaveQueue struct {
	marks  []uint8 // per index: qDirty*, qIn*
	state  indexList
	seen   []indexList // by seen slot
	queued int         // entries in all lists, some perhaps already saved
}

const (
	qDirtyState uint8 = 1 << iota // changed beyond activity since saved
	qDirtySeen                    // activity changed since saved
	qInState                      // in the state list
	qInSeen                       // in its slot's seen list
)

func NewSaveQueue(slots int) SaveQueue {
	return SaveQueue{seen: make([]indexList, max(1, slots))}
}

// Mark records a change of index i: state changes are taken in the next
// round, activity-only ones in the round of i's slot. An index is in each
// list at most once, so the lists stay no longer than the shard.
func (q *SaveQueue) Mark(i int32, state bool) {
	if int(i) >= len(q.marks) {
		q.marks = append(q.marks, make([]uint8, int(i)+1-len(q.marks))...)
	}
	m := &q.marks[i]
	switch {
	case state:
		*m |= qDirtyState
		if *m&qInState == 0 {
			*m |= qInState
			q.state.push(i)
			q.queued++
		}
	case *m&(qDirtyState|qDirtySeen) != 0:
		// Already due, no later than its slot's round: the record saved
		// then carries this change too.
	default:
		*m |= qDirtySeen
		if *m&qInSeen == 0 {
			*m |= qInSeen
			q.seen[int(i)%len(q.seen)].push(i)
			q.queued++
		}
	}
}

// next returns an index due for saving in the round of slot (EverySlot: any
// slot), state changes first, and counts it saved. Entries whose index was
// saved meanwhile from the other list are skipped.
func (q *SaveQueue) next(slot int) (int32, bool) {
	for {
		i, ok := q.state.pop()
		if !ok {
			break
		}
		q.queued--
		m := &q.marks[i]
		*m &^= qInState
		if *m&qDirtyState != 0 {
			*m &^= qDirtyState | qDirtySeen
			return i, true
		}
	}
	lo, hi := slot, slot+1
	if slot == EverySlot {
		lo, hi = 0, len(q.seen)
	}
	for k := lo; k < hi; k++ {
		for {
			i, ok := q.seen[k].pop()
			if !ok {
				break
			}
			q.queued--
			m := &q.marks[i]
			*m &^= qInSeen
			if *m&(qDirtyState|qDirtySeen) != 0 {
				*m &^= qDirtyState | qDirtySeen
				return i, true
			}
		}
	}
	return 0, false
}

// due is how many entries the round of slot has left to look at (some
// perhaps saved already from the other list).
func (q *SaveQueue) due(slot int) int {
	if slot == EverySlot {
		return q.queued
	}
	return q.state.len() + q.seen[slot].len()
}

// CollectQueued takes up to limit (0: all) records due in the round of
// slot from q, made by record; more says some may be left for the next
// call of the round.
func CollectQueued[T any](q *SaveQueue, slot, limit int, record func(int32) T) (out []T, more bool) {
	if limit > 0 {
		out = make([]T, 0, min(limit, q.due(slot)))
	}
	for limit <= 0 || len(out) < limit {
		i, ok := q.next(slot)
		if !ok {
			return out, false
		}
		out = append(out, record(i))
	}
	return out, q.due(slot) > 0
}

// indexList is a FIFO of indexes, consumed from a head so that taking a
// chunk does not move the rest; it rewinds, keeping its array, once empty.
type indexList struct {
	items []int32
	head  int
}

func (l *indexList) push(i int32) { l.items = append(l.items, i) }

func (l *indexList) len() int { return len(l.items) - l.head }

func (l *indexList) pop() (int32, bool) {
	if l.head == len(l.items) {
		return 0, false
	}
	i := l.items[l.head]
	l.head++
	if l.head == len(l.items) {
		l.items, l.head = l.items[:0], 0
	}
	return i, true
}

// savePending writes pending with store and empties it; on failure the
// records stay pending for the next round (newer versions replacing older
// ones) and the failure is logged, naming what failed to save.
func savePending[T any](ctx context.Context, pending map[devices.HubID]T, store func(context.Context, []T) error,
	log zerolog.Logger, what string, stale func(error) ([]devices.HubID, bool)) error {
	if len(pending) == 0 {
		return nil
	}
	batch := make([]T, 0, len(pending))
	for _, it := range pending {
		batch = append(batch, it)
	}
	began := time.Now()
	if err := store(ctx, batch); err != nil {
		if _, isStale := staleOf(stale, err); !isStale && ctx.Err() == nil {
			log.Warn().Err(err).Int("records", len(batch)).Msg("saving " + what + " failed; will retry")
		}
		return err
	}
	log.Debug().Int("records", len(batch)).Dur("took", time.Since(began)).Msg("saved " + what)
	clear(pending)
	return nil
}

// staleOf applies stale (nil: never stale) to err.
func staleOf(stale func(error) ([]devices.HubID, bool), err error) ([]devices.HubID, bool) {
	if stale == nil {
		return nil, false
	}
	return stale(err)
}

// Saver is a runtime's save loop and its final save.
type Saver[R any] struct {
	Persister[R]
	// Interval: state changes are saved this often; SeenInterval:
	// activity-only ones (see RunSaves); ShutdownTimeout bounds the final
	// save.
	Interval, SeenInterval, ShutdownTimeout time.Duration
	HubOf                                   func(R) devices.HubID
}

// Run runs the save rounds over the shards' save channels until ctx ends,
// then calls stop, which returns once the shard goroutines have exited, and
// saves what is left: each shard's final reply (all its machine holds:
// Machine.Save(EverySlot, 0)), except of the shards keep refuses (nil keeps
// all), within ShutdownTimeout. The engine and the health monitor both end
// this way: one place says how a runtime's last state reaches the store.
func Run[O, R any](ctx context.Context, s *Saver[R], shards []*Shard[O, R], stop func(), keep func(i int) bool) error {
	saves := make([]chan SaveReq[R], len(shards))
	for i, sh := range shards {
		saves[i] = sh.Saves
	}
	round := NewSaveRound[R]()
	RunSaves(ctx, s.Interval, SeenRounds(s.Interval, s.SeenInterval), saves, s.HubOf, round, s.Save)
	stop()
	for i, sh := range shards {
		if keep == nil || keep(i) {
			round.Add(sh.m.Save(EverySlot, 0), s.HubOf)
		}
	}
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.ShutdownTimeout)
	defer cancel()
	return s.Save(saveCtx, round)
}
