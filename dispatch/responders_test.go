package dispatch

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
)

// guardiansFirst gives the planner a fall policy that tells the guardians
// first and 119 only at the next step, 3 minutes on: the case where a
// guardian's answer could stand 119 down (the default fall policy may alert
// 119 at once).
func guardiansFirst(p planner) planner {
	pol := *p.pol
	pol.Causes = maps.Clone(p.pol.Causes)
	urgent := 1
	pol.Causes[detectors.CauseFall] = Policy{
		Verify: &Verify{Window: Duration(30 * time.Second)},
		Steps: []Step{
			{After: 0, Notify: []Target{{To: RoleGuardian, Via: ChannelVoice}, {To: RoleGuardian, Via: ChannelSMS}, {To: RoleSocialWorker, Via: ChannelSMS}}},
			{After: Duration(3 * time.Minute), Notify: []Target{{To: Role119, Via: Channel119}, {To: RoleMonitoringCentre, Via: ChannelConsole}}},
		},
		Repeat: Repeat{Count: 1, After: Duration(10 * time.Minute)}, UrgentStep: &urgent,
	}
	p.pol = &pol
	return p
}

// opened returns the incident a firing detection opens and the row of its
// first attempt to reach recipient id on channel.
func opened(t *testing.T, p planner, d detectors.Detection, id string, channel Channel) (Incident, OutboxRow) {
	t.Helper()
	ch, err := p.onDetection(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ch.Enqueue {
		if r.Recipient.ID == id && r.Channel == channel && r.Attempt == 1 {
			return *ch.Incident, r
		}
	}
	t.Fatalf("no %s row for %s among %v", channel, id, summarize(ch.Enqueue, p.now))
	return Incident{}, OutboxRow{}
}

// An acknowledgement or "on the way" on an emergency never stands the
// escalation down: it stops re-contacting that responder only. On scene
// and resident safe do; on welfare and device health any answer does.
func TestReplyStandsDownOnlyWhenSomeoneIsThere(t *testing.T) {
	tests := []struct {
		name     string
		cause    detectors.Cause
		class    detectors.Class
		prio     detectors.Priority
		who      string
		channel  Channel
		reply    Reply
		standsDn bool
	}{
		{"fall, guardian acknowledges", detectors.CauseFall, detectors.ClassEmergency, 2, "guardian-1", ChannelVoice, Reply{State: ResponderAcknowledged}, false},
		{"fall, guardian on the way", detectors.CauseFall, detectors.ClassEmergency, 2, "guardian-1", ChannelSMS, Reply{State: ResponderOnTheWay, ETAMinutes: 20}, false},
		{"fall, guardian on scene", detectors.CauseFall, detectors.ClassEmergency, 2, "guardian-1", ChannelVoice, Reply{State: ResponderOnScene}, true},
		{"sos, guardian acknowledges", detectors.CauseSOS, detectors.ClassEmergency, 1, "guardian-2", ChannelSMS, Reply{}, false},
		{"sos, resident safe", detectors.CauseSOS, detectors.ClassEmergency, 1, "guardian-2", ChannelVoice, Reply{State: ResponderResidentSafe}, true},
		{"fire, acknowledged", detectors.CauseFireConfirmed, detectors.ClassEmergency, 1, "guardian-1", ChannelVoice, Reply{State: ResponderAcknowledged}, false},
		{"smoke, on the way", detectors.CauseSmokeUnconfirmed, detectors.ClassEmergency, 2, "guardian-1", ChannelVoice, Reply{State: ResponderOnTheWay}, false},
		{"co, acknowledged", detectors.CauseCO, detectors.ClassEmergency, 1, "guardian-1", ChannelVoice, Reply{State: ResponderAcknowledged}, false},
		{"gas, acknowledged", detectors.CauseGas, detectors.ClassEmergency, 1, "guardian-1", ChannelVoice, Reply{State: ResponderAcknowledged}, false},
		{"bradycardia, acknowledged", detectors.CauseBradycardia, detectors.ClassEmergency, 1, "guardian-1", ChannelVoice, Reply{State: ResponderAcknowledged}, false},
		{"asystole, on the way", detectors.CauseAsystole, detectors.ClassEmergency, 1, "guardian-1", ChannelVoice, Reply{State: ResponderOnTheWay}, false},
		{"apnoea, acknowledged", detectors.CauseApnoea, detectors.ClassEmergency, 1, "guardian-1", ChannelVoice, Reply{State: ResponderAcknowledged}, false},
		{"breathing rate, acknowledged", detectors.CauseBreathingRate, detectors.ClassEmergency, 1, "guardian-1", ChannelVoice, Reply{State: ResponderAcknowledged}, false},
		{"inactivity (welfare), acknowledged", detectors.CauseInactivity, detectors.ClassWelfare, 3, "social_worker-1", ChannelVoice, Reply{State: ResponderAcknowledged}, true},
		{"hub offline, acknowledged", detectors.CauseHubOffline, detectors.ClassDeviceHealth, 4, "technician-1", ChannelSMS, Reply{State: ResponderAcknowledged}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlanner(t0)
			inc, row := opened(t, p, detection(tt.cause, tt.class, tt.prio, detectors.Firing), tt.who, tt.channel)
			if r, ok := inc.Responder(tt.who); !ok || r.State != ResponderContacted {
				t.Fatalf("responder %s after opening: %+v", tt.who, inc.Responders)
			}
			p.now = t0.Add(40 * time.Second)
			ch, err := p.onReply(&inc, &row, tt.reply)
			if err != nil {
				t.Fatal(err)
			}
			got := ch.Incident
			r, _ := got.Responder(tt.who)
			want := cmpOr(tt.reply.State, ResponderAcknowledged)
			if r.State != want || !r.At.Equal(p.now) || r.Via != tt.channel {
				t.Errorf("responder %+v, want %s via %s", r, want, tt.channel)
			}
			if tt.reply.ETAMinutes > 0 && (r.ETAMinutes != tt.reply.ETAMinutes || !r.ETA.Equal(p.now.Add(20*time.Minute))) {
				t.Errorf("eta %d %v", r.ETAMinutes, r.ETA)
			}
			if tt.standsDn {
				if got.State != StateAcknowledged || !ch.CancelPending || !slices.Equal(ch.Keep, []Channel{Channel119}) {
					t.Errorf("not stood down: state %s cancel %v keep %v", got.State, ch.CancelPending, ch.Keep)
				}
				return
			}
			if got.State == StateAcknowledged || ch.CancelPending {
				t.Fatalf("stood down by %s: state %s", want, got.State)
			}
			// Only this responder's pending rows are cancelled.
			if !slices.Equal(ch.CancelRecipients, []string{tt.who}) || len(ch.CancelKeys) != 0 {
				t.Errorf("cancels recipients %v and keys %v, want the responder's rows only", ch.CancelRecipients, ch.CancelKeys)
			}
		})
	}
}

