package detectors

import (
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Falls.
//
// A fall (the wearable's own event, or the fall tracker on its
// accelerometer stream) opens a Pending window of FallCancelWindow from the
// moment it was detected; dispatch asks the resident through the hub. The
// fall goes Firing when the window ends, unless the resident cancels or the
// tracker sees them get up (Cancelled). A radar that shows the resident
// present and still since the impact corroborates: P1 instead of P2. The
// wearable event and the tracker usually report the same fall: findings
// within fallMerge of an open episode's impact are one fall.
// The resident's cancel of a pending fall is in rule_sos.go.

const (
	fallMerge = time.Minute
	// fallFromLying in a fall episode's Level marks a fall that started
	// lying (out of bed): kept in the persisted episode, which has the room.
	fallFromLying = 1
	// nightFrom and nightTo bound the local hours of the night (22:00 to
	// 06:59) in which a fall from lying with nothing moving since is a
	// person on the floor with nobody about until morning.
	nightFrom, nightTo = 22, 6
)

// FallFinding is what a fall tracker reports from an accelerometer chunk.
type FallFinding struct {
	Impact   time.Time // the impact peak
	Detected time.Time // when the tracker was sure (after the post-impact stillness)
	PeakG    float64
	// Recovered reports instead that the wearer got up again after the fall
	// whose impact was Impact; Detected is when. The fall may have been
	// reported before (its pending window is cancelled) or not (the wearer
	// kept moving on the floor until they got up).
	Recovered bool
	// FromLying marks a fall that started lying (out of bed, off a sofa).
	FromLying bool
	// Weak marks a turn out of lying, down and still after, with no impact
	// the wearable trusts alone (fall.Fall.Weak): held, and raised as a
	// fall from lying only if the radar's bed zone reads empty within
	// FallCancelWindow of it (weakFall).
	Weak bool
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

// fall applies a fall finding or a wearable's fall event. fromLying (a fall
// out of bed) is said in the pending detection's words and facts, for the
// people asked; it changes nothing else.
func (h *home) fall(r *ruleCtx, impact, detected int64, peak float32, fromLying bool, si int, events []devices.EventID, now int64) {
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
	if fromLying {
		e.Level = fallFromLying
	}
	c.FallPeak = peak
	var rs []devices.Reading
	h.transition(r, kFall, Pending, PriorityHigh, max(detected, impact), explainFallPending(peak, h.th.FallCancelWindow, fromLying),
		[]Fact{{Name: "peak", Value: float64(peak), Unit: "g"}, {Name: "from_lying", Value: b2f(fromLying)}}, rs, events)
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
	// impact itself moves the wearable) corroborates. So does, for a fall
	// out of bed at night, nothing moving since (no motion sensor, no
	// wearable movement, no radar motion): nobody is about until morning,
	// and a long lie is what hurts people living alone most (DOMAIN.md 3).
	detected := e.Deadline - h.th.FallCancelWindow.Milliseconds()
	at := e.Deadline
	if now < at {
		at = now // the hub went offline: nobody can be asked any more
	}
	// The radar's bed zone, where the home has one, says where the wearer
	// ended. In bed after a fall from upright: the wearer lay down on the
	// bed (to the waist a mattress is a soft floor, docs/detection.md), not
	// a fall to the floor. Out of bed after a fall from lying: they left
	// the bed with the impact, which corroborates a fall out of bed.
	inBed, bedKnown := h.bedSince(detected)
	if inBed && e.Level != fallFromLying {
		h.transition(r, kFall, Cancelled, Priority(e.Prio), at, explainFallInBed(c.FallPeak),
			[]Fact{{Name: "peak", Value: float64(c.FallPeak), Unit: "g"}, {Name: "in_bed", Value: 1}}, nil, nil)
		return
	}
	bedEmpty := bedKnown && !inBed && e.Level == fallFromLying
	still := c.LastMotion <= detected
	radar := c.Present == 1 && still
	hour := h.hourOf(r, detected)
	nightBed := e.Level == fallFromLying && still && (hour >= nightFrom || hour <= nightTo)
	prio := PriorityHigh
	if radar || nightBed || bedEmpty {
		prio = PriorityCritical
	}
	h.transition(r, kFall, Firing, prio, at, explainFall(c.FallPeak, time.Duration(at-e.Start)*time.Millisecond, radar, nightBed, bedEmpty),
		[]Fact{{Name: "peak", Value: float64(c.FallPeak), Unit: "g"}, {Name: "radar_still", Value: b2f(radar)}, {Name: "night_bed_still", Value: b2f(nightBed)}, {Name: "bed_empty", Value: b2f(bedEmpty)}}, nil, nil)
	if c.HubOffline {
		e.Raised = true
	}
}

// bedSince reports what the radars' bed zones said at or after t: whether
// any said somebody is in the bed, and whether any said anything. A
// reading still in the hub's batch when the window ends is not seen; the
// fall then fires as it would without a bed zone.
func (h *home) bedSince(t int64) (inBed, known bool) {
	for k := range h.tracks {
		tr := &h.tracks[k]
		if tr.Metric == mBed && tr.At >= t {
			known = true
			inBed = inBed || tr.Value == 1
		}
	}
	return inBed, known
}

// weakFall is a weak finding held on its wearable's slot; deadline 0 means
// none.
type weakFall struct {
	impact, detected, deadline int64
	peak                       float32
}

// holdWeak keeps a weak finding until the bed zone speaks or the window
// passes. Nothing is emitted: without a bed zone it is a turn in bed.
func (h *home) holdWeak(f FallFinding, si int) {
	if slot := h.trackerSlot(si); slot != nil {
		at := f.Detected.UnixMilli()
		slot.weak = weakFall{impact: f.Impact.UnixMilli(), detected: at, deadline: at + h.th.FallCancelWindow.Milliseconds(), peak: float32(f.PeakG)}
		h.dirty |= dirtyState // saved with the home (snapshot version 5), so a restart keeps it
	}
}

// bedReading applies a bed zone's reading at t to the held weak findings:
// the bed empty after one raises it as a fall from lying, detected now (so
// the resident gets the whole window to cancel; fallTick then finds the
// bed empty and fires at P1); somebody in the bed drops it.
func (h *home) bedReading(r *ruleCtx, v float32, t, now int64) {
	for i := range h.trackers {
		w := &h.trackers[i].weak
		if w.deadline == 0 || t < w.detected {
			continue
		}
		if v == 0 && t <= w.deadline {
			si := -1
			for k := range h.sensors {
				if h.sensors[k].name == h.trackers[i].sensor {
					si = k
				}
			}
			h.fall(r, w.impact, t, w.peak, true, si, nil, now)
		}
		*w = weakFall{}
		h.dirty |= dirtyState
	}
}

// fallRecovered: the tracker saw the wearer get up after a fall. A fall
// still in its cancel window is no 119 emergency any more (Cancelled); a
// fall already firing stays an emergency (someone may be on the way and
// only a responder on scene stands it down). Either way, unless the fall
// fired, the social worker hears "fell and got up" (CauseFallRecovered,
// welfare): one detection per fall, its episode the impact, first Pending
// while the resident is asked through the hub (rule_fall_ask.go).
func (h *home) fallRecovered(r *ruleCtx, f FallFinding, si int) {
	impact, at := f.Impact.UnixMilli(), f.Detected.UnixMilli()
	e := &h.core.Eps[kFall]
	if e.State == epFiring && abs64(impact-e.Start) <= fallMerge.Milliseconds() {
		return
	}
	if e.State == epPending && at >= e.Start {
		h.transition(r, kFall, Cancelled, Priority(e.Prio), at, explainGotUp(time.Duration(at-e.Start)*time.Millisecond), nil, nil, nil)
	}
	h.askGotUp(r, f, si)
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
