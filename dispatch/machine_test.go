package dispatch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// Monday 2026-03-02 10:00 in Seoul: office hours.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("KST", 9*3600))

var testResident = devices.Resident{
	ID: "res-1", Name: "김영희", Language: "ko",
	Guardians: []devices.Guardian{{Name: "김민수", Phone: "+821098765432", Order: 2}, {Name: "김지은", Phone: "+821011112222", Order: 1}},
	Consent:   devices.Consent{NotifyGuardians: true},
}

func testPlanner(now time.Time) planner {
	r := testResident
	return planner{pol: DefaultPolicies(), now: now, resident: &r}
}

func detection(cause detectors.Cause, class detectors.Class, prio detectors.Priority, state detectors.State) detectors.Detection {
	return detectors.Detection{Fingerprint: "hub-1/" + string(cause) + "/1", Hub: "hub-1", Class: class, Cause: cause,
		Priority: prio, State: state, Episode: t0, At: t0,
		Evidence: detectors.Evidence{Facts: []detectors.Fact{{Name: "peak", Value: 3.1, Unit: "g"}}}}
}

// keysByKind summarises enqueued rows as "kind channel role attempt@delay".
func summarize(rows []OutboxRow, now time.Time) []string {
	var out []string
	for _, r := range rows {
		s := string(r.Kind) + " "
		switch r.Kind {
		case KindTimer:
			s += r.Timer
		case KindCommand:
			s += "check_in"
		default:
			s += string(r.Channel) + " " + string(r.Recipient.Role) + ":" + r.Recipient.ID + " #" + string(rune('0'+r.Attempt))
		}
		s += "@" + r.DueAt.Sub(now).String()
		out = append(out, s)
	}
	return out
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name      string
		det       detectors.Detection
		now       time.Time
		wantState State
		want      []string
	}{
		{"sos goes to 119 and the guardians at once",
			detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing), t0, StateOpen,
			[]string{"notify cap 119:119 #1@0s",
				"notify sms guardian:guardian-1 #1@0s", "notify sms guardian:guardian-1 #2@2m0s",
				"notify sms guardian:guardian-2 #1@0s", "notify sms guardian:guardian-2 #2@2m0s",
				"notify voice guardian:guardian-1 #1@0s", "notify voice guardian:guardian-1 #2@2m0s",
				"notify voice guardian:guardian-2 #1@0s", "notify voice guardian:guardian-2 #2@2m0s",
				"timer escalate@3m0s"}},
		{"a pending fall asks the resident first",
			detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending), t0, StateVerifying,
			[]string{"command check_in@0s", "timer verify@30s"}},
		{"device health goes to the technician only",
			detection(detectors.CauseHubOffline, detectors.ClassDeviceHealth, 4, detectors.Firing), t0, StateOpen,
			[]string{"notify sms technician:technician-1 #1@0s", "notify sms technician:technician-1 #2@2m0s",
				"notify console technician:technician-1 #1@0s", "timer escalate@4h0m0s"}},
		{"inactivity at night goes to the monitoring centre instead of the social worker",
			detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing), t0.Add(13 * time.Hour), StateOpen,
			[]string{"notify voice monitoring_centre:monitoring_centre-1 #1@0s", "notify voice monitoring_centre:monitoring_centre-1 #2@2m0s",
				"notify sms monitoring_centre:monitoring_centre-1 #1@0s", "notify sms monitoring_centre:monitoring_centre-1 #2@2m0s",
				"timer escalate@1h0m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := testPlanner(tt.now).onDetection(nil, tt.det)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Incident == nil || ch.Incident.State != tt.wantState || ch.Incident.Count != 1 {
				t.Fatalf("incident %+v", ch.Incident)
			}
			got := summarize(ch.Enqueue, tt.now)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("enqueued:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestGuardiansInOrder(t *testing.T) {
	ch, _ := testPlanner(t0).onDetection(nil, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing))
	if r := ch.Enqueue[1].Recipient; r.Name != "김지은" || r.Phone != "+821011112222" || r.Language != "ko" {
		t.Errorf("first guardian: %+v", r)
	}
}

