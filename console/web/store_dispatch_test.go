package web_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/web"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// deskEnv is the web console over a real store and a real, running
// dispatcher whose channels are fakes that accept everything.
type deskEnv struct {
	*env
	d    *dispatch.Dispatcher
	mu   sync.Mutex
	sent []dispatch.Notification
	// routes are the console's route patterns (web.Console.Routes).
	routes []string
}

func newDeskEnv(t *testing.T, tune ...func(*web.Deps, *store.Store)) *deskEnv {
	t.Helper()
	e := &env{t: t, now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC), open: map[devices.ResidentID]bool{}}
	de := &deskEnv{env: e}
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	accept := func(channel string) dispatch.NotifierFunc {
		return func(_ context.Context, n dispatch.Notification) (string, bool, error) {
			de.mu.Lock()
			defer de.mu.Unlock()
			de.sent = append(de.sent, n)
			return channel + "-" + n.Key, false, nil
		}
	}
	d, err := dispatch.New(dispatch.Config{Store: st.Incidents(), Directory: st.Registry(), Logger: log, Now: e.clock, PollInterval: 20 * time.Millisecond,
		Notifiers: map[dispatch.Channel]dispatch.Notifier{"cap": accept("cap"), "sms": accept("sms"), "voice": accept("voice"), "console": accept("console")}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	stDone, dDone := make(chan struct{}), make(chan struct{})
	go func() { _ = st.Run(runCtx); close(stDone) }()
	dCtx, stopD := context.WithCancel(ctx)
	go func() { _ = d.Run(dCtx); close(dDone) }()
	t.Cleanup(func() { stopD(); <-dDone; cancel(); <-stDone; st.Close() })
	e.st, de.d = st, d
	deps := dispatchDeps(d, st)
	for _, f := range tune {
		f(&deps, st)
	}
	h, err := newStoreWeb(web.Config{Now: e.clock, SessionIdle: time.Hour, SessionMax: 4 * time.Hour}, st, deps, log)
	if err != nil {
		t.Fatal(err)
	}
	startServer(e, h)
	de.routes = h.Routes()
	createAccounts(t, st)
	return de
}

// home registers a resident with a hub and returns both.
func (de *deskEnv) home(name, worker string) (devices.Resident, devices.HubID) {
	de.t.Helper()
	r := de.resident(name, worker, false)
	hub := devices.HubID("hub-" + string(r.ID))
	if _, err := de.st.Registry().CreateHub(context.Background(), devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: de.clock().AddDate(-1, 0, 0),
		Model: "DG-200", SecretHash: "$argon2id$unused"}); err != nil {
		de.t.Fatal(err)
	}
	return r, hub
}

// detect hands the dispatcher a firing detection and returns its incident.
func (de *deskEnv) detect(hub devices.HubID, cause detectors.Cause, prio detectors.Priority, sensor devices.SensorID) dispatch.Incident {
	de.t.Helper()
	at := de.clock()
	det := detectors.Detection{Fingerprint: detectors.Fingerprint(hub, cause, sensor, at), Hub: hub, Sensor: sensor,
		Class: detectors.ClassEmergency, Cause: cause, Priority: prio, State: detectors.Firing, Episode: at, At: at,
		Explanation: detectors.Explanation{Ko: "테스트 감지: " + string(cause), En: "test detection: " + string(cause)}}
	inc, err := de.d.HandleDetection(context.Background(), det)
	if err != nil {
		de.t.Fatal(err)
	}
	return inc
}

func (de *deskEnv) incident(id string) dispatch.Incident {
	de.t.Helper()
	inc, _, err := de.d.Incident(context.Background(), id)
	if err != nil {
		de.t.Fatal(err)
	}
	return inc
}

