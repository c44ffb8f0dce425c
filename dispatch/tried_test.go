package dispatch

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch/wording"
)

// internalWords are what a 119 call-taker must never read in "조치 내역":
// the timeline's action names and states (snake_case), Twilio SIDs, row
// references, steps and attempts, channels' raw errors.
var internalWords = regexp.MustCompile(`\b[a-z]+_[a-z0-9_]+\b|\b(SM|CA)[0-9a-f]{6,}|\bref\b|\bstep\b|\battempt\b|broker|subscribed|error|#\d`)

// latinInKorean finds English words in the Korean lines (CAP and SMS are
// what Koreans call them).
var latinInKorean = regexp.MustCompile(`[A-Za-z]{3,}`)

// A fall nobody cancels, through every kind of timeline entry that says
// what was tried (the check-in, its command failing at the broker, the
// window ending, alerts sent with Twilio SIDs, a call answered, a guardian
// on the way, 119's acceptance, a dispatcher's "send to 119 now", an
// Update): what 119 reads is Korean (and English) people's words, never
// the timeline's internal ones. The explanation no longer says the
// detector waits for the resident once the window ended.
func TestTriedHasNoInternalWords(t *testing.T) {
	p := testPlanner(t0)
	var tl []TimelineEntry
	keep := func(ch Change) *Incident {
		tl = append(tl, ch.Timeline...)
		return ch.Incident
	}
	fall := detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending)
	fall.Explanation = detectors.Explanation{Ko: "낙상 감지 (충격 3.1g), 30초간 거주자 취소 대기", En: "Fall detected (impact 3.1 g), waiting 30 s for the resident to cancel"}
	opened, err := p.onDetection(nil, fall)
	if err != nil {
		t.Fatal(err)
	}
	inc := keep(opened)
	cmd, verify := opened.Enqueue[0], opened.Enqueue[1]
	p.now = t0.Add(time.Second)
	inc = keep(p.onSendError(inc, &cmd, errors.New("broker: hub hub-1 is not subscribed to its commands"), false, func(time.Duration) time.Duration { return 0 }))

	p.now = t0.Add(30 * time.Second)
	ended, err := p.onTimer(inc, &verify)
	if err != nil {
		t.Fatal(err)
	}
	inc = keep(ended)
	if ex := inc.Explanation; strings.Contains(ex.En, "waiting") || strings.Contains(ex.Ko, "거주자 취소 대기") ||
		!strings.Contains(ex.Ko, "낙상") || !strings.Contains(ex.Ko, "30초 안에 대상자 응답 없음") {
		t.Errorf("explanation after the window: %+v", ex)
	}
	var rows []OutboxRow
	for _, r := range ended.Enqueue {
		if r.Kind == KindNotify && r.Attempt == 1 {
			rows = append(rows, r)
		}
	}
	for i, r := range rows {
		inc = keep(p.onSent(inc, &r, "SM0123456789abcdef0123456789abcd"[:30+i%2]))
		if r.Channel == ChannelVoice {
			inc = keep(p.onStatus(inc, &r, true, "answered"))
		}
		if r.Channel == ChannelSMS && r.Recipient.ID == "guardian-2" {
			inc = keep(p.onStatus(inc, &r, false, "undelivered: 30003 Unreachable destination handset"))
		}
	}
	p.now = t0.Add(40 * time.Second)
	replied, err := p.onReply(inc, &rows[1], Reply{State: ResponderOnTheWay, ETAMinutes: 20, Text: "1 20"})
	if err != nil {
		t.Fatal(err)
	}
	inc = keep(replied)
	p.now = t0.Add(90 * time.Second)
	accepted, err := p.apply119(inc, Answer119{IncidentID: inc.ID, Status: Answer119Accepted, By: "119 종로소방서 구급1"})
	if err != nil {
		t.Fatal(err)
	}
	inc = keep(accepted)
	again, err := p.send119(inc, "d-park", ChannelConsole, "dispatcher decision")
	if err != nil {
		t.Fatal(err)
	}
	inc = keep(again)
	p.now = t0.Add(3 * time.Minute)
	on, err := p.onReply(inc, &rows[1], Reply{State: ResponderOnScene})
	if err != nil {
		t.Fatal(err)
	}
	keep(on)

	tried := triedSummary(tl, t0.Location())
	seen := map[string]bool{}
	for _, e := range tl {
		if triedKinds[e.Action] {
			seen[e.Action] = true
		}
	}
	for kind := range triedKinds {
		if !seen[kind] {
			t.Errorf("the scenario produced no %s entry", kind)
		}
	}
	if len(tried) < len(triedKinds) {
		t.Errorf("%d lines for %d kinds: %+v", len(tried), len(triedKinds), tried)
	}
	for _, line := range tried {
		for _, s := range []string{line.Ko, line.En} {
			if w := internalWords.FindString(s); w != "" {
				t.Errorf("internal word %q in %q", w, s)
			}
		}
		if w := latinInKorean.FindString(strings.NewReplacer("CAP", "", "SMS", "").Replace(line.Ko)); w != "" {
			t.Errorf("English %q in the Korean line %q", w, line.Ko)
		}
	}
	if t.Failed() {
		for _, l := range tried {
			t.Logf("%s | %s", l.Ko, l.En)
		}
	}
}

