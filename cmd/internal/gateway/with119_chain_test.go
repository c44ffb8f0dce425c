package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/store"
)

// with119SMS are the SMS to the guardian saying that 119 has the incident.
func (c *chain) with119SMS() []fake.Message {
	var out []fake.Message
	for _, m := range c.g.FakeTwilio.Messages() {
		if m.To == guardianPhone && strings.Contains(m.Body, "119가") {
			out = append(out, m)
		}
	}
	return out
}

// Issue 13: 119 accepts an SOS before the guardian answered anything; the
// acceptance stands the escalation down (the guardian's second call and SMS
// are cancelled), so the guardian gets one SMS, by the real twilio-go
// client through the fake Twilio, that 119 has it, naming the resident and
// the address; 119's next answers (dispatched, on scene) send nothing more.
func TestChainGuardianToldOnceWhen119TookOver(t *testing.T) {
	for name, cfg := range chainBackends() {
		t.Run(name, func(t *testing.T) {
			c := startChain(t, cfg(t), 2*time.Second)
			// The guardian neither answers nor is reported: the first attempt
			// stays unanswered.
			c.g.FakeTwilio.SetBehaviour(guardianPhone, fake.Behaviour{})
			cl := c.connect(t)
			c.publishEvent(t, cl, devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()})
			waitFor(t, 10*time.Second, "the CAP alert at the mock 119", func() bool { return c.mock119.Stats().Received >= 1 })
			waitFor(t, 10*time.Second, "the guardian's first SMS and call", func() bool {
				return len(c.g.FakeTwilio.Messages()) >= 1 && len(c.g.FakeTwilio.Calls()) >= 1
			})
			inc, _ := c.incident(t, detectors.CauseSOS)
			ctx := context.Background()
			for _, status := range []dispatch.Answer119Status{dispatch.Answer119Accepted, dispatch.Answer119Dispatched} {
				if _, err := c.g.Dispatch.Apply119(ctx, dispatch.Answer119{IncidentID: inc.ID, Status: status, By: "119 종로"}); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, "the guardian's SMS that 119 has it", func() bool { return len(c.with119SMS()) >= 1 })
			time.Sleep(300 * time.Millisecond) // room for a second one to show up
			got := c.with119SMS()
			if len(got) != 1 {
				t.Fatalf("%d SMS that 119 has it, want 1: %+v", len(got), got)
			}
			if body := got[0].Body; !strings.Contains(body, "김순자님") || !strings.Contains(body, "세종대로 175") ||
				!strings.Contains(body, "응급 호출") {
				t.Errorf("SMS %q does not name the resident, the address and what happened", body)
			}
			rows, err := c.g.Dispatch.Notifications(ctx, inc.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Recipient.ID == "guardian-1" && r.Attempt == 2 && r.State != dispatch.OutboxCancelled {
					t.Errorf("second attempt %s is %s: 119's acceptance stands it down", r.Key, r.State)
				}
			}
			// The SOS's escalation names the social worker (its regional
			// centre's number in the default policies): told once too.
			sw := 0
			for _, m := range c.g.FakeTwilio.Messages() {
				if m.To == "+82215990002" && strings.Contains(m.Body, "119가") && strings.Contains(m.Body, "김순자님") {
					sw++
				}
			}
			if sw != 1 {
				t.Errorf("%d SMS to the social worker that 119 has it, want 1", sw)
			}
			if n := len(c.g.FakeTwilio.Calls()); n != 1 {
				t.Errorf("%d calls to the guardian, want 1", n)
			}
		})
	}
}