func TestDispatcherQueueAndIncidentPage(t *testing.T) {
	e := newDeskEnv(t)
	r, hub := e.home("김영희", "sw-kim")
	_, other := e.home("박철수", "sw-lee")
	sos := e.detect(hub, detectors.CauseSOS, detectors.PriorityCritical, "")
	e.advance(time.Minute)
	inact := e.detect(other, detectors.CauseInactivity, detectors.PriorityMedium, "")
	e.advance(30 * time.Second)

	c := e.signedIn("d-park")
	status, page := c.get("/queue")
	if status != 200 {
		t.Fatalf("GET /queue: %d", status)
	}
	// P1 first, then by age; the P1 nobody has taken yet is an alarm.
	p1, p3 := strings.Index(page, `data-id="`+sos.ID+`"`), strings.Index(page, `data-id="`+inact.ID+`"`)
	if p1 < 0 || p3 < 0 || p1 > p3 {
		t.Fatalf("queue order: sos at %d, inactivity at %d", p1, p3)
	}
	for _, want := range []string{"김영희", "응급 호출 (SOS)", "inc p1 st-", " alarm", `data-stream="/queue/stream"`, "1분 30초"} {
		if !strings.Contains(page, want) {
			t.Errorf("queue misses %q", want)
		}
	}
	if strings.Contains(page, "심방세동") || strings.Contains(page, "8812") {
		t.Errorf("the queue shows medical or access details")
	}
	// Filters: priority 3 only.
	_, rows := c.get("/queue/rows?priority=3")
	if strings.Contains(rows, sos.ID) || !strings.Contains(rows, inact.ID) {
		t.Errorf("priority filter: %s", rows)
	}
	_, rows = c.get("/queue/rows?state=acknowledged")
	if strings.Contains(rows, sos.ID) || !strings.Contains(rows, "대기 중인 응급상황이 없습니다") {
		t.Errorf("state filter: %s", rows)
	}

	// The incident page: cause, explanation, resident with medical and
	// access details (the incident is open), who was told, the 119 steps.
	waitFor(t, func() bool {
		rows, _ := e.d.Notifications(context.Background(), sos.ID)
		return len(rows) > 0 && rows[0].State == dispatch.OutboxSent
	})
	status, page = c.get("/incidents/" + sos.ID)
	if status != 200 {
		t.Fatalf("incident page: %d", status)
	}
	for _, want := range []string{"응급 호출 (SOS)", "테스트 감지: sos", "김영희", "821012345678", "302", "심방세동", "와파린", "*8812#",
		"119 전송 (CAP)", "id=\"status119\"", "신고", "이 시간대에 기록된 측정값이 없습니다", `action="/incidents/` + sos.ID + `/acknowledge"`} {
		if !strings.Contains(page, want) {
			t.Errorf("incident page misses %q", want)
		}
	}
	audits := e.audit(console.AuditQuery{AccountID: "d-park"})
	if len(audits) == 0 || audits[0].Action != "incident.view" || audits[0].IncidentID != sos.ID ||
		audits[0].ResidentID != string(r.ID) || audits[0].Detail != "sensitive=shown" {
		t.Errorf("incident view audit: %+v", audits)
	}
	if status, _ := c.get("/incidents/inc-missing"); status != 404 {
		t.Errorf("missing incident: %d", status)
	}
	// English.
	if _, page := c.get("/incidents/" + sos.ID + "?lang=en"); !strings.Contains(page, "Emergency call (SOS)") || !strings.Contains(page, "test detection: sos") {
		t.Errorf("English incident page lacks the English cause or explanation")
	}
}

