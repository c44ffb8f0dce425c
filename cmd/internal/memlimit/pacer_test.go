package memlimit

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	gb := uint64(1 << 30)
	r := heapReading{goal: 6 * gb, kept: 3 * gb}
	for _, c := range []struct {
		since uint64
		want  bool
	}{
		{0, false},
		{gb, false},          // a third of the 3 GB gap
		{19 * gb / 10, true}, // past 60%: the marking gets the other 40%
		{3 * gb, true},       // at the goal
	} {
		if got := due(r, c.since); got != c.want {
			t.Errorf("kept 3 GB, goal 6 GB, %d MB allocated since: due %v, want %v", c.since>>20, got, c.want)
		}
	}
	small := heapReading{goal: 200 << 20, kept: 50 << 20}
	if due(small, 150<<20) {
		t.Error("a gap under paceMinGap is left to the runtime")
	}
	if due(heapReading{goal: gb, kept: 2 * gb}, gb) {
		t.Error("kept above the goal (the runtime collects continuously): nothing to pace")
	}
}

// TestPacerStartsTheCollectionEarly lets the heap grow toward a goal set by
// a memory limit and checks that the pacer, not the runtime, started the
// collection: the runtime's own trigger lies past 70% of the gap, the
// pacer's at 60%.
func TestPacerStartsTheCollectionEarly(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(ms.Sys) + 1<<30))

	forced := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := forced()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { pace(time.Millisecond, stop); close(done) }()
	defer func() { close(stop); <-done }()

	var sink [][]byte
	deadline := time.Now().Add(30 * time.Second)
	for forced() == before {
		if time.Now().After(deadline) {
			t.Fatal("no collection started by the pacer after 30 s of allocating toward the goal")
		}
		// Garbage at a pace the 1 ms tick sees in steps of ~1 MB.
		sink = append(sink, make([]byte, 256<<10))
		if len(sink) > 8 {
			sink = sink[:0]
		}
		time.Sleep(250 * time.Microsecond)
	}
	var unforced uint64
	s := []metrics.Sample{{Name: "/gc/cycles/automatic:gc-cycles"}}
	metrics.Read(s)
	unforced = s[0].Value.Uint64()
	t.Logf("forced cycles %d, automatic %d", forced()-before, unforced)
}
