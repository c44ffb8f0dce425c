// Package wheel is a hashed timing wheel: hundreds of thousands of deadlines
// kept in one slice of slots, scheduled, moved and cancelled in O(1), and
// expired by Advance in time proportional to what is due, not to how many
// deadlines are pending.
//
// It never reads the clock and starts no goroutine or timer: its owner passes
// the time to Advance (once a second, say), so the same code runs on the
// wall clock, on a replayed day and inside a testing/synctest bubble. It is
// not safe for concurrent use; give each shard its own wheel.
package wheel

import (
	"math/bits"
	"time"
)

// Timer is a handle on one deadline. The zero Timer is no timer; a handle
// stays valid until Cancel, so an owner can keep one per device for its whole
// life and move it with Reschedule.
type Timer uint32

// DefaultSlots spans 68 minutes at one-second ticks: heartbeat and
// supervision deadlines (minutes) land within one revolution, so a slot holds
// only what is due when the cursor reaches it.
const DefaultSlots = 4096

type timerState uint8

const (
	stateFree   timerState = iota // on the free list
	stateIdle                     // allocated, not armed (stopped or fired)
	stateArmed                    // linked into a slot
	stateFiring                   // due in the Advance under way, callback not yet run
)

// node is one deadline; nodes link into doubly linked lists per slot by index
// (0 is "none"), which keeps them in one slice without a pointer each.
type node struct {
	key        uint64
	at         int64 // deadline in ticks since the Unix epoch
	next, prev uint32
	state      timerState
}

// Wheel holds deadlines in slots of one tick each.
type Wheel struct {
	tick   int64 // nanoseconds per slot
	mask   int64
	heads  []uint32
	nodes  []node // nodes[0] is the unused "none" sentinel
	free   uint32 // first free node, linked through next
	cur    int64  // the last tick Advance has processed
	armed  int
	firing []uint32 // scratch for Advance
}

// New returns a wheel of slots (rounded up to a power of two; DefaultSlots
// when <= 0) of tick each, whose cursor starts at now. Deadlines are rounded
// up to whole ticks: a timer fires at or after its deadline, at most one tick
// late.
func New(tick time.Duration, slots int, now time.Time) *Wheel {
	if tick <= 0 {
		tick = time.Second
	}
	if slots <= 0 {
		slots = DefaultSlots
	}
	slots = 1 << bits.Len(uint(slots-1))
	w := &Wheel{
		tick:  int64(tick),
		mask:  int64(slots - 1),
		heads: make([]uint32, slots),
		nodes: make([]node, 1, 64),
	}
	w.cur = w.floorTick(now)
	return w
}

func (w *Wheel) floorTick(t time.Time) int64 {
	ns := t.UnixNano()
	q := ns / w.tick
	if ns%w.tick < 0 {
		q--
	}
	return q
}

func (w *Wheel) ceilTick(t time.Time) int64 {
	q := w.floorTick(t)
	if q*w.tick < t.UnixNano() {
		q++
	}
	return q
}

// Len returns the number of armed timers.
func (w *Wheel) Len() int { return w.armed }

// Schedule creates a timer carrying key that fires at or after at. A
// deadline at or before the cursor fires on the next Advance.
func (w *Wheel) Schedule(key uint64, at time.Time) Timer {
	var i uint32
	if w.free != 0 {
		i = w.free
		w.free = w.nodes[i].next
	} else {
		w.nodes = append(w.nodes, node{})
		i = uint32(len(w.nodes) - 1)
	}
	w.nodes[i] = node{key: key, state: stateIdle}
	w.arm(i, at)
	return Timer(i)
}

// Reschedule moves t to a new deadline, re-arming it if it had fired or was
// stopped. It does nothing for the zero Timer.
func (w *Wheel) Reschedule(t Timer, at time.Time) {
	if !w.valid(t) {
		return
	}
	w.disarm(uint32(t))
	w.arm(uint32(t), at)
}

