package fall

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

var synthStart = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// signal builds a synthetic waist accelerometer trace in g: y is the body's
// long axis (standing reads (0, -1, 0)), x lateral, z front-back.
type signal struct {
	rate    int
	x, y, z []float32
	rng     *rand.Rand
}

func newSignal(rate int) *signal {
	return &signal{rate: rate, rng: rand.New(rand.NewPCG(1, 2))}
}

func (s *signal) add(x, y, z float64) {
	n := 0.01 // sensor noise, g
	s.x = append(s.x, float32(x+n*s.rng.NormFloat64()))
	s.y = append(s.y, float32(y+n*s.rng.NormFloat64()))
	s.z = append(s.z, float32(z+n*s.rng.NormFloat64()))
}

// hold adds d of a still posture: the trunk tilted forward by tilt degrees.
func (s *signal) hold(d time.Duration, tiltDeg float64) *signal {
	a := tiltDeg * math.Pi / 180
	for range s.samples(d) {
		s.add(0, -math.Cos(a), math.Sin(a))
	}
	return s
}

func (s *signal) samples(d time.Duration) int { return int(d * time.Duration(s.rate) / time.Second) }

func (s *signal) walk(d time.Duration, amplitude float64) *signal {
	for i := range s.samples(d) {
		t := float64(i) / float64(s.rate)
		s.add(0.15*amplitude*math.Sin(2*math.Pi*t), -1+amplitude*math.Sin(2*math.Pi*2*t), 0.2*amplitude*math.Sin(2*math.Pi*2*t+1))
	}
	return s
}

// fall: the trunk turns from upright to tiltTo degrees over 0.6 s while the
// body drops (magnitude falls towards 0.3 g), then a damped impact of peak g.
func (s *signal) fall(peak, tiltTo float64) *signal {
	s.turnDown(600*time.Millisecond, tiltTo, 0.7)
	a := tiltTo * math.Pi / 180
	for i := range s.samples(400 * time.Millisecond) {
		t := float64(i) / float64(s.rate)
		ring := (peak - 1) * math.Exp(-t/0.1) * math.Cos(2*math.Pi*4*t)
		s.add(0.5*ring, -math.Cos(a)*(1+0.3*ring), math.Sin(a)*(1+ring))
	}
	return s
}

// turnDown turns the trunk from upright to tiltTo degrees over d while the
// magnitude dips by dip g at the middle (0.7: a fall's free-fall phase; 0.15:
// someone lowering themself), with some sideways sway.
func (s *signal) turnDown(d time.Duration, tiltTo, dip float64) {
	n := s.samples(d)
	for i := range n {
		f := float64(i) / float64(n)
		a := f * tiltTo * math.Pi / 180
		m := 1 - dip*math.Sin(math.Pi*f)
		s.add(0.2*math.Sin(3*math.Pi*f), -m*math.Cos(a), m*math.Sin(a))
	}
}

// bump is a short vertical jolt of peak g (sitting down hard, landing a jump),
// after a free-fall of freeFall.
func (s *signal) bump(peak float64, freeFall time.Duration, tiltDeg float64) *signal {
	a := tiltDeg * math.Pi / 180
	for range s.samples(freeFall) {
		s.add(0, -0.1, 0)
	}
	for i := range s.samples(300 * time.Millisecond) {
		t := float64(i) / float64(s.rate)
		j := (peak - 1) * math.Exp(-t/0.04)
		s.add(0.05*j, -math.Cos(a)*(1+j), math.Sin(a))
	}
	return s
}

func (s *signal) noise(d time.Duration, sigma float64) *signal {
	for range s.samples(d) {
		s.add(sigma*s.rng.NormFloat64(), -1+sigma*s.rng.NormFloat64(), sigma*s.rng.NormFloat64())
	}
	return s
}