// The console and the CAP description read dispatch's row labels and
// responder details through package wording: its parsers must read what
// dispatch writes.
func TestWordingReadsDispatchFormats(t *testing.T) {
	row := OutboxRow{Kind: KindNotify, Channel: ChannelVoice, MsgType: MsgAlert, Step: 2, Attempt: 1,
		Recipient: Recipient{Role: RoleGuardian, ID: "guardian-1", Name: "최영희 (딸)"}}
	r, rest, ok := wording.ParseRow(rowLabel(&row) + ": busy")
	if !ok || r != (wording.Row{Channel: "voice", Msg: "alert", Role: "guardian", Who: "최영희 (딸)", Step: 2, Attempt: 1}) || rest != ": busy" {
		t.Errorf("ParseRow: %+v %q %v", r, rest, ok)
	}
	who := Responder{ID: "guardian-1", Role: RoleGuardian, Name: "최영희", State: ResponderOnTheWay, ETAMinutes: 20}
	a, late, ok := wording.ParseAnswer(responderDetail(who, "1 20") + "; the incident was already closed")
	if !ok || !late || a.Role != "guardian" || a.Name != "최영희" || a.State != "on_the_way" || a.ETAMinutes != 20 || a.Reply != `"1 20"` {
		t.Errorf("ParseAnswer: %+v late %v ok %v", a, late, ok)
	}
}

// A pending repeat of the fall after the window ended (a second impact)
// does not bring back the detector's "waiting for the resident" words.
func TestPendingRepeatKeepsTheWindowEndedWords(t *testing.T) {
	p := testPlanner(t0)
	fall := detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending)
	fall.Explanation = detectors.Explanation{Ko: "낙상 감지 (충격 3.1g), 30초간 거주자 취소 대기", En: "Fall detected (impact 3.1 g), waiting 30 s for the resident to cancel"}
	opened, _ := p.onDetection(nil, fall)
	p.now = t0.Add(30 * time.Second)
	ended, err := p.onTimer(opened.Incident, &opened.Enqueue[1])
	if err != nil {
		t.Fatal(err)
	}
	p.now = t0.Add(40 * time.Second)
	again, err := p.onDetection(ended.Incident, fall)
	if err != nil {
		t.Fatal(err)
	}
	if ex := again.Incident.Explanation; ex != ended.Incident.Explanation {
		t.Errorf("explanation after a pending repeat: %+v, want %+v", ex, ended.Incident.Explanation)
	}
}
