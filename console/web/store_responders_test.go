package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
)

// The incident page's responders and "send to 119 now": a dispatcher
// records what a responder said on the phone; the resident's own social
// worker sends the incident to 119 (another social worker cannot); a
// second press sends nothing more; the page says all of it in Korean.
func TestSend119AndResponderFromTheIncidentPage(t *testing.T) {
	e := newDeskEnv(t)
	_, hub := e.home("김영희", "sw-kim")
	// A fall under a policy that tells the social worker first, 119 later.
	var pol dispatch.Policy
	if err := json.Unmarshal([]byte(`{"steps": [{"after": "0s", "notify": [{"to": "social_worker", "via": "sms"}]},
		{"after": "3m", "notify": [{"to": "119", "via": "cap"}]}]}`), &pol); err != nil {
		t.Fatal(err)
	}
	if err := e.d.SetPolicy(context.Background(), detectors.CauseFall, pol); err != nil {
		t.Fatal(err)
	}
	fall := e.detect(hub, detectors.CauseFall, detectors.PriorityHigh, "wearable-1")
	if fall.Alerted119 {
		t.Fatal("the fall alerted 119 at once")
	}
	path := "/incidents/" + fall.ID

	d := e.signedIn("d-park")
	form := url.Values{"csrf": {d.csrf}, "responder": {"social_worker-1"}, "state": {"on_the_way"}, "eta_minutes": {"15"}}
	if status := d.post(path+"/responder", form); status != http.StatusSeeOther {
		t.Fatalf("responder: %d", status)
	}
	if r, _ := e.incident(fall.ID).Responder("social_worker-1"); r.State != dispatch.ResponderOnTheWay || r.ETAMinutes != 15 || r.SetBy != "d-park" {
		t.Fatalf("responder after the form: %+v", r)
	}
	if status, _, h := d.do("POST", path+"/responder", url.Values{"csrf": {d.csrf}, "responder": {"이웃"}, "state": {"on_scene"}}, nil); status != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "error=invalid") {
		t.Errorf("unknown responder: %d %s", status, h.Get("Location"))
	}

	other := e.signedIn("sw-lee")
	if status := other.post(path+"/send119", url.Values{"csrf": {other.csrf}, "text": {"x"}}); status != http.StatusNotFound {
		t.Errorf("another social worker's send119: %d, want 404", status)
	}
	sw := e.signedIn("sw-kim")
	_, page := sw.get(path)
	for _, want := range []string{`action="/incidents/` + fall.ID + `/send119"`, "119 즉시 신고", "가는 중", "도착 예정 15분", "박상황 기록"} {
		if !strings.Contains(page, want) {
			t.Errorf("social worker's incident page lacks %q", want)
		}
	}
	for i := 0; i < 2; i++ {
		if status := sw.post(path+"/send119", url.Values{"csrf": {sw.csrf}, "text": {"전화를 받지 않으심"}}); status != http.StatusSeeOther {
			t.Fatalf("send119 #%d: %d", i+1, status)
		}
	}
	if !e.incident(fall.ID).Alerted119 {
		t.Fatal("send119 did not alert 119")
	}
	waitFor(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		n := 0
		for _, s := range e.sent {
			if s.Channel == dispatch.Channel119 && s.Type == dispatch.MsgAlert && strings.HasPrefix(s.Key, fall.ID) {
				n++
			}
		}
		return n == 1
	})
	_, page = d.get(path)
	for _, want := range []string{"119에 신고 전송: 전화를 받지 않으심", "이미 119에 신고됨, 다시 보내지 않음", "응답자 상태", "119에 신고됨 (다시 누르면 기록만 남습니다)"} {
		if !strings.Contains(page, want) {
			t.Errorf("dispatcher's page lacks %q", want)
		}
	}
	_, page = d.get(path + "?lang=en")
	for _, want := range []string{"Send to 119 now", "on the way, ETA 15 min", "alert to 119 queued", "119 already alerted; not sent again"} {
		if !strings.Contains(page, want) {
			t.Errorf("English page lacks %q", want)
		}
	}
	var audited []string
	for _, a := range e.audit(console.AuditQuery{Limit: 50}) {
		if a.IncidentID == fall.ID && a.Action != "incident.view" {
			audited = append([]string{a.AccountID + " " + a.Action}, audited...)
		}
	}
	if got := strings.Join(audited, ", "); got != "d-park incident.responder, sw-kim incident.send119, sw-kim incident.send119" {
		t.Errorf("audited: %s", got)
	}
	_, tl, _ := e.d.Incident(context.Background(), fall.ID)
	if len(tl) == 0 {
		t.Fatal("no timeline")
	}
}
