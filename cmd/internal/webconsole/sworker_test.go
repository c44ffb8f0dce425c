package webconsole

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// guardianHome registers a resident with a guardian and a hub.
func (de *deskEnv) guardianHome(name, worker string) (devices.Resident, devices.HubID) {
	de.t.Helper()
	ctx := context.Background()
	r, err := de.st.CreateResident(ctx, devices.Resident{Name: name, BirthDate: "1936-02-03", Phone: "+821012345678", Language: "ko",
		Address: devices.Address{Line1: "서울특별시 종로구 세종대로 209", Unit: "302", Floor: "3"}, SocialWorkerID: worker,
		Consent:   devices.Consent{NotifyGuardians: true},
		Guardians: []devices.Guardian{{Name: "최영희", Relation: "딸", Phone: "+821033334444", Order: 1}}})
	if err != nil {
		de.t.Fatal(err)
	}
	hub := devices.HubID("hub-" + string(r.ID))
	if _, err := de.st.CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: de.clock().AddDate(-1, 0, 0),
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

	c := e.client()
	c.login("d-park", password)
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
	if err := de.st.AppendReadings(ctx, &devices.ReadingBatch{Hub: hub, Readings: rs}); err != nil {
		de.t.Fatal(err)
	}
	if err := de.st.Flush(ctx); err != nil {
		de.t.Fatal(err)
	}
	if err := de.st.SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: devices.HubHealth{Hub: hub, Online: true, LastSeen: now,
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
	if _, err := e.st.AddVisit(ctx, store.Visit{ResidentID: e.residentByHub(busyHub), Kind: "visit", At: e.clock().AddDate(0, 0, -10), AccountID: "sw-kim"}); err != nil {
		t.Fatal(err)
	}
	_, calmHub := e.home("평온한", "sw-kim")
	e.motion(calmHub, 30*24, steady)
	calm := e.residentByHub(calmHub)
	if _, err := e.st.AddVisit(ctx, store.Visit{ResidentID: calm, Kind: "visit", At: e.clock().AddDate(0, 0, -3), AccountID: "sw-kim"}); err != nil {
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
	c := e.client()
	c.login("sw-kim", password)
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
	for _, want := range []string{"오늘 응급상황 3건", "이번 달 낙상 2회 (반복 낙상)", "활동량 평소의 25% (최근 2일)", "허브 없음", "활동량: 아직 데이터 부족 (0일치, 4일 필요)"} {
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
	_, en := c.get("/today?lang=en")
	ranked = section(t, en, "ranked")
	for _, want := range []string{"3 incidents today", "2 falls this month (repeated falls)", "No hub installed", "not enough data yet"} {
		if !strings.Contains(ranked, want) {
			t.Errorf("English ranked list misses %q", want)
		}
	}
}

func (de *deskEnv) residentByHub(hub devices.HubID) devices.ResidentID {
	de.t.Helper()
	h, err := de.st.GetHub(context.Background(), hub)
	if err != nil {
		de.t.Fatal(err)
	}
	return h.ResidentID
}
