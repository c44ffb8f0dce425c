package web_test

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// guardianHome registers a resident with a guardian and a hub.
func (de *deskEnv) guardianHome(name, worker string) (devices.Resident, devices.HubID) {
	de.t.Helper()
	ctx := context.Background()
	r, err := de.st.Registry().CreateResident(ctx, devices.Resident{Name: name, BirthDate: "1936-02-03", Phone: "+821012345678", Language: "ko",
		Address: devices.Address{Line1: "서울특별시 종로구 세종대로 209", Unit: "302", Floor: "3"}, SocialWorkerID: worker,
		Consent:   devices.Consent{NotifyGuardians: true},
		Guardians: []devices.Guardian{{Name: "최영희", Relation: "딸", Phone: "+821033334444", Order: 1}}})
	if err != nil {
		de.t.Fatal(err)
	}
	hub := devices.HubID("hub-" + string(r.ID))
	if _, err := de.st.Registry().CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: de.clock().AddDate(-1, 0, 0),
		Model: "DG-200", SecretHash: "$argon2id$unused"}); err != nil {
		de.t.Fatal(err)
	}
	return r, hub
}

// 119 accepted the SOS (its CAP answer acknowledged the incident); the
// guardian pressed 1 on the voice call afterwards. The reports count the
// acknowledgement as 119's, on its own channel, never as a voice call.
func TestReports119AnswerIsItsOwnChannel(t *testing.T) {
	e := newDeskEnv(t)
	ctx := context.Background()
	_, hub := e.guardianHome("김영희", "sw-kim")
	inc := e.detect(hub, detectors.CauseSOS, detectors.PriorityCritical, "button-1")
	var voiceKey string
	waitFor(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, n := range e.sent {
			if n.Channel == "voice" && n.Recipient.Role == dispatch.RoleGuardian {
				voiceKey = n.Key
			}
		}
		return voiceKey != ""
	})
	e.advance(20 * time.Second)
	if _, err := e.d.Apply119(ctx, dispatch.Answer119{IncidentID: inc.ID, Status: dispatch.Answer119Accepted}); err != nil {
		t.Fatal(err)
	}
	e.advance(40 * time.Second)
	if _, err := e.d.AcknowledgeNotification(ctx, voiceKey); err != nil {
		t.Fatal(err)
	}
	got := e.incident(inc.ID)
	if got.AcknowledgedVia != dispatch.Channel119 || got.AcknowledgedBy != "119" {
		t.Fatalf("incident acknowledged by %q via %q, want 119 via cap", got.AcknowledgedBy, got.AcknowledgedVia)
	}

	c := e.signedIn("d-park")
	_, body, _ := c.do("GET", "/reports/export.csv?kind=incidents", nil, nil)
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	if len(recs) != 2 {
		t.Fatalf("incidents csv: %q", recs)
	}
	row := recs[1]
	if row[col["ack_channel"]] != "cap" || row[col["ack_step"]] != "119" || row[col["acknowledged_by"]] != "119" || row[col["ack_s"]] != "20.0" {
		t.Errorf("acknowledgement: step %q channel %q by %q after %q s, want step 119, channel cap, by 119 after 20.0 s",
			row[col["ack_step"]], row[col["ack_channel"]], row[col["acknowledged_by"]], row[col["ack_s"]])
	}
	_, body, _ = c.do("GET", "/reports/export.csv?kind=ack", nil, nil)
	if !strings.Contains(body, "\n119,cap,1,") || strings.Contains(body, ",voice,") {
		t.Errorf("ack csv counts 119's answer elsewhere:\n%s", body)
	}
	_, page := c.get("/reports")
	if !strings.Contains(page, "119 전송 (CAP)") {
		t.Errorf("reports page does not name 119's channel")
	}
}