// chunks cuts the signal into chunks of the given length as a wearable
// would publish them, the first at start.
func (s *signal) chunks(start time.Time, every time.Duration) []devices.AccelChunk {
	per := max(int(every*time.Duration(s.rate)/time.Second), 1)
	var out []devices.AccelChunk
	for i := 0; i < len(s.x); i += per {
		j := min(i+per, len(s.x))
		out = append(out, devices.AccelChunk{Sensor: "wearable-1", At: start.Add(time.Duration(i) * time.Second / time.Duration(s.rate)),
			RateHz: s.rate, X: s.x[i:j], Y: s.y[i:j], Z: s.z[i:j]})
	}
	return out
}

// feed runs the signal through a fresh tracker in chunks of the given length
// and returns what the wearable reports on its own word: weak reports
// (Fall.Weak, which alarm only with a bed zone) are left out; feedWeak
// returns those.
func feed(t *Tracker, s *signal, every time.Duration) []Fall {
	falls, _ := feedAll(t, s, every)
	return falls
}

func feedWeak(t *Tracker, s *signal, every time.Duration) []Fall {
	_, weak := feedAll(t, s, every)
	return weak
}

func feedAll(t *Tracker, s *signal, every time.Duration) (falls, weak []Fall) {
	chunks := s.chunks(synthStart, every)
	for i := range chunks {
		for _, f := range t.Feed(&chunks[i]) {
			if f.Weak {
				weak = append(weak, f)
			} else {
				falls = append(falls, f)
			}
		}
	}
	return falls, weak
}

func TestSyntheticActivities(t *testing.T) {
	tests := []struct {
		name   string
		signal func(rate int) *signal
		isFall bool
	}{
		{"fall from standing", func(r int) *signal { return newSignal(r).walk(4*time.Second, 0.3).fall(6, 85).hold(10*time.Second, 85) }, true},
		{"soft fall (fainting)", func(r int) *signal { return newSignal(r).hold(4*time.Second, 0).fall(3, 80).hold(10*time.Second, 80) }, true},
		{"walking", func(r int) *signal { return newSignal(r).walk(30*time.Second, 0.3) }, false},
		{"jogging", func(r int) *signal { return newSignal(r).walk(30*time.Second, 1.6) }, false},
		{"sitting down hard", func(r int) *signal {
			return newSignal(r).hold(4*time.Second, 0).bump(3, 200*time.Millisecond, 20).hold(10*time.Second, 20)
		}, false},
		{"jump", func(r int) *signal {
			return newSignal(r).hold(4*time.Second, 0).bump(4, 300*time.Millisecond, 0).hold(10*time.Second, 0)
		}, false},
		{"fall, then walks on", func(r int) *signal {
			return newSignal(r).walk(4*time.Second, 0.3).fall(6, 85).walk(10*time.Second, 0.3)
		}, false},
		{"sensor noise", func(r int) *signal { return newSignal(r).noise(30*time.Second, 0.02) }, false},
		{"violent shaking", func(r int) *signal { return newSignal(r).noise(30*time.Second, 0.8) }, false},
	}
	for _, tt := range tests {
		for _, rate := range []int{20, 50, 100, 200, 400} {
			falls := feed(NewTracker(nil), tt.signal(rate), time.Second)
			if got := len(falls) > 0; got != tt.isFall {
				t.Errorf("%s at %d Hz: detected=%v, want %v (falls %+v)", tt.name, rate, got, tt.isFall, falls)
			}
		}
	}
}

