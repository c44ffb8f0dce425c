package detectors

import "time"

// Clock is the time the engine and the health monitor read where no input
// carries one (their start, their deadlines, a registry change). Nil is
// the wall clock, with a ticker per shard moving the deadlines on. When
// set (the simulator's soak runs whole days of simulated time as fast as
// the machine allows), no ticker runs: time moves only when the owner
// calls Advance, and each shard takes that step in order with the inputs
// queued before it, so that a run is the same at any speed.
type Clock func() time.Time

// Now returns the clock's time: the wall clock's for a nil Clock.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// TickEvery is the shard ticker's interval for a wheel of resolution
// every: every itself on the wall clock, 0 (no ticker) for a set Clock.
func (c Clock) TickEvery(every time.Duration) time.Duration {
	if c != nil {
		return 0
	}
	return every
}
