package store_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/ota"
	"github.com/dolbom/dolbom/store"
)

// The registry's firmware follows what hubs report (docs/operations.md
// "Firmware"): hub-a reported 2.5.0 after a rollout, hub-b never reported
// (its registered 2.4.1 holds), hub-c's health record holds the version
// the registry declared when it was saved (not reported) and an admin
// since declared 2.4.2, which wins. The fleet list, its firmware filter,
// HubsOfModel and a second rollout of 2.5.0 all see the same: hub-a is
// not commanded again, and hub-c's previous version is 2.4.2.
func TestFirmwareFollowsWhatHubsReport(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		for _, id := range []devices.HubID{"hub-a", "hub-b", "hub-c"} {
			if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: id, Model: "DBH-200", Firmware: "2.4.1"}); err != nil {
				t.Fatal(err)
			}
		}
		reported := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		if err := s.State().SaveHubHealth(ctx, []devices.HubHealthRecord{
			{HubHealth: devices.HubHealth{Hub: "hub-a", Battery: -1, Firmware: "2.5.0", FirmwareReported: reported}},
			{HubHealth: devices.HubHealth{Hub: "hub-c", Battery: -1, Firmware: "2.4.1"}},
		}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Registry().GetHub(ctx, "hub-c")
		if err != nil {
			t.Fatal(err)
		}
		c.Firmware = "2.4.2"
		if _, err := s.Registry().UpdateHub(ctx, c); err != nil {
			t.Fatal(err)
		}
		want := map[devices.HubID]string{"hub-a": "2.5.0", "hub-b": "2.4.1", "hub-c": "2.4.2"}

		hubs, err := s.Rollouts().HubsOfModel(ctx, "DBH-200")
		if err != nil || len(hubs) != 3 {
			t.Fatalf("HubsOfModel: %+v, %v", hubs, err)
		}
		for _, h := range hubs {
			if h.Firmware != want[h.Hub] {
				t.Errorf("HubsOfModel: %s runs %q, want %q", h.Hub, h.Firmware, want[h.Hub])
			}
		}
		fleet, err := s.State().FleetHubs(ctx, console.FleetQuery{Limit: 10})
		if err != nil || len(fleet) != 3 {
			t.Fatalf("fleet: %+v, %v", fleet, err)
		}
		for _, h := range fleet {
			if h.Firmware != want[h.Hub] {
				t.Errorf("fleet: %s runs %q, want %q", h.Hub, h.Firmware, want[h.Hub])
			}
			if got, reportedHub := !h.FirmwareReported.IsZero(), h.Hub == "hub-a"; got != reportedHub {
				t.Errorf("fleet: %s firmware reported at %v", h.Hub, h.FirmwareReported)
			}
		}
		for fw, n := range map[string]int{"2.5.0": 1, "2.4.1": 1, "2.4.2": 1} {
			if got, err := s.State().FleetHubs(ctx, console.FleetQuery{Firmware: fw, Limit: 10}); err != nil || len(got) != n {
				t.Errorf("fleet filtered on %s: %d hubs, want %d (%v)", fw, len(got), n, err)
			}
		}

		// A second rollout of 2.5.0: hub-a already runs it.
		var log sentLog
		_, key, _ := ed25519.GenerateKey(nil)
		now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		e := rolloutEngine(s, log.send, noneOpen, &now)
		img, data := signedImage(key, "DBH-200", "2.5.0")
		if _, err := e.Publish(ctx, img, data); err != nil {
			t.Fatal(err)
		}
		r, err := e.Start(ctx, "DBH-200", "2.5.0", ota.Plan{Canary: 1, HaltOn: 0.5, StageTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if _, sent := log.sent()["hub-a"]; sent {
			t.Errorf("hub-a, which reports 2.5.0, was commanded to install 2.5.0")
		}
		ts, err := s.Rollouts().RolloutTargets(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[devices.HubID]string{}
		for _, tg := range ts {
			got[tg.Hub] = tg.Previous
		}
		if len(got) != 2 || got["hub-b"] != "2.4.1" || got["hub-c"] != "2.4.2" {
			t.Errorf("targets (hub: previous version) %v, want hub-b 2.4.1 and hub-c 2.4.2 only", got)
		}
	})
}