func TestFallTimesAndLatency(t *testing.T) {
	s := newSignal(200).hold(4*time.Second, 0).fall(6, 85).hold(10*time.Second, 85)
	falls := feed(NewTracker(nil), s, time.Second)
	if len(falls) != 1 {
		t.Fatalf("falls = %d, want 1", len(falls))
	}
	f := falls[0]
	// The impact ringing starts 4.6 s in; its first peak is the largest (on
	// the smoothed magnitude, a few tens of ms later).
	if want := synthStart.Add(4600 * time.Millisecond); f.Impact.Sub(want).Abs() > 60*time.Millisecond {
		t.Errorf("impact at %v, want about %v", f.Impact.Sub(synthStart), want.Sub(synthStart))
	}
	if lat := f.Detected.Sub(f.Impact); lat < DefaultConfig().PostWindow || lat > 4*time.Second {
		t.Errorf("latency %v outside [PostWindow, 4 s]", lat)
	}
	if f.PeakG < 2.5 || f.Features.PostTiltDeg < 70 || f.Features.OrientationChangeDeg < 70 {
		t.Errorf("features %+v do not describe a 6 g fall to lying", f.Features)
	}
}

func TestChunkingDoesNotChangeDecisions(t *testing.T) {
	s := newSignal(200).walk(5*time.Second, 0.3).fall(6, 85).hold(8*time.Second, 85).
		walk(3*time.Second, 0.3).fall(4, 90).hold(6*time.Second, 90)
	cfg := DefaultConfig()
	cfg.Refractory = 0
	want := feed(NewTracker(cfg), s, time.Second)
	if len(want) != 3 || !want[1].GotUp {
		t.Fatalf("reports in 1 s chunks = %+v, want a fall, got up, a fall", want)
	}
	for _, every := range []time.Duration{250 * time.Millisecond, 5 * time.Millisecond, 3 * time.Second} {
		got := feed(NewTracker(cfg), s, every)
		if len(got) != len(want) {
			t.Fatalf("chunks of %v: %d falls, want %d", every, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("chunks of %v: fall %d = %+v, want %+v", every, i, got[i], want[i])
			}
		}
	}
}

func TestOutOfOrderAndGaps(t *testing.T) {
	s := newSignal(200).walk(4*time.Second, 0.3).fall(6, 85).hold(10*time.Second, 85)
	chunks := s.chunks(synthStart, time.Second)
	want := feed(NewTracker(nil), s, time.Second)

	t.Run("duplicate chunks are skipped", func(t *testing.T) {
		tr := NewTracker(nil)
		var got []Fall
		for i := range chunks {
			got = append(got, tr.Feed(&chunks[i])...)
			if i > 0 {
				got = append(got, tr.Feed(&chunks[i-1])...) // a redelivery
			}
		}
		if len(got) != 1 || got[0] != want[0] {
			t.Errorf("falls %+v, want %+v", got, want)
		}
		if st := tr.Stats(); st.Dropped != uint64(len(chunks)-1) || st.Resets != 0 {
			t.Errorf("stats %+v, want %d dropped and no reset", st, len(chunks)-1)
		}
	})
	t.Run("overlapping chunk keeps only new samples", func(t *testing.T) {
		tr := NewTracker(nil)
		var got []Fall
		for i := range chunks {
			c := chunks[i]
			if i > 0 { // start each chunk 100 ms early with the samples already sent
				prev := chunks[i-1]
				k := len(prev.X) - 20
				c.At = c.At.Add(-100 * time.Millisecond)
				c.X = append(append([]float32{}, prev.X[k:]...), c.X...)
				c.Y = append(append([]float32{}, prev.Y[k:]...), c.Y...)
				c.Z = append(append([]float32{}, prev.Z[k:]...), c.Z...)
			}
			got = append(got, tr.Feed(&c)...)
		}
		if len(got) != 1 || got[0] != want[0] {
			t.Errorf("falls %+v, want %+v", got, want)
		}
	})
	t.Run("clock step back resets", func(t *testing.T) {
		tr := NewTracker(nil)
		for i := range 10 {
			tr.Feed(&chunks[i])
		}
		tr.Feed(&chunks[0])
		if st := tr.Stats(); st.Resets != 1 {
			t.Errorf("stats %+v, want one reset", st)
		}
	})
	t.Run("gap resets and drops the undecided episode", func(t *testing.T) {
		tr := NewTracker(nil)
		var got []Fall
		for i := range chunks {
			c := chunks[i]
			if i >= 5 { // the wearable went silent for 2 s right after the impact
				c.At = c.At.Add(2 * time.Second)
			}
			got = append(got, tr.Feed(&c)...)
		}
		if st := tr.Stats(); st.Resets != 1 || len(got) != 0 {
			t.Errorf("stats %+v, falls %d; want one reset and no fall from half an episode", st, len(got))
		}
	})
	t.Run("bad rate and empty chunk are ignored", func(t *testing.T) {
		tr := NewTracker(nil)
		tr.Feed(&devices.AccelChunk{At: synthStart, RateHz: 5, X: []float32{0}, Y: []float32{-1}, Z: []float32{0}})
		tr.Feed(&devices.AccelChunk{At: synthStart, RateHz: 200})
		if st := tr.Stats(); st.Dropped != 2 || st.Chunks != 0 {
			t.Errorf("stats %+v, want 2 dropped", st)
		}
	})
}

