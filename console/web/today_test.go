package web

import (
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

func TestAssessActivity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a       console.ActivityWindow
		judged  bool
		dropped bool
		percent int
	}{
		{"steady", console.ActivityWindow{RecentSum: 480, RecentHours: 48, BaselineSum: 6720, BaselineHours: 672}, true, false, 100},
		{"fell to 20%", console.ActivityWindow{RecentSum: 96, RecentHours: 48, BaselineSum: 6720, BaselineHours: 672}, true, true, 20},
		{"exactly half", console.ActivityWindow{RecentSum: 240, RecentHours: 48, BaselineSum: 6720, BaselineHours: 672}, true, false, 50},
		{"hub silent for a day: per hour of data", console.ActivityWindow{RecentSum: 240, RecentHours: 24, BaselineSum: 6720, BaselineHours: 672}, true, false, 100},
		// The case seen: a new home, 75% less since two days ago, 5 days of data.
		{"new home, 3 days of baseline, fell by 75%", console.ActivityWindow{RecentSum: 120, RecentHours: 48, BaselineSum: 720, BaselineHours: 72}, true, true, 25},
		{"2 days of data: not enough yet", console.ActivityWindow{RecentSum: 240, RecentHours: 48, BaselineSum: 0, BaselineHours: 0}, false, false, 0},
		{"3 days of data, the last 2 at a quarter: judged", console.ActivityWindow{RecentSum: 120, RecentHours: 48, BaselineSum: 240, BaselineHours: 24}, true, true, 25},
		{"under a day of baseline", console.ActivityWindow{RecentSum: 120, RecentHours: 48, BaselineSum: 200, BaselineHours: 20}, false, false, 0},
		{"under a day of recent data", console.ActivityWindow{RecentSum: 0, RecentHours: 10, BaselineSum: 6720, BaselineHours: 672}, false, false, 0},
		{"no data at all", console.ActivityWindow{}, false, false, 0},
	} {
		got := assessActivity(tc.a)
		if got.Judged != tc.judged || got.Dropped != tc.dropped || (tc.judged && got.Percent != tc.percent) {
			t.Errorf("%s: %+v, want judged %v, dropped %v, %d%%", tc.name, got, tc.judged, tc.dropped, tc.percent)
		}
	}
}

func TestPlanVisit(t *testing.T) {
	loc := time.FixedZone("KST", 9*3600)
	now := time.Date(2026, 5, 20, 10, 0, 0, 0, loc)
	today := time.Date(2026, 5, 20, 0, 0, 0, 0, loc)
	ago := func(n int) time.Time { return now.AddDate(0, 0, -n) }
	day := func(n int) time.Time { return today.AddDate(0, 0, n) }
	for _, tc := range []struct {
		name     string
		priority bool
		s        console.VisitSummary
		sig      visitSignals
		kind     console.VisitKind
		due      time.Time
		why      string
		daysOver int
	}{
		{"priority never visited: due today", true, console.VisitSummary{}, visitSignals{}, console.VisitHome, day(0), "regular", 0},
		{"priority visited 20 days ago: due in a month", true, console.VisitSummary{LastVisit: ago(20)}, visitSignals{}, console.VisitHome, time.Date(2026, 5, 30, 0, 0, 0, 0, loc), "regular", 0},
		{"priority visited 40 days ago: overdue", true, console.VisitSummary{LastVisit: ago(40)}, visitSignals{}, console.VisitHome, time.Date(2026, 5, 10, 0, 0, 0, 0, loc), "regular", 10},
		{"general visited 40 days ago: the monthly call is overdue", false, console.VisitSummary{LastVisit: ago(40)}, visitSignals{}, console.VisitCall, time.Date(2026, 5, 10, 0, 0, 0, 0, loc), "regular", 10},
		{"general visited 40 days ago, called 5 days ago: visit at two months", false, console.VisitSummary{LastVisit: ago(40), LastCall: ago(5)}, visitSignals{}, console.VisitHome, time.Date(2026, 6, 10, 0, 0, 0, 0, loc), "regular", 0},
		{"a fall yesterday, no visit since: follow-up visit due today", false, console.VisitSummary{LastVisit: ago(10), LastCall: ago(2)}, visitSignals{LastEvent: ago(1)}, console.VisitHome, day(0), "followup", 0},
		{"a fall 3 days ago: follow-up overdue by 2 days", true, console.VisitSummary{LastVisit: ago(10)}, visitSignals{LastEvent: ago(3)}, console.VisitHome, day(-2), "followup", 2},
		{"visited after the fall: no follow-up", true, console.VisitSummary{LastVisit: ago(1)}, visitSignals{LastEvent: ago(3)}, console.VisitHome, time.Date(2026, 6, 19, 0, 0, 0, 0, loc), "regular", 0},
		{"activity dropped, no contact for 10 days: a call today", true, console.VisitSummary{LastVisit: ago(10)}, visitSignals{ActivityDrop: true}, console.VisitCall, day(0), "activity", 0},
		{"activity dropped, called yesterday", true, console.VisitSummary{LastVisit: ago(10), LastCall: ago(1)}, visitSignals{ActivityDrop: true}, console.VisitHome, time.Date(2026, 6, 10, 0, 0, 0, 0, loc), "regular", 0},
		{"scheduled earlier than the rule", true, console.VisitSummary{LastVisit: ago(10), Next: now.AddDate(0, 0, 3)}, visitSignals{}, console.VisitHome, day(3), "scheduled", 0},
	} {
		got := planVisit(devices.Resident{Priority: tc.priority}, tc.s, tc.sig, now, loc)
		if got.Kind != tc.kind || !got.Due.Equal(tc.due) || got.Why != tc.why || got.DaysOver != tc.daysOver || got.Overdue != (tc.daysOver > 0) {
			t.Errorf("%s: %s due %s (%s, %d days over), want %s due %s (%s, %d)", tc.name, got.Kind, got.Due.Format("2006-01-02"), got.Why, got.DaysOver,
				tc.kind, tc.due.Format("2006-01-02"), tc.why, tc.daysOver)
		}
	}
}

