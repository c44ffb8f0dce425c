package dispatch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// Tests for the second review: a detection that clears, inactivity's 119
// step, 119's answers, CAP Updates, Cancels of unsent alerts, reroutes.

func rows119(rows []OutboxRow) []OutboxRow {
	var out []OutboxRow
	for _, r := range rows {
		if r.Channel == Channel119 {
			out = append(out, r)
		}
	}
	return out
}

func hasTimeline(ch Change, action, detail string) bool {
	for _, e := range ch.Timeline {
		if e.Action == action && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

// alertSent opens an incident from d and, when it queued a 119 alert, has
// the channel accept it (119 received it).
func alertSent(t *testing.T, p planner, d detectors.Detection) Incident {
	t.Helper()
	ch, err := p.onDetection(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	inc := *ch.Incident
	for _, r := range rows119(ch.Enqueue) {
		inc = *p.onSent(&inc, &r, "cap-ref").Incident
	}
	return inc
}

func withExplanation(d detectors.Detection, en string) detectors.Detection {
	d.Explanation = detectors.Explanation{En: en}
	return d
}

// A Resolved detection closes what 119 has not been told about, so no
// timer can alert 119 afterwards; what 119 has stays open for a person.
func TestResolvedDetection(t *testing.T) {
	smoke := func(s detectors.State) detectors.Detection {
		return detection(detectors.CauseSmokeUnconfirmed, detectors.ClassEmergency, 2, s)
	}
	inactivity := func(s detectors.State) detectors.Detection {
		return detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, s)
	}
	fall := func(s detectors.State) detectors.Detection {
		return detection(detectors.CauseFall, detectors.ClassEmergency, 2, s)
	}
	sos := func(s detectors.State) detectors.Detection {
		return detection(detectors.CauseSOS, detectors.ClassEmergency, 1, s)
	}
	tests := []struct {
		name     string
		open     detectors.Detection
		verified bool // let the verify window end before the detection clears
		clear    detectors.Detection
		want     State
		note     string
	}{
		{"smoke cleared in the window (cigarette)", smoke(detectors.Pending), false,
			withExplanation(smoke(detectors.Resolved), "Smoke cleared within the verification window (transient)"),
			StateResolved, "ended within the verification window: Smoke cleared"},
		{"smoke superseded by the confirmed fire", smoke(detectors.Pending), false,
			withExplanation(smoke(detectors.Resolved), "Superseded by a confirmed fire"),
			StateResolved, "Superseded by a confirmed fire"},
		{"inactivity: activity resumed", inactivity(detectors.Firing), false,
			withExplanation(inactivity(detectors.Resolved), "Activity resumed after 2h"),
			StateResolved, "activity resumed"},
		{"fall cleared in its window, before 119", fall(detectors.Pending), false, fall(detectors.Resolved),
			StateResolved, "ended within the verification window"},
		// Unanswered, a fall goes to 119 when its window ends.
		{"fall that 119 has (nobody answered): stays open", fall(detectors.Pending), true, fall(detectors.Resolved),
			StateOpen, "119 has the alert"},
		{"sos that 119 has: stays open", sos(detectors.Firing), false, sos(detectors.Resolved),
			StateOpen, "119 has the alert"},
		{"device health", detection(detectors.CauseHubOffline, detectors.ClassDeviceHealth, 4, detectors.Firing), false,
			detection(detectors.CauseHubOffline, detectors.ClassDeviceHealth, 4, detectors.Resolved),
			StateResolved, "the device condition cleared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlanner(t0)
			opened, err := p.onDetection(nil, tt.open)
			if err != nil {
				t.Fatal(err)
			}
			inc := *opened.Incident
			var timers []OutboxRow
			for _, r := range opened.Enqueue {
				if r.Kind == KindTimer {
					timers = append(timers, r)
				}
			}
			if tt.verified {
				p.now = t0.Add(30 * time.Second)
				ch, _ := p.onTimer(&inc, &timers[0])
				inc = *ch.Incident
				timers = nil
				for _, r := range ch.Enqueue {
					if r.Kind == KindTimer {
						timers = append(timers, r)
					}
				}
			}
			p.now = t0.Add(40 * time.Second)
			cl, err := p.onDetection(&inc, tt.clear)
			if err != nil {
				t.Fatal(err)
			}
			got := *cl.Incident
			if got.State != tt.want {
				t.Fatalf("state %s, want %s", got.State, tt.want)
			}
			if tt.want == StateResolved {
				if got.Disposition != DispositionNoAction || !cl.CancelPending || len(cl.Keep) != 0 || len(cl.Enqueue) != 0 {
					t.Errorf("closed: disposition %q, cancel pending %v keep %v, enqueued %v", got.Disposition, cl.CancelPending, cl.Keep, summarize(cl.Enqueue, p.now))
				}
				if !hasTimeline(cl, ActResolved, tt.note) {
					t.Errorf("timeline %+v lacks %q", cl.Timeline, tt.note)
				}
			} else if cl.CancelPending || !hasTimeline(cl, ActCleared, tt.note) {
				t.Errorf("119 alerted: cancel pending %v, timeline %+v", cl.CancelPending, cl.Timeline)
			}
			// Whatever timer was queued does nothing to a closed incident.
			for _, tm := range timers {
				p.now = tm.DueAt
				out, _ := p.onTimer(&got, &tm)
				if tt.want == StateResolved && (len(out.Enqueue) != 0 || out.Incident != nil) {
					t.Errorf("timer %s after the clear: %v", tm.Key, summarize(out.Enqueue, p.now))
				}
			}
		})
	}
}

// Inactivity reaches 119 through the urgent step only: timers alone stop at
// the monitoring centre.
func TestInactivity119OnlyThroughUrgentStep(t *testing.T) {
	welfare := detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing)
	hard := detection(detectors.CauseInactivity, detectors.ClassEmergency, 1, detectors.Firing)

	t.Run("timers alone never alert 119", func(t *testing.T) {
		p := testPlanner(t0)
		ch, _ := p.onDetection(nil, welfare)
		inc := *ch.Incident
		var ran []int
		for len(ch.Enqueue) > 0 {
			var timer *OutboxRow
			for i := range ch.Enqueue {
				if ch.Enqueue[i].Kind == KindTimer {
					timer = &ch.Enqueue[i]
				}
			}
			if got := rows119(ch.Enqueue); len(got) != 0 {
				t.Fatalf("119 alerted by timers: %v", summarize(got, p.now))
			}
			if timer == nil {
				break
			}
			p.now = timer.DueAt
			ran = append(ran, timer.Step)
			ch, _ = p.onTimer(&inc, timer)
			inc = *ch.Incident
		}
		if len(ran) != 2 || ran[0] != 1 || ran[1] != 2 || inc.Alerted119 || inc.NextStep != 3 {
			t.Errorf("timers ran steps %v; incident %+v", ran, inc)
		}
		// A step-3 timer left by an older policy does nothing either.
		stale := OutboxRow{Key: timerKey(inc.ID, TimerEscalate, 3), Kind: KindTimer, Timer: TimerEscalate, Step: 3}
		if out, _ := p.onTimer(&inc, &stale); len(out.Enqueue) != 0 {
			t.Errorf("stale timer: %v", summarize(out.Enqueue, p.now))
		}
		// The hard limit still goes to 119 at once.
		p.now = t0.Add(5 * time.Hour)
		up, _ := p.onDetection(&inc, hard)
		if got := rows119(up.Enqueue); len(got) != 1 || got[0].MsgType != MsgAlert {
			t.Errorf("hard limit: %v", summarize(up.Enqueue, p.now))
		}
	})
	t.Run("opened past the hard limit", func(t *testing.T) {
		p := testPlanner(t0)
		ch, _ := p.onDetection(nil, hard)
		if got := rows119(ch.Enqueue); len(got) != 1 || !ch.Incident.Alerted119 || ch.Incident.NextStep != 4 {
			t.Errorf("opened urgent: %v (next step %d)", summarize(ch.Enqueue, p.now), ch.Incident.NextStep)
		}
		for _, r := range ch.Enqueue {
			if r.Kind == KindTimer {
				t.Errorf("timer left after the urgent step: %s", r.Key)
			}
		}
	})
}

