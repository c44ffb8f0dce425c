package web

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// A fall the resident got up from (a welfare incident, never 119) counts
// as a fall on Today; the emergency it cancelled does not count twice; two
// falls within 30 days bring a home visit forward to the day after the
// latest, in words in both languages.
func TestFallsGotUpCountAndSuggestAVisit(t *testing.T) {
	loc := time.FixedZone("KST", 9*3600)
	now := time.Date(2026, 5, 20, 15, 0, 0, 0, loc)
	today := time.Date(2026, 5, 20, 0, 0, 0, 0, loc)
	gotUp := func(daysAgo int) []dispatch.Incident {
		at := now.AddDate(0, 0, -daysAgo)
		return []dispatch.Incident{
			{Cause: detectors.CauseFall, Class: detectors.ClassEmergency, Priority: 2, State: dispatch.StateCancelled, OpenedAt: at},
			{Cause: detectors.CauseFallRecovered, Class: detectors.ClassWelfare, Priority: 3, State: dispatch.StateResolved, OpenedAt: at.Add(20 * time.Second)},
		}
	}
	emergency := dispatch.Incident{Cause: detectors.CauseFall, Class: detectors.ClassEmergency, Priority: 2, State: dispatch.StateResolved, OpenedAt: now.AddDate(0, 0, -20)}
	old := dispatch.Incident{Cause: detectors.CauseFallRecovered, Class: detectors.ClassWelfare, Priority: 3, State: dispatch.StateResolved, OpenedAt: now.AddDate(0, 0, -31)}

	one := countFalls(append(gotUp(3), old), now)
	if one.N != 1 || one.GotUp != 1 || one.Repeated() {
		t.Fatalf("one got-up fall (and one 31 days old): %+v", one)
	}
	two := countFalls(append(gotUp(3), emergency, old), now)
	if two.N != 2 || two.GotUp != 1 || !two.Repeated() || !two.Latest.Equal(now.AddDate(0, 0, -3).Add(20*time.Second)) {
		t.Fatalf("a got-up fall and an emergency: %+v", two)
	}

	// Visited 10 days ago, so the regular visit is weeks away: the second
	// fall brings one to the day after it (overdue by 2 days today).
	s := console.VisitSummary{LastVisit: now.AddDate(0, 0, -10)}
	res := devices.Resident{Priority: true}
	v := planVisit(res, s, visitSignals{Falls: two}, now, loc)
	if v.Kind != console.VisitHome || v.Why != "falls" || !v.Due.Equal(today.AddDate(0, 0, -2)) || v.DaysOver != 2 {
		t.Errorf("two falls: %+v, want a home visit due two days ago for falls", v)
	}
	if v := planVisit(res, s, visitSignals{Falls: one}, now, loc); v.Why == "falls" {
		t.Errorf("one fall alone suggested a falls visit: %+v", v)
	}
	if v := planVisit(res, console.VisitSummary{LastVisit: now.AddDate(0, 0, -1)}, visitSignals{Falls: two}, now, loc); v.Why == "falls" {
		t.Errorf("visited after the latest fall, still suggested: %+v", v)
	}

	n := assessNeed(needInputs{Resident: res, HasHub: true, Activity: activityCheck{Judged: true, Percent: 95}, Recent: append(gotUp(3), emergency)}, now, loc)
	var falls reason
	for _, r := range n.Reasons {
		if r.Kind == "falls" {
			falls = r
		}
	}
	if falls.N != 2 || falls.Points != 2*pointsPerFall+pointsRepeatedFalls {
		t.Fatalf("reasons %+v: want two falls, repeated", n.Reasons)
	}
	ko, en := &pageData{Lang: "ko", loc: loc}, &pageData{Lang: "en", loc: loc}
	if got := ko.Reason(falls); got != "최근 30일 낙상 2회 (반복 낙상)" {
		t.Errorf("Korean: %q", got)
	}
	if got := en.Reason(falls); got != "2 falls in the last 30 days (repeated falls)" {
		t.Errorf("English: %q", got)
	}
	if ko.T("today.why.falls") == "today.why.falls" || en.T("today.why.falls") == "today.why.falls" ||
		ko.Cause(detectors.CauseFallRecovered) != "낙상 후 스스로 일어남" || en.Cause(detectors.CauseFallRecovered) != "Fell and got up" {
		t.Error("a falls visit or a got-up fall has no words")
	}
	if got := ko.Tf("resident.falls", two.N, two.GotUp); got != "최근 30일 낙상 2회 (그중 스스로 일어난 낙상 1회)" {
		t.Errorf("resident page, Korean: %q", got)
	}
}