func TestRecovery(t *testing.T) {
	tests := []struct {
		name      string
		after     func(s *signal) *signal
		recovered bool
	}{
		{"stays down", func(s *signal) *signal { return s.hold(30*time.Second, 85) }, false},
		{"gets up and walks", func(s *signal) *signal {
			return s.hold(5*time.Second, 85).hold(time.Second, 45).walk(5*time.Second, 0.3)
		}, true},
		{"sits up briefly", func(s *signal) *signal {
			return s.hold(5*time.Second, 85).hold(time.Second, 10).hold(10*time.Second, 85)
		}, false},
	}
	for _, tt := range tests {
		s := tt.after(newSignal(200).hold(4*time.Second, 0).fall(6, 85))
		tr := NewTracker(nil)
		falls := feed(tr, s, time.Second)
		if len(falls) == 0 || falls[0].GotUp {
			t.Fatalf("%s: falls = %+v, want a fall first", tt.name, falls)
		}
		if got := tr.Recovered(falls[0].Detected); got != tt.recovered {
			t.Errorf("%s: Recovered = %v (at %v), want %v", tt.name, got, tr.RecoveredAt(), tt.recovered)
		}
		// Getting up is reported once, after the fall, with the fall's impact.
		want := 1
		if tt.recovered {
			want = 2
			if g := falls[len(falls)-1]; !g.GotUp || !g.Impact.Equal(falls[0].Impact) || !g.Detected.Equal(tr.RecoveredAt()) {
				t.Errorf("%s: last report %+v, want GotUp for impact %v at %v", tt.name, g, falls[0].Impact, tr.RecoveredAt())
			}
		}
		if len(falls) != want {
			t.Errorf("%s: %d reports, want %d: %+v", tt.name, len(falls), want, falls)
		}
	}
}

func TestTrackerSize(t *testing.T) {
	tr := NewTracker(nil)
	size := int(unsafeSizeof(tr)) + cap(tr.out)*int(unsafeSizeofFall())
	t.Logf("one Tracker: %d bytes", size)
	if size > 8<<10 {
		t.Errorf("one Tracker costs %d bytes, want at most 8 KiB", size)
	}
}

// roll turns someone lying on their back (gravity on z) onto their side
// (gravity on x) over 0.6 s, ending in a jolt of peak g: the trunk stays
// horizontal throughout, as in SisFall's D14.
func (s *signal) roll(peak float64) *signal {
	n := s.samples(600 * time.Millisecond)
	for i := range n {
		a := float64(i) / float64(n) * math.Pi / 2
		s.add(math.Sin(a), -0.1, math.Cos(a))
	}
	for i := range s.samples(400 * time.Millisecond) {
		t := float64(i) / float64(s.rate)
		ring := (peak - 1) * math.Exp(-t/0.1) * math.Cos(2*math.Pi*4*t)
		s.add(1+ring, -0.1, 0.5*ring)
	}
	for range s.samples(10 * time.Second) {
		s.add(1, -0.1, 0)
	}
	return s
}

