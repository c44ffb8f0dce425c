package web_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// detectAt hands the dispatcher a firing detection of a class whose
// condition began ago before now.
func (de *deskEnv) detectAt(hub devices.HubID, class detectors.Class, cause detectors.Cause, prio detectors.Priority, sensor devices.SensorID, ago time.Duration) dispatch.Incident {
	de.t.Helper()
	at := de.clock()
	det := detectors.Detection{Fingerprint: detectors.Fingerprint(hub, cause, sensor, at.Add(-ago)), Hub: hub, Sensor: sensor,
		Class: class, Cause: cause, Priority: prio, State: detectors.Firing, Episode: at.Add(-ago), At: at,
		Explanation: detectors.Explanation{Ko: "테스트 감지: " + string(cause), En: "test detection: " + string(cause)}}
	inc, err := de.d.HandleDetection(context.Background(), det)
	if err != nil {
		de.t.Fatal(err)
	}
	return inc
}

var rowIDs = regexp.MustCompile(`<tr class="inc[^"]*" data-id="([^"]+)"`)

// The queue: those nobody has taken first, then priority, then age; the
// time since the emergency began, still counting after the
// acknowledgement; a home's incidents together; device health in its own
// tab; people by name.
func TestQueueOrderTabsAndNames(t *testing.T) {
	e := newDeskEnv(t)
	ctx := context.Background()
	_, hubA := e.home("김영희", "sw-kim")
	_, hubB := e.home("박철수", "sw-lee")
	_, hubC := e.home("이순자", "sw-kim")
	sos := e.detectAt(hubA, detectors.ClassEmergency, detectors.CauseSOS, detectors.PriorityCritical, "", 20*time.Second)
	e.advance(time.Minute)
	fall := e.detectAt(hubB, detectors.ClassEmergency, detectors.CauseFall, detectors.PriorityHigh, "", 30*time.Second)
	e.advance(30 * time.Second)
	offline := e.detectAt(hubC, detectors.ClassDeviceHealth, detectors.CauseHubOffline, detectors.PriorityHigh, "", 0)
	inact := e.detectAt(hubA, detectors.ClassWelfare, detectors.CauseInactivity, detectors.PriorityMedium, "", 0)
	if _, err := e.d.Acknowledge(ctx, sos.ID, "d-park", dispatch.ChannelConsole); err != nil {
		t.Fatal(err)
	}
	e.advance(10 * time.Second)

	c := e.signedIn("d-park")
	_, page := c.get("/queue")
	var got []string
	for _, m := range rowIDs.FindAllStringSubmatch(page, -1) {
		got = append(got, m[1])
	}
	// The fall and the inactivity nobody has taken, the more urgent first;
	// the acknowledged SOS (P1) below them, next to its home's inactivity.
	want := []string{fall.ID, inact.ID, sos.ID}
	if inact.ID == sos.ID {
		want = []string{fall.ID, sos.ID} // folded into one incident of the home
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("queue order %v, want %v (fall %s, inactivity %s, sos %s)", got, want, fall.ID, inact.ID, sos.ID)
	}
	if inact.ID != sos.ID && (!strings.Contains(page, "같은 가구 1건 더") || !strings.Contains(page, "↳ 같은 가구")) {
		t.Errorf("the home's two incidents are not shown together")
	}
	if strings.Contains(page, offline.ID) {
		t.Errorf("the hub offline is in the 119 queue")
	}
	// 20 s before the SOS was raised, then 1 min, 30 s and 10 s: the time
	// since it began, not frozen at the acknowledgement.
	sosRow := page[strings.Index(page, `data-id="`+sos.ID+`"`):]
	sosRow = sosRow[:strings.Index(sosRow, "</tr>")]
	if !strings.Contains(sosRow, ">2분 0초<") || !strings.Contains(sosRow, "박상황") || strings.Contains(sosRow, "d-park") {
		t.Errorf("acknowledged SOS row: %s", sosRow)
	}
	emergencies := `id="count-emergency">3<`
	if inact.ID == sos.ID {
		emergencies = `id="count-emergency">2<`
	}
	for _, want := range []string{emergencies, `id="count-devices">1<`, "서울특별시 종로구 세종대로 209 3층 302호"} {
		if !strings.Contains(page, want) {
			t.Errorf("queue misses %q", want)
		}
	}

	_, devicesTab := c.get("/queue?tab=devices")
	if !strings.Contains(devicesTab, offline.ID) || strings.Contains(devicesTab, sos.ID) || strings.Contains(devicesTab, fall.ID) {
		t.Errorf("device-health tab: want the hub offline only")
	}
	counts := "3,1"
	if inact.ID == sos.ID {
		counts = "2,1"
	}
	status, rows, h := c.do("GET", "/queue/rows?tab=devices", nil, nil)
	if status != 200 || !strings.Contains(rows, offline.ID) || strings.Contains(rows, fall.ID) || h.Get("X-Queue-Counts") != counts {
		t.Errorf("rows of the device tab: %d, counts %q", status, h.Get("X-Queue-Counts"))
	}
	_, en := c.get("/queue?lang=en")
	for _, want := range []string{"Emergencies (119)", "Device health", "Since it began"} {
		if !strings.Contains(en, want) {
			t.Errorf("English queue misses %q", want)
		}
	}
}

