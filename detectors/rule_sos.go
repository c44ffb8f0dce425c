package detectors

import (
	"time"

	"github.com/dolbom/dolbom/devices"
)

// SOS and the resident's cancel.
//
// SOS fires at once (P1), without a window; presses within sosMerge of an
// open SOS update it. A cancel (or a check-in "I am all right") ends a
// pending fall or unconfirmed smoke, and calls off a firing SOS or fall
// (Cancelled, same fingerprint); a confirmed fire, CO or gas is not the
// resident's to cancel. A cancel older than an episode's start (late, from
// the hub's buffer) does not cancel that episode.

const sosMerge = 2 * time.Minute

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

// cancel is the resident's cancel or check-in at t. It also answers a
// pending "fell and got up" question (answerGotUp, rule_fall_ask.go).
func (h *home) cancel(r *ruleCtx, t int64, id devices.EventID, checkIn bool) {
	h.answerGotUp(r, t, id)
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
