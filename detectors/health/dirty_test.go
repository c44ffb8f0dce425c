package health

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// savesStore is a Store that counts the records saved per hub.
type savesStore struct {
	memStore
	mu    sync.Mutex
	saved map[devices.HubID]int
}

func (s *savesStore) SaveHubHealth(ctx context.Context, rs []devices.HubHealthRecord) error {
	s.mu.Lock()
	if s.saved == nil {
		s.saved = map[devices.HubID]int{}
	}
	for _, r := range rs {
		s.saved[r.Hub]++
	}
	s.mu.Unlock()
	return s.memStore.SaveHubHealth(ctx, rs)
}

func (s *savesStore) count(hub devices.HubID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saved[hub]
}

// steadyBatch is a minute's batch as a simulated home sends it at national
// scale: readings of sensors the registry does not list, the hub's mains
// and battery every 10 minutes, the sensors' batteries every hour, the
// hub's clock a few hundred milliseconds off and varying.
func steadyBatch(hub devices.HubID, minute int) *devices.Message {
	now := time.Now()
	sent := now.Add(-time.Duration(minute%7) * 150 * time.Millisecond)
	var rs []devices.Reading
	add := func(sensor devices.SensorID, metric devices.Metric, v float64, offset time.Duration) {
		rs = append(rs, devices.Reading{Sensor: sensor, Metric: metric, Value: v, At: sent.Add(-time.Minute + offset), Quality: -1})
	}
	add("kitchen-smoke", devices.MetricSmoke, 0.02, time.Second)
	add("kitchen-smoke", devices.MetricTemperature, 22.1, 2*time.Second)
	add("kitchen-heat", devices.MetricTemperature, 22.3, 3*time.Second)
	add("utility-co", devices.MetricCO, 1, 4*time.Second)
	add("motion-living", devices.MetricMotion, float64(minute%3), 5*time.Second)
	add("entrance-door", devices.MetricDoor, 0, 6*time.Second)
	add("bedroom-radar", devices.MetricPresence, 0, 7*time.Second)
	if minute%10 == 0 {
		add("hub", devices.MetricMains, 1, 8*time.Second)
		add("hub", devices.MetricBattery, 100, 8*time.Second)
	}
	if minute%60 == 0 {
		add("wearable-1", devices.MetricBattery, float64(100-minute/20), 9*time.Second)
		add("kitchen-smoke", devices.MetricBattery, 87, 9*time.Second)
	}
	return &devices.Message{Hub: hub, Channel: devices.ChanReadings,
		Readings: &devices.ReadingBatch{Hub: hub, SentAt: sent, Received: now, Readings: rs}}
}

func status(hub devices.HubID, firmware string) *devices.Message {
	now := time.Now()
	return &devices.Message{Hub: hub, Channel: devices.ChanStatus, Status: &devices.Status{Hub: hub, State: devices.HubOnline,
		At: now, Received: now, Firmware: firmware, HeartbeatInterval: 5 * time.Minute}}
}

// TestSteadyTrafficSavesNoState: at national scale every hub sends a batch
// a minute, and each state save of a hub costs a JSON record and a database
// row. Once a hub's state has settled, what it keeps doing (batches,
// heartbeats, the same status, a sensor repeating a fault already open, an
// unchanged registry refresh) changes nothing a restart needs: it may be
// saved only with the last-seen times, every SeenSaveInterval.
func TestSteadyTrafficSavesNoState(t *testing.T) {
	const hub devices.HubID = "hub-1"
	reg := registryEntry{hub: devices.Hub{ID: hub, Firmware: "sim-1"},
		sensors: []devices.Sensor{sensor(hub, "kitchen-smoke", devices.SensorSmoke, 300)}}
	cases := []struct {
		name   string
		minute func(h *harness, m int) // what the hub does each minute
	}{
		{"readings batch", func(h *harness, m int) { h.ingest(steadyBatch(hub, m)) }},
		{"heartbeat", func(h *harness, m int) { h.ingest(steadyBatch(hub, m)); h.ingest(heartbeat(hub)) }},
		{"same status again", func(h *harness, m int) { h.ingest(steadyBatch(hub, m)); h.ingest(status(hub, "sim-1")) }},
		{"unchanged registry refresh", func(h *harness, m int) {
			h.ingest(steadyBatch(hub, m))
			h.m.Refresh(reg.hub, reg.sensors)
			synctest.Wait()
		}},
		{"fault repeated by a faulty sensor", func(h *harness, m int) {
			h.ingest(steadyBatch(hub, m))
			h.ingest(event(hub, devices.EventTamper, "kitchen-smoke", time.Now()))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &savesStore{}
				h := startMonitor(t, Config{Store: st, Fleet: fleetOf(reg), SeenSaveInterval: 2 * time.Hour})
				defer h.stop()
				// Settle: connect, announce, a first round of everything
				// (power becomes known, the tamper fault opens).
				h.connect(hub, true, "")
				h.ingest(status(hub, "sim-1"))
				for m := range 11 {
					c.minute(h, m)
					h.after(time.Minute)
				}
				settled := st.count(hub)
				for m := 11; m < 71; m++ {
					c.minute(h, m)
					h.after(time.Minute)
				}
				if n := st.count(hub) - settled; n != 0 {
					t.Errorf("an hour of steady traffic saved the hub's state %d times, want 0", n)
				}
				if got := h.sink.take(); len(got) > 1 { // the tamper case opens one fault
					t.Errorf("detections %q", summary(got))
				}
			})
		})
	}
}

