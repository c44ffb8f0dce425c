package dispatch

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// episodeOf is a detection of one episode of a home: its own fingerprint
// per cause and start.
func episodeOf(cause detectors.Cause, class detectors.Class, prio detectors.Priority, state detectors.State, start time.Duration) detectors.Detection {
	d := detection(cause, class, prio, state)
	d.Episode = t0.Add(start)
	d.Fingerprint = detectors.Fingerprint(d.Hub, cause, "", d.Episode)
	d.Evidence = detectors.Evidence{}
	d.Explanation = detectors.Explanation{Ko: string(cause), En: string(cause)}
	return d
}

// foldRun plays detections and deliveries into one incident the way the
// store hands them to the planner (the open incident of the home, or the
// one whose fingerprint or alias matches).
type foldRun struct {
	t       *testing.T
	p       planner
	inc     *Incident
	aliases []string
	last    Change
}

func (r *foldRun) at(d time.Duration) *foldRun { r.p.now = t0.Add(d); return r }

func (r *foldRun) detect(d detectors.Detection) Change {
	r.t.Helper()
	var cur *Incident
	if r.inc != nil {
		known := d.Fingerprint == r.inc.Fingerprint || slices.Contains(r.aliases, d.Fingerprint)
		if known {
			cur = r.inc
		} else if pick := foldTarget([]Incident{*r.inc}, d, r.p.now); pick != nil {
			cur = pick
		}
	}
	ch, err := r.p.onDetection(cur, d)
	if err != nil && err != errNoChange {
		r.t.Fatalf("%s %s: %v", d.Cause, d.State, err)
	}
	if ch.Alias != "" {
		r.aliases = append(r.aliases, ch.Alias)
	}
	if ch.Incident != nil {
		inc := *ch.Incident
		r.inc = &inc
	}
	r.last = ch
	return ch
}

// sent119 records that 119's endpoint accepted the alert.
func (r *foldRun) sent119() {
	r.t.Helper()
	for _, row := range r.last.Enqueue {
		if row.Channel == Channel119 && row.MsgType == MsgAlert {
			inc := *r.p.onSent(r.inc, &row, "cap-ref").Incident
			r.inc = &inc
			return
		}
	}
	if !r.inc.Alerted119 {
		r.t.Fatal("no 119 alert to send")
	}
	r.inc.Sent119 = true
}

// rows summarises what a change queued: "channel role:id type", timers as
// "timer <kind>@<delay>"; second attempts are left out.
func rows(ch Change, now time.Time) []string {
	var out []string
	for _, r := range ch.Enqueue {
		switch {
		case r.Kind == KindTimer:
			out = append(out, "timer "+r.Timer+"@"+r.DueAt.Sub(now).String())
		case r.Kind == KindCommand:
			out = append(out, "check_in")
		case r.Attempt == 1:
			out = append(out, string(r.Channel)+" "+string(r.Recipient.Role)+":"+r.Recipient.ID+" "+string(r.MsgType))
		}
	}
	return out
}