func TestRepeatedTriggerUpdatesOneIncident(t *testing.T) {
	p := testPlanner(t0)
	ch, _ := p.onDetection(nil, detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing))
	inc := *ch.Incident
	// Past the hard limit: re-emitted as an emergency at P1: straight to 119.
	p.now = t0.Add(30 * time.Minute)
	again := detection(detectors.CauseInactivity, detectors.ClassEmergency, 1, detectors.Firing)
	ch, err := p.onDetection(&inc, again)
	if err != nil {
		t.Fatal(err)
	}
	got := ch.Incident
	if got.ID != inc.ID || got.Count != 2 || got.Priority != 1 || got.Class != detectors.ClassEmergency || got.NextStep != 4 {
		t.Errorf("incident after repeat: %+v", got)
	}
	if s := summarize(ch.Enqueue, p.now); len(s) == 0 || s[0] != "notify cap 119:119 #1@0s" {
		t.Errorf("urgent jump enqueued %v", s)
	}
	if len(ch.CancelKeys) != 1 || ch.CancelKeys[0] != timerKey(inc.ID, TimerEscalate, 1) {
		t.Errorf("superseded timer not cancelled: %v", ch.CancelKeys)
	}
}

func TestVerifyWindow(t *testing.T) {
	p := testPlanner(t0)
	ch, _ := p.onDetection(nil, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending))
	inc := *ch.Incident
	verify := ch.Enqueue[1]

	t.Run("cancelled by the resident", func(t *testing.T) {
		ch, err := p.onDetection(&inc, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Cancelled))
		if err != nil || ch.Incident.State != StateCancelled || !ch.CancelPending {
			t.Fatalf("cancel: %+v %v", ch, err)
		}
		// Nobody is alerted; the guardians get one SMS and the social
		// worker a note that the resident fell and got up; 119 nothing.
		want := []string{"notify sms guardian:guardian-1 #1@0s", "notify sms guardian:guardian-2 #1@0s", "notify console social_worker:social_worker-1 #1@0s"}
		if got := summarize(ch.Enqueue, p.now); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("after a fall the resident got up from: %v, want %v", got, want)
		}
		for _, r := range ch.Enqueue {
			if r.MsgType != MsgRecovered {
				t.Errorf("%s is a %s, want %s", r.Key, r.MsgType, MsgRecovered)
			}
		}
		// At night the note still waits for the social worker (no reroute
		// to the monitoring centre: nobody needs to act on it now).
		night := testPlanner(time.Date(2026, 3, 2, 3, 18, 0, 0, t0.Location()))
		opened, _ := night.onDetection(nil, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending))
		ch, _ = night.onDetection(opened.Incident, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Cancelled))
		if got := summarize(ch.Enqueue, night.now); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("at night: %v, want %v", got, want)
		}
	})
	t.Run("cancelled by a dispatcher", func(t *testing.T) {
		ch, err := p.cancel(&inc, "op", ChannelConsole, "test")
		if err != nil || len(ch.Enqueue) != 0 {
			t.Errorf("a dispatcher's cancel told someone the resident is all right: %+v %v", ch, err)
		}
	})
	t.Run("window ends", func(t *testing.T) {
		p := p
		p.now = t0.Add(30 * time.Second)
		ch, err := p.onTimer(&inc, &verify)
		if err != nil || ch.Incident.State != StateOpen || ch.Row.State != OutboxDone {
			t.Fatalf("timer: %+v %v", ch, err)
		}
		// Nobody answered: 119 and the guardians at once (a relative far
		// away must not hold 119 back from a resident lying still).
		want := []string{"notify cap 119:119 #1@0s", "notify sms guardian:guardian-1 #1@0s"}
		if got := summarize(ch.Enqueue, p.now); strings.Join(got[:2], ",") != strings.Join(want, ",") || !strings.HasSuffix(got[len(got)-1], "timer escalate@3m0s") {
			t.Errorf("after the window: %v", got)
		}
	})
	t.Run("confirmed by the detectors first", func(t *testing.T) {
		ch, _ := p.onDetection(&inc, detection(detectors.CauseFall, detectors.ClassEmergency, 1, detectors.Firing))
		if ch.Incident.State != StateOpen || ch.Incident.NextStep != 1 || len(ch.CancelKeys) != 1 {
			t.Errorf("confirmed: %+v", ch)
		}
	})
}

