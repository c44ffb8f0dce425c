package gateway

import (
	"context"
	"slices"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// One emergency, one incident, through the whole chain (broker, rule
// engine, dispatcher, the mock 119 validating every CAP message against the
// schema, the fake Twilio): related detections of one home fold into one
// incident, 119 gets exactly one Alert (and an Update only with news), and
// the guardian is texted and called once (and texted again only with news).

// tally is what reached 119 and the guardian.
type tally struct{ alerts, updates, sms, calls int }

func (c *chain) tally() tally {
	st := c.mock119.Stats()
	got := tally{alerts: st.ByType[cap.MsgAlert], updates: st.ByType[cap.MsgUpdate]}
	for _, m := range c.g.FakeTwilio.Messages() {
		if m.To == guardianPhone {
			got.sms++
		}
	}
	for _, call := range c.g.FakeTwilio.Calls() {
		if call.To == guardianPhone {
			got.calls++
		}
	}
	return got
}

// emergency returns the home's one emergency or welfare incident (device
// health, a hub offline, is its own and not counted).
func (c *chain) emergency(t *testing.T) (dispatch.Incident, bool) {
	t.Helper()
	list, err := c.g.Dispatch.ListIncidents(context.Background(), dispatch.IncidentQuery{Hub: c.hub})
	if err != nil {
		t.Fatal(err)
	}
	list = slices.DeleteFunc(list, func(inc dispatch.Incident) bool { return inc.Class == detectors.ClassDeviceHealth })
	if len(list) > 1 {
		var causes []detectors.Cause
		for _, inc := range list {
			causes = append(causes, inc.Cause)
		}
		t.Fatalf("%d incidents for one emergency: %v", len(list), causes)
	}
	if len(list) == 0 {
		return dispatch.Incident{}, false
	}
	return list[0], true
}

// expect waits until at least want reached 119 and the guardian, leaves room
// for anything more to arrive, and then wants exactly that, with one
// incident of the cause.
func (c *chain) expect(t *testing.T, want tally, cause detectors.Cause) dispatch.Incident {
	t.Helper()
	waitFor(t, 15*time.Second, "119 and the guardian", func() bool {
		got := c.tally()
		return got.alerts >= want.alerts && got.updates >= want.updates && got.sms >= want.sms && got.calls >= want.calls
	})
	time.Sleep(700 * time.Millisecond) // room for a second Alert, SMS or call to show up
	if got := c.tally(); got != want {
		t.Errorf("119 and the guardian got %+v, want %+v", got, want)
	}
	if st := c.mock119.Stats(); st.Invalid != 0 || st.Duplicates != 0 {
		t.Errorf("mock 119: %+v", st)
	}
	inc, ok := c.emergency(t)
	if !ok || inc.Cause != cause {
		t.Fatalf("incident %+v, want one of cause %s", inc, cause)
	}
	return inc
}

func (c *chain) checkedIn(t *testing.T) {
	t.Helper()
	select {
	case cmd := <-c.commands:
		if cmd.Type != devices.CmdCheckIn {
			t.Fatalf("command %q, want check_in", cmd.Type)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hub was not asked to check in with the resident")
	}
}

// startFold starts a chain whose guardian answers the phone and presses
// nothing (so nothing is acknowledged) and connects the hub.
func startFold(t *testing.T, cfg func(testing.TB) store.Config, tune func(*detectors.EngineConfig)) (*chain, mqtt.Client) {
	c := startChainTuned(t, cfg(t), 2*time.Second, tune)
	c.g.FakeTwilio.SetBehaviour(guardianPhone, fake.Behaviour{SMSStatus: "delivered", CallOutcome: "human", After: 10 * time.Millisecond})
	return c, c.connect(t)
}

func event(id string, kind devices.EventKind, sensor devices.SensorID, at time.Time) devices.Event {
	return devices.Event{ID: devices.EventID(id), Kind: kind, Sensor: sensor, At: at}
}

// Smoke in the kitchen (the resident is asked), then the heat detector: one
// incident, now a confirmed fire, and one Alert to 119 with the fire.
func TestFoldChainSmokeThenHeat(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		c, cl := startFold(t, cfg, nil)
		c.publishEvent(t, cl, event("smoke-1", devices.EventSmokeAlarm, "kitchen-smoke", time.Now()))
		c.checkedIn(t)
		c.publishEvent(t, cl, event("heat-1", devices.EventHeatAlarm, "kitchen-heat", time.Now()))
		inc := c.expect(t, tally{alerts: 1, sms: 1, calls: 1}, detectors.CauseFireConfirmed)
		if !slices.Equal(inc.Causes, []detectors.Cause{detectors.CauseSmokeUnconfirmed, detectors.CauseFireConfirmed}) || inc.State.Closed() {
			t.Errorf("incident causes %v, state %s", inc.Causes, inc.State)
		}
		_, tl, err := c.g.Dispatch.Incident(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(tl, func(e dispatch.TimelineEntry) bool { return e.Action == dispatch.ActFolded }) {
			t.Errorf("the timeline does not record the folded detection: %+v", tl)
		}
	})
}

// Smoke while the hub goes offline: nobody can be asked, so smoke goes to
// 119 and the guardian at once. The heat detector then confirms the fire:
// one CAP Update of the same alert and one SMS to the guardian, no second
// call, no second incident.
func TestFoldChainSmokeHubOfflineThenConfirmed(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		c, cl := startFold(t, cfg, nil)
		c.publishEvent(t, cl, event("smoke-1", devices.EventSmokeAlarm, "kitchen-smoke", time.Now()))
		c.checkedIn(t)
		tok := cl.Publish(devices.Topic(c.hub, devices.ChanStatus), 1, false,
			devices.EncodeStatus(devices.Status{State: devices.HubOffline, At: time.Now()}))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish offline: %v", tok.Error())
		}
		c.expect(t, tally{alerts: 1, sms: 1, calls: 1}, detectors.CauseSmokeUnconfirmed)
		waitFor(t, 10*time.Second, "119's endpoint took the alert", func() bool {
			inc, _ := c.emergency(t)
			return inc.Sent119
		})
		c.publishEvent(t, cl, event("heat-1", devices.EventHeatAlarm, "kitchen-heat", time.Now()))
		inc := c.expect(t, tally{alerts: 1, updates: 1, sms: 2, calls: 1}, detectors.CauseFireConfirmed)
		if inc.Priority != detectors.PriorityCritical || inc.Updates119 != 1 {
			t.Errorf("incident %+v", inc)
		}
	})
}

