package detectors

import (
	"time"

	"github.com/dolbom/dolbom/devices"
)

// "Fell and got up": the resident is asked through the hub.
//
// A fall the wearer got up from (fallRecovered) is a welfare detection,
// CauseFallRecovered. It is emitted Pending, so dispatch asks the resident
// through the hub ("괜찮으세요?", the check_in command) and holds the
// social worker's notification for the window (FallCancelWindow). The
// answer or its absence is then recorded by the same detection going
// Firing: at once with the answer (a check_in or cancel event: "answered
// that they are all right", the event as evidence), or at the window's end
// with "no answer". Either way the social worker hears of it: an answer
// does not undo a fall, and earlier falls are the strongest predictor of
// the next.
//
// The pending ask is kept beside the wearable's tracker, not in the
// persisted episodes: only homes with a wearable pay for it, and after a
// gateway restart dispatch's own verify timer ends the window instead
// (recording "the resident did not cancel within the window").

// gotUpAsk is one pending ask; deadline 0 means none.
type gotUpAsk struct {
	impact, deadline int64
	peak             float32
	fromLying        bool
	sensor           int16 // index into the home's sensors, -1 none
}

// askGotUp emits the Pending welfare detection and remembers the ask on
// the wearable's slot.
func (h *home) askGotUp(r *ruleCtx, f FallFinding, si int) {
	impact, at := f.Impact.UnixMilli(), f.Detected.UnixMilli()
	a := gotUpAsk{impact: impact, deadline: at + h.th.FallCancelWindow.Milliseconds(), peak: float32(f.PeakG), fromLying: f.FromLying, sensor: int16(si)}
	if slot := h.trackerSlot(si); slot != nil {
		slot.ask = a
	}
	h.emitGotUp(r, &a, Pending, at, explainFellGotUp(time.Duration(at-impact)*time.Millisecond, f.FromLying, h.th.FallCancelWindow), nil)
}

// answerGotUp records the resident's answer (a check_in or cancel event
// at t) to every pending ask.
func (h *home) answerGotUp(r *ruleCtx, t int64, id devices.EventID) {
	for i := range h.trackers {
		a := &h.trackers[i].ask
		if a.deadline == 0 || t < a.impact {
			continue
		}
		h.emitGotUp(r, a, Firing, t, explainGotUpAsked(a.fromLying, true), []devices.EventID{id})
		a.deadline = 0
	}
}

// gotUpTick ends the asks whose window has passed without an answer.
func (h *home) gotUpTick(r *ruleCtx, now int64) {
	for i := range h.trackers {
		a := &h.trackers[i].ask
		if a.deadline == 0 || now < a.deadline {
			continue
		}
		h.emitGotUp(r, a, Firing, a.deadline, explainGotUpAsked(a.fromLying, false), nil)
		a.deadline = 0
	}
}

// gotUpDeadline is the earliest pending ask's deadline, 0 when none.
func (h *home) gotUpDeadline() int64 {
	next := int64(0)
	for i := range h.trackers {
		if d := h.trackers[i].ask.deadline; d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return next
}

func (h *home) emitGotUp(r *ruleCtx, a *gotUpAsk, state State, at int64, why Explanation, events []devices.EventID) {
	var sensor devices.SensorID
	if a.sensor >= 0 {
		sensor = h.sensorID(int(a.sensor))
	}
	r.add(emit{cause: CauseFallRecovered, state: state, class: ClassWelfare, prio: PriorityMedium, episode: a.impact, at: at, sensor: sensor,
		why: why, events: events,
		facts: []Fact{{Name: "peak", Value: float64(a.peak), Unit: "g"}, {Name: "from_lying", Value: b2f(a.fromLying)}}})
}

// trackerSlot is the fall tracker slot of sensor si, or nil.
func (h *home) trackerSlot(si int) *fallTrackerSlot {
	if si < 0 || si >= len(h.sensors) {
		return nil
	}
	for i := range h.trackers {
		if h.trackers[i].sensor == h.sensors[si].name {
			return &h.trackers[i]
		}
	}
	return nil
}
