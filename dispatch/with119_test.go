package dispatch

import (
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
)

// 119's "accepted" stands the escalation down, and with it the second
// attempts of the guardians nobody reached: each of them, and the social
// worker the SOS's escalation names, gets one SMS that 119 has it; a
// guardian who answered already gets none; 119's next answers send nothing
// more (the rows' keys are one per incident and recipient).
func TestWith119TellsGuardiansOnce(t *testing.T) {
	p := testPlanner(t0)
	opened, err := p.onDetection(nil, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing))
	if err != nil {
		t.Fatal(err)
	}
	inc := *opened.Incident
	inc.Sent119 = true
	// guardian-1 (김지은, first in order) pressed 1: on the way.
	answered, err := p.onReply(&inc, &opened.Enqueue[1], Reply{State: ResponderOnTheWay})
	if err != nil {
		t.Fatal(err)
	}
	inc = *answered.Incident

	ch, err := p.apply119(&inc, Answer119{IncidentID: inc.ID, Status: Answer119Accepted})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Incident.State != StateAcknowledged || !ch.CancelPending {
		t.Fatalf("119 accepted: state %s, cancel pending %v", ch.Incident.State, ch.CancelPending)
	}
	want := []string{"notify sms guardian:guardian-2 #1@0s", "notify sms social_worker:social_worker-1 #1@0s"}
	if got := summarize(ch.Enqueue, p.now); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("told that 119 has it: %v, want %v", got, want)
	}
	for _, r := range ch.Enqueue {
		if r.MsgType != MsgWith119 || r.Key != with119Key(inc.ID, r.Recipient.ID, ChannelSMS) {
			t.Errorf("row %s is a %s", r.Key, r.MsgType)
		}
	}

	after := *ch.Incident
	for _, status := range []Answer119Status{Answer119Dispatched, Answer119OnScene, Answer119Accepted} {
		p.now = p.now.Add(time.Minute)
		ch, err := p.apply119(&after, Answer119{IncidentID: inc.ID, Status: status})
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Enqueue) != 0 {
			t.Errorf("119 %s queued %v: the guardians were told already", status, summarize(ch.Enqueue, p.now))
		}
		after = *ch.Incident
	}
}

// A closed incident (a false alarm) tells nobody that 119 has it.
func TestWith119NotAfterClose(t *testing.T) {
	p := testPlanner(t0)
	opened, _ := p.onDetection(nil, detection(detectors.CauseSOS, detectors.ClassEmergency, 1, detectors.Firing))
	inc := *opened.Incident
	inc.Sent119 = true
	closed, err := p.resolve(&inc, DispositionFalseAlarm, "op", "")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := p.apply119(closed.Incident, Answer119{IncidentID: inc.ID, Status: Answer119Accepted})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Enqueue) != 0 {
		t.Errorf("closed incident: %v", summarize(ch.Enqueue, p.now))
	}
}