// A fall in its cancel window, then the SOS button: one incident, one Alert
// at the SOS; the fall's window ending later adds nothing.
func TestFoldChainFallThenSOS(t *testing.T) {
	c, cl := startFold(t, storetest.SQLite, nil)
	fall := event("fall-1", devices.EventFall, "wearable-1", time.Now())
	fall.Value, fall.HasValue = 3.1, true
	c.publishEvent(t, cl, fall)
	c.checkedIn(t)
	c.publishEvent(t, cl, event("sos-1", devices.EventSOS, "pendant-1", time.Now()))
	c.expect(t, tally{alerts: 1, sms: 1, calls: 1}, detectors.CauseSOS)
	time.Sleep(2 * time.Second) // the fall's window (2 s) ends: the fall fires
	inc := c.expect(t, tally{alerts: 1, sms: 1, calls: 1}, detectors.CauseSOS)
	if !slices.Equal(inc.Causes, []detectors.Cause{detectors.CauseFall, detectors.CauseSOS}) || inc.Updates119 != 0 {
		t.Errorf("incident causes %v, updates %d", inc.Causes, inc.Updates119)
	}
}

// The SOS pressed twice, five minutes apart (two episodes for the rule
// engine): one incident, one Alert and one Update ("pressed again"), one
// SMS and one call.
func TestFoldChainSOSTwice(t *testing.T) {
	c, cl := startFold(t, storetest.SQLite, nil)
	now := time.Now()
	c.publishEvent(t, cl, event("sos-1", devices.EventSOS, "pendant-1", now.Add(-5*time.Minute)))
	c.expect(t, tally{alerts: 1, sms: 1, calls: 1}, detectors.CauseSOS)
	waitFor(t, 10*time.Second, "119's endpoint took the alert", func() bool {
		inc, _ := c.emergency(t)
		return inc.Sent119
	})
	c.publishEvent(t, cl, event("sos-2", devices.EventSOS, "pendant-1", now))
	inc := c.expect(t, tally{alerts: 1, updates: 1, sms: 1, calls: 1}, detectors.CauseSOS)
	if inc.Count != 2 || len(inc.Episodes) != 2 || inc.Updates119 != 1 {
		t.Errorf("incident count %d, updates %d", inc.Count, inc.Updates119)
	}
}