func TestFallEvidenceChart(t *testing.T) {
	e := newDeskEnv(t)
	_, hub := e.home("김영희", "sw-kim")
	ctx := context.Background()
	// One second of 50 Hz samples around the impact: standing, a 3.4 g
	// spike, then lying still.
	impact := e.clock()
	chunk := devices.AccelChunk{Hub: hub, Sensor: "wearable-1", At: impact.Add(-500 * time.Millisecond), Received: impact, RateHz: 50}
	for i := range 50 {
		x, y, z := float32(0), float32(1), float32(0)
		if i == 25 {
			x, y, z = 2, 2.5, 1.2
		} else if i > 25 {
			x, y, z = 1, 0, 0.1
		}
		chunk.X, chunk.Y, chunk.Z = append(chunk.X, x), append(chunk.Y, y), append(chunk.Z, z)
	}
	if err := e.st.Journal().AppendAccel(ctx, &chunk); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fall := e.detect(hub, detectors.CauseFall, detectors.PriorityHigh, "wearable-1")
	e.advance(10 * time.Second)
	c := e.signedIn("d-park")
	_, page := c.get("/incidents/" + fall.ID)
	if !strings.Contains(page, `class="chart evidence" data-metric="accel_g"`) || !strings.Contains(page, ">3.4<") {
		t.Errorf("fall incident lacks the accelerometer chart with its 3.4 g peak")
	}
	if strings.Contains(page, "이 시간대에 기록된 측정값이 없습니다") {
		t.Errorf("fall incident says no evidence")
	}
}

func TestIncidentActions(t *testing.T) {
	e := newDeskEnv(t)
	r, hub := e.home("김영희", "sw-kim")
	sos := e.detect(hub, detectors.CauseSOS, detectors.PriorityCritical, "")
	c := e.signedIn("d-park")
	path := "/incidents/" + sos.ID

	if status := c.post(path+"/acknowledge", url.Values{}); status != http.StatusForbidden {
		t.Errorf("acknowledge without CSRF: %d, want 403", status)
	}
	if got := e.incident(sos.ID); got.State == dispatch.StateAcknowledged {
		t.Fatalf("acknowledged without a CSRF token")
	}
	e.advance(42 * time.Second)
	steps := []struct {
		action string
		form   url.Values
		check  func(inc dispatch.Incident) bool
	}{
		{"acknowledge", url.Values{}, func(inc dispatch.Incident) bool {
			return inc.State == dispatch.StateAcknowledged && inc.AcknowledgedBy == "d-park" && inc.AcknowledgedAt.Sub(inc.OpenedAt) == 42*time.Second
		}},
		{"assign", url.Values{"self": {"1"}}, func(inc dispatch.Incident) bool { return inc.AssignedTo == "d-park" }},
		{"note", url.Values{"text": {"보호자와 통화, 119 출동 요청"}}, func(dispatch.Incident) bool { return true }},
		{"status119", url.Values{"status": {"dispatched"}}, func(inc dispatch.Incident) bool { return inc.Status119 == "dispatched" }},
		{"status119", url.Values{"status": {"on_scene"}}, func(inc dispatch.Incident) bool { return inc.Status119 == "on_scene" }},
		{"resolve", url.Values{"disposition": {"real_emergency"}, "text": {"병원 이송"}}, func(inc dispatch.Incident) bool {
			return inc.State == dispatch.StateResolved && inc.Disposition == dispatch.DispositionRealEmergency
		}},
	}
	for _, s := range steps {
		s.form.Set("csrf", c.csrf)
		if status := c.post(path+"/"+s.action, s.form); status != http.StatusSeeOther {
			t.Fatalf("%s: %d, want 303", s.action, status)
		}
		if inc := e.incident(sos.ID); !s.check(inc) {
			t.Errorf("after %s: %+v", s.action, inc)
		}
	}
	_, tl, _ := e.d.Incident(context.Background(), sos.ID)
	var note bool
	for _, te := range tl {
		note = note || te.Action == dispatch.ActNote && te.Actor == "d-park" && strings.Contains(te.Detail, "119 출동 요청")
	}
	if !note {
		t.Errorf("note missing from the timeline: %+v", tl)
	}
	var actions []string
	for _, a := range e.audit(console.AuditQuery{AccountID: "d-park", Limit: 50}) {
		if a.IncidentID == sos.ID && a.Action != "incident.view" {
			if a.ResidentID != string(r.ID) {
				t.Errorf("audit %s without the resident", a.Action)
			}
			actions = append([]string{a.Action}, actions...)
		}
	}
	if got := strings.Join(actions, " "); got != "incident.acknowledge incident.assign incident.note incident.status119 incident.status119 incident.resolve" {
		t.Errorf("audited actions: %s", got)
	}
	// Closed: no more actions, and the dispatcher no longer sees medical
	// or access details.
	if status, _, _ := c.do("POST", path+"/note", url.Values{"csrf": {c.csrf}, "text": {"late"}}, nil); status != http.StatusSeeOther {
		t.Errorf("note on a closed incident: %d", status)
	}
	_, page := c.get(path)
	if strings.Contains(page, "심방세동") || strings.Contains(page, "*8812#") || strings.Contains(page, `/acknowledge"`) {
		t.Errorf("closed incident still shows medical details or actions")
	}
	if status := c.post(path+"/resolve", url.Values{"csrf": {c.csrf}, "disposition": {"test"}}); status != http.StatusSeeOther {
		t.Errorf("resolve twice: %d", status)
	}
	if _, page := c.get(path + "?error=closed"); !strings.Contains(page, "이미 종결된 응급상황입니다") {
		t.Errorf("closed error not shown")
	}
}