func TestAcknowledgeStopsEscalation(t *testing.T) {
	p := testPlanner(t0)
	ch, _ := p.onDetection(nil, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing))
	inc := *ch.Incident
	ack, err := p.acknowledge(&inc, "김민수", ChannelVoice)
	if err != nil || ack.Incident.State != StateAcknowledged || !ack.CancelPending || len(ack.Keep) != 1 || ack.Keep[0] != Channel119 {
		t.Fatalf("ack: %+v %v", ack, err)
	}
	acked := *ack.Incident
	// A late escalation timer does nothing.
	timer := OutboxRow{Key: timerKey(inc.ID, TimerEscalate, 1), Kind: KindTimer, Timer: TimerEscalate, Step: 1}
	if late, _ := p.onTimer(&acked, &timer); late.Incident != nil || len(late.Enqueue) != 0 {
		t.Errorf("timer after ack: %+v", late)
	}
	if _, err := p.acknowledge(&acked, "x", ChannelSMS); !errors.Is(err, errNoChange) {
		t.Errorf("second ack: %v", err)
	}
	// Voicemail is delivered, not acknowledged: the second attempt stays.
	row := OutboxRow{Key: "k", IncidentID: inc.ID, Kind: KindNotify, Channel: ChannelVoice, Attempt: 1, Recipient: Recipient{ID: "guardian-1"}}
	st := p.onStatus(&inc, &row, true, "voicemail")
	if st.Incident.State != StateOpen || st.Row.State != OutboxDelivered || st.Reschedule != nil {
		t.Errorf("voicemail: %+v", st)
	}
	// A busy line brings the second attempt forward.
	st = p.onStatus(&inc, &row, false, "busy")
	if len(st.Reschedule) != 1 || st.Reschedule[0].Key != NotificationKey(inc.ID, 0, "guardian-1", ChannelVoice, 2) {
		t.Errorf("busy: %+v", st.Reschedule)
	}
}

func TestResolveAndCancelTell119(t *testing.T) {
	p := testPlanner(t0)
	ch, _ := p.onDetection(nil, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing))
	inc := *p.onSent(ch.Incident, &ch.Enqueue[0], "cap-ref").Incident // 119 received the alert
	for _, tc := range []struct {
		name       string
		change     func() (Change, error)
		wantState  State
		wantCancel bool
	}{
		{"false alarm", func() (Change, error) { return p.resolve(&inc, DispositionFalseAlarm, "op", "") }, StateResolved, true},
		{"real emergency", func() (Change, error) { return p.resolve(&inc, DispositionRealEmergency, "op", "") }, StateResolved, false},
		{"cancel", func() (Change, error) { return p.cancel(&inc, "op", ChannelConsole, "pressed by mistake") }, StateCancelled, true},
		{"119 closed", func() (Change, error) {
			return p.apply119(&inc, Answer119{IncidentID: inc.ID, Status: Answer119Closed, Disposition: DispositionRealEmergency})
		}, StateResolved, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := tc.change()
			if err != nil || ch.Incident.State != tc.wantState || !ch.CancelPending {
				t.Fatalf("%+v %v", ch, err)
			}
			sentCancel := len(ch.Enqueue) == 1 && ch.Enqueue[0].MsgType == MsgCancel && ch.Enqueue[0].Channel == Channel119
			if sentCancel != tc.wantCancel {
				t.Errorf("cancel to 119: %v, want %v (%+v)", sentCancel, tc.wantCancel, ch.Enqueue)
			}
		})
	}
	closed := inc
	closed.State = StateResolved
	if _, err := p.acknowledge(&closed, "x", ChannelSMS); !errors.Is(err, ErrClosed) {
		t.Errorf("ack of a closed incident: %v", err)
	}
	if _, err := p.resolve(&inc, "maybe", "op", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad disposition: %v", err)
	}
}

func TestDeviceHealthResolvedByDetection(t *testing.T) {
	p := testPlanner(t0)
	d := detection(detectors.CauseHubOffline, detectors.ClassDeviceHealth, 4, detectors.Firing)
	ch, _ := p.onDetection(nil, d)
	d.State = detectors.Resolved
	res, err := p.onDetection(ch.Incident, d)
	if err != nil || res.Incident.State != StateResolved || res.Incident.Disposition != DispositionNoAction {
		t.Errorf("resolved: %+v %v", res.Incident, err)
	}
}

