package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// firstScreen are the facts a dispatcher must see on the incident page at
// 1366x768 without scrolling: who, where (address and the alarm's room),
// how to get in, medical notes and medications, the guardians, the
// evidence and the actions (issue 13).
var firstScreen = []string{"#who", "#where", "#room", "#access", "#medical", "#medications", "#guardians",
	"#evidence h2", "#evidence .fact-list, #evidence svg", "#send119", "#resolve button", "#cancel button", "#status119"}

// box is an element's bounding box and the viewport it was measured in.
type box struct {
	Sel                      string
	Found                    bool
	Top, Bottom, Left, Right float64
	VW, VH, ScrollY          float64
}

// boxes measures each selector's first element after scrolling to the top.
func boxes(t *testing.T, ctx context.Context, sels []string) []box {
	t.Helper()
	js, _ := json.Marshal(sels)
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]box](`(() => { window.scrollTo(0, 0); return `+string(js)+`.map(s => {
		const e = document.querySelector(s);
		const r = e ? e.getBoundingClientRect() : {top: 0, bottom: 0, left: 0, right: 0};
		return {Sel: s, Found: !!e && r.height > 0, Top: r.top, Bottom: r.bottom, Left: r.left, Right: r.right,
			VW: window.innerWidth, VH: window.innerHeight, ScrollY: window.scrollY};
	}); })()`))
	if err != nil {
		t.Fatalf("measure %v: %v", sels, err)
	}
	return out
}