// A false alarm that 119 was alerted to sends 119 a CAP cancel.
func TestCancelFalseAlarmTells119(t *testing.T) {
	e := newDeskEnv(t)
	_, hub := e.home("김영희", "sw-kim")
	fire := e.detect(hub, detectors.CauseFireConfirmed, detectors.PriorityCritical, "kitchen-smoke")
	if !e.incident(fire.ID).Alerted119 {
		t.Fatalf("fire did not alert 119")
	}
	c := e.signedIn("d-park")
	if status := c.post("/incidents/"+fire.ID+"/cancel", url.Values{"csrf": {c.csrf}, "text": {"요리 연기"}}); status != http.StatusSeeOther {
		t.Fatalf("cancel: %d", status)
	}
	if inc := e.incident(fire.ID); inc.State != dispatch.StateCancelled {
		t.Fatalf("state after cancel: %s", inc.State)
	}
	waitFor(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, n := range e.sent {
			if n.Channel == dispatch.Channel119 && n.Type == dispatch.MsgCancel && strings.HasPrefix(n.Key, fire.ID) {
				return true
			}
		}
		return false
	})
	a := e.audit(console.AuditQuery{AccountID: "d-park"})
	if a[0].Action != "incident.cancel" || !strings.Contains(a[0].Detail, "false_alarm: 요리 연기") {
		t.Errorf("cancel audit: %+v", a[0])
	}
}