// Every well-formed answer from 119 is applied or recorded, never refused.
func TestApply119Answers(t *testing.T) {
	p := testPlanner(t0)
	sos := alertSent(t, p, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing))
	cancelled := *func() Change { c, _ := p.cancel(&sos, "op", ChannelConsole, "false alarm"); return c }().Incident
	fallOpened, _ := p.onDetection(nil, detection(detectors.CauseFall, detectors.ClassEmergency, 2, detectors.Pending))
	fall := *fallOpened.Incident

	tests := []struct {
		name      string
		inc       Incident
		a         Answer119
		wantErr   error
		wantState State
		wantDisp  Disposition
		detail    string
	}{
		{"cancel acknowledged", cancelled, Answer119{Status: Answer119CancelAcknowledged}, nil, StateCancelled, "", "cancel_acknowledged"},
		{"closed with a disposition of its own", sos, Answer119{Status: Answer119Closed, Disposition: "transported"}, nil,
			StateResolved, DispositionRealEmergency, `disposition "transported" recorded as real_emergency`},
		{"closed as a false alarm", sos, Answer119{Status: Answer119Closed, Disposition: DispositionFalseAlarm}, nil,
			StateResolved, DispositionFalseAlarm, "closed"},
		{"accepted for a fall never sent to 119", fall, Answer119{Status: Answer119Accepted}, nil, StateVerifying, "",
			"ignored: 119 was never alerted"},
		{"closed for a fall never sent to 119", fall, Answer119{Status: Answer119Closed}, nil, StateVerifying, "",
			"ignored: 119 was never alerted"},
		{"an unknown status", sos, Answer119{Status: "lost"}, ErrInvalid, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := p.apply119(&tt.inc, tt.a)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.Incident.State != tt.wantState || ch.Incident.Disposition != tt.wantDisp {
				t.Errorf("state %s disposition %q, want %s %q", ch.Incident.State, ch.Incident.Disposition, tt.wantState, tt.wantDisp)
			}
			if !hasTimeline(ch, Act119, tt.detail) {
				t.Errorf("timeline %+v lacks %q", ch.Timeline, tt.detail)
			}
			if tt.wantState == tt.inc.State && (ch.CancelPending || len(ch.Enqueue) != 0) {
				t.Errorf("an answer that changes nothing cancelled or queued rows: %+v", ch)
			}
		})
	}
}