// motion stores hourly motion for the hours before now: value(h) for
// h = 1..hours hours ago.
func (de *deskEnv) motion(hub devices.HubID, hours int, value func(h int) float64) {
	de.t.Helper()
	ctx := context.Background()
	now := de.clock()
	var rs []devices.Reading
	for h := 1; h <= hours; h++ {
		rs = append(rs, devices.Reading{Sensor: "pir-1", Metric: devices.MetricMotion, At: now.Add(-time.Duration(h) * time.Hour), Value: value(h), Quality: -1})
	}
	if err := de.st.Journal().AppendReadings(ctx, &devices.ReadingBatch{Hub: hub, Readings: rs}); err != nil {
		de.t.Fatal(err)
	}
	if err := de.st.Flush(ctx); err != nil {
		de.t.Fatal(err)
	}
	if err := de.st.State().SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: devices.HubHealth{Hub: hub, Online: true, LastSeen: now,
		PowerKnown: true, OnMains: true, Battery: 90, Faults: []devices.Fault{}}}}); err != nil {
		de.t.Fatal(err)
	}
}

// section returns the HTML of the element with the given id up to its
// </section>.
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no section %s", id)
	}
	rest := body[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// Today ranks the caseload by need with the reasons in words: the
// resident with a fire and two falls today first (seen: last), a new
// home's sharp drop over two days is seen with five days of history, a
// home with one day of data is "not enough data yet" (seen: "none"), a
// resident without a hub is flagged, and someone with nothing to report
// is not ranked.
func TestTodayRanksByNeed(t *testing.T) {
	e := newDeskEnv(t)
	ctx := context.Background()
	steady := func(int) float64 { return 10 }
	_, busyHub := e.home("화재낙상", "sw-kim")
	for _, c := range []struct {
		cause  detectors.Cause
		prio   detectors.Priority
		sensor devices.SensorID
	}{{detectors.CauseFireConfirmed, detectors.PriorityCritical, "kitchen-smoke"}, {detectors.CauseFall, detectors.PriorityHigh, "wearable-1"}, {detectors.CauseFall, detectors.PriorityHigh, "wearable-1"}} {
		inc := e.detect(busyHub, c.cause, c.prio, c.sensor)
		e.advance(10 * time.Minute)
		if _, err := e.d.Resolve(ctx, inc.ID, dispatch.DispositionRealEmergency, "d-park", ""); err != nil {
			t.Fatal(err)
		}
		e.advance(time.Hour)
	}

	e.motion(busyHub, 30*24, steady)
	if err := e.st.Casework().AddVisit(ctx, &console.Visit{ResidentID: e.residentByHub(busyHub), Kind: "visit", At: e.clock().AddDate(0, 0, -10), AccountID: "sw-kim"}); err != nil {
		t.Fatal(err)
	}
	_, calmHub := e.home("평온한", "sw-kim")
	e.motion(calmHub, 30*24, steady)
	calm := e.residentByHub(calmHub)
	if err := e.st.Casework().AddVisit(ctx, &console.Visit{ResidentID: calm, Kind: "visit", At: e.clock().AddDate(0, 0, -3), AccountID: "sw-kim"}); err != nil {
		t.Fatal(err)
	}
	_, newHub := e.home("새집", "sw-kim")
	e.motion(newHub, 20, steady)
	_, quietHub := e.home("조용한", "sw-kim")
	e.motion(quietHub, 5*24, func(h int) float64 {
		if h <= 48 {
			return 2.5 // 75% less since two days ago
		}
		return 10
	})
	e.resident("허브없는", "sw-kim", false)
	c := e.signedIn("sw-kim")
	_, body := c.get("/today")
	ranked := section(t, body, "ranked")
	var order []string
	for _, name := range []string{"화재낙상", "조용한", "허브없는", "새집", "평온한"} {
		if i := strings.Index(ranked, ">"+name+"<"); i >= 0 {
			order = append(order, name)
		}
	}
	pos := func(name string) int { return strings.Index(ranked, ">"+name+"<") }
	if pos("평온한") >= 0 || !(0 <= pos("화재낙상") && pos("화재낙상") < pos("조용한") && pos("조용한") < pos("허브없는") && pos("허브없는") < pos("새집")) {
		t.Errorf("ranked %v; want 화재낙상, 조용한, 허브없는, 새집 in that order and not 평온한:\n%s", order, ranked)
	}
	for _, want := range []string{"오늘 응급상황 3건", "최근 30일 낙상 2회 (반복 낙상)", "활동량 평소의 25% (최근 2일)", "허브 없음", "활동량: 아직 데이터 부족 (20시간치, 3일 이상 필요)"} {
		if !strings.Contains(ranked, want) {
			t.Errorf("ranked list misses %q", want)
		}
	}
	if s := section(t, body, "activity"); !strings.Contains(s, "새집") || !strings.Contains(s, "아직 데이터 부족") || strings.Contains(s, "없음<") {
		t.Errorf("activity section: %s", s)
	}
	if s := section(t, body, "devices"); !strings.Contains(s, "허브없는") || !strings.Contains(s, "허브 없음") {
		t.Errorf("devices section: %s", s)
	}
	// Every visit has a due date; the follow-up after today's incidents is due tomorrow.
	if s := section(t, body, "visits"); !strings.Contains(s, "예정일 2026-05-05") || !strings.Contains(s, "응급상황 후속") {
		t.Errorf("visits section: %s", s)
	}
	// The resident page shows the same next contact.
	if _, page := c.get("/residents/" + string(e.residentByHub(busyHub))); !strings.Contains(page, "다음 연락: 방문 2026-05-05") || !strings.Contains(page, "(응급상황 후속)") {
		t.Errorf("resident page: no follow-up visit due 2026-05-05:\n%s", section(t, page, "visits"))
	}
	_, en := c.get("/today?lang=en")
	ranked = section(t, en, "ranked")
	for _, want := range []string{"3 incidents today", "2 falls in the last 30 days (repeated falls)", "No hub installed", "not enough data yet"} {
		if !strings.Contains(ranked, want) {
			t.Errorf("English ranked list misses %q", want)
		}
	}
}

func (de *deskEnv) residentByHub(hub devices.HubID) devices.ResidentID {
	de.t.Helper()
	h, err := de.st.Registry().GetHub(context.Background(), hub)
	if err != nil {
		de.t.Fatal(err)
	}
	return h.ResidentID
}

// The monthly caseload report: per resident, the month's visits and
// calls, incidents by cause, falls, false alarms and device problems,
// only the worker's own residents; printable and as CSV; a bad month is
// refused with the reason.
func TestCaseloadReport(t *testing.T) {
	e := newDeskEnv(t)
	ctx := context.Background()
	a, hubA := e.home("김영희", "sw-kim")
	b, hubB := e.home("박순자", "sw-kim")
	_, hubC := e.home("정다른", "sw-lee")
	a.Priority = true
	if _, err := e.st.Registry().UpdateResident(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, v := range []console.Visit{
		{ResidentID: a.ID, Kind: "visit", At: e.clock().AddDate(0, 0, -1)},
		{ResidentID: a.ID, Kind: "call", At: e.clock().AddDate(0, 0, -2)},
		{ResidentID: b.ID, Kind: "call", At: e.clock().AddDate(0, 0, -20)}, // April
	} {
		v.AccountID = "sw-kim"
		if err := e.st.Casework().AddVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range []struct {
		hub   devices.HubID
		cause detectors.Cause
		class detectors.Class
		false bool
	}{
		{hubA, detectors.CauseFall, detectors.ClassEmergency, false},
		{hubA, detectors.CauseFall, detectors.ClassEmergency, false},
		{hubA, detectors.CauseSmokeUnconfirmed, detectors.ClassEmergency, true},
		{hubB, detectors.CauseHubOffline, detectors.ClassDeviceHealth, false},
		{hubC, detectors.CauseSOS, detectors.ClassEmergency, false},
	} {
		at := e.clock()
		det := detectors.Detection{Fingerprint: detectors.Fingerprint(c.hub, c.cause, devices.SensorID(fmt.Sprint("s", i)), at), Hub: c.hub,
			Sensor: devices.SensorID(fmt.Sprint("s", i)), Class: c.class, Cause: c.cause, Priority: detectors.PriorityHigh, State: detectors.Firing,
			Episode: at, At: at, Explanation: detectors.Explanation{Ko: "테스트", En: "test"}}
		inc, err := e.d.HandleDetection(ctx, det)
		if err != nil {
			t.Fatal(err)
		}
		e.advance(time.Minute)
		disp := dispatch.DispositionRealEmergency
		if c.false {
			disp = dispatch.DispositionFalseAlarm
		}
		if _, err := e.d.Resolve(ctx, inc.ID, disp, "d-park", ""); err != nil {
			t.Fatal(err)
		}
		e.advance(time.Hour)
	}

	c := e.signedIn("sw-kim")
	status, page := c.get("/reports/caseload?month=2026-05")
	if status != 200 {
		t.Fatalf("caseload report: %d", status)
	}
	for _, want := range []string{"월간 사례관리 보고서 · 2026년 5월", "김복지 (sw-kim)", "연락 기준 충족: 1 / 2", "caseload.css", "낙상 2"} {
		if !strings.Contains(page, want) {
			t.Errorf("caseload page misses %q", want)
		}
	}
	if strings.Contains(page, "정다른") {
		t.Errorf("caseload page shows another worker's resident")
	}
	_, body, hdr := c.do("GET", "/reports/caseload.csv?month=2026-05", nil, nil)
	if !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.HasPrefix(body, "\uFEFF") {
		t.Fatalf("csv: %s", hdr.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range recs[1:] {
		got[cmp.Or(r[3], r[2])] = r
	}
	rowA, rowB, total := got["김영희"], got["박순자"], got["total"]
	// month, worker, id, name, priority, visits, calls, rule met, incidents, by cause, falls, false alarms, devices, by kind
	if len(recs) != 4 || rowA == nil || rowB == nil || total == nil {
		t.Fatalf("caseload csv: %q", recs)
	}
	if rowA[5] != "1" || rowA[6] != "1" || rowA[7] != "true" || rowA[8] != "3" || rowA[9] != "fall:2 smoke_unconfirmed:1" || rowA[10] != "2" || rowA[11] != "1" || rowA[12] != "0" {
		t.Errorf("김영희's month: %q", rowA)
	}
	if rowB[5] != "0" || rowB[6] != "0" || rowB[7] != "false" || rowB[8] != "0" || rowB[12] != "1" || rowB[13] != "hub_offline:1" {
		t.Errorf("박순자's month: %q", rowB)
	}
	if total[5] != "1" || total[7] != "1" || total[8] != "3" || total[12] != "1" {
		t.Errorf("total: %q", total)
	}
	// April: the call to 박순자, nothing else.
	_, body, _ = c.do("GET", "/reports/caseload.csv?month=2026-04", nil, nil)
	if !strings.Contains(body, ",박순자,false,0,1,true,0,,0,0,0,") {
		t.Errorf("April: %s", body)
	}
	if a := e.audit(console.AuditQuery{AccountID: "sw-kim"}); a[0].Action != "report.export" || a[0].Detail != "caseload 2026-04" {
		t.Errorf("export not audited: %+v", a[0])
	}
	status, body, _ = c.do("GET", "/reports/caseload.csv?month=2026-13", nil, nil)
	if status != 400 || !strings.Contains(body, `month "2026-13": want YYYY-MM`) {
		t.Errorf("bad month: %d %s", status, body)
	}
	if status, page = c.get("/reports/caseload?month=5월"); status != 400 || !strings.Contains(page, "YYYY-MM 형식") {
		t.Errorf("bad month page: %d", status)
	}
	if _, page = c.get("/reports/caseload?month=2026-05&lang=en"); !strings.Contains(page, "Monthly caseload report · May 2026") || !strings.Contains(page, "Fall 2") {
		t.Errorf("English caseload page")
	}
	// Korean targets beside the UK norms, each with its source.
	_, page = c.get("/reports?lang=ko")
	targets := section(t, page, "targets")
	for _, want := range []string{"공표된 응답시간 목표 없음", "돌봄 서비스 자체 목표: 60초 이내 98.5%", "영국 TSA: 60초 이내 97.5%", "영국 TSA: 180초 이내 99%",
		"공표된 한국 기준 아님", "DOMAIN.md 4절", "중점관리 매월 방문", `href="/reports/caseload"`} {
		if !strings.Contains(targets, want) {
			t.Errorf("targets section misses %q:\n%s", want, targets)
		}
	}
	// Dispatchers have no caseload.
	d := e.signedIn("d-park")
	if status, _ := d.get("/reports/caseload"); status != 404 {
		t.Errorf("dispatcher: %d, want 404", status)
	}
}
