package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/ota"
)

// TestRolloutUnsubscribedHub: of two hubs connected over MQTT, one never
// subscribes to its cmd topic. The broker cannot command it, so the
// rollout must count it unreachable (not leave it pending for ever), and
// the stage must be judged on the hub it did command.
func TestRolloutUnsubscribedHub(t *testing.T) {
	for name, p := range map[string]ota.Plan{
		"one stage":  {Canary: 1, HaltOn: 0.5, StageTimeout: time.Hour},
		"two stages": {Canary: 0.5, HaltOn: 0.5, StageTimeout: time.Hour},
	} {
		t.Run(name, func(t *testing.T) { rolloutUnsubscribed(t, p) })
	}
}

func rolloutUnsubscribed(t *testing.T, plan ota.Plan) {
	s := startSite(t)
	bg := context.Background()
	const model = "DG-310"
	clients := map[devices.HubID]mqtt.Client{}
	for i := range 2 {
		// hub-uns-1 stays connected without a subscription.
		h, cl := s.modelHub(t, model, devices.HubID(fmt.Sprintf("hub-uns-%d", i)), fmt.Sprintf("주민%d", i), i == 0)
		clients[h] = cl
	}
	s.publishImages(t, model, "1.1")
	rollouts := s.st.Rollouts()
	r, err := s.g.OTA.Start(bg, model, "1.1", plan)
	if err != nil {
		t.Fatal(err)
	}
	counts := func() ota.Counts {
		m, err := rollouts.RolloutCounts(bg, []int64{r.ID})
		var c ota.Counts
		if err == nil {
			for _, sc := range m[r.ID] {
				c = c.Plus(sc)
			}
		}
		return c
	}
	// The subscribed hub is commanded in whichever stage it falls in, and
	// installs; the unsubscribed one is counted unreachable, not left
	// pending, and the rollout ends without waiting on it.
	waitFor(t, 20*time.Second, "the subscribed hub commanded", func() bool { return counts().Sent == 1 })
	publish(t, clients["hub-uns-0"], "hub-uns-0", devices.ChanCmdAck, devices.EncodeCmdAck(devices.CommandAck{Hub: "hub-uns-0", ID: ota.CommandID(r.ID),
		Status: devices.AckDone, Firmware: "1.1", At: time.Now()}))
	waitFor(t, 20*time.Second, "the rollout done with the unsubscribed hub unreachable", func() bool {
		got, err := rollouts.Rollout(bg, r.ID)
		c := counts()
		return err == nil && got.State == ota.Done && c.Installed == 1 && c.Unreachable == 1 && c.Pending == 0
	})
	ts, err := rollouts.RolloutTargets(bg, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if tg.Hub == "hub-uns-1" && (tg.Result != ota.Unreachable || tg.Detail == "") {
			t.Fatalf("unsubscribed hub: %s %q, want unreachable with the broker's reason", tg.Result, tg.Detail)
		}
	}
}