// News about an incident 119 has goes to 119 as CAP Updates, each with its
// own key, at most one a minute.
func TestUpdate119(t *testing.T) {
	sosAt := func(prio detectors.Priority, mod func(*detectors.Detection)) detectors.Detection {
		d := detection(detectors.CauseSOS, detectors.ClassEmergency, prio, detectors.Firing)
		if mod != nil {
			mod(&d)
		}
		return d
	}
	secondSensor := func(d *detectors.Detection) {
		d.Evidence.Readings = []devices.Reading{{Sensor: "bedroom-smoke", Metric: "smoke", Value: 0.2}}
	}
	radar := func(d *detectors.Detection) {
		d.Evidence.Facts = append(d.Evidence.Facts, detectors.Fact{Name: "radar_still", Value: 1})
	}
	tests := []struct {
		name    string
		sent    bool
		first   detectors.Priority
		repeats []detectors.Detection
		at      []time.Duration
		want    []string // "key@due" of the Updates, in order
	}{
		{"priority raised", true, 2, []detectors.Detection{sosAt(1, nil)}, []time.Duration{time.Minute},
			[]string{"update/119/1@1m0s"}},
		{"nothing new", true, 1, []detectors.Detection{sosAt(1, nil)}, []time.Duration{time.Minute}, nil},
		{"a second sensor", true, 1, []detectors.Detection{sosAt(1, secondSensor)}, []time.Duration{time.Minute},
			[]string{"update/119/1@1m0s"}},
		{"a new fact (radar: still on the floor)", true, 1, []detectors.Detection{sosAt(1, radar)}, []time.Duration{time.Minute},
			[]string{"update/119/1@1m0s"}},
		{"rate-limited: the second a minute after the first, the third rides on it", true, 2,
			[]detectors.Detection{sosAt(1, nil), sosAt(1, secondSensor), sosAt(1, func(d *detectors.Detection) { secondSensor(d); radar(d) })},
			[]time.Duration{time.Minute, 70 * time.Second, 90 * time.Second},
			[]string{"update/119/1@1m0s", "update/119/2@2m0s"}},
		{"alert not sent yet: it carries the news itself", false, 2, []detectors.Detection{sosAt(1, nil)}, []time.Duration{time.Minute}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlanner(t0)
			var inc Incident
			if tt.sent {
				inc = alertSent(t, p, sosAt(tt.first, nil))
			} else {
				ch, _ := p.onDetection(nil, sosAt(tt.first, nil))
				inc = *ch.Incident
			}
			var got []string
			for i, d := range tt.repeats {
				p.now = t0.Add(tt.at[i])
				ch, err := p.onDetection(&inc, d)
				if err != nil {
					t.Fatal(err)
				}
				inc = *ch.Incident
				for _, r := range ch.Enqueue {
					if r.MsgType == MsgUpdate {
						if r.Channel != Channel119 || r.Recipient.Role != Role119 || r.Kind != KindNotify {
							t.Errorf("update row %+v", r)
						}
						got = append(got, strings.TrimPrefix(r.Key, inc.ID+"/")+"@"+r.DueAt.Sub(t0).String())
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("updates %v, want %v", got, tt.want)
			}
			if inc.Updates119 != len(tt.want) {
				t.Errorf("Updates119 = %d", inc.Updates119)
			}
		})
	}
	t.Run("hub offline during the emergency", func(t *testing.T) {
		p := testPlanner(t0)
		inc := alertSent(t, p, sosAt(1, nil))
		p.now = t0.Add(time.Minute)
		off := detection(detectors.CauseHubOffline, detectors.ClassDeviceHealth, 4, detectors.Firing)
		ch, err := p.onRelated(&inc, off)
		if err != nil {
			t.Fatal(err)
		}
		if u := rows119(ch.Enqueue); len(u) != 1 || u[0].MsgType != MsgUpdate || !hasTimeline(ch, ActUpdate119, "hub_offline") {
			t.Errorf("related: %v %+v", summarize(ch.Enqueue, p.now), ch.Timeline)
		}
		if tried := triedSummary(ch.Timeline, time.UTC); len(tried) == 0 || !strings.Contains(tried[len(tried)-1].Ko, "허브 연결 끊김") {
			t.Errorf("the Update does not say what is new: %v", tried)
		}
	})
}

// A Cancel goes to 119 only for an alert 119 received (or may still
// receive because it was in flight).
func TestCancel119OnlyForASentAlert(t *testing.T) {
	sos := detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing)
	tests := []struct {
		name      string
		sent      bool // 119's endpoint accepted the alert before the cancel
		inFlight  bool // the alert completes after the cancel
		close     func(p planner, inc *Incident) (Change, error)
		wantNow   bool // a Cancel queued with the close
		wantLater bool // a Cancel queued when the in-flight alert completes
	}{
		{"cancelled after the alert was sent", true, false,
			func(p planner, inc *Incident) (Change, error) {
				return p.cancel(inc, "resident", ChannelHub, "cancelled")
			}, true, false},
		{"cancelled while 119 is unreachable", false, false,
			func(p planner, inc *Incident) (Change, error) {
				return p.cancel(inc, "resident", ChannelHub, "cancelled")
			}, false, false},
		{"cancelled while the alert was in flight", false, true,
			func(p planner, inc *Incident) (Change, error) {
				return p.cancel(inc, "resident", ChannelHub, "cancelled")
			}, false, true},
		{"false alarm before the alert was sent", false, false,
			func(p planner, inc *Incident) (Change, error) {
				return p.resolve(inc, DispositionFalseAlarm, "op", "")
			}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlanner(t0)
			opened, _ := p.onDetection(nil, sos)
			inc := *opened.Incident
			alert := rows119(opened.Enqueue)[0]
			if tt.sent {
				inc = *p.onSent(&inc, &alert, "cap-ref").Incident
			}
			p.now = t0.Add(10 * time.Second)
			cl, err := tt.close(p, &inc)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(rows119(cl.Enqueue)) == 1; got != tt.wantNow || !cl.CancelPending {
				t.Errorf("cancel queued with the close: %v, want %v (%v)", got, tt.wantNow, summarize(cl.Enqueue, p.now))
			}
			closed := *cl.Incident
			if tt.inFlight {
				late := p.onSent(&closed, &alert, "cap-ref")
				c := rows119(late.Enqueue)
				if got := len(c) == 1 && c[0].MsgType == MsgCancel; got != tt.wantLater {
					t.Errorf("cancel after the in-flight alert: %v, want %v", got, tt.wantLater)
				}
				if late.Incident.Cancel119Owed {
					t.Error("the owed cancel is still owed after it was queued")
				}
			}
		})
	}
}

