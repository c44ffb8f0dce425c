package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
)

// shortenSecondStep makes a cause's second step (the fall's 119 step, the
// SOS's social worker) due after a second, so that the chain shows it.
func shortenSecondStep(t *testing.T, c *chain, cause detectors.Cause) {
	t.Helper()
	pol, ok := c.g.Dispatch.Policy(cause)
	if !ok {
		t.Fatalf("no policy for %s", cause)
	}
	pol.Steps = append([]dispatch.Step(nil), pol.Steps...)
	pol.Steps[1].After = dispatch.Duration(time.Second)
	if err := c.g.Dispatch.SetPolicy(context.Background(), cause, pol); err != nil {
		t.Fatal(err)
	}
}

// guardiansFirst sets the fall's policy to tell the guardians first and
// 119 at the next step, after119 later: the case where a guardian's answer
// could stand 119 down, whatever the default fall policy is.
func guardiansFirst(t *testing.T, c *chain, after119 time.Duration) {
	t.Helper()
	cur, _ := c.g.Dispatch.Policy(detectors.CauseFall)
	pol := dispatch.Policy{
		Verify: cur.Verify, // the chain's short cancel window
		Steps: []dispatch.Step{
			{Notify: []dispatch.Target{{To: dispatch.RoleGuardian, Via: "voice"}, {To: dispatch.RoleGuardian, Via: "sms"}}},
			{After: dispatch.Duration(after119), Notify: []dispatch.Target{{To: dispatch.Role119, Via: dispatch.Channel119},
				{To: dispatch.RoleMonitoringCentre, Via: "console"}}},
		},
	}
	if err := c.g.Dispatch.SetPolicy(context.Background(), detectors.CauseFall, pol); err != nil {
		t.Fatal(err)
	}
}

// The case, through the whole chain: a distant guardian presses 1
// ("on my way", then 20 minutes) on a fall without response or an SOS;
// that is recorded, the guardian is not called again, and the escalation
// goes on: 119 is alerted (the fall's next step; the SOS's at once) and
// the SOS's next step still runs.
func TestChainOnTheWayStill119(t *testing.T) {
	for _, tc := range []struct {
		cause detectors.Cause
		event devices.Event
	}{
		{detectors.CauseFall, devices.Event{ID: "fall-1", Kind: devices.EventFall, Sensor: "wearable-1", Value: 3.1, HasValue: true}},
		{detectors.CauseSOS, devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1"}},
	} {
		for name, cfg := range chainBackends() {
			t.Run(string(tc.cause)+"/"+name, func(t *testing.T) {
				c := startChain(t, cfg(t), time.Second)
				if tc.cause == detectors.CauseFall {
					guardiansFirst(t, c, time.Second)
				} else {
					shortenSecondStep(t, c, tc.cause)
				}
				c.g.FakeTwilio.SetBehaviour(guardianPhone, fake.Behaviour{SMSStatus: "delivered", CallOutcome: "human",
					Digits: "1", Then: "20#", After: 100 * time.Millisecond})
				cl := c.connect(t)
				tc.event.At = time.Now()
				c.publishEvent(t, cl, tc.event)

				waitFor(t, 20*time.Second, "the guardian on the way with an ETA", func() bool {
					inc, ok := c.incident(t, tc.cause)
					r, _ := inc.Responder("guardian-1")
					return ok && r.State == dispatch.ResponderOnTheWay && r.ETAMinutes == 20
				})
				waitFor(t, 20*time.Second, "the CAP alert at the mock 119", func() bool { return c.mock119.Stats().Received >= 1 })
				inc, _ := c.incident(t, tc.cause)
				waitFor(t, 20*time.Second, "the second step after the guardian's answer", func() bool {
					inc, _ = c.incident(t, tc.cause)
					return inc.NextStep >= 2
				})
				if inc.State == dispatch.StateAcknowledged || !inc.Alerted119 {
					t.Errorf("incident %s, alerted 119 %v: an on-the-way guardian must not stand it down", inc.State, inc.Alerted119)
				}
				r, _ := inc.Responder("guardian-1")
				if r.Via != "voice" || r.Phone != "010-****-5432" || r.Name != "박민수" {
					t.Errorf("responder %+v", r)
				}
				rows, err := c.g.Dispatch.Notifications(context.Background(), inc.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, row := range rows {
					if row.Recipient.ID == "guardian-1" && row.Attempt == 2 && row.State != dispatch.OutboxCancelled {
						t.Errorf("the guardian on the way is contacted again: %s is %s", row.Key, row.State)
					}
					if row.Step == 1 && row.Kind == dispatch.KindNotify && row.State == dispatch.OutboxCancelled {
						t.Errorf("step 1 row %s cancelled by the guardian's answer", row.Key)
					}
				}
				// One Alert; an SOS's 119 also gets an Update saying who is coming.
				if st := c.mock119.Stats(); st.ByType["Alert"] != 1 || st.Invalid != 0 || st.Duplicates != 0 {
					t.Errorf("mock 119 %+v: want one valid alert", st)
				}
			})
		}
	}
}