func cmpOr(a, b ResponderState) ResponderState {
	if a != "" {
		return a
	}
	return b
}

// The case: a fall, the guardian presses 1 (on the way); the next
// step still alerts 119, and the repeat round skips that guardian but
// calls the other.
func TestOnTheWayDoesNotStop119(t *testing.T) {
	p := guardiansFirst(testPlanner(t0))
	inc, row := opened(t, p, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing), "guardian-1", ChannelVoice)
	p.now = t0.Add(time.Minute)
	ch, err := p.onReply(&inc, &row, Reply{State: ResponderOnTheWay, Text: "1"})
	if err != nil {
		t.Fatal(err)
	}
	inc = *ch.Incident
	if !hasTimeline(ch, ActResponder, `guardian:김지은 on_the_way; reply "1"`) {
		t.Errorf("timeline %+v", ch.Timeline)
	}
	p.now = t0.Add(3 * time.Minute)
	ch, err = p.onTimer(&inc, &OutboxRow{Key: timerKey(inc.ID, TimerEscalate, 1), Kind: KindTimer, Timer: TimerEscalate, Step: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rows119(ch.Enqueue)); n != 1 {
		t.Fatalf("119 rows at step 1: %d, want 1 (%v)", n, summarize(ch.Enqueue, p.now))
	}
	inc = *ch.Incident
	// The repeat round, 10 minutes on: guardian-2 is called again, guardian-1 is not.
	p.now = p.now.Add(10 * time.Minute)
	ch, _ = p.onTimer(&inc, &OutboxRow{Key: timerKey(inc.ID, TimerEscalate, 2), Kind: KindTimer, Timer: TimerEscalate, Step: 2})
	var to []string
	for _, r := range ch.Enqueue {
		if r.Kind == KindNotify {
			to = append(to, r.Recipient.ID)
		}
	}
	if slices.Contains(to, "guardian-1") || !slices.Contains(to, "guardian-2") {
		t.Errorf("repeat round notifies %v: want guardian-2 and not guardian-1 (on the way)", to)
	}
	if !hasTimeline(ch, ActSkipped, "guardian:김지은 answered already (on_the_way)") {
		t.Errorf("skip not recorded: %+v", ch.Timeline)
	}
}