func TestPolicyValidationReview(t *testing.T) {
	two := func(last Step) []Step {
		return []Step{{Notify: []Target{{To: RoleGuardian, Via: ChannelSMS}}}, last}
	}
	urgent := func(n int) *int { return &n }
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"urgent-only urgent step", Policy{Steps: two(Step{Notify: []Target{{To: Role119, Via: Channel119}}, UrgentOnly: true}), UrgentStep: urgent(1)}, true},
		{"urgent-only without an urgent step", Policy{Steps: two(Step{Notify: []Target{{To: Role119, Via: Channel119}}, UrgentOnly: true})}, false},
		{"urgent-only first step", Policy{Steps: []Step{{Notify: []Target{{To: Role119, Via: Channel119}}, UrgentOnly: true}}, UrgentStep: urgent(0)}, false},
	}
	for _, tt := range tests {
		if err := ValidatePolicy("inactivity", tt.p); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	for _, reroute := range []string{`{"social_worker": "119"}`, `{"119": "monitoring_centre"}`} {
		_, err := ParsePolicies([]byte(`{"after_hours": {"night_from": 22, "night_to": 8, "weekends": true, "reroute": ` + reroute + `}}`))
		if !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("reroute %s: %v", reroute, err)
		}
	}
	if _, err := ParsePolicies([]byte(`{"after_hours": {"night_from": 22, "night_to": 8, "reroute": {"guardian": "monitoring_centre"}}}`)); err != nil {
		t.Errorf("a valid reroute: %v", err)
	}
}