// dropFromBed: someone lying on their back (gravity on z) rolls off the
// bed: the trunk turns onto its side over 0.4 s while the body drops half a
// metre (the magnitude falls towards free fall), lands with an impact of
// peak g, and lies on the floor on their side (gravity on x).
func (s *signal) dropFromBed(peak float64) *signal {
	n := s.samples(400 * time.Millisecond)
	for i := range n {
		f := float64(i) / float64(n)
		a := f * math.Pi / 2
		m := 1 - 0.8*math.Sin(math.Pi*f)
		s.add(m*math.Sin(a), -0.1, m*math.Cos(a))
	}
	for i := range s.samples(400 * time.Millisecond) {
		t := float64(i) / float64(s.rate)
		ring := (peak - 1) * math.Exp(-t/0.1) * math.Cos(2*math.Pi*4*t)
		s.add(1+ring, -0.1+0.3*ring, 0.5*ring)
	}
	return s
}

// lieOnSide adds d lying still on one's side (gravity on x).
func (s *signal) lieOnSide(d time.Duration) *signal {
	for range s.samples(d) {
		s.add(1, -0.1, 0)
	}
	return s
}

// struggle adds d of moving about on the floor, still lying.
func (s *signal) struggle(d time.Duration) *signal {
	for i := range s.samples(d) {
		t := float64(i) / float64(s.rate)
		s.add(0.95+0.35*math.Sin(2*math.Pi*1.5*t), -0.2+0.3*math.Sin(2*math.Pi*0.8*t), 0.3*math.Sin(2*math.Pi*1.1*t+1))
	}
	return s
}

// TestTurningOverInBedIsNotAFall checks the pre-event posture condition: a
// roll while lying passes every stage of a fall from standing (it is
// detected once the condition is lifted and the impact threshold lowered
// to the roll's jolt), and is not a fall from lying
// either: a mattress takes the jolt (FallAllD's turning while lying peaks
// under 2.4 g on the smoothed magnitude; falls from bed mostly above 3).
func TestTurningOverInBedIsNotAFall(t *testing.T) {
	lifted := DefaultConfig()
	lifted.UprightTiltDeg, lifted.ImpactG = 90, 1.3
	lifted.ControlledMinG = 0 // a roll has no free-fall phase either
	for _, tt := range []struct {
		name   string
		cfg    *Config
		isFall bool
	}{
		{"default", nil, false},
		{"upright condition lifted", lifted, true},
	} {
		for _, rate := range []int{20, 50, 200} {
			falls := feed(NewTracker(tt.cfg), newSignal(rate).hold(5*time.Second, 88).roll(2.2), time.Second)
			if got := len(falls) > 0; got != tt.isFall {
				t.Errorf("%s at %d Hz: detected=%v, want %v (falls %+v)", tt.name, rate, got, tt.isFall, falls)
			}
		}
	}
}

// TestFallFromBed: a fall that starts lying is detected from the impact,
// the turn of the trunk and the stillness after, with no upright start, at
// every rate; the wearer getting back on their feet after it is reported as
// GotUp; without the lying-start path (BedImpactG out of reach) it is missed,
// as before.
func TestFallFromBed(t *testing.T) {
	off := DefaultConfig()
	off.BedImpactG, off.BedImpactMS = 100, 0
	for _, rate := range []int{20, 50, 100, 200, 400} {
		sig := func() *signal { return newSignal(rate).hold(6*time.Second, 88).dropFromBed(6) }
		falls := feed(NewTracker(nil), sig().lieOnSide(10*time.Second), time.Second)
		if len(falls) != 1 || !falls[0].FromLying || falls[0].GotUp {
			t.Errorf("%d Hz: falls %+v, want one fall from lying", rate, falls)
		}
		if falls := feed(NewTracker(off), sig().lieOnSide(10*time.Second), time.Second); len(falls) != 0 {
			t.Errorf("%d Hz, lying-start path off: falls %+v, want none", rate, falls)
		}
		falls = feed(NewTracker(nil), sig().lieOnSide(5*time.Second).hold(time.Second, 45).walk(6*time.Second, 0.3), time.Second)
		if len(falls) != 2 || falls[0].GotUp || !falls[1].GotUp || !falls[1].FromLying {
			t.Errorf("%d Hz, gets up after: reports %+v, want the fall then GotUp", rate, falls)
		}
	}
}