func TestIncidentRights(t *testing.T) {
	e := newDeskEnv(t)
	_, mine := e.home("김영희", "sw-kim")
	_, theirs := e.home("박철수", "sw-lee")
	incMine := e.detect(mine, detectors.CauseSOS, detectors.PriorityCritical, "")
	incTheirs := e.detect(theirs, detectors.CauseSOS, detectors.PriorityCritical, "")

	sw := e.signedIn("sw-kim")
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/queue", 404}, {"/queue/rows", 404}, {"/queue/stream", 404},
		{"/incidents/" + incTheirs.ID, 404},
		{"/incidents/" + incMine.ID, 200},
		{"/reports", 200},
	} {
		if status, _ := sw.get(tc.path); status != tc.want {
			t.Errorf("social worker GET %s: %d, want %d", tc.path, status, tc.want)
		}
	}
	if status := sw.post("/incidents/"+incMine.ID+"/acknowledge", url.Values{"csrf": {sw.csrf}}); status != 404 {
		t.Errorf("social worker acknowledges: %d, want 404", status)
	}
	if _, page := sw.get("/incidents/" + incMine.ID); strings.Contains(page, `/acknowledge"`) || !strings.Contains(page, "심방세동") {
		t.Errorf("social worker's incident page: actions shown or own resident's medical details hidden")
	}
	// Today and the resident page list the worker's incidents only.
	_, today := sw.get("/today")
	if !strings.Contains(today, "/incidents/"+incMine.ID) || strings.Contains(today, incTheirs.ID) {
		t.Errorf("Today's open incidents wrong")
	}
	_, resPage := sw.get("/residents/" + string(e.incident(incMine.ID).ResidentID))
	if !strings.Contains(resPage, "/incidents/"+incMine.ID) {
		t.Errorf("resident page lacks the incident history")
	}

	admin := e.signedIn("root")
	if status, _ := admin.get("/queue"); status != 200 {
		t.Errorf("admin GET /queue: %d", status)
	}
	if _, page := admin.get("/incidents/" + incMine.ID); strings.Contains(page, "심방세동") || strings.Contains(page, `/acknowledge"`) {
		t.Errorf("admin sees medical details or actions")
	}
	if status := admin.post("/incidents/"+incMine.ID+"/acknowledge", url.Values{"csrf": {admin.csrf}}); status != 404 {
		t.Errorf("admin acknowledges: %d, want 404", status)
	}
	// Dispatcher: the open-incident rule, through web.DeskIncidents.
	d := e.signedIn("d-park")
	if _, page := d.get("/residents/" + string(e.incident(incMine.ID).ResidentID)); !strings.Contains(page, "심방세동") {
		t.Errorf("dispatcher does not see medical details during an open incident")
	}
	if _, err := e.d.Resolve(context.Background(), incMine.ID, dispatch.DispositionNoAction, "d-park", ""); err != nil {
		t.Fatal(err)
	}
	if _, page := d.get("/residents/" + string(e.incident(incMine.ID).ResidentID)); strings.Contains(page, "심방세동") {
		t.Errorf("dispatcher sees medical details after the incident closed")
	}
}

// The session-authenticated stream carries new incidents within a moment.
func TestQueueStream(t *testing.T) {
	e := newDeskEnv(t)
	_, hub := e.home("김영희", "sw-kim")
	first := e.detect(hub, detectors.CauseInactivity, detectors.PriorityMedium, "")
	c := e.signedIn("d-park")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/queue/stream?last_event_id="+fmt.Sprint(first.Seq), nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_, other := e.home("박철수", "sw-lee")
	sos := e.detect(other, detectors.CauseSOS, detectors.PriorityCritical, "")
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			if n, _ := strconv.ParseInt(id, 10, 64); n <= first.Seq {
				t.Errorf("the stream replayed event %d, at or before last_event_id %d", n, first.Seq)
			}
		}
		if strings.HasPrefix(line, "data: ") {
			if strings.Contains(line, sos.ID) && strings.Contains(line, `"priority":1`) {
				return
			}
		}
	}
	t.Fatalf("no event for the new incident: %v", sc.Err())
}