// From the review: unconfirmed smoke that clears inside the verification window
// (cigarette, insecticide spray) is Resolved by the detectors; the verify
// timer must then not escalate it (its step 0 is 119).
func TestSmokeClearedInWindowNeverReaches119(t *testing.T) {
	p := testPlanner(t0)
	ch, err := p.onDetection(nil, detection(detectors.CauseSmokeUnconfirmed, detectors.ClassEmergency, 2, detectors.Pending))
	if err != nil {
		t.Fatal(err)
	}
	inc := *ch.Incident
	verify := ch.Enqueue[1]
	if verify.Kind != KindTimer || verify.Timer != TimerVerify {
		t.Fatalf("second row %+v", verify)
	}
	p.now = t0.Add(10 * time.Second)
	cleared, err := p.onDetection(&inc, detection(detectors.CauseSmokeUnconfirmed, detectors.ClassEmergency, 2, detectors.Resolved))
	if err != nil {
		t.Fatal(err)
	}
	inc = *cleared.Incident
	p.now = t0.Add(30 * time.Second)
	after, _ := p.onTimer(&inc, &verify)
	for _, r := range after.Enqueue {
		if r.Channel == Channel119 {
			t.Fatalf("a nuisance cleared in the window goes to 119 when the window ends (state after clear: %s): %v",
				inc.State, summarize(after.Enqueue, p.now))
		}
	}
}

