package shard

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dolbom/dolbom/devices"
)

// Lanes is a shard's intake: events (SOS, falls, alarms, cancels, and the
// rarer motion and door events with them) go through their own channel,
// taken before the ordinary one (readings, accelerometer chunks, status,
// connections, registry changes), so that an emergency never waits behind a
// backlog of readings in a shard queue, nor behind a state load (a queue
// filled while the saved state loads is parked, see Park).
//
// Each hub's inputs stay in the order the broker handed them on (its
// workers hand on a hub's readings and its events from two lanes, and its
// connects and disconnects come from mochi's goroutine, so that order is
// not the order they were read; the health monitor compares receive times
// where it matters, see seen): an
// event taken ahead of the ordinary queue first pulls forward the older
// ordinary inputs of its own hub (see TakeEvent), and only those. So no rule
// has to reason about an event applied before an older reading of the same
// home; only homes' relative order changes, and homes share nothing but
// the shard's goroutine. Inputs of one hub handed on concurrently by two
// goroutines (an old connection's disconnect and the new connection's
// event) had no order before and have none now.
//
// Only the shard's goroutine calls the methods other than Put.
type Lanes[O any] struct {
	events   chan Queued[O]
	ordinary chan Queued[O]
	// ordinaryMu orders the ordinary channel by seq: the seq is taken and
	// the op sent under it. Events take a seq without it, so an event is
	// never held behind a full ordinary queue.
	ordinaryMu sync.Mutex
	seq        atomic.Uint64
	hubOf      func(*O) devices.HubID

	// backlog holds ordinary ops taken from the channel ahead of their
	// turn, oldest first (from head); pulled-forward ones are cleared.
	backlog []Queued[O]
	head    int
	// parkLimit bounds the ops parked while the state loads: 64 queues,
	// ~35 MB of ops per shard at the default size, enough for a 300,000-
	// home reconnect wave's connects and first batches during a 10 s load.
	parkLimit  int
	readyClose chan struct{} // closed: returned by ready while backlog has ops
	run        int           // ops next took in a row
}

// Queued is an op in a lane, numbered in the order it was handed on.
type Queued[O any] struct {
	Op   O
	seq  uint64
	done bool // pulled forward and applied
}

func NewLanes[O any](size int, hubOf func(*O) devices.HubID) *Lanes[O] {
	ready := make(chan struct{})
	close(ready)
	return &Lanes[O]{events: make(chan Queued[O], size), ordinary: make(chan Queued[O], size), hubOf: hubOf,
		parkLimit: 64 * size, readyClose: ready}
}

// Put queues o, in the event lane if event; it waits while that lane is
// full (an emergency is not to be dropped; waits counts such waits),
// unless stopped is closed, and reports whether o was queued.
func (l *Lanes[O]) Put(o O, event bool, stopped <-chan struct{}, waits *atomic.Uint64) bool {
	ch := l.events
	if !event {
		ch = l.ordinary
		l.ordinaryMu.Lock()
		defer l.ordinaryMu.Unlock()
	}
	q := Queued[O]{Op: o, seq: l.seq.Add(1)}
	select {
	case ch <- q:
		return true
	default:
	}
	waits.Add(1)
	select {
	case ch <- q:
		return true
	case <-stopped:
		return false
	}
}

// Event takes a queued event without waiting, if there is one, and hands it
// to apply after the older ordinary ops of its hub. prepare, if not nil,
// runs first with the hub (the engine loads a home there while its saved
// state is still loading).
func (l *Lanes[O]) Event(prepare func(devices.HubID), apply func(O)) bool {
	select {
	case q := <-l.events:
		l.TakeEvent(q, prepare, apply)
		return true
	default:
		return false
	}
}

func (l *Lanes[O]) TakeEvent(q Queued[O], prepare func(devices.HubID), apply func(O)) {
	hub := l.hubOf(&q.Op)
	if prepare != nil {
		prepare(hub)
	}
	// The ordinary channel is in seq order: everything older than the event
	// is in the backlog once an op newer than it is moved, or the channel
	// is empty. At most the channel's size is moved per event.
	for {
		var o Queued[O]
		select {
		case o = <-l.ordinary:
		default:
		}
		if o.seq == 0 {
			break
		}
		l.backlog = append(l.backlog, o)
		if o.seq > q.seq {
			break
		}
	}
	for i := l.head; i < len(l.backlog); i++ {
		b := &l.backlog[i]
		if b.seq > q.seq {
			break
		}
		if !b.done && l.hubOf(&b.Op) == hub {
			b.done = true
			apply(b.Op)
			var zero O
			b.Op = zero // let the message go
		}
	}
	apply(q.Op)
}