// The case seen: the resident with a fire and two falls today came last.
// Today's incidents rank first; then a sharp drop in activity, no hub (no
// protection at all) and an overdue visit; a new home with little data
// last; nothing to say: not ranked.
func TestRankNeeds(t *testing.T) {
	loc := time.FixedZone("KST", 9*3600)
	now := time.Date(2026, 5, 20, 15, 0, 0, 0, loc)
	inc := func(cause detectors.Cause, prio detectors.Priority, hoursAgo int, state dispatch.State) dispatch.Incident {
		return dispatch.Incident{Cause: cause, Class: detectors.ClassEmergency, Priority: prio, State: state, OpenedAt: now.Add(-time.Duration(hoursAgo) * time.Hour)}
	}
	usual := activityCheck{Judged: true, Percent: 95}
	dueLater := visitDue{Kind: console.VisitHome, Due: now.AddDate(0, 0, 20)}
	needs := []residentNeed{
		assessNeed(needInputs{Resident: devices.Resident{Name: "가나다"}, HasHub: true, Activity: usual, Visit: dueLater}, now, loc),
		assessNeed(needInputs{Resident: devices.Resident{Name: "새집"}, HasHub: true, Activity: activityCheck{Hours: 30}, Visit: dueLater}, now, loc),
		assessNeed(needInputs{Resident: devices.Resident{Name: "허브없음"}, Visit: dueLater}, now, loc),
		assessNeed(needInputs{Resident: devices.Resident{Name: "조용함"}, HasHub: true, Activity: activityCheck{Judged: true, Percent: 25, Dropped: true}, Visit: dueLater}, now, loc),
		assessNeed(needInputs{Resident: devices.Resident{Name: "밀린방문"}, HasHub: true, Activity: usual, Visit: visitDue{Kind: console.VisitHome, Due: now.AddDate(0, 0, -6), Overdue: true, DaysOver: 6}}, now, loc),
		assessNeed(needInputs{Resident: devices.Resident{Name: "화재낙상"}, HasHub: true, Activity: usual, Visit: dueLater, Recent: []dispatch.Incident{
			inc(detectors.CauseFireConfirmed, 1, 5, dispatch.StateResolved), inc(detectors.CauseFall, 2, 3, dispatch.StateResolved), inc(detectors.CauseFall, 2, 1, dispatch.StateResolved),
		}}, now, loc),
	}
	ranked := rankNeeds(needs)
	var order []string
	for _, n := range ranked {
		order = append(order, n.Resident.Name)
	}
	want := []string{"화재낙상", "조용함", "허브없음", "밀린방문", "새집"}
	if len(order) != len(want) {
		t.Fatalf("ranked %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("ranked %v, want %v", order, want)
		}
	}
	top := ranked[0]
	if top.Reasons[0].Kind != "today" || top.Reasons[0].N != 3 || top.Reasons[1].Kind != "falls" || top.Reasons[1].N != 2 || top.Level() != "urgent" {
		t.Errorf("top reasons: %+v (level %s)", top.Reasons, top.Level())
	}
	if ranked[4].Reasons[0].Kind != "nodata" || ranked[4].Level() != "low" {
		t.Errorf("a new home: %+v", ranked[4].Reasons)
	}
	p := &pageData{Lang: "ko", loc: loc}
	if got, want := p.Reason(top.Reasons[0]), "오늘 응급상황 3건: "+p.Cause(detectors.CauseFireConfirmed)+", "+p.Cause(detectors.CauseFall)+" 2건"; got != want {
		t.Errorf("reason in Korean: %q", got)
	}
	if got := p.Reason(ranked[4].Reasons[0]); got != "활동량: 아직 데이터 부족 (30시간치, 3일 이상 필요)" {
		t.Errorf("not enough data in Korean: %q", got)
	}
	en := &pageData{Lang: "en", loc: loc}
	if got, want := en.Reason(top.Reasons[0]), "3 incidents today: "+en.Cause(detectors.CauseFireConfirmed)+", "+en.Cause(detectors.CauseFall)+" ×2"; got != want {
		t.Errorf("reason in English: %q", got)
	}
	if got := en.Reason(ranked[2].Reasons[0]); got != "No hub installed" {
		t.Errorf("no hub in English: %q", got)
	}
}

// The page's explanation of the points is made from the constants the
// ranking uses, in both languages, every argument in its place.
func TestPointsRulesInWords(t *testing.T) {
	for _, lang := range []string{"ko", "en"} {
		p := &pageData{Lang: lang, loc: time.UTC}
		lines := p.PointsRules()
		for _, l := range lines {
			if strings.Contains(l, "%!") || strings.Contains(l, "today.") {
				t.Errorf("%s: %q", lang, l)
			}
		}
		if lang == "ko" && lines[0] != "진행 중인 응급상황: P1 100점, 그 밖 70점 (건마다)" {
			t.Errorf("first rule: %q", lines[0])
		}
	}
}
