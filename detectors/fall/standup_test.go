package fall

import (
	"math"
	"testing"
	"time"
)

// leanTo turns the trunk from tilt from to tilt to (degrees, negative leans
// backwards: gravity on -z) over d, with a little sway, at about 1 g.
func (s *signal) leanTo(from, to float64, d time.Duration) *signal {
	n := s.samples(d)
	for i := range n {
		f := float64(i) / float64(n)
		a := (from + f*(to-from)) * math.Pi / 180
		s.add(0.1*math.Sin(2*math.Pi*f), -math.Cos(a), math.Sin(a))
	}
	return s
}

// dropTo: the body drops from tilt from to tilt to over 0.5 s with a
// free-fall-like dip (the legs give way), then lands with a damped jolt of
// peak g, and stays there still for after.
func (s *signal) dropTo(from, to, peak float64, after time.Duration) *signal {
	n := s.samples(500 * time.Millisecond)
	for i := range n {
		f := float64(i) / float64(n)
		a := (from + f*(to-from)) * math.Pi / 180
		m := 1 - 0.6*math.Sin(math.Pi*f)
		s.add(0.3*math.Sin(2*math.Pi*f), -m*math.Cos(a), m*math.Sin(a))
	}
	a := to * math.Pi / 180
	for i := range s.samples(400 * time.Millisecond) {
		t := float64(i) / float64(s.rate)
		ring := (peak - 1) * math.Exp(-t/0.1) * math.Cos(2*math.Pi*4*t)
		s.add(0.5*ring, -math.Cos(a)*(1+0.3*ring), math.Sin(a)*(1+ring))
	}
	return s.hold(after, to)
}

// TestFailedStandUpIsNotAFall: someone reclined in an armchair (trunk 65°
// back) leans forward to stand, their legs give way and they drop back into
// the seat: an upright moment, a free-fall-like dip, an impact, a posture
// lying-like and still afterwards, every test of a fall from upright passed.
// It ends where it began (FallAllD's "fail to stand up"): with
// BackWhereBeganDeg off it is reported, with the defaults it is not. The
// same attempt ending face down on the floor is still a fall, at every rate
// and clipped at ±2 g.
func TestFailedStandUpIsNotAFall(t *testing.T) {
	off := DefaultConfig()
	off.BackWhereBeganDeg = 0
	for _, rate := range []int{20, 50, 200} {
		for _, clip := range []float32{0, 2} {
			attempt := func(to float64) *signal {
				s := newSignal(rate).hold(4*time.Second, -65).leanTo(-65, 15, 900*time.Millisecond).hold(200*time.Millisecond, 15).dropTo(15, to, 3.5, 8*time.Second)
				if clip > 0 {
					s.clipped(clip)
				}
				return s
			}
			if falls := feed(NewTracker(off), attempt(-65), time.Second); len(falls) != 1 {
				t.Errorf("%d Hz clip %g, rule off: falls %+v (features %+v), want one (else this test proves nothing)", rate, clip, falls, episodeFeatures(off, attempt(-65)))
			}
			if falls := feed(NewTracker(nil), attempt(-65), time.Second); len(falls) != 0 {
				t.Errorf("%d Hz clip %g: dropping back into the chair reports %+v (features %+v), want none", rate, clip, falls, episodeFeatures(nil, attempt(-65)))
			}
			if falls := feed(NewTracker(nil), attempt(85), time.Second); len(falls) != 1 {
				t.Errorf("%d Hz clip %g: falling forward onto the floor reports %+v (features %+v), want one fall", rate, clip, falls, episodeFeatures(nil, attempt(85)))
			}
		}
	}
}
