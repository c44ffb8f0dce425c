package broker

import (
	"testing"
)

// laneRun is a flooding hub's lane over one run: laneCap publishes queued,
// then taken in order until it is empty and gives its ring up.
func laneRun(tb testing.TB, l *lane, p *publish) {
	for i := range laneCap {
		p.id = uint16(i + 1)
		l.push(p)
	}
	for i := range laneCap {
		if got := l.pop(); got.id != uint16(i+1) {
			tb.Fatalf("pop %d: id %d", i, got.id)
		}
	}
	l.release()
}

// A lane's rings come from pools and go back empty: a hub with a window of
// messages in flight leaves no garbage per run (it grew 2 -> 4 -> 8 -> 16
// -> 32 and dropped the ring, ~7 KB per run of 32), and a ring handed
// back keeps no payload alive.
func TestLaneRunAllocatesNothing(t *testing.T) {
	var l lane
	p := publish{topic: "dolbom/v1/hub-a/readings", payload: []byte(`{}`), qos: 1}
	laneRun(t, &l, &p)
	if n := testing.AllocsPerRun(100, func() { laneRun(t, &l, &p) }); n > 0.1 && !raceEnabled {
		t.Errorf("%v allocations per run of %d publishes, want 0", n, laneCap)
	}
	for range 4 {
		r := fullRings.Get().(*[laneCap]publish)
		for k := range r {
			if r[k].payload != nil || r[k].topic != "" {
				t.Fatalf("a pooled ring holds publish %d: %+v", k, r[k])
			}
		}
		defer fullRings.Put(r)
	}
}

// BenchmarkLaneRun is a lane's bookkeeping for a run of laneCap publishes
// (queue, take, give the ring up), per publish.
func BenchmarkLaneRun(b *testing.B) {
	var l lane
	p := publish{topic: "dolbom/v1/hub-a/readings", payload: []byte(`{}`), qos: 1}
	b.ReportAllocs()
	for b.Loop() {
		laneRun(b, &l, &p)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*laneCap), "ns/publish")
}
