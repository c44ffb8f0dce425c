package health

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// clusterStore is memStore loaded by hub, as a cluster's monitor needs.
type clusterStore struct{ memStore }

func (s *clusterStore) LoadHubHealth(context.Context) ([]devices.HubHealthRecord, error) {
	panic("a cluster's monitor loads no health in bulk")
}

func (s *clusterStore) LoadHubHealthOf(_ context.Context, hubs []devices.HubID) ([]devices.HubHealthRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []devices.HubHealthRecord
	for _, h := range hubs {
		if r, ok := s.records[h]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// TestAdoptedHomeWaitsGraceBeforeOffline: a hub whose gateway died while it
// was silent is adopted by this one. Its saved last-seen is 30 minutes old,
// past its 10-minute heartbeat timeout, but its deadline restarts from the
// adoption with the restart grace (a hub backing off before it reconnects
// is not offline yet): nothing for 2 minutes, then hub_offline under the
// adopting epoch. A hub that comes back within the grace raises nothing.
func TestAdoptedHomeWaitsGraceBeforeOffline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &clusterStore{}
		silent := time.Now().Add(-20 * time.Minute)
		st.records = map[devices.HubID]devices.HubHealthRecord{}
		for _, hub := range []devices.HubID{"hub-gone", "hub-back"} {
			st.records[hub] = devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: hub, Online: true, LastSeen: silent, Battery: -1}, Epoch: 1}
		}
		h := startMonitor(t, Config{Store: st, Cluster: true})
		defer h.stop()
		h.after(10 * time.Minute) // the gateway's own restart grace is long over
		h.m.Acquire([]detectors.Acquired{{Hub: "hub-gone", Epoch: 2, Adopted: true}, {Hub: "hub-back", Epoch: 2, Adopted: true}})
		h.after(time.Minute)
		expect(t, "a minute after the adoption", h.sink.take())
		h.m.Connection(devices.ConnectionEvent{Hub: "hub-back", Connected: true, At: time.Now(), Epoch: 2})
		h.after(50 * time.Second)
		expect(t, "within the grace", h.sink.take())
		h.after(15 * time.Second)
		got := h.sink.take()
		expect(t, "past the grace", got, "firing hub_offline")
		if got[0].Hub != "hub-gone" || got[0].Epoch != 2 {
			t.Errorf("%s under epoch %d; want hub-gone under the adopting epoch 2", got[0].Hub, got[0].Epoch)
		}
		if s := h.m.Stats(); s.Acquired != 2 {
			t.Errorf("Acquired = %d, want 2", s.Acquired)
		}
	})
}

// TestReleasedHubRaisesNothingOnDisconnect: the monitor's side of a move: a
// released hub's lost session raises no hub_offline, its health is no
// longer served, and the online gauge lets it go.
func TestReleasedHubRaisesNothingOnDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startMonitor(t, Config{Store: &clusterStore{}, Cluster: true})
		defer h.stop()
		h.m.Connection(devices.ConnectionEvent{Hub: "hub-1", Connected: true, At: time.Now(), Epoch: 5})
		h.after(time.Second)
		if _, ok := h.m.Health("hub-1"); !ok || h.m.Stats().HubsOnline != 1 {
			t.Fatalf("hub-1 not held after its claim (online %d)", h.m.Stats().HubsOnline)
		}
		h.m.Release("hub-1")
		h.connect("hub-1", false, "lost")
		h.after(time.Hour)
		expect(t, "after the release", h.sink.take())
		if _, ok := h.m.Health("hub-1"); ok {
			t.Error("a released hub's health is still served")
		}
		if s := h.m.Stats(); s.HubsOnline != 0 || s.Released != 1 {
			t.Errorf("HubsOnline = %d, Released = %d; want 0, 1", s.HubsOnline, s.Released)
		}
	})
}

// fleetByHub is a registry read by hub, as a cluster's monitor reads it.
type fleetByHub []registryEntry

func (f fleetByHub) FleetSnapshot(context.Context, func(devices.Hub, []devices.Sensor) error) error {
	panic("a cluster's monitor reads no registry in bulk")
}

func (f fleetByHub) FleetOf(_ context.Context, hubs []devices.HubID, visit func(devices.Hub, []devices.Sensor) error) error {
	for _, e := range f {
		if slices.Contains(hubs, e.hub.ID) {
			if err := visit(e.hub, e.sensors); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestAcquiredHubSensorsSupervised: a hub acquired when it connects here is
// read from the registry with its load: its sensors' reporting intervals
// are supervised as on a single gateway (a silent door sensor is raised
// after its window); a connected hub the registry no longer has is kept
// but not watched.
func TestAcquiredHubSensorsSupervised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := fleetByHub{{hub: devices.Hub{ID: "hub-1"}, sensors: []devices.Sensor{
			sensor("hub-1", "motion-1", devices.SensorMotion, 60),
			sensor("hub-1", "door-1", devices.SensorDoor, 60), // silent
		}}}
		h := startMonitor(t, Config{Store: &clusterStore{}, Fleet: fleet, Cluster: true})
		defer h.stop()
		for _, hub := range []devices.HubID{"hub-1", "hub-gone"} {
			h.m.Connection(devices.ConnectionEvent{Hub: hub, Connected: true, At: time.Now(), Epoch: 1})
		}
		for range 8 {
			h.ingest(readings("hub-1", 0, devices.Reading{Sensor: "motion-1", Metric: devices.MetricMotion, Value: 1}))
			h.after(time.Minute)
		}
		expect(t, "8 min", h.sink.take(), "firing sensor_silent door-1")
		h.connect("hub-gone", false, "lost")
		h.after(time.Hour)
		for _, d := range h.sink.take() {
			if d.Hub == "hub-gone" {
				t.Errorf("a hub the registry no longer has was watched: %+v", d)
			}
		}
	})
}