// Issue 13: a fall the resident gets up from (they press cancel in the
// check-in window) closes the incident and tells the guardian by one SMS,
// which names the resident and the address although the incident is closed
// when it is sent (it said "어르신 댁": a closed incident's notice carried
// no resident).
func TestChainRecoveredFallSMSNamesTheResident(t *testing.T) {
	for name, cfg := range chainBackends() {
		t.Run(name, func(t *testing.T) {
			c := startChain(t, cfg(t), 5*time.Second)
			cl := c.connect(t)
			c.publishEvent(t, cl, devices.Event{ID: "fall-1", Kind: devices.EventFall, Sensor: "wearable-1", At: time.Now(), Value: 3.1, HasValue: true})
			select {
			case <-c.commands:
			case <-time.After(10 * time.Second):
				t.Fatal("the hub was not asked to check in with the resident")
			}
			c.publishEvent(t, cl, devices.Event{ID: "cancel-1", Kind: devices.EventCancel, Sensor: "pendant-1", At: time.Now()})
			var body string
			waitFor(t, 10*time.Second, "the guardian's SMS that the resident is all right", func() bool {
				for _, m := range c.g.FakeTwilio.Messages() {
					if m.To == guardianPhone && strings.Contains(m.Body, "괜찮다고") {
						body = m.Body
						return true
					}
				}
				return false
			})
			if !strings.Contains(body, "김순자님 댁") || !strings.Contains(body, "세종대로 175") {
				t.Errorf("SMS %q does not name the resident and the address", body)
			}
			if inc, _ := c.incident(t, detectors.CauseFall); inc.State != dispatch.StateCancelled {
				t.Errorf("incident %s, want cancelled", inc.State)
			}
		})
	}
}

// The "119 has it" SMS is durable: after a restart, 119 repeating its
// answer (as it does until it hears 204) and its next answer send the
// guardian nothing more; the outbox row told once stays the only one.
func TestChainWith119NotRepeatedAfterRestart(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		sc := cfg(t)
		first := startChain(t, sc, 2*time.Second)
		first.g.FakeTwilio.SetBehaviour(guardianPhone, fake.Behaviour{})
		cl := first.connect(t)
		first.publishEvent(t, cl, devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()})
		waitFor(t, 10*time.Second, "the SOS incident alerted to 119", func() bool {
			inc, ok := first.incident(t, detectors.CauseSOS)
			return ok && inc.Alerted119 && first.mock119.Stats().Received >= 1
		})
		inc, _ := first.incident(t, detectors.CauseSOS)
		ctx := context.Background()
		if _, err := first.g.Dispatch.Apply119(ctx, dispatch.Answer119{IncidentID: inc.ID, Status: dispatch.Answer119Accepted}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the guardian's SMS that 119 has it", func() bool { return len(first.with119SMS()) == 1 })
		cl.Disconnect(100)
		first.stop()

		c, runCtx, cancel := newChain(t, sc, 2*time.Second, nil)
		c.hub, c.secret = first.hub, first.secret
		c.stop = runGateway(t, runCtx, cancel, c.g, 10*time.Second)
		for _, status := range []dispatch.Answer119Status{dispatch.Answer119Accepted, dispatch.Answer119Dispatched} {
			if _, err := c.g.Dispatch.Apply119(ctx, dispatch.Answer119{IncidentID: inc.ID, Status: status}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(500 * time.Millisecond) // room for a repeat to show up
		if got := c.with119SMS(); len(got) != 0 {
			t.Errorf("after the restart the guardian was told again: %+v", got)
		}
		rows, err := c.g.Dispatch.Notifications(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		told := map[string]int{}
		for _, r := range rows {
			if r.MsgType == dispatch.MsgWith119 {
				told[r.Recipient.ID]++
				if r.State != dispatch.OutboxSent && r.State != dispatch.OutboxDelivered {
					t.Errorf("%s is %s", r.Key, r.State)
				}
			}
		}
		// The guardian, and the social worker the SOS's escalation names.
		if len(told) != 2 || told["guardian-1"] != 1 || told["social_worker-1"] != 1 {
			t.Errorf("rows telling that 119 has it, by recipient: %v; want one each for guardian-1 and social_worker-1", told)
		}
	})
}