// OrdinaryReady returns the channels a shard's select waits on for ordinary
// work: the ordinary channel when the backlog is empty, or a closed channel
// (take it with popBacklog) while the backlog has ops, which go first.
func (l *Lanes[O]) OrdinaryReady() (in <-chan Queued[O], backlog <-chan struct{}) {
	l.trim()
	if l.head < len(l.backlog) {
		return nil, l.readyClose
	}
	return l.ordinary, nil
}

// queuedRun bounds the ordinary ops a shard takes in a row with next,
// without its select: then next declines once and the select runs, so
// that ticks, saves, queries and a stop are served while a backlog lasts.
const queuedRun = 64

// Next hands apply the next ordinary op without waiting, if one is queued
// (the backlog's oldest first, as the select's cases would), and reports
// whether it did; after queuedRun in a row it declines once. A shard's
// select over six channels and its ticker cost about as much as its work
// on a small readings batch (docs/performance.md, "CPU per message by owner
// (branch cpu3)"); an op already queued needs none of it.
func (l *Lanes[O]) Next(apply func(O)) bool {
	if l.run++; l.run > queuedRun {
		l.run = 0
		return false
	}
	if o, ok := l.PopBacklog(); ok {
		apply(o)
		return true
	}
	select {
	case q := <-l.ordinary:
		apply(q.Op)
		return true
	default:
		l.run = 0
		return false
	}
}

// PopBacklog returns the oldest backlog op not yet applied.
func (l *Lanes[O]) PopBacklog() (O, bool) {
	l.trim()
	if l.head == len(l.backlog) {
		var zero O
		return zero, false
	}
	o := l.backlog[l.head].Op
	l.backlog[l.head] = Queued[O]{}
	l.head++
	return o, true
}

// trim skips applied ops at the head and frees an emptied backlog.
func (l *Lanes[O]) trim() {
	for l.head < len(l.backlog) && l.backlog[l.head].done {
		l.backlog[l.head] = Queued[O]{}
		l.head++
	}
	if l.head == len(l.backlog) && l.head > 0 {
		if cap(l.backlog) > 4*cap(l.ordinary) {
			l.backlog = nil // a load's parking is not kept for good
		} else {
			l.backlog = l.backlog[:0]
		}
		l.head = 0
	}
}

// Parking returns the ordinary channel while ops may still be parked
// (taken into the backlog while the state loads: the hubs that sent them
// are not held up), nil once the backlog is at its limit, which holds the
// hubs back again.
func (l *Lanes[O]) Parking() <-chan Queued[O] {
	if len(l.backlog)-l.head >= l.parkLimit {
		return nil
	}
	return l.ordinary
}

// Park appends an op taken from the ordinary channel to the backlog.
func (l *Lanes[O]) Park(q Queued[O]) { l.backlog = append(l.backlog, q) }

// ParkingEvents is parking for the event channel, for a shard that applies
// nothing while its state loads (the health monitor: an event is only a
// sign of life to it). Left unread, a full event lane would hold the
// broker's worker, and so the hub's PUBACK, until the load ends.
func (l *Lanes[O]) ParkingEvents() <-chan Queued[O] {
	if len(l.backlog)-l.head >= l.parkLimit {
		return nil
	}
	return l.events
}

// Unpark ends a load that parked events too. The ordinary ops still in
// their channel, which may be older than an event already parked, join the
// backlog first; then the backlog is put in the order the ops were handed
// on (their seq), so each event is applied after its own hub's older
// inputs, as if it had been taken in its turn, and the backlog is in seq
// order again, as takeEvent needs. (An ordinary op whose putter waits for
// room in a full channel is not there yet: only when the parking limit was
// reached can an event pass it.)
func (l *Lanes[O]) Unpark() {
	for len(l.ordinary) > 0 { // only the shard's goroutine receives
		l.backlog = append(l.backlog, <-l.ordinary)
	}
	parked := l.backlog[l.head:]
	slices.SortStableFunc(parked, func(a, b Queued[O]) int { return cmp.Compare(a.seq, b.seq) })
}

// Drain applies everything queued, events first; for a shard that stops.
func (l *Lanes[O]) Drain(apply func(O)) {
	for l.Event(nil, apply) {
	}
	for {
		if o, ok := l.PopBacklog(); ok {
			apply(o)
			continue
		}
		select {
		case q := <-l.ordinary:
			apply(q.Op)
		default:
			if !l.Event(nil, apply) {
				return
			}
		}
	}
}

// Events is the event lane, for a shard's select; hand what it yields to
// TakeEvent.
func (l *Lanes[O]) Events() <-chan Queued[O] { return l.events }

// Len is how many ops wait in the ordinary channel (for tests and
// benchmarks that wait for a shard to drain).
func (l *Lanes[O]) Len() int { return len(l.ordinary) }