// A plain "OK" after "on my way" keeps what they said, "1" again keeps the
// ETA, new minutes replace it; a later "on scene" clears it.
func TestAcknowledgementNeverLowersAnAnswer(t *testing.T) {
	p := testPlanner(t0)
	inc, row := opened(t, p, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing), "guardian-1", ChannelSMS)
	steps := []struct {
		reply Reply
		want  ResponderState
		eta   int
	}{
		{Reply{State: ResponderOnTheWay, ETAMinutes: 15}, ResponderOnTheWay, 15},
		{Reply{State: ResponderAcknowledged, Text: "ok"}, ResponderOnTheWay, 15},
		{Reply{State: ResponderOnTheWay, Text: "1"}, ResponderOnTheWay, 15},
		{Reply{State: ResponderOnTheWay, ETAMinutes: 5}, ResponderOnTheWay, 5},
		{Reply{State: ResponderOnScene}, ResponderOnScene, 0},
	}
	for i, s := range steps {
		p.now = t0.Add(time.Duration(i+1) * time.Minute)
		ch, err := p.onReply(&inc, &row, s.reply)
		if err != nil {
			t.Fatal(err)
		}
		inc = *ch.Incident
		r, _ := inc.Responder("guardian-1")
		if r.State != s.want || r.ETAMinutes != s.eta {
			t.Errorf("step %d: %s eta %d, want %s eta %d", i, r.State, r.ETAMinutes, s.want, s.eta)
		}
	}
	if inc.State != StateAcknowledged || inc.AcknowledgedBy != "guardian:김지은" {
		t.Errorf("on scene did not stand the SOS down: %s by %q", inc.State, inc.AcknowledgedBy)
	}
}

// Keypad 9 alerts 119 at once whatever the cause; 119 is never alerted
// twice, and 9 never stands anything down.
func TestCall119Reply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		d     detectors.Detection
		who   string
		night bool
	}{
		{"fall before its 119 step", detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing), "guardian-1", false},
		{"inactivity welfare at night", detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing), "monitoring_centre-1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			if tc.night {
				now = t0.Add(13 * time.Hour) // 23:00 KST
			}
			p := guardiansFirst(testPlanner(now))
			inc, row := opened(t, p, tc.d, tc.who, ChannelVoice)
			if inc.Alerted119 {
				t.Fatal("119 alerted at opening")
			}
			ch, err := p.onReply(&inc, &row, Reply{State: ResponderAcknowledged, Call119: true, Text: "9"})
			if err != nil {
				t.Fatal(err)
			}
			if got := rows119(ch.Enqueue); len(got) != 1 || !got[0].DueAt.Equal(now) || got[0].MsgType != MsgAlert {
				t.Fatalf("119 rows %+v", got)
			}
			if ch.Incident.State == StateAcknowledged || ch.CancelPending {
				t.Errorf("keypad 9 stood the escalation down")
			}
			inc = *ch.Incident
			ch, _ = p.onReply(&inc, &row, Reply{Call119: true})
			if len(rows119(ch.Enqueue)) != 0 || !hasTimeline(ch, ActSend119, "119 already alerted; not sent again") {
				t.Errorf("second 9: %v %+v", summarize(ch.Enqueue, now), ch.Timeline)
			}
		})
	}
}