// TestFellAndGotUp: someone who falls and keeps moving on the floor until
// they get up is never reported as a fall (no 119 emergency) but as GotUp
// ("fell and got up"); one who struggles and then lies still is a fall; one
// who walks on at once is neither.
func TestFellAndGotUp(t *testing.T) {
	for _, rate := range []int{20, 50, 200} {
		down := func() *signal { return newSignal(rate).walk(4*time.Second, 0.3).fall(6, 85) }
		falls := feed(NewTracker(nil), down().struggle(4*time.Second).hold(time.Second, 40).walk(8*time.Second, 0.3), time.Second)
		if len(falls) != 1 || !falls[0].GotUp || falls[0].FromLying {
			t.Errorf("%d Hz, struggles then gets up: reports %+v, want one GotUp", rate, falls)
		} else if lat := falls[0].Detected.Sub(falls[0].Impact); lat < 4*time.Second || lat > 10*time.Second {
			t.Errorf("%d Hz: got up %v after the impact, want 4-10 s", rate, lat)
		}
		falls = feed(NewTracker(nil), down().struggle(4*time.Second).lieOnSide(10*time.Second), time.Second)
		if len(falls) != 1 || falls[0].GotUp {
			t.Errorf("%d Hz, struggles then lies still: reports %+v, want one fall", rate, falls)
		}
		if falls := feed(NewTracker(nil), down().walk(10*time.Second, 0.3), time.Second); len(falls) != 0 {
			t.Errorf("%d Hz, walks on: reports %+v, want none", rate, falls)
		}
	}
}

// pushThenTurn: someone lying on their back (gravity on z) pushes off the
// mattress (a jolt of peak g, still on their back), then turns over onto
// their front over 1 s and lies still: the jolt comes before the turn.
func (s *signal) pushThenTurn(peak float64) *signal {
	for i := range s.samples(300 * time.Millisecond) {
		t := float64(i) / float64(s.rate)
		ring := (peak - 1) * math.Exp(-t/0.1) * math.Cos(2*math.Pi*4*t)
		s.add(0.3*ring, -0.03, 1+ring)
	}
	n := s.samples(time.Second)
	for i := range n {
		a := float64(i) / float64(n) * math.Pi
		s.add(math.Sin(a), -0.03, math.Cos(a))
	}
	for range s.samples(10 * time.Second) {
		s.add(0, -0.03, -1)
	}
	return s
}

// TestTurnAfterTheImpactIsNotAFallFromLying: a fall out of bed ends on the
// floor, so its impact is the trunk's last big turn; an impact hard enough
// for a fall from lying followed by more than a quarter turn into a still
// posture (turning over in bed after a push: FallAllD's D05 FA05 R05) is
// not trusted alone, only reported weak, at every rate. The drop from bed,
// which lands at the end of its turn, is still a fall (TestFallFromBed).
func TestTurnAfterTheImpactIsNotAFallFromLying(t *testing.T) {
	for _, rate := range []int{20, 50, 200} {
		sig := newSignal(rate).hold(6*time.Second, 88).pushThenTurn(5)
		falls, weak := feedAll(NewTracker(nil), sig, time.Second)
		if len(falls) != 0 || len(weak) != 1 || !weak[0].FromLying {
			t.Errorf("%d Hz: falls %+v, weak %+v, want one weak report and no fall (features %+v)", rate, falls, weak, episodeFeatures(nil, sig))
		}
	}
}
