package web

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

func TestTallyCaseload(t *testing.T) {
	at := time.Date(2026, 5, 10, 1, 0, 0, 0, time.UTC)
	prio := devices.Resident{ID: "r-1", Name: "나중에", Priority: true}
	general := devices.Resident{ID: "r-2", Name: "가나다"}
	inc := func(r devices.ResidentID, c detectors.Cause, class detectors.Class, disp dispatch.Disposition) dispatch.Incident {
		return dispatch.Incident{ResidentID: r, Cause: c, Class: class, State: dispatch.StateResolved, Disposition: disp, OpenedAt: at}
	}
	rows, total := tallyCaseload([]devices.Resident{prio, general}, []dispatch.Incident{
		inc("r-1", detectors.CauseFall, detectors.ClassEmergency, dispatch.DispositionRealEmergency),
		inc("r-1", detectors.CauseFall, detectors.ClassEmergency, dispatch.DispositionFalseAlarm),
		inc("r-1", detectors.CauseSOS, detectors.ClassEmergency, dispatch.DispositionRealEmergency),
		inc("r-2", detectors.CauseBatteryLow, detectors.ClassDeviceHealth, ""),
		inc("r-9", detectors.CauseSOS, detectors.ClassEmergency, ""), // not in the caseload
	}, []console.Visit{
		{ResidentID: "r-1", Kind: console.VisitCall, At: at},
		{ResidentID: "r-2", Kind: console.VisitCall, At: at},
		{ResidentID: "r-9", Kind: console.VisitHome, At: at},
	})
	if len(rows) != 2 || rows[0].Resident.Name != "가나다" {
		t.Fatalf("rows by name: %+v", rows)
	}
	g, p := rows[0], rows[1]
	// A priority resident only called has not met the rule; a general one has.
	if p.RuleMet || !g.RuleMet {
		t.Errorf("contact rule: priority %v, general %v", p.RuleMet, g.RuleMet)
	}
	if p.Incidents != 3 || p.Falls != 1 || p.FalseAlarms != 1 || p.ByCause[0] != (causeCount{detectors.CauseFall, 2}) || p.Devices != 0 {
		t.Errorf("priority resident's month: %+v", p)
	}
	if g.Incidents != 0 || g.Devices != 1 || g.DeviceCause[0] != (causeCount{detectors.CauseBatteryLow, 1}) {
		t.Errorf("general resident's month: %+v", g)
	}
	if total.Incidents != 3 || total.Calls != 2 || total.Visits != 0 || total.Devices != 1 {
		t.Errorf("total: %+v", total)
	}
}

func TestSpreadsheetText(t *testing.T) {
	for in, want := range map[string]string{"김영희": "김영희", "=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+82": "'+82", "@a": "'@a", "": ""} {
		if got := spreadsheetText(in); got != want {
			t.Errorf("spreadsheetText(%q) = %q, want %q", in, got, want)
		}
	}
}

// A fall the SOS then outranked (one incident, cause sos, the fall folded
// into it) is still a fall in the month's count, and on Today.
func TestFoldedFallIsCounted(t *testing.T) {
	at := time.Date(2026, 5, 10, 1, 0, 0, 0, time.UTC)
	r := devices.Resident{ID: "r-1", Name: "김영희"}
	folded := dispatch.Incident{ResidentID: "r-1", Cause: detectors.CauseSOS, Causes: []detectors.Cause{detectors.CauseFall, detectors.CauseSOS},
		Class: detectors.ClassEmergency, State: dispatch.StateResolved, Disposition: dispatch.DispositionRealEmergency, OpenedAt: at}
	rows, _ := tallyCaseload([]devices.Resident{r}, []dispatch.Incident{folded}, nil)
	if len(rows) != 1 || rows[0].Falls != 1 || rows[0].Incidents != 1 {
		t.Errorf("caseload row: %+v", rows)
	}
	folded.OpenedAt = at.Add(-48 * time.Hour)
	need := assessNeed(needInputs{Resident: r, HasHub: true, Activity: activityCheck{Judged: true, Percent: 95},
		Visit: visitDue{Kind: console.VisitHome, Due: at.AddDate(0, 0, 20)}, Recent: []dispatch.Incident{folded}}, at, time.UTC)
	if len(need.Reasons) == 0 || need.Reasons[0].Kind != "falls" || need.Reasons[0].N != 1 {
		t.Errorf("Today's reasons: %+v", need.Reasons)
	}
}