func TestApply119(t *testing.T) {
	p := testPlanner(t0)
	ch, _ := p.onDetection(nil, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing))
	inc := *ch.Incident
	rej, _ := p.apply119(&inc, Answer119{Status: Answer119Rejected, Reason: "address unknown"})
	if rej.Incident.State != StateOpen || rej.CancelPending || rej.Incident.Status119 != "rejected" {
		t.Errorf("rejected: %+v", rej)
	}
	acc, _ := p.apply119(&inc, Answer119{Status: Answer119Accepted})
	if acc.Incident.State != StateAcknowledged || acc.Incident.AcknowledgedVia != Channel119 || !acc.CancelPending {
		t.Errorf("accepted: %+v", acc)
	}
	if _, err := p.apply119(&inc, Answer119{Status: "lost"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown status: %v", err)
	}
}

func TestBackoffBoundedByDeadline(t *testing.T) {
	p := testPlanner(t0)
	noJitter := func(time.Duration) time.Duration { return 0 }
	for tries, want := range map[int]time.Duration{1: 250 * time.Millisecond, 2: 500 * time.Millisecond, 10: 15 * time.Second} {
		if got := p.backoff(tries, noJitter); got != want {
			t.Errorf("backoff(%d) = %v, want %v", tries, got, want)
		}
	}
	inc := Incident{ID: "inc-1", State: StateNotified}
	row := OutboxRow{Key: "k", Kind: KindNotify, Channel: Channel119, Tries: 3, Deadline: t0.Add(time.Hour)}
	if ch := p.onSendError(&inc, &row, errors.New("down"), true, noJitter); ch.Row.State != OutboxPending || !ch.Row.DueAt.Equal(t0.Add(time.Second)) {
		t.Errorf("retryable: %+v", ch.Row)
	}
	row.Deadline = t0.Add(time.Millisecond)
	if ch := p.onSendError(&inc, &row, errors.New("down"), true, noJitter); ch.Row.State != OutboxFailed {
		t.Errorf("past the deadline: %+v", ch.Row)
	}
	row.Deadline = t0.Add(time.Hour)
	if ch := p.onSendError(&inc, &row, errors.New("no such number"), false, noJitter); ch.Row.State != OutboxFailed {
		t.Errorf("permanent: %+v", ch.Row)
	}
}

func TestPolicyValidation(t *testing.T) {
	step := func(to Role, via Channel) []Step { return []Step{{Notify: []Target{{To: to, Via: via}}}} }
	tests := []struct {
		cause detectors.Cause
		p     Policy
		ok    bool
	}{
		{"fall", Policy{Steps: step(RoleGuardian, ChannelSMS)}, true},
		{"fall", Policy{}, false},
		{detectors.CauseBatteryLow, Policy{Steps: step(Role119, Channel119)}, false},
		{"fall", Policy{Steps: step(Role119, ChannelSMS)}, false},
		{"fall", Policy{Steps: step("neighbour", ChannelSMS)}, false},
		{"fall", Policy{Steps: step(RoleGuardian, ChannelSMS), Repeat: Repeat{Count: 2}}, false},
		{"fall", Policy{Steps: step(RoleGuardian, ChannelSMS), Verify: &Verify{Window: Duration(time.Hour)}}, false},
		{"fall", Policy{Steps: step(RoleGuardian, ChannelSMS), Verify: &Verify{Window: Duration(time.Minute)}, Recovered: []Target{{To: RoleGuardian, Via: ChannelSMS}}}, true},
		{"fall", Policy{Steps: step(RoleGuardian, ChannelSMS), Verify: &Verify{Window: Duration(time.Minute)}, Recovered: []Target{{To: Role119, Via: Channel119}}}, false},
		{"fall", Policy{Steps: step(RoleGuardian, ChannelSMS), Verify: &Verify{Window: Duration(time.Minute)}, Recovered: []Target{{To: RoleGuardian, Via: ChannelVoice}}}, false},
		{"fall", Policy{Steps: step(RoleGuardian, ChannelSMS), Recovered: []Target{{To: RoleGuardian, Via: ChannelSMS}}}, false},
	}
	for _, tt := range tests {
		err := ValidatePolicy(tt.cause, tt.p)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidPolicy)) {
			t.Errorf("ValidatePolicy(%s, %+v) = %v, want ok=%v", tt.cause, tt.p, err, tt.ok)
		}
	}
	// A channel no Notifier serves is refused, and the error lists the
	// channels there are (policyChannels), a new one included.
	for _, via := range []Channel{"pigeon", ChannelHub} {
		err := ValidatePolicy("fall", Policy{Steps: step(RoleGuardian, via)})
		if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), string(via)) {
			t.Errorf("via %s: %v, want refused naming it", via, err)
			continue
		}
		for _, c := range policyChannels {
			if !strings.Contains(err.Error(), string(c)) {
				t.Errorf("via %s: %v does not list channel %s", via, err, c)
			}
		}
	}
	if _, err := ParsePolicies([]byte(`{"attempts": 0}`)); err == nil {
		t.Error("attempts 0 accepted")
	}
	p, err := ParsePolicies([]byte(`{"causes": {"fall": {"steps": [{"after": "1s", "notify": [{"to": "guardian", "via": "sms"}]}]}}}`))
	if err != nil || p.For("fall", "").Steps[0].After.D() != time.Second || len(p.For("sos", "").Steps) != 2 {
		t.Errorf("override: %v", err)
	}
}

