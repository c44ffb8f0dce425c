package wheel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return epoch.Add(time.Duration(s * float64(time.Second))) }

// collect advances w to now and returns the keys that fired, sorted.
func collect(w *Wheel, now time.Time) []uint64 {
	var keys []uint64
	w.Advance(now, func(key uint64, _ Timer) { keys = append(keys, key) })
	slices.Sort(keys)
	return keys
}

func TestWheelFiresAtOrAfterDeadline(t *testing.T) {
	tests := []struct {
		name     string
		deadline float64 // seconds after epoch
		steps    []float64
		firesAt  float64 // first step at which it fires; -1 never
	}{
		{"whole second", 5, []float64{4, 4.9, 5, 6}, 5},
		{"rounded up to the tick", 5.2, []float64{5, 5.9, 6}, 6},
		{"in the past fires next advance", -3, []float64{0.5, 1}, 1},
		{"jump over many revolutions", 100, []float64{100000}, 100000},
		{"beyond one revolution waits for its round", 5000, []float64{904, 4096 + 904, 4999, 5000}, 5000},
		{"never reached", 50, []float64{10, 20, 49.99}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(time.Second, 4096, epoch)
			w.Schedule(7, at(tt.deadline))
			fired := -1.0
			for _, s := range tt.steps {
				if got := collect(w, at(s)); len(got) > 0 {
					if fired >= 0 {
						t.Fatalf("fired twice, again at %gs", s)
					}
					fired = s
				}
			}
			if fired != tt.firesAt {
				t.Fatalf("fired at %gs, want %gs", fired, tt.firesAt)
			}
		})
	}
}

func TestWheelRescheduleStopCancel(t *testing.T) {
	w := New(time.Second, 64, epoch)
	a := w.Schedule(1, at(10))
	b := w.Schedule(2, at(10))
	c := w.Schedule(3, at(10))
	w.Reschedule(a, at(20))
	if !w.Stop(b) {
		t.Fatal("Stop of an armed timer reported false")
	}
	w.Cancel(c)
	if w.Len() != 1 {
		t.Fatalf("Len = %d, want 1", w.Len())
	}
	if got := collect(w, at(15)); len(got) != 0 {
		t.Fatalf("fired %v before any deadline", got)
	}
	w.Reschedule(b, at(16)) // a stopped timer can be re-armed
	if got := collect(w, at(16)); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("at 16s fired %v, want [2]", got)
	}
	if got := collect(w, at(20)); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("at 20s fired %v, want [1]", got)
	}
	// A cancelled handle is reused by the next Schedule.
	d := w.Schedule(4, at(30))
	if d != c {
		t.Fatalf("handle %d not reused, got %d", c, d)
	}
	if dl, ok := w.Deadline(d); !ok || !dl.Equal(at(30)) {
		t.Fatalf("Deadline = %v %v, want %v", dl, ok, at(30))
	}
	w.Reschedule(0, at(1)) // the zero timer is ignored
}

func TestWheelCallbackMayChangeOtherTimers(t *testing.T) {
	w := New(time.Second, 16, epoch)
	var timers [4]Timer
	for i := range timers {
		timers[i] = w.Schedule(uint64(i), at(5))
	}
	var fired []uint64
	w.Advance(at(5), func(key uint64, self Timer) {
		fired = append(fired, key)
		for i, other := range timers {
			if other != self && uint64(i) != key {
				w.Cancel(other) // the others must not fire now
				timers[i] = 0
			}
		}
		w.Reschedule(self, at(5)) // already past: next advance
		w.Schedule(99, at(6))
	})
	if len(fired) != 1 {
		t.Fatalf("fired %v, want exactly one after it cancelled the rest", fired)
	}
	if got := collect(w, at(6)); !slices.Equal(got, []uint64{fired[0], 99}) {
		t.Fatalf("next advance fired %v, want [%d 99]", got, fired[0])
	}
}

// TestWheelMatchesModel runs random operations against a plain map of
// deadlines and checks every Advance fires exactly the due timers.
func TestWheelMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := New(time.Second, 256, epoch)
	model := map[Timer]int64{} // armed timer -> deadline tick
	now := int64(0)
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 4:
			d := now + int64(rng.IntN(600)) - 5
			tm := w.Schedule(uint64(step), at(float64(d)))
			model[tm] = max(d, now+1)
		case op < 6 && len(model) > 0:
			tm := anyKey(model, rng)
			d := now + int64(rng.IntN(600))
			w.Reschedule(tm, at(float64(d)))
			model[tm] = max(d, now+1)
		case op < 7 && len(model) > 0:
			tm := anyKey(model, rng)
			w.Cancel(tm)
			delete(model, tm)
		default:
			now += int64(rng.IntN(3))
			var got []Timer
			w.Advance(at(float64(now)), func(_ uint64, tm Timer) { got = append(got, tm) })
			var want []Timer
			for tm, d := range model {
				if d <= now {
					want = append(want, tm)
					delete(model, tm)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d at %ds: fired %v, want %v", step, now, got, want)
			}
			for _, tm := range got {
				w.Cancel(tm)
			}
		}
		if w.Len() != len(model) {
			t.Fatalf("step %d: Len %d, model %d", step, w.Len(), len(model))
		}
	}
}

