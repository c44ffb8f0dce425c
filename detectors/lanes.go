package detectors

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dolbom/dolbom/devices"
)

// lanes is a shard's intake: events (SOS, falls, alarms, cancels, and the
// rarer motion and door events with them) go through their own channel,
// taken before the ordinary one (readings, accelerometer chunks, status,
// connections, registry changes), so that an emergency never waits behind a
// backlog of readings in a shard queue, nor behind a state load (a queue
// filled while the saved state loads is parked, see park).
//
// Each hub's inputs stay in the order the broker handed them on (its
// workers hand on a hub's readings and its events from two lanes, and its
// connects and disconnects come from mochi's goroutine, so that order is
// not the order they were read; the health monitor compares receive times
// where it matters, see seen): an
// event taken ahead of the ordinary queue first pulls forward the older
// ordinary inputs of its own hub (see urgent), and only those. So no rule
// has to reason about an event applied before an older reading of the same
// home; only homes' relative order changes, and homes share nothing but
// the shard's goroutine. Inputs of one hub handed on concurrently by two
// goroutines (an old connection's disconnect and the new connection's
// event) had no order before and have none now.
//
// Only the shard's goroutine calls the methods other than put.
type lanes[O any] struct {
	events   chan queued[O]
	ordinary chan queued[O]
	// ordinaryMu orders the ordinary channel by seq: the seq is taken and
	// the op sent under it. Events take a seq without it, so an event is
	// never held behind a full ordinary queue.
	ordinaryMu sync.Mutex
	seq        atomic.Uint64
	hubOf      func(*O) devices.HubID

	// backlog holds ordinary ops taken from the channel ahead of their
	// turn, oldest first (from head); pulled-forward ones are cleared.
	backlog []queued[O]
	head    int
	// parkLimit bounds the ops parked while the state loads: 64 queues,
	// ~35 MB of ops per shard at the default size, enough for a 300,000-
	// home reconnect wave's connects and first batches during a 10 s load.
	parkLimit  int
	readyClose chan struct{} // closed: returned by ready while backlog has ops
	run        int           // ops next took in a row
}

type queued[O any] struct {
	op   O
	seq  uint64
	done bool // pulled forward and applied
}

func newLanes[O any](size int, hubOf func(*O) devices.HubID) *lanes[O] {
	ready := make(chan struct{})
	close(ready)
	return &lanes[O]{events: make(chan queued[O], size), ordinary: make(chan queued[O], size), hubOf: hubOf,
		parkLimit: 64 * size, readyClose: ready}
}