// TestRestartWithUnchangedRegistrySavesNothing: a gateway restart applies
// the whole registry to the restored health; at 300,000 hubs a save of every
// hub in the first round would be 300,000 records for nothing.
func TestRestartWithUnchangedRegistrySavesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hubs []registryEntry
		for i := range 20 {
			id := devices.HubID(fmt.Sprintf("hub-%d", i))
			hubs = append(hubs, registryEntry{hub: devices.Hub{ID: id, Firmware: "1.0"},
				sensors: []devices.Sensor{sensor(id, "door", devices.SensorDoor, 300)}})
		}
		st := &savesStore{}
		h := startMonitor(t, Config{Store: st, Fleet: fleetOf(hubs...)})
		for _, e := range hubs {
			h.ingest(steadyBatch(e.hub.ID, 1))
		}
		h.after(10 * time.Second)
		h.stop()
		st.saved = nil

		h = startMonitor(t, Config{Store: st, Fleet: fleetOf(hubs...)})
		defer h.stop()
		h.after(30 * time.Second)
		if n := len(st.saved); n != 0 {
			t.Errorf("a restart with an unchanged registry saved %d hubs, want 0", n)
		}
		// A registry change is still saved.
		hubs[0].sensors = append(hubs[0].sensors, sensor(hubs[0].hub.ID, "co", devices.SensorCO, 300))
		h.m.Refresh(hubs[0].hub, hubs[0].sensors)
		h.after(10 * time.Second)
		if n := st.count(hubs[0].hub.ID); n != 1 {
			t.Errorf("a sensor added: hub saved %d times, want 1", n)
		}
	})
}

// TestFirstKnowledgeIsNotUrgent: what a hub tells the gateway for the first
// time (its heartbeat interval and firmware, that it is on mains) is saved
// with its last-seen times, while a change of what was known is saved in
// the next round. Hubs reporting mains in the same minute on a fresh
// database would otherwise save every hub's state within a few rounds (at
// 300,000 hubs ~25,000 records a round, ~0.9 GB of encoding held at once on
// PostgreSQL). The one exception is the hub's first sighting ever, saved in
// the next round, so that a crash cannot leave a hub with no last-seen (and
// so never missed if it then goes silent).
func TestFirstKnowledgeIsNotUrgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hub devices.HubID = "hub-1"
		st := &savesStore{}
		h := startMonitor(t, Config{Store: st, Fleet: fleetOf(registryEntry{hub: devices.Hub{ID: hub}}),
			SeenSaveInterval: 2 * time.Hour})
		defer h.stop()
		h.connect(hub, true, "")
		h.ingest(status(hub, "sim-1"))
		for m := range 11 {
			h.ingest(steadyBatch(hub, m)) // mains at minute 0 and 10
			h.after(time.Minute)
		}
		if n := st.count(hub); n != 1 {
			t.Fatalf("first sighting, status and mains saved the hub %d times before its seen round, want 1 (the first sighting)", n)
		}
		// Back online after a disconnect: with the last-seen times.
		h.connect(hub, false, "lost")
		h.after(10 * time.Second)
		before := st.count(hub)
		h.connect(hub, true, "")
		h.after(10 * time.Second)
		if n := st.count(hub) - before; n != 0 {
			t.Errorf("reconnect saved the hub %d times in the next rounds, want 0", n)
		}
		changes := []struct {
			name string
			msg  *devices.Message
		}{
			{"firmware updated", status(hub, "sim-2")},
			{"heartbeat interval changed", func() *devices.Message {
				m := status(hub, "sim-2")
				m.Status.HeartbeatInterval = time.Minute
				return m
			}()},
		}
		for _, c := range changes {
			before := st.count(hub)
			h.ingest(c.msg)
			h.after(10 * time.Second)
			if n := st.count(hub) - before; n != 1 {
				t.Errorf("%s: saved %d times in the next rounds, want 1", c.name, n)
			}
		}
	})
}
