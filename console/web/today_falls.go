package web

import (
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
)

// Falls on Today and the resident page. Earlier falls are the strongest
// predictor of the next, and fall-prevention guidelines screen for two or
// more (DOMAIN.md section 3): so every fall counts, those the resident got
// up from ("fell and got up", a welfare detection that never went to 119)
// as much as the emergencies, over a rolling 30 days; a second one within
// them suggests a home visit.
const (
	fallWindowDays = 30
	repeatedFalls  = 2
)

// fallCount is a resident's falls of the last fallWindowDays.
type fallCount struct {
	N      int       // falls (emergencies and got-up falls), false alarms left out
	GotUp  int       // of which the resident got up from
	Latest time.Time // when the latest opened
}

// Repeated says whether the falls call for a visit.
func (f fallCount) Repeated() bool { return f.N >= repeatedFalls }

// countFalls counts the falls among incs opened since now - fallWindowDays.
// A fall emergency the resident got up from in its cancel window is a
// cancelled incident (a false alarm as an emergency) beside its welfare
// incident: it is counted once, as the welfare one.
func countFalls(incs []dispatch.Incident, now time.Time) fallCount {
	var f fallCount
	since := now.AddDate(0, 0, -fallWindowDays)
	for _, inc := range incs {
		if inc.OpenedAt.Before(since) || isFalseAlarm(inc) {
			continue
		}
		gotUp := inc.Had(detectors.CauseFallRecovered)
		if !gotUp && !inc.Had(detectors.CauseFall) {
			continue
		}
		f.N++
		if gotUp && !inc.Had(detectors.CauseFall) {
			f.GotUp++
		}
		if inc.OpenedAt.After(f.Latest) {
			f.Latest = inc.OpenedAt
		}
	}
	return f
}
