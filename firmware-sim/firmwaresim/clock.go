package firmwaresim

import "time"

// Clock maps wall time to simulated time: sim = SimStart + (wall - WallStart)
// * Speed, but never ahead of the wall clock. A hub stamps what it sends with
// simulated time, so a fast clock must start in the past: the gateway
// refuses timestamps more than 10 minutes ahead of it and more than 7 days
// old (protocol section 5). Once simulated time has caught up with the wall
// clock it runs at 1x.
type Clock struct {
	WallStart time.Time
	SimStart  time.Time
	Speed     float64
}

// maxPast keeps replayed time inside the gateway's 7-day horizon with an
// hour to spare.
const maxPast = 7*24*time.Hour - time.Hour

// NewClock returns a clock for a run of length d at speed, starting at now,
// placed so that simulated time reaches the wall clock when the run ends (or
// starts 7 days back at most, and then catches up early).
func NewClock(now time.Time, speed float64, d time.Duration) Clock {
	if speed < 1 {
		speed = 1
	}
	past := time.Duration(float64(d) * (speed - 1))
	if past > maxPast {
		past = maxPast
	}
	return Clock{WallStart: now, SimStart: now.Add(-past), Speed: speed}
}

// Sim returns the simulated time at wall time w.
func (c Clock) Sim(w time.Time) time.Time {
	s := c.SimStart.Add(time.Duration(float64(w.Sub(c.WallStart)) * c.Speed))
	if s.After(w) {
		return w
	}
	return s
}

// Wall returns the wall time at which simulated time s is reached.
func (c Clock) Wall(s time.Time) time.Time {
	w := c.WallStart.Add(time.Duration(float64(s.Sub(c.SimStart)) / c.Speed))
	// After the catch-up point simulated time is wall time.
	if s.After(w) {
		return s
	}
	return w
}