func TestReports(t *testing.T) {
	e := newDeskEnv(t)
	ctx := context.Background()
	_, hubA := e.home("김영희", "sw-kim")
	_, hubB := e.home("박철수", "sw-lee")
	// Three incidents acknowledged on the console after 30 s, 90 s and
	// 400 s (each closed before the next: an open one would take the next
	// SOS of the home in); two false alarms from one smoke sensor; one
	// never answered.
	for i, wait := range []time.Duration{30 * time.Second, 90 * time.Second, 400 * time.Second} {
		inc := e.detect(hubA, detectors.CauseSOS, detectors.PriorityCritical, devices.SensorID(fmt.Sprint("button-", i)))
		e.advance(wait)
		if _, err := e.d.Acknowledge(ctx, inc.ID, "d-park", dispatch.ChannelConsole); err != nil {
			t.Fatal(err)
		}
		e.advance(time.Hour)
		if _, err := e.d.Resolve(ctx, inc.ID, dispatch.DispositionRealEmergency, "d-park", ""); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		inc := e.detect(hubB, detectors.CauseSmokeUnconfirmed, detectors.PriorityHigh, "kitchen-smoke")
		e.advance(time.Minute)
		if _, err := e.d.Resolve(ctx, inc.ID, dispatch.DispositionFalseAlarm, "d-park", "요리"); err != nil {
			t.Fatal(err)
		}
		e.advance(time.Hour)
	}
	e.detect(hubB, detectors.CauseFall, detectors.PriorityHigh, "wearable-1")

	c := e.signedIn("d-park")
	status, page := c.get("/reports")
	if status != 200 {
		t.Fatalf("reports: %d", status)
	}
	for _, want := range []string{"kitchen-smoke", "박철수", "66.7%", "연기 감지 (미확인)", "100.0%", "60.0%", "80.0%"} {
		if !strings.Contains(page, want) {
			t.Errorf("reports page misses %q", want)
		}
	}
	status, body, hdr := c.do("GET", "/reports/export.csv?kind=ack", nil, nil)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", status, hdr.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// header, all, console, unacknowledged
	if len(recs) != 4 || recs[1][0] != "all" || recs[1][2] != "5" || recs[1][3] != "60.0" || recs[1][6] != "60.0" || recs[1][7] != "80.0" ||
		recs[3][0] != "unacknowledged" || recs[3][2] != "1" {
		t.Errorf("ack csv: %q", recs)
	}
	_, body, _ = c.do("GET", "/reports/export.csv?kind=false", nil, nil)
	if !strings.Contains(body, "device,smoke_unconfirmed,"+string(hubB)+",kitchen-smoke,,2,2,100.0") {
		t.Errorf("false csv: %s", body)
	}
	if a := e.audit(console.AuditQuery{AccountID: "d-park"}); a[0].Action != "report.export" {
		t.Errorf("export not audited: %+v", a[0])
	}
	// A social worker's report counts only their residents.
	sw := e.signedIn("sw-kim")
	_, body, _ = sw.do("GET", "/reports/export.csv?kind=incidents", nil, nil)
	if strings.Contains(body, string(hubB)) || !strings.Contains(body, string(hubA)) {
		t.Errorf("social worker's export has another worker's homes")
	}
}

func startServer(e *env, h http.Handler) {
	e.srv = httptest.NewServer(h)
	e.t.Cleanup(e.srv.Close)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("condition not met within 5 s")
}

// A page's stream starts after the latest incident change, whatever the
// page shows: the queue of an empty shift started at 0 and replayed every
// incident ever, the page of an old incident everything since it.
func TestPagesStartTheirStreamAtTheLatestChange(t *testing.T) {
	e := newDeskEnv(t)
	_, hub := e.home("김영희", "sw-kim")
	_, other := e.home("박철수", "sw-lee")
	old := e.detect(hub, detectors.CauseSOS, detectors.PriorityCritical, "")
	e.advance(time.Minute)
	later := e.detect(other, detectors.CauseInactivity, detectors.PriorityMedium, "")
	for _, id := range []string{old.ID, later.ID} {
		if _, err := e.d.Cancel(context.Background(), id, "d-park", "test"); err != nil {
			t.Fatal(err)
		}
	}
	top, err := e.st.Incidents().LastIncidentSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := e.signedIn("d-park")
	// pageSeq is where a page's stream starts; the dispatcher may change
	// incidents after top was read (deliveries), never before.
	pageSeq := func(page string) int64 {
		m := regexp.MustCompile(`data-seq="(\d+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no data-seq on the page")
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	if _, page := c.get("/queue"); pageSeq(page) < top {
		t.Errorf("the empty queue's stream starts after change %d, before the latest %d", pageSeq(page), top)
	}
	// An open incident's page, with later changes to others.
	open := e.detect(hub, detectors.CauseFall, detectors.PriorityHigh, "")
	if _, err := e.d.Note(context.Background(), later.ID, "d-park", "called back"); err != nil {
		t.Fatal(err)
	}
	if top, err = e.st.Incidents().LastIncidentSeq(context.Background()); err != nil || top <= open.Seq {
		t.Fatalf("LastIncidentSeq = %d, %v", top, err)
	}
	if _, page := c.get("/incidents/" + open.ID); pageSeq(page) < top {
		t.Errorf("the incident page's stream starts after change %d, before the latest %d", pageSeq(page), top)
	}
}