// From the review: a welfare inactivity alert whose resident moves again (the
// detectors emit Resolved) must not go on to guardians and then 119.
func TestInactivityResumedDoesNotEscalateTo119(t *testing.T) {
	p := testPlanner(t0)
	ch, _ := p.onDetection(nil, detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing))
	inc := *ch.Incident
	p.now = t0.Add(10 * time.Minute)
	res, _ := p.onDetection(&inc, detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Resolved))
	inc = *res.Incident
	for step := 1; step <= 2; step++ {
		p.now = t0.Add(time.Duration(step) * time.Hour)
		timer := OutboxRow{Key: timerKey(inc.ID, TimerEscalate, step), Kind: KindTimer, Timer: TimerEscalate, Step: step}
		out, _ := p.onTimer(&inc, &timer)
		if out.Incident != nil {
			inc = *out.Incident
		}
		for _, r := range out.Enqueue {
			if r.Channel == Channel119 {
				t.Fatalf("activity resumed at +10m, yet step %d alerts 119 (state %s): %v", step, inc.State, summarize(out.Enqueue, p.now))
			}
		}
	}
}

// From the review: 119's "cancel_acknowledged" (a valid cap.AnswerStatus the answer
// endpoint accepts) is refused by dispatch, so the endpoint answers 500 and
// 119 repeats it for ever.
func TestCancelAcknowledgedAnswerIsApplied(t *testing.T) {
	p := testPlanner(t0)
	ch, _ := p.onDetection(nil, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing))
	inc := *ch.Incident
	c, _ := p.cancel(&inc, "op", ChannelConsole, "false alarm")
	inc = *c.Incident
	if _, err := p.apply119(&inc, Answer119{IncidentID: inc.ID, Status: "cancel_acknowledged"}); err != nil {
		t.Fatalf("119 acknowledging our Cancel: %v", err)
	}
}

// A welfare check someone answered is not a stand-down for the emergency
// it becomes: past the hard limit, 119 is alerted unless a responder said
// they are with the resident.
func TestAnsweredWelfareCheckStillReaches119PastTheHardLimit(t *testing.T) {
	welfare := detection(detectors.CauseInactivity, detectors.ClassWelfare, 3, detectors.Firing)
	hard := detection(detectors.CauseInactivity, detectors.ClassEmergency, 1, detectors.Firing)
	for _, tc := range []struct {
		name    string
		onScene bool
		want119 bool
	}{
		{"acknowledged only", false, true},
		{"a responder on scene", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPlanner(t0)
			ch, _ := p.onDetection(nil, welfare)
			inc := *ch.Incident
			p.now = t0.Add(10 * time.Minute)
			ack, err := p.acknowledge(&inc, "sw-kim", ChannelConsole)
			if err != nil || ack.Incident.State != StateAcknowledged {
				t.Fatalf("acknowledge: %v %+v", err, ack.Incident)
			}
			inc = *ack.Incident
			if tc.onScene {
				inc.Responders = append(inc.Responders, Responder{ID: "guardian-1", Role: RoleGuardian, State: ResponderOnScene})
			}
			p.now = t0.Add(5 * time.Hour)
			up, _ := p.onDetection(&inc, hard)
			got := rows119(up.Enqueue)
			if tc.want119 && (len(got) != 1 || got[0].MsgType != MsgAlert || up.Incident.State != StateNotified) {
				t.Errorf("past the hard limit: 119 rows %v, state %s", summarize(got, p.now), up.Incident.State)
			}
			if !tc.want119 && len(got) != 0 {
				t.Errorf("someone is with the resident, yet 119 alerted: %v", summarize(got, p.now))
			}
		})
	}
}
