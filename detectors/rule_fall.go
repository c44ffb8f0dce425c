package detectors

import (
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Falls, SOS and the resident's cancel.
//
// A fall (the wearable's own event, or the fall tracker on its
// accelerometer stream) opens a Pending window of FallCancelWindow from the
// moment it was detected; dispatch asks the resident through the hub. The
// fall goes Firing when the window ends, unless the resident cancels or the
// tracker sees them get up (Cancelled). A radar that shows the resident
// present and still since the impact corroborates: P1 instead of P2. The
// wearable event and the tracker usually report the same fall: findings
// within fallMerge of an open episode's impact are one fall.
//
// SOS fires at once (P1), without a window; presses within sosMerge of an
// open SOS update it. A cancel (or a check-in "I am all right") ends a
// pending fall or unconfirmed smoke, and calls off a firing SOS or fall
// (Cancelled, same fingerprint); a confirmed fire, CO or gas is not the
// resident's to cancel. A cancel older than an episode's start (late, from
// the hub's buffer) does not cancel that episode.

const (
	fallMerge = time.Minute
	sosMerge  = 2 * time.Minute
)

// FallFinding is what a fall tracker reports from an accelerometer chunk.
type FallFinding struct {
	Impact   time.Time // the impact peak
	Detected time.Time // when the tracker was sure (after the post-impact stillness)
	PeakG    float64
	// Recovered reports instead that the wearer got up again after the fall
	// whose impact was Impact; Detected is when.
	Recovered bool
}

// FallTracker turns a wearable's accelerometer chunks into findings. One
// tracker serves one wearable and keeps its own raw sample buffer; it is
// called on a shard's goroutine only.
type FallTracker interface {
	Feed(c *devices.AccelChunk) []FallFinding
}

// NewFallTrackerFunc makes a tracker for one wearable; cmd/ wires the real
// one from package fall.
type NewFallTrackerFunc func(hub devices.HubID, sensor devices.SensorID) FallTracker

// fall applies a fall finding or a wearable's fall event.
func (h *home) fall(r *ruleCtx, impact, detected int64, peak float32, si int, events []devices.EventID, now int64) {
	c := &h.core
	e := &c.Eps[kFall]
	if e.open() && abs64(impact-e.Start) <= fallMerge.Milliseconds() {
		c.FallPeak = max(c.FallPeak, peak)
		return // the same fall, reported twice
	}
	if e.State == epPending {
		return // a second impact inside the window changes nothing
	}
	e = h.openEpisode(kFall, impact, si)
	e.Deadline = detected + h.th.FallCancelWindow.Milliseconds()
	c.FallPeak = peak
	var rs []devices.Reading
	h.transition(r, kFall, Pending, PriorityHigh, max(detected, impact), explainFallPending(peak, h.th.FallCancelWindow),
		[]Fact{{Name: "peak", Value: float64(peak), Unit: "g"}}, rs, events)
	h.fallTick(r, now) // a late report whose window has passed fires now
}

// fallTick ends a pending fall's window.
func (h *home) fallTick(r *ruleCtx, now int64) {
	c := &h.core
	e := &c.Eps[kFall]
	if e.State != epPending || (now < e.Deadline && !c.HubOffline) {
		return
	}
	// Radar presence with no movement since the fall was detected (the
	// impact itself moves the wearable) corroborates.
	detected := e.Deadline - h.th.FallCancelWindow.Milliseconds()
	radar := c.Present == 1 && c.LastMotion <= detected
	prio := PriorityHigh
	if radar {
		prio = PriorityCritical
	}
	at := e.Deadline
	if now < at {
		at = now // the hub went offline: nobody can be asked any more
	}
	h.transition(r, kFall, Firing, prio, at, explainFall(c.FallPeak, time.Duration(at-e.Start)*time.Millisecond, radar),
		[]Fact{{Name: "peak", Value: float64(c.FallPeak), Unit: "g"}, {Name: "radar_still", Value: b2f(radar)}}, nil, nil)
	if c.HubOffline {
		e.Raised = true
	}
}

// fallRecovered: the tracker saw the wearer get up.
func (h *home) fallRecovered(r *ruleCtx, impact, at int64) {
	e := &h.core.Eps[kFall]
	if e.State == epPending && at >= e.Start {
		h.transition(r, kFall, Cancelled, Priority(e.Prio), at, explainGotUp(time.Duration(at-e.Start)*time.Millisecond), nil, nil, nil)
	}
}

// sos fires at once.
func (h *home) sos(r *ruleCtx, t int64, si int, id devices.EventID) {
	e := &h.core.Eps[kSOS]
	if e.open() && t >= e.Start && t-e.Start <= sosMerge.Milliseconds() {
		h.transition(r, kSOS, Firing, Priority(e.Prio), t, explainSOS(true), nil, nil, []devices.EventID{id})
		return
	}
	h.openEpisode(kSOS, t, si)
	h.transition(r, kSOS, Firing, PriorityCritical, t, explainSOS(false), nil, nil, []devices.EventID{id})
}

// cancel is the resident's cancel or check-in at t.
func (h *home) cancel(r *ruleCtx, t int64, id devices.EventID, checkIn bool) {
	c := &h.core
	for _, k := range [...]epKind{kFall, kSmokeUnconfirmed, kSOS} {
		e := &c.Eps[k]
		if !e.open() || t < e.Start {
			continue
		}
		if checkIn && k == kSOS {
			continue // "I am all right" answers a question; it does not withdraw a button press
		}
		if k == kSmokeUnconfirmed {
			c.FireQuiet = true
		}
		h.transition(r, k, Cancelled, Priority(e.Prio), t, explainCancelled(kindCause[k], e.State == epFiring),
			nil, nil, []devices.EventID{id})
	}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
