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
// So the pacer starts each collection itself (runtime.GC) once the heap
// has grown earlyShare of the way from what the last collection kept to
// the goal: 40% of the gap (over a gigabyte at national scale, minutes of
// steady allocation) is left for the marking, which the background workers
// then finish on a quarter of the CPU without the hubs' help. The price is
// more frequent cycles (about 1 / earlyShare as many as when the runtime
// waits to the last moment), each costing the same marking.
const earlyShare = 0.6

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
// since the last one ended (sinceCycle) have used earlyShare of the room
// between what it kept and the goal.
func due(r heapReading, sinceCycle uint64) bool {
	if r.goal <= r.kept || r.goal-r.kept < paceMinGap {
		return false
	}
	return float64(sinceCycle) >= earlyShare*float64(r.goal-r.kept)
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
// since the last cycle are counted from.
type pacer struct {
	s    []metrics.Sample
	last heapReading
}

func newPacer() *pacer {
	p := &pacer{s: make([]metrics.Sample, len(paceSamples))}
	for i, name := range paceSamples {
		p.s[i].Name = name
	}
	p.last = readHeap(p.s)
	return p
}

// step reads the heap once and runs a collection if one is due; it reports
// whether it did. The bytes allocated since a cycle are counted from the
// first reading after its end, so they are late by at most one step.
func (p *pacer) step() (collected bool) {
	r := readHeap(p.s)
	if r.cycles != p.last.cycles {
		p.last = r // a cycle ended since the last step: count from here
		return false
	}
	if !due(r, r.allocs-p.last.allocs) {
		return false
	}
	// Blocks until the cycle's marking and sweeping are done. The
	// runtime's own trigger lies past 70% of the gap, so it has not
	// started one; if it did in this instant, GC waits for it and runs one
	// more (a cycle's cost, once).
	runtime.GC()
	p.last = readHeap(p.s)
	return true
}