func TestAfterHours(t *testing.T) {
	p := DefaultPolicies()
	cases := map[time.Time]bool{
		t0: false, t0.Add(12 * time.Hour): true, t0.Add(-3 * time.Hour): true,
		t0.Add(5 * 24 * time.Hour): true, t0.Add(-2 * time.Hour): false, t0.Add(-2*time.Hour - time.Minute): true,
	}
	for at, want := range cases {
		if got := p.afterHours(at); got != want {
			t.Errorf("afterHours(%v) = %v, want %v", at, got, want)
		}
	}
}

// A check-in's command id must be one a hub accepts (devices.ValidToken).
func TestCommandIDIsAValidToken(t *testing.T) {
	for _, key := range []string{"inc-abc/cmd/check_in/1", strings.Repeat("inc-x/", 30) + "check_in/2"} {
		if id := commandID(key); !devices.ValidToken(id) {
			t.Errorf("commandID(%q) = %q: not a valid command id", key, id)
		}
	}
}

// The after-hours reroute changes who is called at night and at weekends,
// never how soon 119 is: for every default policy that reaches 119, the 119
// row of an incident opened at night or on a Saturday is due exactly when
// it is by day (the acceptance suite checks the same end to end).
func TestAfterHoursNeverDelays119(t *testing.T) {
	seoul := time.FixedZone("KST", 9*3600)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, seoul) // a Monday
	clocks := map[string]time.Time{
		"night":    time.Date(2026, 3, 2, 3, 18, 0, 0, seoul),
		"saturday": time.Date(2026, 3, 7, 14, 0, 0, 0, seoul),
	}
	due119 := func(cause detectors.Cause, now time.Time) (time.Duration, bool) {
		p := testPlanner(now)
		pol := p.pol.Causes[cause]
		ch, err := p.onDetection(nil, detection(cause, detectors.ClassEmergency, 1, detectors.Firing))
		if err != nil {
			t.Fatal(err)
		}
		inc := *ch.Incident
		rows := ch.Enqueue
		// Run the timed steps in order until 119's row appears.
		for range pol.stepCount() {
			for _, r := range rows {
				if r.Channel == Channel119 {
					return r.DueAt.Sub(now), true
				}
			}
			var timer *OutboxRow
			for i := range rows {
				if rows[i].Kind == KindTimer && rows[i].Timer == TimerEscalate {
					timer = &rows[i]
				}
			}
			if timer == nil {
				return 0, false
			}
			p.now = timer.DueAt
			next, err := p.onTimer(&inc, timer)
			if err != nil || next.Incident == nil {
				return 0, false
			}
			inc, rows = *next.Incident, next.Enqueue
		}
		return 0, false
	}
	checked := 0
	for cause := range DefaultPolicies().Causes {
		if deviceHealthCauses[cause] {
			continue
		}
		d, ok := due119(cause, day)
		if !ok {
			continue
		}
		checked++
		for name, at := range clocks {
			if n, ok := due119(cause, at); !ok || n != d {
				t.Errorf("%s: 119 due %v after opening at %s (reached %v), %v by day", cause, n, name, ok, d)
			}
		}
	}
	if checked < 5 {
		t.Errorf("only %d policies reach 119", checked)
	}
}