// TestDispatcherFirstScreen: a smoke alarm in the kitchen of a flat on the
// 7th floor, an SOS elsewhere (acknowledged), a low battery (device
// health); the dispatcher's queue in Korean and English at 1366x768 and on
// a 390 px phone, and the incident page's first screen.
func TestDispatcherFirstScreen(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	s.accounts(t, console.Account{ID: "d-park", Name: "박상황", Role: "dispatcher"}, console.Account{ID: "sw-kim", Name: "김민지", Role: "social_worker"})
	fire := s.provision(t, devices.Resident{
		Name: "최순자", BirthDate: "1938-05-02", Phone: "+82221234567", Language: "ko",
		Address:      devices.Address{Line1: "서울특별시 종로구 세종대로 209", Building: "행복아파트 103동", Floor: "7", Unit: "703", District: "종로구", Lat: 37.5725, Lon: 126.9769},
		MedicalNotes: "고혈압, 심방세동, 치매 초기", Medications: []string{"와파린 5mg", "도네페질"}, Allergies: []string{"페니실린"},
		Access: devices.Access{KeyHolder: "관리사무소 02-123-4567", KeySafeCode: "4821", DoorCode: "*8812#", Notes: "현관 왼쪽 소화전 안 키박스"},
		Guardians: []devices.Guardian{{Name: "최영희", Relation: "딸", Phone: "+821012345678", Order: 1}, {Name: "최민수", Relation: "아들", Phone: "+821098765432", Order: 2},
			{Name: "이정호", Relation: "이웃", Phone: "+821033334444", Order: 3}},
		Consent: devices.Consent{ShareMedicalWith119: true, NotifyGuardians: true}, SocialWorkerID: "sw-kim",
	}, devices.Sensor{ID: "smoke-kitchen", Kind: devices.SensorSmoke, Location: devices.LocKitchen, ReportSeconds: 3600})
	sos := s.provision(t, devices.Resident{
		Name: "김영희", BirthDate: "1941-03-10", Phone: "+821055556666", Language: "ko",
		Address:   devices.Address{Line1: "서울특별시 종로구 세종대로 210", Building: "101", Floor: "3", Unit: "301"},
		Guardians: []devices.Guardian{{Name: "김민수", Relation: "아들", Phone: "+821099998888", Order: 1}},
		Consent:   devices.Consent{NotifyGuardians: true},
	}, devices.Sensor{ID: "pendant", Kind: devices.SensorSOSButton, Location: devices.LocWorn})
	battery := s.provision(t, devices.Resident{
		Name: "박말순", BirthDate: "1944-01-20", Phone: "+821077778888", Language: "ko",
		Address: devices.Address{Line1: "서울특별시 종로구 세종대로 211", Unit: "101"},
	}, devices.Sensor{ID: "motion-living", Kind: devices.SensorMotion, Location: devices.LocLivingRoom})

	// The SOS first (older), acknowledged by the dispatcher: it must sink
	// below the smoke alarm nobody has taken, and its time keeps counting.
	publish(t, s.connect(t, sos), sos.hub, devices.ChanEvents, devices.EncodeEvent(devices.Event{
		ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant", At: time.Now().Add(-40 * time.Second)}))
	sosInc := s.waitIncident(t, sos.hub, detectors.CauseSOS)
	if _, err := s.g.Dispatch.Acknowledge(ctx, sosInc.ID, "d-park", dispatch.ChannelConsole); err != nil {
		t.Fatal(err)
	}
	publish(t, s.connect(t, fire), fire.hub, devices.ChanEvents, devices.EncodeEvent(devices.Event{
		ID: "smoke-1", Kind: devices.EventSmokeAlarm, Sensor: "smoke-kitchen", At: time.Now()}))
	fireInc := s.waitIncident(t, fire.hub, "")
	publish(t, s.connect(t, battery), battery.hub, devices.ChanEvents, devices.EncodeEvent(devices.Event{
		ID: "bat-1", Kind: devices.EventBatteryLow, Sensor: "motion-living", At: time.Now(), Value: 5, HasValue: true}))
	batInc := s.waitIncident(t, battery.hub, "")
	if batInc.Class != detectors.ClassDeviceHealth {
		t.Fatalf("the low battery opened %+v, want a device-health incident", batInc)
	}
	t.Logf("incidents: fire %s (%s), sos %s, battery %s (%s)", fireInc.ID, fireInc.Cause, sosInc.ID, batInc.ID, batInc.Cause)

	b := browser(t, 1366, 768)
	if err := chromedp.Do(b, chromedp.EmulateViewport(1366, 768)); err != nil {
		t.Fatal(err)
	}
	dispatcherSignIn(t, b, s.URL, "d-park")
	for _, lang := range []string{"ko", "en"} {
		t.Run(lang, func(t *testing.T) {
			// The incident page reloads itself while its incident changes
			// (119 answering): a navigation may be cut short by it.
			navigate(t, b, s.URL+"/queue?lang="+lang)
			checkQueue(t, b, lang, fireInc, sosInc, batInc)
			screenshot(t, b, "11-queue-"+lang)

			navigate(t, b, s.URL+"/queue?tab=devices")
			rows := text(t, b, `#queue-rows`)
			if !strings.Contains(rows, "박말순") || strings.Contains(rows, "최순자") || strings.Contains(rows, "김영희") {
				t.Errorf("device-health tab: %q, want the low battery only", rows)
			}
			screenshot(t, b, "12-queue-devices-"+lang)

			navigate(t, b, s.URL+"/incidents/"+fireInc.ID)
			if lang == "ko" {
				// Before anyone answered: nobody has taken it yet.
				checkFirstScreen(t, b, lang, false)
				viewportShot(t, b, "13-incident-first-screen-before-ko")
				guardianOnTheWayAndSend119(t, s, b, fireInc.ID)
			}
			// The daughter on her way (she answered: acknowledged), 119 alerted.
			checkFirstScreen(t, b, lang, true)
			viewportShot(t, b, "13-incident-first-screen-"+lang)
			screenshot(t, b, "13-incident-full-"+lang)
		})
	}

	// A phone: 390 px wide, the queue without horizontal scrolling, rows
	// big enough to tap.
	phone := browser(t, 390, 844)
	// Chromium's window is at least 500 px wide: the phone's 390 px is
	// emulated, as a phone reports it (mobile, touch).
	if err := chromedp.Do(phone, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
		t.Fatal(err)
	}
	dispatcherSignIn(t, phone, s.URL, "d-park")
	type phoneQueue struct {
		ScrollWidth, InnerWidth float64
		RowHeights              []float64
	}
	m, err := chromedp.Run(phone, chromedp.Evaluate[phoneQueue](`({ScrollWidth: document.documentElement.scrollWidth, InnerWidth: window.innerWidth,
		RowHeights: [...document.querySelectorAll('#queue-rows tr[data-id]')].map(r => r.getBoundingClientRect().height)})`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("phone: scroll width %.0f in %.0f, row heights %v", m.ScrollWidth, m.InnerWidth, m.RowHeights)
	if m.ScrollWidth > m.InnerWidth {
		t.Errorf("the queue scrolls sideways on a 390 px phone: %.0f px wide", m.ScrollWidth)
	}
	if m.InnerWidth != 390 {
		t.Errorf("the phone's viewport is %.0f px wide, want 390", m.InnerWidth)
	}
	if len(m.RowHeights) < 2 {
		t.Errorf("phone queue rows: %v", m.RowHeights)
	}
	for _, h := range m.RowHeights {
		if h < 44 {
			t.Errorf("a queue row is %.0f px tall on a phone, want at least 44 (a finger)", h)
		}
	}
	viewportShot(t, phone, "14-queue-phone")
	// A tap on a row opens its incident.
	err = chromedp.Do(phone,
		chromedp.Click(`#queue-rows tr[data-id="`+fireInc.ID+`"] td.q-who`),
		chromedp.WaitVisible(`#incident`),
	)
	if err != nil {
		t.Errorf("tapping a row on a phone: %v", err)
	}
	viewportShot(t, phone, "15-incident-phone")
}

// viewportShot saves what is in view without scrolling (screenshot saves
// the whole page): the first screen as the dispatcher sees it.
func viewportShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	writeArtifact(t, name+".png", buf)
}

// guardianOnTheWayAndSend119: the daughter phones the dispatcher ("I am
// on my way, 15 minutes"), who records it on the page, then sends the
// incident to 119 at once with the page's "119 즉시 신고".
func guardianOnTheWayAndSend119(t *testing.T, s *site, b context.Context, id string) {
	t.Helper()
	if err := chromedp.Do(b, chromedp.WaitVisible(`#responder-form`)); err != nil {
		t.Fatalf("the responder form: %v", err)
	}
	picked, err := chromedp.Run(b, chromedp.Evaluate[bool](`(() => { const sel = document.querySelector('#responder-form select[name=responder]');
		const o = [...sel.options].find(o => o.textContent.includes('최영희')); if (!o) return false; sel.value = o.value; return true; })()`))
	if err != nil || !picked {
		t.Fatalf("the guardian is not among the responders to choose (%v)", err)
	}
	err = chromedp.Do(b,
		chromedp.SetValue(`#responder-form select[name=state]`, "on_the_way"),
		chromedp.SendKeys(`#responder-form input[name=eta_minutes]`, "15"),
		chromedp.Click(`#responder-form button[type=submit]`),
		chromedp.WaitVisible(`#guardians li.g-acked`),
	)
	if err != nil {
		t.Fatalf("record the guardian on the way: %v", err)
	}
	inc, _, err := s.g.Dispatch.Incident(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(inc.Responders, func(r dispatch.Responder) bool { return r.Name == "최영희" }); i < 0 ||
		inc.Responders[i].State != dispatch.ResponderOnTheWay || inc.Responders[i].ETAMinutes != 15 || inc.Responders[i].SetBy != "d-park" {
		t.Errorf("the guardian after the form: %+v", inc.Responders)
	}
	// The confirmation dialog is the browser's own: answered yes here.
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`(() => { window.confirm = () => true; return true; })()`)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(b,
		chromedp.Evaluate[chromedp.Void](`window.beforeSend119 = true`),
		chromedp.Click(`#send119`),
	)
	if err != nil {
		t.Fatalf("send to 119 now: %v", err)
	}
	// The form posts and the page comes back (a new document).
	until(t, b, 10*time.Second, "the page after sending to 119",
		`!window.beforeSend119 && document.readyState === "complete" && !!document.querySelector('#send119-form p')`)
	waitFor(t, 10*time.Second, "the incident sent to 119", func() bool {
		inc, tl, err := s.g.Dispatch.Incident(context.Background(), id)
		return err == nil && inc.Alerted119 && slices.ContainsFunc(tl, func(e dispatch.TimelineEntry) bool {
			return e.Action == dispatch.ActSend119 && e.Actor == "d-park"
		})
	})
	// The mock 119 accepts and dispatches; the page reloads at each change.
	// Read on once the incident has stopped changing.
	waitFor(t, 15*time.Second, "119 to dispatch", func() bool {
		inc, _, err := s.g.Dispatch.Incident(context.Background(), id)
		return err == nil && inc.Status119 == "dispatched"
	})
	s.settle(t, id)
	navigate(t, b, s.URL+"/incidents/"+id)
}

// settle waits until an incident has not changed for a second (its page
// reloads itself at every change).
func (s *site) settle(t *testing.T, id string) {
	t.Helper()
	var seq int64
	since := time.Now()
	waitFor(t, 20*time.Second, "the incident to stop changing", func() bool {
		inc, _, err := s.g.Dispatch.Incident(context.Background(), id)
		if err != nil || inc.Seq != seq {
			seq, since = inc.Seq, time.Now()
			return false
		}
		return time.Since(since) >= time.Second
	})
}

// until evaluates cond in the page until it holds; an evaluation cut short
// by a navigation (the page reloading itself) is tried again.
func until(t *testing.T, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	waitFor(t, timeout, what, func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		return err == nil && ok
	})
}

// waitIncident waits for a hub's open incident (of a cause, or any).
func (s *site) waitIncident(t *testing.T, hub devices.HubID, cause detectors.Cause) dispatch.Incident {
	t.Helper()
	var inc dispatch.Incident
	waitFor(t, 20*time.Second, "an incident of "+string(hub), func() bool {
		list, err := s.g.Dispatch.ListIncidents(context.Background(), dispatch.IncidentQuery{Hub: hub, Cause: cause})
		if err != nil || len(list) == 0 {
			return false
		}
		inc = list[0]
		return true
	})
	return inc
}

func checkQueue(t *testing.T, b context.Context, lang string, fire, sos, battery dispatch.Incident) {
	t.Helper()
	until(t, b, 10*time.Second, "the queue's rows", `document.querySelectorAll('#queue-rows tr[data-id]').length >= 2`)
	type row struct {
		ID, State, Text, Waited string
		Priority                int
	}
	rows, err := chromedp.Run(b, chromedp.Evaluate[[]row](`[...document.querySelectorAll('#queue-rows tr[data-id]')].map(r => ({
		ID: r.dataset.id, State: r.dataset.state, Priority: +r.dataset.priority, Text: r.innerText, Waited: r.querySelector('.waited').textContent}))`))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	seen := map[string]int{}
	for i, r := range rows {
		order = append(order, r.ID)
		seen[r.ID] = i
		if i > 0 {
			prev := rows[i-1]
			if prev.State == "acknowledged" && r.State != "acknowledged" {
				t.Errorf("%s: an acknowledged incident (%s) above one nobody has taken (%s)", lang, prev.ID, r.ID)
			}
			if prev.State != "acknowledged" && r.State != "acknowledged" && prev.Priority > r.Priority && !strings.Contains(r.Text, "↳") {
				t.Errorf("%s: P%d above P%d among those nobody has taken", lang, prev.Priority, r.Priority)
			}
		}
	}
	if _, ok := seen[battery.ID]; ok {
		t.Errorf("%s: the low battery is in the 119 queue: %v", lang, order)
	}
	fi, okF := seen[fire.ID]
	si, okS := seen[sos.ID]
	if !okF || !okS {
		t.Fatalf("%s: queue %v, want the smoke alarm (%s) and the SOS (%s)", lang, order, fire.ID, sos.ID)
	}
	// Nobody has taken the smoke alarm (until its guardian answers, in
	// the Korean pass): above the acknowledged P1 SOS.
	if rows[fi].State != "acknowledged" && fi > si {
		t.Errorf("%s: queue order %v, want the smoke alarm (%s) above the acknowledged SOS (%s)", lang, order, fire.ID, sos.ID)
	}
	// The SOS began ~40 s before it was published: after its
	// acknowledgement its time still counts from then, never "0초".
	if w := rows[si].Waited; strings.HasPrefix(w, "0") || w == "" {
		t.Errorf("%s: the acknowledged SOS shows %q since it began", lang, w)
	}
	all := text(t, b, `main`)
	wantKo := []string{"박상황", "행복아파트 103동 7층 703호", "주방 연기감지기", "응급 (119)", "장비 점검"}
	wantEn := []string{"박상황", "행복아파트 103동 7층 703호", "kitchen smoke detector", "Emergencies (119)", "Device health"}
	want := wantKo
	if lang == "en" {
		want = wantEn
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("%s queue misses %q:\n%s", lang, w, all)
		}
	}
	for _, raw := range []string{"d-park", "guardian:", "monitoring_centre", "+8210"} {
		if strings.Contains(all, raw) {
			t.Errorf("%s queue shows the internal %q", lang, raw)
		}
	}
}

// checkFirstScreen checks the incident page's first screen. The page
// reloads itself whenever its incident changes (the escalation moves on
// while the test reads it), so a reading taken during a reload is taken
// again: only the last of a few attempts counts.
func checkFirstScreen(t *testing.T, b context.Context, lang string, answered bool) {
	t.Helper()
	var problems []string
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		problems = firstScreenProblems(t, b, lang, answered, attempt == 0)
		if len(problems) == 0 {
			return
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func firstScreenProblems(t *testing.T, b context.Context, lang string, answered, log bool) []string {
	t.Helper()
	var problems []string
	if err := chromedp.Do(b, chromedp.WaitVisible(`#resident`)); err != nil {
		return []string{err.Error()}
	}
	sels := firstScreen
	if !answered {
		sels = append(slices.Clone(sels), "#ack") // gone once someone took it
	}
	measured := boxes(t, b, sels)
	if log {
		lowest := measured[0]
		for _, m := range measured {
			if m.Bottom > lowest.Bottom {
				lowest = m
			}
		}
		t.Logf("%s: viewport %.0fx%.0f; the lowest first-screen fact is %s, ending at %.0f px", lang, lowest.VW, lowest.VH, lowest.Sel, lowest.Bottom)
	}
	for _, m := range measured {
		switch {
		case !m.Found:
			problems = append(problems, fmt.Sprintf("%s: %s is not on the incident page", lang, m.Sel))
		case m.ScrollY != 0 || m.Top < 0 || m.Bottom > m.VH || m.Left < 0 || m.Right > m.VW:
			problems = append(problems, fmt.Sprintf("%s: %s is outside the first screen (%.0fx%.0f): top %.0f bottom %.0f left %.0f right %.0f",
				lang, m.Sel, m.VW, m.VH, m.Top, m.Bottom, m.Left, m.Right))
		}
	}
	page, _ := chromedp.Run(b, chromedp.Text(`.first-screen`))
	common := []string{"최순자", "행복아파트 103동 7층 703호", "*8812#", "4821", "관리사무소", "심방세동", "와파린 5mg", "페니실린",
		"최영희", "010-1234-5678", "최민수", "02-2123-4567", "이정호"}
	ko := []string{"주방 연기감지기", "감지 위치", "출입 방법", "복용 약", "보호자", "종결", "119 즉시 신고"}
	en := []string{"kitchen smoke detector", "Alarm from", "Access", "Medications", "Guardians", "Resolve", "Send to 119 now"}
	if answered {
		ko, en = append(ko, "가는 중", "도착 예정 15분"), append(en, "on the way", "ETA 15 min")
	} else {
		ko, en = append(ko, "접수 확인"), append(en, "Acknowledge")
	}
	want := append(common, ko...)
	if lang == "en" {
		want = append(common, en...)
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			problems = append(problems, fmt.Sprintf("%s first screen misses %q:\n%s", lang, w, page))
		}
	}
	whole, _ := chromedp.Run(b, chromedp.Text(`main`))
	for _, raw := range []string{"smoke_unconfirmed", "smoke_sensors", "steam_sensors", "co_rise", "guardian:", "+8210", "— answered", "no-answer", "smoke-kitchen"} {
		if strings.Contains(whole, raw) {
			i := strings.Index(whole, raw)
			problems = append(problems, fmt.Sprintf("%s incident page shows the internal %q: …%s…", lang, raw, whole[max(0, i-120):min(len(whole), i+80)]))
		}
	}
	return problems
}
