package fall

import (
	"math"
	"testing"
	"time"
)

// lieDown: someone standing lowers themself onto a bed or a sofa: the trunk
// turns to tiltTo degrees over 1.5 s while the legs and arms carry the
// weight (the magnitude never drops under about 0.85 g), then the body
// settles on the mattress with a soft jolt of peak g over 0.15 s.
func (s *signal) lieDown(peak, tiltTo float64) *signal {
	s.turnDown(1500*time.Millisecond, tiltTo, 0.15)
	a := tiltTo * math.Pi / 180
	n := s.samples(150 * time.Millisecond)
	for i := range n {
		j := (peak - 1) * math.Sin(math.Pi*float64(i)/float64(n))
		s.add(0.3*j, -math.Cos(a)*(1+0.5*j), math.Sin(a)*(1+j))
	}
	return s
}

// landOnSide: the body lands on its side (gravity on x) on a hard floor,
// the jolt rising to peak g over 0.2 s (the rest of a fall's speed taken
// away), as FallAllD's falls from bed do.
func (s *signal) landOnSide(peak float64) *signal {
	n := s.samples(200 * time.Millisecond)
	for i := range n {
		j := (peak - 1) * math.Sin(math.Pi*float64(i)/float64(n))
		s.add(1+j, -0.1, 0.1*j)
	}
	return s
}

// clipped returns the signal with each axis clipped to ±g, as a wearable
// with a ±g accelerometer records it.
func (s *signal) clipped(g float32) *signal {
	for _, axis := range [][]float32{s.x, s.y, s.z} {
		for i := range axis {
			axis[i] = max(-g, min(g, axis[i]))
		}
	}
	return s
}

// TestControlledDescentIsNotAFall: lying down deliberately (no free-fall
// phase, a soft landing) passes every other stage of a fall from standing:
// with the controlled-descent rule off it is reported, with the defaults it
// is not. A fall with the same turn and a free-fall phase still is, at every
// rate, clipped at ±2 g too.
func TestControlledDescentIsNotAFall(t *testing.T) {
	off := DefaultConfig()
	off.ControlledMinG = 0
	for _, rate := range []int{20, 50, 200} {
		lie := func() *signal {
			return newSignal(rate).noise(5*time.Second, 0.02).lieDown(1.75, 80).hold(8*time.Second, 80)
		}
		if falls := feed(NewTracker(off), lie(), time.Second); len(falls) != 1 {
			t.Errorf("%d Hz, rule off: lying down reports %+v (features %+v), want one fall (else this test proves nothing)", rate, falls, episodeFeatures(off, lie()))
		}
		if falls := feed(NewTracker(nil), lie(), time.Second); len(falls) != 0 {
			t.Errorf("%d Hz: lying down reports %+v (features %+v), want none", rate, falls, episodeFeatures(nil, lie()))
		}
		for _, clip := range []float32{0, 2} {
			s := newSignal(rate).walk(4*time.Second, 0.3).fall(3, 80).hold(8*time.Second, 80)
			if clip > 0 {
				s = s.clipped(clip)
			}
			if falls := feed(NewTracker(nil), s, time.Second); len(falls) != 1 {
				t.Errorf("%d Hz clipped ±%v g: a fall reports %+v, want one", rate, clip, falls)
			}
		}
	}
}

// TestFallFromBedClipped: a wearable clipping at ±2 g reads a fall out of
// bed's peak under BedImpactG; the impact's speed (BedImpactMS) still
// finds it, and without it the fall is missed.
func TestFallFromBedClipped(t *testing.T) {
	peakOnly := DefaultConfig()
	peakOnly.BedImpactMS = 0
	for _, rate := range []int{20, 50, 200} {
		sig := func() *signal {
			return newSignal(rate).hold(6*time.Second, 88).dropFromBed(1).landOnSide(4).lieOnSide(10 * time.Second).clipped(2)
		}
		falls := feed(NewTracker(nil), sig(), time.Second)
		if len(falls) != 1 || !falls[0].FromLying {
			t.Errorf("%d Hz: falls %+v (features %+v), want one fall from lying", rate, falls, episodeFeatures(nil, sig()))
		}
		if falls := feed(NewTracker(peakOnly), sig(), time.Second); len(falls) != 0 {
			t.Errorf("%d Hz, peak only: falls %+v, want none", rate, falls)
		}
		// With no impact the wearable trusts alone, the turn out of bed and
		// the stillness after are still reported, as weak: the engine raises
		// it if the bed zone then reads empty (TestScenarios,
		// fall-from-bed-weak-*.txt).
		if weak := feedWeak(NewTracker(peakOnly), sig(), time.Second); len(weak) != 1 || !weak[0].FromLying {
			t.Errorf("%d Hz, peak only: weak reports %+v, want one from lying", rate, weak)
		}
	}
}

// episodeFeatures returns the features of every episode judged, for
// failure messages.
func episodeFeatures(cfg *Config, s *signal) []Features {
	tr := NewTracker(cfg)
	var out []Features
	tr.onEpisode = func(f Fall, _ bool) { out = append(out, f.Features) }
	feed(tr, s, time.Second)
	return out
}