func wantRows(t *testing.T, what string, ch Change, now time.Time, want ...string) {
	t.Helper()
	if got := rows(ch, now); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s queued:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

var (
	alertGuardians = []string{"sms guardian:guardian-1 alert", "sms guardian:guardian-2 alert",
		"voice guardian:guardian-1 alert", "voice guardian:guardian-2 alert"}
	newsGuardians = []string{"sms guardian:guardian-1 update", "sms guardian:guardian-2 update"}
)

func concat(parts ...[]string) []string { return slices.Concat(parts...) }

// Smoke in its cancel window, then heat: the confirmed fire joins the smoke
// incident, ends its window and alerts 119 once with the fire; the smoke
// superseded by it closes nothing.
func TestFoldSmokeThenHeat(t *testing.T) {
	r := &foldRun{t: t, p: testPlanner(t0)}
	smoke := episodeOf(detectors.CauseSmokeUnconfirmed, detectors.ClassEmergency, 2, detectors.Pending, 0)
	smoke.Sensor = "kitchen-smoke"
	fire := episodeOf(detectors.CauseFireConfirmed, detectors.ClassEmergency, 1, detectors.Firing, 0)
	fire.Fingerprint += "-fire" // the detectors give the fire the smoke's start
	wantRows(t, "smoke", r.detect(smoke), r.p.now, "check_in", "timer verify@30s")
	ch := r.at(10 * time.Second).detect(fire)
	if ch.Alias != fire.Fingerprint || r.inc.Cause != detectors.CauseFireConfirmed || r.inc.Priority != 1 || r.inc.State != StateOpen ||
		r.inc.Explanation.En != "fire_confirmed" || strings.Join(causesOf(r.inc), ",") != "smoke_unconfirmed,fire_confirmed" ||
		r.inc.Sensor != "kitchen-smoke" {
		t.Fatalf("after the fire: alias %q, incident %+v", ch.Alias, r.inc)
	}
	wantRows(t, "fire", ch, r.p.now, concat([]string{"cap 119:119 alert"}, alertGuardians, []string{"timer escalate@3m0s"})...)
	if !slices.Contains(ch.CancelKeys, timerKey(r.inc.ID, TimerVerify, 0)) {
		t.Errorf("the verify timer is not cancelled: %v", ch.CancelKeys)
	}
	if !hasAction(ch, ActFolded, "fire_confirmed (firing)") || !hasAction(ch, ActCauseRaised, "smoke_unconfirmed -> fire_confirmed") {
		t.Errorf("timeline: %+v", ch.Timeline)
	}
	r.sent119()
	smoke.State = detectors.Resolved
	ch = r.at(11 * time.Second).detect(smoke)
	if r.inc.State.Closed() || len(ch.Enqueue) != 0 || ch.CancelPending || !hasAction(ch, ActEpisodeEnded, "still going on: fire_confirmed") {
		t.Fatalf("smoke superseded: %+v", ch)
	}
}

// The hub went offline during smoke's window: smoke went to 119 at once.
// The confirmed fire then is one CAP Update of that alert and one SMS to
// each guardian, no second round of calls; the escalation goes on under the
// fire's policy, with keys of its own.
func TestFoldSmokeSentThenConfirmed(t *testing.T) {
	r := &foldRun{t: t, p: testPlanner(t0)}
	smoke := episodeOf(detectors.CauseSmokeUnconfirmed, detectors.ClassEmergency, 2, detectors.Pending, 0)
	r.detect(smoke)
	smoke.State, smoke.Priority = detectors.Firing, 1
	ch := r.at(5 * time.Second).detect(smoke)
	wantRows(t, "smoke firing", ch, r.p.now, concat([]string{"cap 119:119 alert"}, alertGuardians, []string{"timer escalate@3m0s"})...)
	r.sent119()
	fire := episodeOf(detectors.CauseFireConfirmed, detectors.ClassEmergency, 1, detectors.Firing, time.Second)
	ch = r.at(20 * time.Second).detect(fire)
	wantRows(t, "fire", ch, r.p.now, concat([]string{"cap 119:119 update"}, newsGuardians, []string{"timer escalate@3m0s"})...)
	if r.inc.Plan != 1 || r.inc.Updates119 != 1 || !slices.Contains(ch.CancelKeys, timerKey(r.inc.ID, TimerEscalate, 1)) {
		t.Errorf("plan %d, updates %d, cancelled %v", r.inc.Plan, r.inc.Updates119, ch.CancelKeys)
	}
	for _, row := range ch.Enqueue {
		if row.Kind != KindTimer && row.Channel != Channel119 && !strings.HasPrefix(row.Key, r.inc.ID+"/p1/") {
			t.Errorf("row %s of the new plan has the old plan's key", row.Key)
		}
	}
	// The old plan's timer, had it run anyway, does nothing.
	old := OutboxRow{Key: timerKey(r.inc.ID, TimerEscalate, 1), Kind: KindTimer, Timer: TimerEscalate, Step: 1}
	if late, _ := r.at(3*time.Minute).p.onTimer(r.inc, &old); late.Incident != nil || len(late.Enqueue) != 0 {
		t.Errorf("old plan's timer ran: %+v", late)
	}
	// The fire again, nothing new: nothing sent.
	ch = r.at(4 * time.Minute).detect(fire)
	wantRows(t, "fire again", ch, r.p.now)
}

// A fall in its cancel window, then the SOS button: one incident, 119 and
// the guardians alerted once, at the SOS. The fall's window ending brings
// nothing new to 119; the resident getting up does not close the SOS.
func TestFoldFallThenSOS(t *testing.T) {
	r := &foldRun{t: t, p: testPlanner(t0)}
	fall := episodeOf(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending, 0)
	fall.Evidence.Facts = []detectors.Fact{{Name: "peak", Value: 3.1, Unit: "g"}}
	r.detect(fall)
	sos := episodeOf(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing, 10*time.Second)
	ch := r.at(10 * time.Second).detect(sos)
	wantRows(t, "sos", ch, r.p.now, concat([]string{"cap 119:119 alert"}, alertGuardians, []string{"timer escalate@3m0s"})...)
	if r.inc.Cause != detectors.CauseSOS || r.inc.Priority != 1 {
		t.Fatalf("incident %+v", r.inc)
	}
	r.sent119()
	fall.State = detectors.Firing
	fall.Evidence.Facts = append(fall.Evidence.Facts, detectors.Fact{Name: "radar_still", Value: 1})
	ch = r.at(30 * time.Second).detect(fall)
	wantRows(t, "fall fired", ch, r.p.now)
	fall.State = detectors.Cancelled
	ch = r.at(40 * time.Second).detect(fall)
	if r.inc.State.Closed() || ch.CancelPending || len(ch.Enqueue) != 0 {
		t.Fatalf("the fall cancelled closed the SOS: %+v", ch)
	}
	sos.State = detectors.Cancelled
	ch = r.at(50 * time.Second).detect(sos)
	if r.inc.State != StateCancelled || !ch.CancelPending || len(rows(ch, r.p.now)) != 1 || ch.Enqueue[0].MsgType != MsgCancel {
		t.Fatalf("the resident's cancel of the SOS too: %+v", ch)
	}
}

// guardiansFirstFall gives p the fall policy a site may choose instead of
// the default (guardians first, 119 after 3 min; the default alerts 119
// with the guardians when the window ends): for the folds that happen
// before 119 has the fall.
func guardiansFirstFall(p planner) planner {
	pol := p.pol.Causes[detectors.CauseFall]
	pol.Steps = []Step{
		{Notify: []Target{{To: RoleGuardian, Via: ChannelVoice}, {To: RoleGuardian, Via: ChannelSMS}, {To: RoleSocialWorker, Via: ChannelSMS}}},
		{After: Duration(3 * time.Minute), Notify: []Target{{To: Role119, Via: Channel119}, {To: RoleMonitoringCentre, Via: ChannelConsole}}},
	}
	p.pol.Causes[detectors.CauseFall] = pol
	return p
}

// A fall already with the guardians (window over; a guardians-first fall
// policy), then the SOS: 119 is alerted at once; the guardians get one SMS,
// no second call.
func TestFoldFallNotifiedThenSOS(t *testing.T) {
	r := &foldRun{t: t, p: guardiansFirstFall(testPlanner(t0))}
	r.detect(episodeOf(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing, 0))
	if r.inc.Alerted119 {
		t.Fatal("the fall went to 119 at once")
	}
	ch := r.at(time.Minute).detect(episodeOf(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing, time.Minute))
	wantRows(t, "sos", ch, r.p.now, "cap 119:119 alert", "sms guardian:guardian-1 update", "sms guardian:guardian-2 update",
		"timer escalate@3m0s")
	if !r.inc.Alerted119 || r.inc.Cause != detectors.CauseSOS {
		t.Errorf("incident %+v", r.inc)
	}
}

// The SOS pressed twice, minutes apart (two episodes for the detectors):
// one incident; 119 gets one Update (pressed again), nobody is called
// again; the first press is superseded, so the resident's cancel of the
// second ends the incident.
func TestFoldSOSTwice(t *testing.T) {
	r := &foldRun{t: t, p: testPlanner(t0)}
	r.detect(episodeOf(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing, 0))
	r.sent119()
	second := episodeOf(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing, 5*time.Minute)
	ch := r.at(5 * time.Minute).detect(second)
	wantRows(t, "second SOS", ch, r.p.now, "cap 119:119 update")
	if ch.Alias != second.Fingerprint || r.inc.Count != 2 || r.inc.Episodes[0].State != Superseded || len(r.inc.Causes) != 1 {
		t.Fatalf("second SOS: %+v", r.inc)
	}
	second.State = detectors.Cancelled
	r.at(6 * time.Minute).detect(second)
	if r.inc.State != StateCancelled {
		t.Errorf("state %s after the resident cancelled", r.inc.State)
	}
}

// An SOS pressed every few minutes for hours: the incident keeps its own
// episode and the newest ones, not every press.
func TestFoldKeepsEpisodesBounded(t *testing.T) {
	r := &foldRun{t: t, p: testPlanner(t0)}
	r.detect(episodeOf(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing, 0))
	for i := 1; i <= 3*maxEpisodes; i++ {
		at := time.Duration(i) * 3 * time.Minute
		r.at(at).detect(episodeOf(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing, at))
	}
	eps := r.inc.Episodes
	if len(eps) != maxEpisodes || eps[0].Fingerprint != r.inc.Fingerprint || !eps[len(eps)-1].active() || r.inc.Count != 3*maxEpisodes+1 {
		t.Errorf("%d episodes (first %s, last %s), count %d", len(eps), eps[0].Fingerprint, eps[len(eps)-1].State, r.inc.Count)
	}
}

// A fall, then no activity: the welfare check joins the fall, which stays
// the cause; nobody is told twice.
func TestFoldFallThenInactivity(t *testing.T) {
	r := &foldRun{t: t, p: testPlanner(t0)}
	r.detect(episodeOf(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing, 0))
	ch := r.at(3 * time.Hour).detect(episodeOf(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing, -time.Minute))
	wantRows(t, "inactivity", ch, r.p.now)
	if r.inc.Cause != detectors.CauseFall || r.inc.Class != detectors.ClassEmergency || r.inc.Priority != 2 || ch.Alias == "" {
		t.Errorf("incident %+v", r.inc)
	}
}

// A fall with the guardians (a guardians-first policy: 119 only after 3
// minutes), then smoke nobody cancelled: the fall stays the cause, but
// smoke's own policy alerts 119 at once, so 119 is alerted now, not at the
// fall's step.
func TestFoldLesserCauseStillAlerts119(t *testing.T) {
	r := &foldRun{t: t, p: guardiansFirstFall(testPlanner(t0))}
	r.detect(episodeOf(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing, 0))
	smoke := episodeOf(detectors.CauseSmokeUnconfirmed, detectors.ClassEmergency, 2, detectors.Pending, 0)
	wantRows(t, "smoke pending", r.at(10*time.Second).detect(smoke), r.p.now)
	smoke.State = detectors.Firing
	ch := r.at(70 * time.Second).detect(smoke)
	wantRows(t, "smoke firing", ch, r.p.now, "cap 119:119 alert")
	if r.inc.Cause != detectors.CauseFall || !r.inc.Alerted119 {
		t.Errorf("incident %+v", r.inc)
	}
	// The fall's own 119 step then alerts nobody twice.
	timer := OutboxRow{Key: timerKey(r.inc.ID, TimerEscalate, 1), Kind: KindTimer, Timer: TimerEscalate, Step: 1}
	ch, _ = r.at(3*time.Minute).p.onTimer(r.inc, &timer)
	for _, row := range ch.Enqueue {
		if row.Channel == Channel119 {
			t.Errorf("119 alerted again at the fall's step: %s", row.Key)
		}
	}
}

// A welfare check under way (the social worker told), then a fall: the
// escalation goes on under the fall's policy: 119 at once with the
// guardians, never told, alerted in full; the social worker gets one SMS;
// not the welfare chain's hour. (With a guardians-first fall policy, 119
// follows after the fall's 3 minutes.)
func TestFoldInactivityThenFall(t *testing.T) {
	r := &foldRun{t: t, p: testPlanner(t0)}
	r.detect(episodeOf(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing, 0))
	ch := r.at(10 * time.Minute).detect(episodeOf(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing, 10*time.Minute))
	wantRows(t, "fall", ch, r.p.now, "cap 119:119 alert", "sms guardian:guardian-1 alert", "sms guardian:guardian-2 alert",
		"voice guardian:guardian-1 alert", "voice guardian:guardian-2 alert", "sms social_worker:social_worker-1 update", "timer escalate@3m0s")
	if r.inc.Cause != detectors.CauseFall || r.inc.Class != detectors.ClassEmergency || r.inc.NextStep != 1 {
		t.Fatalf("incident %+v", r.inc)
	}

	r = &foldRun{t: t, p: guardiansFirstFall(testPlanner(t0))}
	r.detect(episodeOf(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing, 0))
	ch = r.at(10 * time.Minute).detect(episodeOf(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing, 10*time.Minute))
	wantRows(t, "fall (guardians first)", ch, r.p.now, "voice guardian:guardian-1 alert", "voice guardian:guardian-2 alert",
		"sms guardian:guardian-1 alert", "sms guardian:guardian-2 alert", "sms social_worker:social_worker-1 update", "timer escalate@3m0s")
	if r.inc.Cause != detectors.CauseFall || r.inc.Class != detectors.ClassEmergency || r.inc.NextStep != 1 {
		t.Fatalf("incident %+v", r.inc)
	}
	var timer OutboxRow
	for _, row := range ch.Enqueue {
		if row.Kind == KindTimer {
			timer = row
		}
	}
	ch, _ = r.at(13*time.Minute).p.onTimer(r.inc, &timer)
	if got := rows(ch, r.p.now); len(got) == 0 || got[0] != "cap 119:119 alert" {
		t.Errorf("the fall's 119 step: %v", got)
	}
}

// Device health never folds into an emergency, nor an emergency into it;
// nor does an incident that has heard nothing for a day take a new episode.
func TestFoldTarget(t *testing.T) {
	p := testPlanner(t0)
	open := func(d detectors.Detection) Incident { ch, _ := p.onDetection(nil, d); return *ch.Incident }
	sos := open(episodeOf(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing, 0))
	offline := open(episodeOf(detectors.CauseHubOffline, detectors.ClassDeviceHealth, 4, detectors.Firing, 0))
	battery := episodeOf(detectors.CauseBatteryLow, detectors.ClassDeviceHealth, 4, detectors.Firing, time.Minute)
	fall := episodeOf(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending, time.Minute)
	if got := foldTarget([]Incident{offline, sos}, battery, t0); got != nil {
		t.Errorf("device health folded into %s", got.Cause)
	}
	if got := foldTarget([]Incident{offline}, fall, t0); got != nil {
		t.Errorf("a fall folded into %s", got.Cause)
	}
	if got := foldTarget([]Incident{offline, sos}, fall, t0); got == nil || got.ID != sos.ID {
		t.Errorf("a fall did not join the SOS: %+v", got)
	}
	if got := foldTarget([]Incident{sos}, fall, t0.Add(25*time.Hour)); got != nil {
		t.Errorf("a fall joined an SOS quiet for a day")
	}
	fall.State = detectors.Resolved
	if got := foldTarget([]Incident{sos}, fall, t0); got != nil {
		t.Errorf("the end of an unknown episode joined %s", got.ID)
	}
}

// After a restart the detectors send every open episode again with restart
// bookkeeping: no CAP Update, and the incident keeps its words.
func TestRestartResendIsNoNews(t *testing.T) {
	r := &foldRun{t: t, p: testPlanner(t0)}
	sos := episodeOf(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing, 0)
	r.detect(sos)
	r.sent119()
	again := sos
	again.Evidence.Facts = []detectors.Fact{{Name: "gateway_restart", Value: 1}, {Name: "episode_age", Value: 300, Unit: "s"}}
	again.Explanation = detectors.Explanation{En: "SOS: re-sent after a gateway restart, began 5m ago"}
	ch := r.at(5 * time.Minute).detect(again)
	wantRows(t, "restart", ch, r.p.now)
	if r.inc.Updates119 != 0 || r.inc.Explanation.En != "sos" || !hasAction(ch, ActRestartNote, "nothing new") {
		t.Errorf("after the restart re-send: %+v, timeline %+v", r.inc, ch.Timeline)
	}
	// A pending fall's re-send with the time left in its window neither.
	r = &foldRun{t: t, p: testPlanner(t0)}
	fall := episodeOf(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing, 0)
	fall.Evidence.Facts = []detectors.Fact{{Name: "peak", Value: 3, Unit: "g"}}
	r.detect(fall)
	r.inc.Alerted119, r.inc.Sent119 = true, true
	fall.State = detectors.Pending
	fall.Evidence.Facts = append(fall.Evidence.Facts, detectors.Fact{Name: "gateway_restart", Value: 1}, detectors.Fact{Name: "window_left", Value: 3})
	ch = r.at(time.Minute).detect(fall)
	wantRows(t, "restart of a fall", ch, r.p.now)
	if r.inc.Episodes[0].State != detectors.Firing {
		t.Errorf("a pending re-send lowered the episode to %s", r.inc.Episodes[0].State)
	}
}

func causesOf(inc *Incident) []string {
	var out []string
	for _, c := range inc.Causes {
		out = append(out, string(c))
	}
	return out
}

func hasAction(ch Change, action, detail string) bool {
	return slices.ContainsFunc(ch.Timeline, func(e TimelineEntry) bool {
		return e.Action == action && strings.Contains(e.Detail, detail)
	})
}

// After a person closed the incident, only a new trigger of its episode
// opens a new one: not a replay of a known event, not the detectors'
// re-send at a restart, not a detection without an event.
func TestTriggeredAgainAfterClosed(t *testing.T) {
	p := testPlanner(t0)
	d := detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing)
	d.Evidence.Events = []devices.EventID{"press-1"}
	ch, err := p.onDetection(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	inc := *ch.Incident
	closed, err := p.resolve(&inc, DispositionTest, "d-park", "test call")
	if err != nil {
		t.Fatal(err)
	}
	inc = *closed.Incident
	again := func(events []devices.EventID, facts ...detectors.Fact) detectors.Detection {
		x := d
		x.Evidence = detectors.Evidence{Events: events, Facts: facts}
		return x
	}
	for _, tc := range []struct {
		name string
		d    detectors.Detection
		open bool
	}{
		{"a new press", again([]devices.EventID{"press-2"}), true},
		{"the first press replayed", again([]devices.EventID{"press-1"}), false},
		{"the restart re-send", again([]devices.EventID{"press-2"}, detectors.Fact{Name: "gateway_restart", Value: 1}), false},
		{"no event", again(nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.now = t0.Add(time.Minute)
			ch, err := p.onDetection(&inc, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			opened := ch.Incident != nil && ch.Incident.ID != inc.ID
			if opened != tc.open {
				t.Fatalf("new incident: %v, want %v", opened, tc.open)
			}
			if opened && (ch.Alias != d.Fingerprint || ch.Incident.Fingerprint == d.Fingerprint || len(rows119(ch.Enqueue)) != 1) {
				t.Errorf("new incident %+v alias %q, 119 rows %v", ch.Incident, ch.Alias, summarize(ch.Enqueue, p.now))
			}
		})
	}
}