// Stop disarms t and keeps the handle for a later Reschedule. It reports
// whether t was armed.
func (w *Wheel) Stop(t Timer) bool {
	if !w.valid(t) {
		return false
	}
	return w.disarm(uint32(t))
}

// Cancel disarms t and releases the handle, which must not be used again.
func (w *Wheel) Cancel(t Timer) {
	if !w.valid(t) {
		return
	}
	i := uint32(t)
	w.disarm(i)
	w.nodes[i] = node{next: w.free, state: stateFree}
	w.free = i
}

// Deadline returns t's deadline, rounded up to the tick, and whether t is
// armed.
func (w *Wheel) Deadline(t Timer) (time.Time, bool) {
	if !w.valid(t) || w.nodes[t].state != stateArmed {
		return time.Time{}, false
	}
	return time.Unix(0, w.nodes[t].at*w.tick), true
}

// Key returns the key t was scheduled with.
func (w *Wheel) Key(t Timer) uint64 {
	if !w.valid(t) {
		return 0
	}
	return w.nodes[t].key
}

// Advance moves the cursor to now and calls expired for every timer whose
// deadline has passed, after unlinking it: the callback may Reschedule it
// (or any other timer), Stop or Cancel other timers, and Schedule new ones;
// it must not call Advance. A deadline the callback sets at or before now
// fires on the next Advance. It returns the number of timers that fired.
//
// The cost is one step per tick elapsed (at most one revolution) plus one
// per timer in the visited slots; a timer more than one revolution ahead is
// stepped over once per revolution.
func (w *Wheel) Advance(now time.Time, expired func(key uint64, t Timer)) int {
	nt := w.floorTick(now)
	if nt <= w.cur {
		return 0
	}
	from := w.cur + 1
	if nt-w.cur > w.mask+1 {
		from = nt - w.mask // every slot once
	}
	w.cur = nt
	for tick := from; tick <= nt; tick++ {
		for i := w.heads[tick&w.mask]; i != 0; {
			n := &w.nodes[i]
			next := n.next
			if n.at <= nt {
				w.unlink(i)
				n.state = stateFiring
				w.firing = append(w.firing, i)
			}
			i = next
		}
	}
	fired := 0
	for _, i := range w.firing {
		// A callback may have stopped, cancelled or rescheduled a timer
		// further down the list; only those still firing are reported.
		if w.nodes[i].state != stateFiring {
			continue
		}
		w.nodes[i].state = stateIdle
		fired++
		expired(w.nodes[i].key, Timer(i))
	}
	w.firing = w.firing[:0]
	return fired
}

func (w *Wheel) valid(t Timer) bool {
	return t != 0 && int(t) < len(w.nodes) && w.nodes[t].state != stateFree
}

func (w *Wheel) arm(i uint32, at time.Time) {
	tick := w.ceilTick(at)
	if tick <= w.cur {
		tick = w.cur + 1
	}
	n := &w.nodes[i]
	n.at = tick
	n.state = stateArmed
	slot := tick & w.mask
	n.prev = 0
	n.next = w.heads[slot]
	if n.next != 0 {
		w.nodes[n.next].prev = i
	}
	w.heads[slot] = i
	w.armed++
}

// disarm unlinks an armed timer or cancels a pending callback; it reports
// whether the timer was armed or firing.
func (w *Wheel) disarm(i uint32) bool {
	switch w.nodes[i].state {
	case stateArmed:
		w.unlink(i)
		w.nodes[i].state = stateIdle
		return true
	case stateFiring:
		w.nodes[i].state = stateIdle
		return true
	}
	return false
}

func (w *Wheel) unlink(i uint32) {
	n := &w.nodes[i]
	if n.prev != 0 {
		w.nodes[n.prev].next = n.next
	} else {
		w.heads[n.at&w.mask] = n.next
	}
	if n.next != 0 {
		w.nodes[n.next].prev = n.prev
	}
	n.next, n.prev = 0, 0
	w.armed--
}