// Send to 119 now works at every open state, once; it needs who and why.
func TestSend119(t *testing.T) {
	p := guardiansFirst(testPlanner(t0))
	verifying := *mustOpen(t, p, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending))
	firing := *mustOpen(t, p, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing))
	acked, _ := p.acknowledge(&firing, "d-park", ChannelConsole)
	closed, _ := p.resolve(&firing, DispositionFalseAlarm, "d-park", "")
	for _, tc := range []struct {
		name string
		inc  Incident
	}{{"verifying", verifying}, {"notified", firing}, {"stood down", *acked.Incident}} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := p.send119(&tc.inc, "d-park", ChannelConsole, "resident not answering the phone")
			if err != nil {
				t.Fatal(err)
			}
			wantState := tc.inc.State
			if wantState == StateVerifying {
				// A person's decision ends the check-in window: the
				// escalation runs now and the guardians are told too.
				wantState = StateOpen
				if !slices.ContainsFunc(ch.Enqueue, func(r OutboxRow) bool { return r.Recipient.Role == RoleGuardian }) ||
					!slices.Contains(ch.CancelKeys, timerKey(tc.inc.ID, TimerVerify, 0)) {
					t.Errorf("verifying: the guardians are not told or the window goes on: %v", summarize(ch.Enqueue, t0))
				}
			}
			if got := rows119(ch.Enqueue); len(got) != 1 || !ch.Incident.Alerted119 || ch.Incident.State != wantState {
				t.Fatalf("rows %v incident %+v", summarize(ch.Enqueue, t0), ch.Incident)
			}
			again, err := p.send119(ch.Incident, "d-kim", ChannelConsole, "again")
			if err != nil || len(again.Enqueue) != 0 || !hasTimeline(again, ActSend119, "119 already alerted; not sent again: again") {
				t.Errorf("second press: %v %v %+v", err, again.Enqueue, again.Timeline)
			}
		})
	}
	if _, err := p.send119(closed.Incident, "d-park", ChannelConsole, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("closed: %v", err)
	}
	for _, bad := range [][2]string{{"", "why"}, {"d-park", " "}} {
		if _, err := p.send119(&firing, bad[0], ChannelConsole, bad[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("send119(%q, %q): %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
}

func mustOpen(t *testing.T, p planner, d detectors.Detection) *Incident {
	t.Helper()
	ch, err := p.onDetection(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	return ch.Incident
}

// A dispatcher records what a guardian said on the phone, naming them by
// id, label or name, or a guardian the escalation did not reach yet.
func TestSetResponder(t *testing.T) {
	p := testPlanner(t0)
	fall := *mustOpen(t, p, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Firing))
	welfare := *mustOpen(t, p, detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing))
	tests := []struct {
		name      string
		inc       Incident
		responder string
		reply     Reply
		wantID    string
		wantErr   string
		standsDn  bool
	}{
		{"by id, on the way", fall, "guardian-2", Reply{State: ResponderOnTheWay, ETAMinutes: 30}, "guardian-2", "", false},
		{"by label, on scene", fall, "guardian:김지은", Reply{State: ResponderOnScene}, "guardian-1", "", true},
		{"by name", fall, "김민수", Reply{State: ResponderAcknowledged}, "guardian-2", "", false},
		{"a guardian not contacted yet", welfare, "김민수", Reply{State: ResponderOnTheWay}, "guardian-2", "", true},
		{"the monitoring centre, not contacted yet", fall, "monitoring_centre-1", Reply{State: ResponderOnScene}, "monitoring_centre-1", "", true},
		{"unknown", fall, "이웃", Reply{State: ResponderOnScene}, "", `no responder "이웃" on this incident (known: guardian-1`, false},
		{"no state", fall, "guardian-1", Reply{}, "", "state is required", false},
		{"bad state", fall, "guardian-1", Reply{State: "arrived"}, "", `responder state "arrived"`, false},
		{"eta without on the way", fall, "guardian-1", Reply{State: ResponderOnScene, ETAMinutes: 5}, "", "eta_minutes goes with on_the_way", false},
		{"eta too far", fall, "guardian-1", Reply{State: ResponderOnTheWay, ETAMinutes: 6000}, "", "eta_minutes 6000 outside 0-600", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := p.setResponder(&tt.inc, "d-park", tt.responder, tt.reply)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want ErrInvalid with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, ok := ch.Incident.Responder(tt.wantID)
			if !ok || r.State != tt.reply.State || r.SetBy != "d-park" || r.Via != ChannelConsole || r.Phone == "" || strings.Contains(r.Phone, "9876") {
				t.Errorf("responder %+v", r)
			}
			if (ch.Incident.State == StateAcknowledged) != tt.standsDn {
				t.Errorf("state %s, stands down %v", ch.Incident.State, tt.standsDn)
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+821098765432": "010-****-5432", "010-9876-5432": "010-****-5432", "+82215990000": "02-****-0000",
		"+15551234567": "155-****-4567", "123": "****", "": "",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkPlanSOS is the planner's cost of opening an SOS (119, two
// guardians by SMS and voice, two attempts each): what recording the
// responders adds to every incident.
func BenchmarkPlanSOS(b *testing.B) {
	p := testPlanner(t0)
	d := detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.onDetection(nil, d); err != nil {
			b.Fatal(err)
		}
	}
}