func anyKey(m map[Timer]int64, rng *rand.Rand) Timer {
	n := rng.IntN(len(m))
	for k := range m {
		if n == 0 {
			return k
		}
		n--
	}
	panic("unreachable")
}

var fleetSizes = []int{30_000, 300_000}

// BenchmarkReschedule is the cost of moving one hub's heartbeat deadline,
// which happens on every message the hub sends.
func BenchmarkReschedule(b *testing.B) {
	for _, hubs := range fleetSizes {
		b.Run(fmt.Sprintf("hubs=%d", hubs), func(b *testing.B) {
			w, timers := fleet(hubs)
			rng := rand.New(rand.NewPCG(3, 4))
			b.ReportAllocs()
			for b.Loop() {
				w.Reschedule(timers[rng.IntN(hubs)], at(float64(1+rng.IntN(600))))
			}
		})
	}
}

// BenchmarkScheduleCancel is the cost of adding and removing a deadline.
func BenchmarkScheduleCancel(b *testing.B) {
	for _, hubs := range fleetSizes {
		b.Run(fmt.Sprintf("hubs=%d", hubs), func(b *testing.B) {
			w, _ := fleet(hubs)
			rng := rand.New(rand.NewPCG(5, 6))
			b.ReportAllocs()
			for b.Loop() {
				w.Cancel(w.Schedule(1, at(float64(1+rng.IntN(600)))))
			}
		})
	}
}

// BenchmarkAdvanceHealthyFleet is one second of a healthy fleet: every hub
// heartbeats once a minute and pushes its 10-minute deadline forward (not
// timed), then the wheel advances one tick (timed). The tick costs the same
// at 30,000 and 300,000 hubs: nothing is due and the cursor visits one slot.
func BenchmarkAdvanceHealthyFleet(b *testing.B) {
	for _, hubs := range fleetSizes {
		b.Run(fmt.Sprintf("hubs=%d", hubs), func(b *testing.B) {
			w, timers := fleet(hubs)
			perTick := hubs / 60
			next, sec := 0, int64(0)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				sec++
				for range perTick {
					w.Reschedule(timers[next], at(float64(sec+600)))
					next = (next + 1) % hubs
				}
				b.StartTimer()
				if n := w.Advance(at(float64(sec)), func(uint64, Timer) {}); n != 0 {
					b.Fatalf("%d timers fired in a healthy fleet", n)
				}
			}
		})
	}
}

// BenchmarkAdvanceExpiring is a tick in which a fixed 100 deadlines are due
// among N armed: the cost follows what expires, not N.
func BenchmarkAdvanceExpiring(b *testing.B) {
	for _, hubs := range fleetSizes {
		b.Run(fmt.Sprintf("hubs=%d", hubs), func(b *testing.B) {
			const due = 100
			w, timers := fleet(hubs)
			next, sec := 0, int64(0)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				sec++
				for i := range hubs / 60 { // heartbeats from the healthy rest
					tm := timers[(next+i)%hubs]
					w.Reschedule(tm, at(float64(sec+600)))
				}
				for i := range due { // these hubs went quiet
					w.Reschedule(timers[(next+i)%hubs], at(float64(sec)))
				}
				next = (next + hubs/60) % hubs
				b.StartTimer()
				if n := w.Advance(at(float64(sec)), func(_ uint64, t Timer) { w.Reschedule(t, at(float64(sec+600))) }); n != due {
					b.Fatalf("%d fired, want %d", n, due)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/due, "ns/expired")
		})
	}
}

// fleet arms one deadline per hub, spread over the next ten minutes.
func fleet(hubs int) (*Wheel, []Timer) {
	w := New(time.Second, DefaultSlots, epoch)
	rng := rand.New(rand.NewPCG(7, 8))
	timers := make([]Timer, hubs)
	for i := range timers {
		timers[i] = w.Schedule(uint64(i), at(float64(600+rng.IntN(600))))
	}
	return w, timers
}