// A fall with no answer (119 and the guardian told), then no activity past
// the welfare limit: the welfare check joins the fall; 119 gets it as an
// Update, the guardian is not told again.
func TestFoldChainFallThenInactivity(t *testing.T) {
	c, cl := startFold(t, storetest.SQLite, func(ec *detectors.EngineConfig) {
		ec.Thresholds.WelfareDefault = 5 * time.Second
		ec.RestartGrace = time.Millisecond
	})
	c.publishEvent(t, cl, event("motion-1", devices.EventMotion, "hall-pir", time.Now()))
	fall := event("fall-1", devices.EventFall, "wearable-1", time.Now())
	fall.Value, fall.HasValue = 3.1, true
	c.publishEvent(t, cl, fall)
	c.checkedIn(t)
	c.expect(t, tally{alerts: 1, sms: 1, calls: 1}, detectors.CauseFall)
	waitFor(t, 15*time.Second, "the welfare check on the fall's incident", func() bool {
		inc, _ := c.emergency(t)
		return slices.Contains(inc.Causes, detectors.CauseInactivity)
	})
	inc := c.expect(t, tally{alerts: 1, updates: 1, sms: 1, calls: 1}, detectors.CauseFall)
	if inc.Class != detectors.ClassEmergency {
		t.Errorf("class %s", inc.Class)
	}
}

// A dispatcher closes an SOS as a test call while the detectors' episode
// goes on; the resident presses again seconds later. The new press is a new
// emergency: a second incident and a second Alert, not a line on the closed
// one (seen from outside: "repeated firing after the incident was closed;
// no action"). A redelivery of the first press opens nothing.
func TestChainSOSAgainAfterClosedIsANewIncident(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		c, cl := startFold(t, cfg, nil)
		first := event("sos-1", devices.EventSOS, "pendant-1", time.Now())
		c.publishEvent(t, cl, first)
		inc := c.expect(t, tally{alerts: 1, sms: 1, calls: 1}, detectors.CauseSOS)
		ctx := context.Background()
		if _, err := c.g.Dispatch.Resolve(ctx, inc.ID, dispatch.DispositionTest, "d-park", "test call"); err != nil {
			t.Fatal(err)
		}
		c.publishEvent(t, cl, first) // a redelivery: not a new press
		c.publishEvent(t, cl, event("sos-2", devices.EventSOS, "pendant-1", time.Now()))
		waitFor(t, 15*time.Second, "a second Alert", func() bool { return c.tally().alerts >= 2 })
		time.Sleep(700 * time.Millisecond) // room for a third to show up
		if got := c.tally().alerts; got != 2 {
			t.Errorf("%d Alerts, want 2 (one per press)", got)
		}
		open, err := c.g.Dispatch.ListIncidents(ctx, dispatch.IncidentQuery{Hub: c.hub, States: dispatch.ActiveStates()})
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 1 || open[0].ID == inc.ID || open[0].Cause != detectors.CauseSOS {
			t.Fatalf("after the second press: %+v, want one new open SOS incident (the first was %s)", open, inc.ID)
		}
		// The episode's next detection finds the new incident.
		c.publishEvent(t, cl, event("sos-3", devices.EventSOS, "pendant-1", time.Now()))
		time.Sleep(700 * time.Millisecond)
		if got := c.tally().alerts; got != 2 {
			t.Errorf("%d Alerts after a third press on the open incident, want 2", got)
		}
	})
}

// A confirmed fire a person closed too early, while the detectors' fire
// episode goes on: a new alarm from the detector is a new incident and a
// new Alert (seen from outside: a new smoke and heat alarm after the
// resolve produced nothing for 12 minutes).
func TestChainFireAlarmAfterClosedIsANewIncident(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		c, cl := startFold(t, cfg, nil)
		c.publishEvent(t, cl, event("smoke-1", devices.EventSmokeAlarm, "kitchen-smoke", time.Now()))
		c.checkedIn(t)
		c.publishEvent(t, cl, event("heat-1", devices.EventHeatAlarm, "kitchen-heat", time.Now()))
		inc := c.expect(t, tally{alerts: 1, sms: 1, calls: 1}, detectors.CauseFireConfirmed)
		ctx := context.Background()
		if _, err := c.g.Dispatch.Resolve(ctx, inc.ID, dispatch.DispositionRealEmergency, "d-park", "fire out"); err != nil {
			t.Fatal(err)
		}
		c.publishEvent(t, cl, event("smoke-2", devices.EventSmokeAlarm, "kitchen-smoke", time.Now()))
		waitFor(t, 15*time.Second, "a second Alert", func() bool { return c.tally().alerts >= 2 })
		open, err := c.g.Dispatch.ListIncidents(ctx, dispatch.IncidentQuery{Hub: c.hub, States: dispatch.ActiveStates()})
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 1 || open[0].ID == inc.ID || open[0].Cause != detectors.CauseFireConfirmed {
			t.Fatalf("after the new alarm: %+v, want one new open fire incident (the first was %s)", open, inc.ID)
		}
	})
}
