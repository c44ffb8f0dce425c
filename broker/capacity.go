package broker

import (
	"math"
	rtmetrics "runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// capacity is the node's admission of hubs (Config.MaxHubs, the memory
// guard and the load guard): past any of them, a CONNECT from a hub that does not already hold a
// place is refused "server busy", and nobody connected is dropped to make
// room. Overload is refused at the door, where it costs a CONNACK, rather
// than absorbed, where it would cost every connected hub's latency.
type capacity struct {
	max       int64   // 0: no cap on the number of hubs
	highWater float64 // share of the memory limit; <= 0: no memory guard
	// held counts connections that passed the gate and have not ended
	// (Server.establish gives the place back when mochi is done with the
	// connection). It is taken with Add before it is compared, so a burst
	// of concurrent CONNECTs cannot overshoot max: each one sees the count
	// its own place included.
	held atomic.Int64
	// memFull is the memory guard's latest verdict, written by Run's
	// once-a-second sample, read by every CONNECT.
	memFull atomic.Bool
	// sample reads what the collector cannot free (live heap and goroutine
	// stacks) and the memory limit; tests replace it.
	sample func() (used, limit uint64)

	// The load guard: busyWait is how long a hub's message may wait between
	// its read and its handling (Config.BusyWait; <= 0: no guard). handled
	// and late count the handed-off messages since the last check and
	// those that waited longer; when more than lateShare did, the node is
	// past what its CPU (or its journal) carries now, and new hubs are
	// refused for busyHold after the last such second.
	busyWait      time.Duration
	busyHold      time.Duration
	handled, late atomic.Int64
	loadBusy      atomic.Bool
	busyUntil     time.Time // Run's goroutine only

	// Refusals since the last log line (see logRefusals).
	refusedFull, refusedMemory, refusedLoad atomic.Int64
	// passedLoad counts hubs the load guard let in because the node served
	// them (take's served), until Run moves it to the metric.
	passedLoad          atomic.Int64
	lastLog             time.Time // Run's goroutine only
	lastUsed, lastLimit uint64    // Run's goroutine only: the latest sample, for the log
}

func newCapacity(cfg Config) *capacity {
	return &capacity{max: int64(cfg.MaxHubs), highWater: cfg.MemoryHighWater, sample: goMemory,
		busyWait: cfg.BusyWait, busyHold: busyHold}
}

// Refusal reasons of the gate (labels of connect_refused_total).
const (
	refuseCapacity = "capacity" // MaxHubs hubs hold a place
	refuseMemory   = "memory"   // live heap and stacks above the memory guard's high water
	refuseLoad     = "load"     // hubs' messages waiting longer than BusyWait to be handled
)

// busyHold is how long the load guard stays on after the last second in
// which messages waited too long: new hubs come back only once the node
// has kept up for a while, not in the first quiet second of a struggle.
const busyHold = 10 * time.Second

// lateShare is the share of a second's messages that may wait longer than
// BusyWait before the load guard turns on: one in twenty. A reconnect wave
// after a restart, whose hubs flush what they kept, leaves ~1% of the
// messages waiting 0.5-0.7 s (PUBACK p99 491 ms, p99.9 688 ms at 300,000
// hubs) and must not be refused for it: the hubs refused then keep their
// emergencies (a guard at 1% over 250 ms refused 330,000 CONNECTs in that
// wave and the SOS kept by the refused hubs waited up to 84 s). A node
// falling over is far past it: a1's PUBACK p50 was 7 s.
const lateShare = 20

// minLateSample is the fewest messages in a second that the load guard
// judges: below it one slow message is not a trend.
const minLateSample = 20

// take gives a connection a place, unless the node is full; hubHeld says
// the hub already holds one through an earlier connection (a reconnect or a
// takeover: its old session still counts, and it must always get back in).
// The place is taken even then, so that the count stays one per
// connection: the old connection gives its own back when it ends. served
// says the node served the hub already (a kept session, or held before its
// restart: heldHubs): it is part of the load the node carries, not new
// load, so the load guard lets it in (the cap and the memory guard do not).
// reason is "" when admitted.
func (c *capacity) take(hubHeld, served bool) (reason string) {
	n := c.held.Add(1)
	if reason = c.judge(hubHeld, served, n); reason != "" {
		c.held.Add(-1)
		c.countRefusal(reason)
		return reason
	}
	if !hubHeld && served && c.loadBusy.Load() {
		c.passedLoad.Add(1)
	}
	return ""
}

// judge is take's verdict for a connection that would make n places held,
// its own included: "" admits.
func (c *capacity) judge(hubHeld, served bool, n int64) string {
	switch {
	case hubHeld:
		return ""
	case c.max > 0 && n > c.max:
		return refuseCapacity
	case c.memFull.Load():
		return refuseMemory
	case c.loadBusy.Load() && !served:
		return refuseLoad
	}
	return ""
}

// refusing reports whether take could refuse a new hub now: the door
// (refuse.go) reads a CONNECT itself only then, so that a node with room
// pays nothing for it.
func (c *capacity) refusing() bool {
	return (c.max > 0 && c.held.Load() >= c.max) || c.memFull.Load() || c.loadBusy.Load()
}

// wouldRefuse is take's verdict without taking a place, for the door's
// early refusal (refuse.go), which counts what it refuses (countRefusal).
func (c *capacity) wouldRefuse(hubHeld, served bool) (reason string) {
	return c.judge(hubHeld, served, c.held.Load()+1)
}

func (c *capacity) countRefusal(reason string) {
	switch reason {
	case refuseCapacity:
		c.refusedFull.Add(1)
	case refuseMemory:
		c.refusedMemory.Add(1)
	case refuseLoad:
		c.refusedLoad.Add(1)
	}
}

func (c *capacity) release() { c.held.Add(-1) }

// goMemory is what the collector cannot free, live heap (as marked by the
// last cycle) plus goroutine stacks, and the runtime's memory limit
// (GOMEMLIMIT or debug.SetMemoryLimit). runtime/metrics reads these without
// stopping the world.
func goMemory() (used, limit uint64) {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/gc/gomemlimit:bytes"}}
	rtmetrics.Read(s)
	for _, v := range s {
		if v.Value.Kind() != rtmetrics.KindUint64 {
			return 0, math.MaxInt64
		}
	}
	return s[0].Value.Uint64() + s[1].Value.Uint64(), s[2].Value.Uint64()
}

// checkMemory samples the memory and sets the guard; Run calls it once a
// second, so no CONNECT pays for reading the runtime's metrics. Without a
// memory limit (math.MaxInt64) there is nothing to guard against.
func (c *capacity) checkMemory() bool {
	if c.highWater <= 0 {
		return false
	}
	used, limit := c.sample()
	c.lastUsed, c.lastLimit = used, limit
	full := limit > 0 && limit < math.MaxInt64 && float64(used) >= c.highWater*float64(limit)
	c.memFull.Store(full)
	return full
}

// observeWait counts a handed-off message and how long it waited to be
// handled since it was read (the handoff's workers call it for every
// message; with no guard it does not even read the clock).
func (c *capacity) observeWait(read time.Time) {
	if c.busyWait <= 0 {
		return
	}
	c.handled.Add(1)
	if time.Since(read) > c.busyWait {
		c.late.Add(1)
	}
}

// checkLoad judges the last second's waits and sets the load guard; Run
// calls it once a second.
func (c *capacity) checkLoad(now time.Time) bool {
	if c.busyWait <= 0 {
		return false
	}
	n, late := c.handled.Swap(0), c.late.Swap(0)
	if n >= minLateSample && late*lateShare > n {
		c.busyUntil = now.Add(c.busyHold)
	}
	busy := now.Before(c.busyUntil)
	c.loadBusy.Store(busy)
	return busy
}

// refusalLogEvery bounds the refusal log to a line per period, however many
// hubs are refused: at 450,000 homes for 300,000 places, a log line per
// refusal would be a thousand a second.
const refusalLogEvery = 5 * time.Second

// logRefusals writes, at most once per refusalLogEvery, how many hubs the
// gate refused since the last line; Run calls it once a second.
func (c *capacity) logRefusals(log zerolog.Logger, now time.Time) {
	if now.Sub(c.lastLog) < refusalLogEvery {
		return
	}
	full, mem, load := c.refusedFull.Swap(0), c.refusedMemory.Swap(0), c.refusedLoad.Swap(0)
	if full == 0 && mem == 0 && load == 0 {
		return
	}
	c.lastLog = now
	ev := log.Warn().Int64("refused_capacity", full).Int64("refused_memory", mem).Int64("refused_load", load).
		Int64("hubs_held", c.held.Load()).Int64("max_hubs", c.max)
	if mem > 0 {
		ev = ev.Uint64("go_memory_bytes", c.lastUsed).Uint64("memory_limit_bytes", c.lastLimit).Float64("memory_high_water", c.highWater)
	}
	if load > 0 {
		ev = ev.Dur("busy_wait", c.busyWait)
	}
	ev.Msg("new hubs refused: server busy (connected hubs are kept)")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