// The incident page's first screen: the address to the unit, the alarm's
// room, the phone as dialled in Korea, the guardians with their state.
func TestIncidentFirstScreen(t *testing.T) {
	e := newDeskEnv(t)
	ctx := context.Background()
	r, hub := e.home("김영희", "sw-kim")
	r.Guardians = []devices.Guardian{{Name: "최영희", Relation: "딸", Phone: "+821087654321", Order: 1}}
	r.Consent.NotifyGuardians = true
	r.Address.Building = "103"
	if _, err := e.st.Registry().UpdateResident(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Registry().CreateSensor(ctx, devices.Sensor{Hub: hub, ID: "smoke-kitchen", Kind: devices.SensorSmoke, Location: devices.LocKitchen,
		InstalledAt: e.clock().AddDate(-1, 0, 0), ReportSeconds: 3600}); err != nil {
		t.Fatal(err)
	}
	inc := e.detectAt(hub, detectors.ClassEmergency, detectors.CauseSmokeUnconfirmed, detectors.PriorityHigh, "smoke-kitchen", 0)
	waitFor(t, func() bool {
		rows, _ := e.d.Notifications(ctx, inc.ID)
		for _, row := range rows {
			if row.Recipient.Role == dispatch.RoleGuardian && row.State == dispatch.OutboxSent {
				return true
			}
		}
		return false
	})
	c := e.signedIn("d-park")
	_, page := c.get("/incidents/" + inc.ID)
	for _, want := range []string{"서울특별시 종로구 세종대로 209 103동 3층 302호", "주방 연기감지기", "010-1234-5678", "최영희", "010-8765-4321",
		`id="guardians"`, "보냄 (응답 없음)", `id="ack"`, `id="resolve"`, `id="cancel"`, "심방세동", "와파린", "*8812#"} {
		if !strings.Contains(page, want) {
			t.Errorf("incident page misses %q", want)
		}
	}
	for _, raw := range []string{"+821012345678<", "+821087654321<"} {
		if strings.Contains(page, raw) {
			t.Errorf("incident page shows the E.164 %q as text", raw)
		}
	}
	if _, en := c.get("/incidents/" + inc.ID + "?lang=en"); !strings.Contains(en, "kitchen smoke detector") || !strings.Contains(en, "Alarm from") {
		t.Errorf("English incident page misses the room")
	}
}

// An incident with several causes (a fall, then the SOS: folded into one)
// names them all in the queue and on its page.
func TestQueueNamesEveryCause(t *testing.T) {
	e := newDeskEnv(t)
	_, hub := e.home("김영희", "sw-kim")
	fall := e.detectAt(hub, detectors.ClassEmergency, detectors.CauseFall, detectors.PriorityHigh, "", 0)
	e.advance(20 * time.Second)
	sos := e.detectAt(hub, detectors.ClassEmergency, detectors.CauseSOS, detectors.PriorityCritical, "", 0)
	if sos.ID != fall.ID || len(sos.Causes) < 2 {
		t.Skipf("the SOS did not fold into the fall (%s, %s, causes %v)", fall.ID, sos.ID, sos.Causes)
	}
	c := e.signedIn("d-park")
	_, page := c.get("/queue")
	_, inc := c.get("/incidents/" + sos.ID)
	for name, body := range map[string]string{"queue": page, "incident": inc} {
		if !strings.Contains(body, "응급 호출 (SOS)") || !strings.Contains(body, "함께 감지: 낙상") {
			t.Errorf("the %s does not name both causes", name)
		}
	}
}
