package broker

import (
	rtmetrics "runtime/metrics"
	"sync"
	"time"
)

// congestion holds new sessions at the door while the node's cores are
// saturated, so that the hubs already connected keep them.
//
// At 300,000 homes the end of the connect wave (10,000 CONNECTs a second)
// meets the first hubs' periodic messages and a collection's marking: the
// runnable goroutines queue for the two cores, and every hop of an SOS
// (read, journal, detectors, dispatch) waits its turn behind CONNECTs that
// could as well have waited. An SOS read in that moment took 192 ms to its
// incident, 164 ms of it between its PUBACK and its detection (quiet round
// at aea00ea, docs/performance.md), against 13-25 ms once every home was
// online. The scheduler measures that queue itself: how long runnable
// goroutines waited for a core (/sched/latencies:seconds). While more than
// one wait in a hundred over the last window was longer than
// Config.ConnectYieldAt, a CONNECT waits for the cores to clear (up to
// yieldMax) before it costs anything: its
// hub waits a moment longer for its CONNACK, while a connected hub's
// emergency cannot wait at all.
//
// Nothing runs while no CONNECT comes: the runtime is read by the CONNECTs
// themselves, at most once a window, and only while the door is shut does a
// goroutine watch for the cores to clear.
type congestion struct {
	limit time.Duration // Config.ConnectYieldAt; <= 0: the door never shuts
	// measure reports whether the runnable waits since its last call were
	// over the limit (the runtime's, or a test's).
	measure func() bool
	stop    <-chan struct{} // the server's end: the watcher stops
	maxWait time.Duration   // yieldMax (tests lengthen it)

	mu      sync.Mutex
	checked time.Time     // the last measure
	shut    chan struct{} // non-nil while the door is shut: closed when it opens
	onShut  func(bool)    // the metric: called with the door's new state
}

// congestionWindow is how often the runtime is read while CONNECTs come:
// short enough to shut the door within a few hundred CONNECTs of a wave,
// long enough that the window holds a few hundred scheduling samples.
const congestionWindow = 50 * time.Millisecond

// congestionStale is how old the last reading may be for a window to be
// judged: a first CONNECT after a quiet hour would otherwise judge the
// whole hour, not the moment.
const congestionStale = 4 * congestionWindow

// minSchedSamples is the fewest scheduling waits a window is judged on (the
// runtime samples one transition in eight).
const minSchedSamples = 50

// schedOverShare: the door shuts when more than one wait in this many was
// over the limit (the p99).
const schedOverShare = 100

func newCongestion(limit time.Duration, stop <-chan struct{}, onShut func(bool)) *congestion {
	c := &congestion{limit: limit, stop: stop, onShut: onShut, maxWait: yieldMax}
	if limit > 0 {
		c.measure = newSchedWaits(limit).over
	}
	return c
}

// door returns nil when a CONNECT may go on now, or a channel closed once
// the cores are clear again.
func (c *congestion) door(now time.Time) <-chan struct{} {
	if c.limit <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut != nil {
		return c.shut
	}
	if now.Sub(c.checked) < congestionWindow {
		return nil
	}
	stale := now.Sub(c.checked) > congestionStale
	c.checked = now
	if over := c.measure(); !over || stale {
		return nil
	}
	c.shut = make(chan struct{})
	c.onShut(true)
	go c.watch(c.shut)
	return c.shut
}

// watch measures every window until the cores are clear, then opens the
// door (or until the server stops: the waiting CONNECTs end with it).
func (c *congestion) watch(shut chan struct{}) {
	t := time.NewTicker(congestionWindow)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			c.checked = now
			if !c.measure() {
				c.shut = nil
				c.onShut(false)
				close(shut)
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
		}
	}
}

// yieldMax bounds a CONNECT's wait at the shut door: past it the CONNECT
// goes on (to a CONNECT slot, then its credentials) even if the cores are
// still saturated. A node that stays saturated is the load guard's to judge
// (BusyWait), by refusing; the door only smooths a wave, and must never
// turn a slow moment into refusals or a hub's connect timeout.
const yieldMax = 2 * time.Second

// yield waits while the door is shut, up to maxWait or until the server
// stops; it reports whether the CONNECT waited.
func (c *congestion) yield() (waited bool) {
	shut := c.door(time.Now())
	if shut == nil {
		return false
	}
	t := time.NewTimer(c.maxWait)
	defer t.Stop()
	for shut != nil {
		select {
		case <-shut:
		case <-t.C:
			return true
		case <-c.stop:
			return true
		}
		shut = c.door(time.Now())
	}
	return true
}

// schedWaits reads the runtime's histogram of how long runnable goroutines
// waited for a core, and judges the waits since the last read.
type schedWaits struct {
	limit   float64 // seconds
	s       []rtmetrics.Sample
	last    []uint64
	started bool
}

func newSchedWaits(limit time.Duration) *schedWaits {
	return &schedWaits{limit: limit.Seconds(), s: []rtmetrics.Sample{{Name: "/sched/latencies:seconds"}}}
}

func (w *schedWaits) over() bool {
	rtmetrics.Read(w.s)
	if w.s[0].Value.Kind() != rtmetrics.KindFloat64Histogram {
		return false // a runtime without it: never shut
	}
	h := w.s[0].Value.Float64Histogram()
	first := !w.started || len(w.last) != len(h.Counts)
	if first {
		w.last = make([]uint64, len(h.Counts))
		w.started = true
	}
	over := !first && waitsOver(h.Buckets, w.last, h.Counts, w.limit)
	copy(w.last, h.Counts)
	return over
}

// waitsOver judges the waits counted between two readings of a histogram
// (bucket i holds waits in [buckets[i], buckets[i+1])): true when at least
// minSchedSamples were counted and more than one in schedOverShare lay
// wholly above limit.
func waitsOver(buckets []float64, before, after []uint64, limit float64) bool {
	var n, above uint64
	for i := range after {
		d := after[i] - before[i]
		n += d
		if buckets[i] >= limit {
			above += d
		}
	}
	return n >= minSchedSamples && above*schedOverShare > n
}
