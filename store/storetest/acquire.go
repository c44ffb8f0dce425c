package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// testAcquireLoads: the batched reads of a cluster's acquisition. Saved
// engine state and health come back for the hubs asked for only (a hub
// with none is left out); the journal replays each hub's events after its
// own position, in journal order, marked Replayed; and on PostgreSQL, after
// the floor its ownership row keeps (events handled before it had an owner).
func testAcquireLoads(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	s := open(t, cfg)
	start(t, s)
	ctx := ctxT(t)
	st := s.State()
	if err := st.SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-1", Data: []byte{3, 1}}, {Hub: "hub-2", Data: []byte{3, 2}}}); err != nil {
		t.Fatal(err)
	}
	homes, err := st.LoadHomesOf(ctx, []devices.HubID{"hub-1", "hub-3"})
	if err != nil || len(homes) != 1 || homes[0].Hub != "hub-1" || !slices.Equal(homes[0].Data, []byte{3, 1}) {
		t.Fatalf("LoadHomesOf(hub-1, hub-3) = %+v, %v; want hub-1's snapshot only", homes, err)
	}
	if err := st.SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: devices.HubHealth{Hub: "hub-2", Online: true, LastSeen: base, Battery: 40}, JournalApplied: 7}}); err != nil {
		t.Fatal(err)
	}
	health, err := st.LoadHubHealthOf(ctx, []devices.HubID{"hub-1", "hub-2"})
	if err != nil || len(health) != 1 || health[0].Hub != "hub-2" || !health[0].LastSeen.Equal(base) || health[0].JournalApplied != 7 {
		t.Fatalf("LoadHubHealthOf(hub-1, hub-2) = %+v, %v; want hub-2's record only", health, err)
	}

	var evs []*devices.Event
	appendEvents := func(n int) {
		for range n {
			i := len(evs)
			e := event(devices.HubID(fmt.Sprintf("hub-%d", i%3)), fmt.Sprintf("e-%d", i), base)
			if _, err := s.Journal().AppendEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
	}
	replay := func(after map[devices.HubID]int64) []string {
		var got []string
		err := s.Journal().ReplayHubs(ctx, after, func(e *devices.Event) error {
			if !e.Replayed || e.Seq == 0 || e.Kind != devices.EventSOS {
				t.Errorf("replayed %+v", e)
			}
			got = append(got, string(e.ID))
			return nil
		})
		if err != nil {
			t.Fatalf("ReplayHubs: %v", err)
		}
		return got
	}
	appendEvents(9) // e-0..e-8 of hub-0, hub-1, hub-2 in turn
	got := replay(map[devices.HubID]int64{"hub-1": evs[4].Seq, "hub-2": 0})
	if want := []string{"e-2", "e-5", "e-7", "e-8"}; !slices.Equal(got, want) {
		t.Fatalf("ReplayHubs(hub-1 after e-4, hub-2 after 0) = %v; want %v in journal order", got, want)
	}
	if cfg.DatabaseURL == "" {
		return // the embedded store never has ownership rows
	}
	n := join(t, s, "n1", time.Minute)
	if _, err := s.Cluster().Claim(ctx, n, "hub-0"); err != nil { // a new owner row: floor at the journal's end
		t.Fatal(err)
	}
	appendEvents(3) // e-9 (hub-0), e-10, e-11
	got = replay(map[devices.HubID]int64{"hub-0": 0, "hub-1": evs[9].Seq})
	if want := []string{"e-9", "e-10"}; !slices.Equal(got, want) {
		t.Fatalf("ReplayHubs after hub-0's claim = %v; want %v (hub-0's events before its floor left out)", got, want)
	}
}

// testFleetOf: the registry of the hubs asked for, with their sensors, and
// nothing of other hubs or of ids the registry does not have.
func testFleetOf(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	reg := s.Registry()
	for _, hub := range []devices.HubID{"hub-a", "hub-b", "hub-c"} {
		if _, err := reg.CreateHub(ctx, devices.Hub{ID: hub}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []devices.SensorID{"door-1", "smoke-1"} {
			sn := devices.Sensor{Hub: hub, ID: id, Kind: devices.SensorDoor, Location: devices.LocKitchen, ReportSeconds: 60}
			if _, err := reg.CreateSensor(ctx, sn); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := map[devices.HubID][]devices.SensorID{}
	err := reg.FleetOf(ctx, []devices.HubID{"hub-c", "hub-a", "hub-unknown"}, func(h devices.Hub, sensors []devices.Sensor) error {
		for _, sn := range sensors {
			got[h.ID] = append(got[h.ID], sn.ID)
		}
		return nil
	})
	want := map[devices.HubID][]devices.SensorID{"hub-a": {"door-1", "smoke-1"}, "hub-c": {"door-1", "smoke-1"}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("FleetOf(hub-c, hub-a, hub-unknown) = %v, %v; want %v", got, err, want)
	}
}