// put queues o, in the event lane if event; it waits while that lane is
// full (an emergency is not to be dropped; waits counts such waits),
// unless stopped is closed, and reports whether o was queued.
func (l *lanes[O]) put(o O, event bool, stopped <-chan struct{}, waits *atomic.Uint64) bool {
	ch := l.events
	if !event {
		ch = l.ordinary
		l.ordinaryMu.Lock()
		defer l.ordinaryMu.Unlock()
	}
	q := queued[O]{op: o, seq: l.seq.Add(1)}
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

// event takes a queued event without waiting, if there is one, and hands it
// to apply after the older ordinary ops of its hub. prepare, if not nil,
// runs first with the hub (the engine loads a home there while its saved
// state is still loading).
func (l *lanes[O]) event(prepare func(devices.HubID), apply func(O)) bool {
	select {
	case q := <-l.events:
		l.takeEvent(q, prepare, apply)
		return true
	default:
		return false
	}
}

func (l *lanes[O]) takeEvent(q queued[O], prepare func(devices.HubID), apply func(O)) {
	hub := l.hubOf(&q.op)
	if prepare != nil {
		prepare(hub)
	}
	// The ordinary channel is in seq order: everything older than the event
	// is in the backlog once an op newer than it is moved, or the channel
	// is empty. At most the channel's size is moved per event.
	for {
		var o queued[O]
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
		if !b.done && l.hubOf(&b.op) == hub {
			b.done = true
			apply(b.op)
			var zero O
			b.op = zero // let the message go
		}
	}
	apply(q.op)
}

// ordinaryReady returns the channels a shard's select waits on for ordinary
// work: the ordinary channel when the backlog is empty, or a closed channel
// (take it with popBacklog) while the backlog has ops, which go first.
func (l *lanes[O]) ordinaryReady() (in <-chan queued[O], backlog <-chan struct{}) {
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

// next hands apply the next ordinary op without waiting, if one is queued
// (the backlog's oldest first, as the select's cases would), and reports
// whether it did; after queuedRun in a row it declines once. A shard's
// select over six channels and its ticker cost about as much as its work
// on a small readings batch (docs/performance.md, "CPU per message by owner
// (branch cpu3)"); an op already queued needs none of it.
func (l *lanes[O]) next(apply func(O)) bool {
	if l.run++; l.run > queuedRun {
		l.run = 0
		return false
	}
	if o, ok := l.popBacklog(); ok {
		apply(o)
		return true
	}
	select {
	case q := <-l.ordinary:
		apply(q.op)
		return true
	default:
		l.run = 0
		return false
	}
}

// popBacklog returns the oldest backlog op not yet applied.
func (l *lanes[O]) popBacklog() (O, bool) {
	l.trim()
	if l.head == len(l.backlog) {
		var zero O
		return zero, false
	}
	o := l.backlog[l.head].op
	l.backlog[l.head] = queued[O]{}
	l.head++
	return o, true
}

// trim skips applied ops at the head and frees an emptied backlog.
func (l *lanes[O]) trim() {
	for l.head < len(l.backlog) && l.backlog[l.head].done {
		l.backlog[l.head] = queued[O]{}
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

// parking returns the ordinary channel while ops may still be parked
// (taken into the backlog while the state loads: the hubs that sent them
// are not held up), nil once the backlog is at its limit, which holds the
// hubs back again.
func (l *lanes[O]) parking() <-chan queued[O] {
	if len(l.backlog)-l.head >= l.parkLimit {
		return nil
	}
	return l.ordinary
}

// park appends an op taken from the ordinary channel to the backlog.
func (l *lanes[O]) park(q queued[O]) { l.backlog = append(l.backlog, q) }

// parkingEvents is parking for the event channel, for a shard that applies
// nothing while its state loads (the health monitor: an event is only a
// sign of life to it). Left unread, a full event lane would hold the
// broker's worker, and so the hub's PUBACK, until the load ends.
func (l *lanes[O]) parkingEvents() <-chan queued[O] {
	if len(l.backlog)-l.head >= l.parkLimit {
		return nil
	}
	return l.events
}

// unpark ends a load that parked events too. The ordinary ops still in
// their channel, which may be older than an event already parked, join the
// backlog first; then the backlog is put in the order the ops were handed
// on (their seq), so each event is applied after its own hub's older
// inputs, as if it had been taken in its turn, and the backlog is in seq
// order again, as takeEvent needs. (An ordinary op whose putter waits for
// room in a full channel is not there yet: only when the parking limit was
// reached can an event pass it.)
func (l *lanes[O]) unpark() {
	for len(l.ordinary) > 0 { // only the shard's goroutine receives
		l.backlog = append(l.backlog, <-l.ordinary)
	}
	parked := l.backlog[l.head:]
	slices.SortStableFunc(parked, func(a, b queued[O]) int { return cmp.Compare(a.seq, b.seq) })
}

// drain applies everything queued, events first; for a shard that stops.
func (l *lanes[O]) drain(apply func(O)) {
	for l.event(nil, apply) {
	}
	for {
		if o, ok := l.popBacklog(); ok {
			apply(o)
			continue
		}
		select {
		case q := <-l.ordinary:
			apply(q.op)
		default:
			if !l.event(nil, apply) {
				return
			}
		}
	}
}
