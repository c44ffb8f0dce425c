package memlimit

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
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
// a memory limit, 1 MB of garbage per pacer step, and checks that the
// pacer started a collection before the runtime started its own: no
// automatic cycle ran, and the heap when the pacer collected was below the
// goal. The runtime's own trigger lies past 70% of the gap, the pacer's at
// 60%, and each step is driven here, not by a ticker, so the order does not
// depend on how the machine schedules the pacer. A pacer that does nothing
// fails: the runtime collects first.
func TestPacerStartsTheCollectionEarly(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(ms.Sys) + 1<<30))

	cycles := func(name string) uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/" + name + ":gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	automatic, forced := cycles("automatic"), cycles("forced")
	p := newPacer()
	heap := make([]metrics.Sample, len(paceSamples))
	for i, name := range paceSamples {
		heap[i].Name = name
	}
	var sink [][]byte
	for step := 0; ; step++ {
		if step > 8<<10 { // 8 GB of garbage against a goal ~1 GB away
			t.Fatal("no collection after 8 GB allocated toward the goal")
		}
		for range 4 {
			sink = append(sink, make([]byte, 256<<10))
		}
		if len(sink) > 8 {
			sink = sink[:0]
		}
		if n := cycles("automatic"); n != automatic {
			r := readHeap(heap)
			t.Fatalf("the runtime started its own collection first (%d automatic cycles, heap goal %d MB, kept %d MB) after %d MB of garbage: the pacer did not start one at %.0f%% of the gap",
				n-automatic, r.goal>>20, r.kept>>20, step, 100*earlyShare)
		}
		before := readHeap(heap)
		allocated := before.allocs - p.last.allocs
		if !p.step() {
			continue
		}
		if cycles("forced") == forced {
			t.Fatal("the pacer says it collected, but no forced cycle ran")
		}
		if heapAt := before.kept + allocated; heapAt >= before.goal {
			t.Errorf("the pacer collected at a heap of %d MB, past the goal of %d MB", heapAt>>20, before.goal>>20)
		}
		t.Logf("the pacer collected after %d MB of garbage, at %d MB of a %d MB goal (%d MB kept)",
			step, (before.kept+allocated)>>20, before.goal>>20, before.kept>>20)
		return
	}
}
