package health

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// total is how many hub records st has saved in all.
func (s *savesStore) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.saved {
		n += c
	}
	return n
}

// TestReportedFirmwareIsSavedOnceAndTimed: the health record is where the
// store reads the firmware a hub runs (docs/operations.md "Fleet"). A
// hub's first status confirming the version the registry declared is saved
// once, with when it was reported (from then on the hub's word beats the
// registry's), and not urgently: with its seen round. A new version (a
// rollout's) is saved in the next round. A reconnect wave of unchanged
// statuses, which at 300,000 hubs is 300,000 statuses, saves nothing.
func TestReportedFirmwareIsSavedOnceAndTimed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A status renews a hub's last-seen times, as any message does;
		// they are saved in the round of the hub's seen slot (index % the
		// seen interval's rounds), which comes once per seen interval. With
		// 4 h (2,880 rounds of 5 s) the slots of 500 hubs have all passed
		// after the first hour, so that none falls in the windows counted
		// below.
		const n, seen = 500, 4 * time.Hour
		var fleet []registryEntry
		for i := range n {
			fleet = append(fleet, registryEntry{hub: devices.Hub{ID: devices.HubID(fmt.Sprintf("hub-%03d", i)), Firmware: "2.4.1"}})
		}
		st := &savesStore{}
		h := startMonitor(t, Config{Store: st, Fleet: fleetOf(fleet...), SeenSaveInterval: seen})
		defer h.stop()
		wave := func(firmware string) {
			for _, e := range fleet {
				h.connect(e.hub.ID, false, "lost")
			}
			h.after(10 * time.Second)
			for _, e := range fleet {
				h.connect(e.hub.ID, true, "")
				h.ingest(status(e.hub.ID, firmware))
			}
		}
		// First sightings are saved in the next round, with the first
		// report of 2.4.1.
		wave("2.4.1")
		h.after(10 * time.Second)
		for _, e := range fleet {
			r := st.records[e.hub.ID]
			if r.Firmware != "2.4.1" || r.FirmwareReported.IsZero() {
				t.Fatalf("%s saved firmware %q reported at %v, want 2.4.1 with its time", e.hub.ID, r.Firmware, r.FirmwareReported)
			}
		}

		h.after(time.Hour)

		// A rollout installed 2.5.0 on hub-000: saved in the next round.
		before := st.count("hub-000")
		first := st.records["hub-000"].FirmwareReported
		h.ingest(status("hub-000", "2.5.0"))
		h.after(10 * time.Second)
		if r := st.records["hub-000"]; st.count("hub-000") != before+1 || r.Firmware != "2.5.0" || !r.FirmwareReported.After(first) {
			t.Errorf("a new version: saved %d times, record %q reported at %v (first report %v)", st.count("hub-000")-before, r.Firmware, r.FirmwareReported, first)
		}

		// A reconnect wave of the statuses already saved: the statuses add
		// no save (the reconnects' own saves, TestFirstKnowledgeIsNotUrgent,
		// are let through first and not counted).
		for _, e := range fleet {
			h.connect(e.hub.ID, false, "lost")
		}
		h.after(10 * time.Second)
		for _, e := range fleet {
			h.connect(e.hub.ID, true, "")
		}
		h.after(time.Minute)
		before = st.total()
		for _, e := range fleet {
			fw := "2.4.1"
			if e.hub.ID == "hub-000" {
				fw = "2.5.0"
			}
			h.ingest(status(e.hub.ID, fw))
		}
		h.after(10 * time.Second)
		if got := st.total() - before; got != 0 {
			t.Errorf("a reconnect wave of unchanged statuses saved %d hub records, want 0", got)
		}
	})
}
