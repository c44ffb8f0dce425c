package memlimit

import (
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// The runtime starts a collection when the heap nears its goal, leaving
// room (runway) for what the hubs allocate while the marking runs. It
// sizes that room from how fast earlier cycles marked, and at national
// scale earlier cycles marked fast, on idle CPU: at 300,000 hubs the
// steady cycles started 330 MB short of a 6.4 GB goal, less than the
// 5.6 GB of heap and stacks to mark could take without idle cores. When
// the hubs' messages were arriving fast (after a connect or reconnect
// wave), the marking found no idle CPU, the heap reached the goal, and
// every goroutine that allocated had to mark before it could go on: 2-5 s
// of mutator assists in one cycle, PUBACKs and SOS waiting seconds
// (docs/performance.md, "National load at 300,000 homes").
//
// So the pacer starts each collection itself (runtime.GC), leaving the
// marking a runway sized for the worst case rather than the last: what the
// hubs allocate now (the faster of the last step's rate and a few
// seconds' average) over runwaySafety times as long as the last collection
// the pacer ran took, which covers marking on the dedicated quarter of the
// CPU alone. At most 1 - earlyShare of the gap (40%: over a gigabyte at
// national scale), as before: a connect or reconnect wave, allocating
// ~300 MB a second, gets that. In the steady state (~40 MB a second at
// 300,000 hubs, a 2-4 s marking) the runway is a few hundred megabytes,
// so cycles should come about a third less often than at a fixed 60% of
// the gap (each one ~3 CPU-seconds: the steady CPU of a 3-minute run
// moved by a tenth of a core with the number of cycles in its window;
// docs/performance.md, the quiet round at ca24d67).
const earlyShare = 0.6

// runwaySafety is how many times the last collection's duration the
// runway must last at the current allocation rate.
const runwaySafety = 4

// minRunway is the least runway left: a burst between two readings.
const minRunway = 256 << 20

// paceMinGap is the smallest room between the kept heap and the goal for
// which the pacer acts: below it (small fleets, tests) a cycle is cheap and
// the runtime's own timing is left alone.
const paceMinGap = 256 << 20

// paceEvery is how often the pacer reads the heap. At the fastest growth
// seen (a 300,000-hub connect wave, ~300 MB/s) 100 ms is ~30 MB, under 3%
// of the gap it watches.
const paceEvery = 100 * time.Millisecond

var paceOnce sync.Once

// StartPacer runs the pacer for the life of the process (once), unless
// DOLBOM_GC_PACER=off. The binaries call it from main, outside anything a
// test may run them in (a synctest bubble would wait for its ticker).
func StartPacer() {
	if os.Getenv("DOLBOM_GC_PACER") == "off" {
		return
	}
	paceOnce.Do(func() { go pace(paceEvery, nil) })
}

// heapReading is what the pacer reads from the runtime.
type heapReading struct {
	goal   uint64 // the heap goal of the cycle to come (GOGC and the memory limit)
	kept   uint64 // the heap the last collection marked live
	allocs uint64 // bytes allocated since the process started
	cycles uint64 // collections completed since the process started
}

var paceSamples = []string{
	"/gc/heap/goal:bytes",
	"/gc/heap/live:bytes",
	"/gc/heap/allocs:bytes",
	"/gc/cycles/total:gc-cycles",
}

func readHeap(s []metrics.Sample) heapReading {
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return heapReading{goal: v(0), kept: v(1), allocs: v(2), cycles: v(3)}
}

// due says whether a collection should start now: the bytes allocated
// since the last one ended (sinceCycle) leave less than runway of the room
// between what it kept and the goal. The runway is bounded to
// [minRunway, 1 - earlyShare of the room]; 0 (nothing measured yet) is
// the most.
func due(r heapReading, sinceCycle, runway uint64) bool {
	if r.goal <= r.kept || r.goal-r.kept < paceMinGap {
		return false
	}
	gap := r.goal - r.kept
	most := uint64((1 - earlyShare) * float64(gap))
	if runway == 0 || runway > most {
		runway = most
	}
	runway = max(runway, min(minRunway, most))
	return sinceCycle+runway >= gap
}

// pace reads the heap every tick and runs a collection when due. stop ends
// it (nil: never).
func pace(every time.Duration, stop <-chan struct{}) {
	p := newPacer()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p.step()
	}
}

// pacer is the state between two readings: the reading the bytes allocated
// since the last cycle are counted from, and what sizes the runway.
type pacer struct {
	s    []metrics.Sample
	last heapReading
	// prev is the previous step's reading and when it was taken: the
	// allocation rate between two steps.
	prev   heapReading
	prevAt time.Time
	// rate is the allocation rate in bytes a second, averaged over a few
	// seconds of steps; marked is how long the last collection the pacer
	// ran took (0: none yet, and the runway is the most).
	rate   float64
	marked time.Duration
	now    func() time.Time
}

// rateSmoothing is the weight of a new step's rate in the average: about
// the last 2 s at one step every 100 ms.
const rateSmoothing = 0.05

func newPacer() *pacer {
	p := &pacer{s: make([]metrics.Sample, len(paceSamples)), now: time.Now}
	for i, name := range paceSamples {
		p.s[i].Name = name
	}
	p.last = readHeap(p.s)
	p.prev, p.prevAt = p.last, p.now()
	return p
}

// runway is what the hubs would allocate, at the faster of the last step's
// rate and the average, during runwaySafety times the last collection.
func (p *pacer) runway(stepRate float64) uint64 {
	if p.marked <= 0 {
		return 0
	}
	return uint64(max(stepRate, p.rate) * p.marked.Seconds() * runwaySafety)
}

// step reads the heap once and runs a collection if one is due; it reports
// whether it did. The bytes allocated since a cycle are counted from the
// first reading after its end, so they are late by at most one step.
func (p *pacer) step() (collected bool) {
	r, at := readHeap(p.s), p.now()
	var stepRate float64
	if dt := at.Sub(p.prevAt).Seconds(); dt > 0 && r.allocs >= p.prev.allocs {
		stepRate = float64(r.allocs-p.prev.allocs) / dt
		p.rate += rateSmoothing * (stepRate - p.rate)
	}
	p.prev, p.prevAt = r, at
	if r.cycles != p.last.cycles {
		p.last = r // a cycle ended since the last step: count from here
		return false
	}
	if !due(r, r.allocs-p.last.allocs, p.runway(stepRate)) {
		return false
	}
	// Blocks until the cycle's marking and sweeping are done. The
	// runtime's own trigger lies past 70% of the gap and the runway is
	// sized so that it has not started one; if it did in this instant, GC
	// waits for it and runs one more (a cycle's cost, once).
	start := p.now()
	runtime.GC()
	p.marked = p.now().Sub(start)
	p.last = readHeap(p.s)
	p.prev, p.prevAt = p.last, p.now()
	return true
}
