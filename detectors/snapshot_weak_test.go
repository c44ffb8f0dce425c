package detectors

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// weakHome is a home whose wearable (its sensor 2) holds a weak fall from
// lying waiting for the bed zone, beside a wearable holding none.
func weakHome() *home {
	h := manyTracksHome(4, 3)
	w := weakFall{impact: 1_767_225_597_000, detected: 1_767_225_600_000, deadline: 1_767_225_630_000, peak: 1.7}
	h.trackers = []fallTrackerSlot{{sensor: h.sensors[1].name}, {sensor: h.sensors[2].name, weak: w}}
	return h
}

// TestSnapshotKeepsWeakFall: a weak fall survives the snapshot (version 5)
// on its own wearable's slot, which gets its tracker with the next chunk;
// a version 4 snapshot still reads, holding none.
func TestSnapshotKeepsWeakFall(t *testing.T) {
	h := weakHome()
	enc := encodeHome(h)
	var dec home
	if err := decodeHome(&dec, enc); err != nil {
		t.Fatal(err)
	}
	sameHome(t, h, &dec)
	if len(dec.trackers) != 1 || dec.trackers[0].sensor != h.sensors[2].name || dec.trackers[0].weak != h.trackers[1].weak || dec.trackers[0].tracker != nil {
		t.Fatalf("weak falls restored as %+v, want only sensor 2's %+v", dec.trackers, h.trackers[1].weak)
	}

	// Into a home already feeding sensor 2: the finding joins its slot.
	live := &home{trackers: []fallTrackerSlot{{sensor: h.sensors[2].name}}}
	live.takeSaved(&dec)
	if len(live.trackers) != 1 || live.trackers[0].weak != h.trackers[1].weak {
		t.Fatalf("taken into a live home: %+v", live.trackers)
	}

	// Version 4: the same bytes without the weak falls' section.
	none := encodeHome(&home{core: h.core, sensors: h.sensors, tracks: h.tracks, applied: h.applied})
	if !bytes.HasPrefix(enc, none[:len(none)-1]) || none[len(none)-1] != 0 {
		t.Fatal("the weak falls are not the snapshot's last section")
	}
	v4 := append([]byte{snapshotV4}, none[1:len(none)-1]...)
	var old home
	if err := decodeHome(&old, v4); err != nil {
		t.Fatalf("version 4: %v", err)
	}
	sameHome(t, h, &old)
	if len(old.trackers) != 0 {
		t.Errorf("version 4 read with weak falls: %+v", old.trackers)
	}

	// Corrupt sections are refused, not read past.
	weakAt := len(none) - 1
	for name, bad := range map[string][]byte{
		"count past the end":    append(append([]byte{}, enc[:weakAt]...), 9),
		"sensor out of range":   append(append(append([]byte{}, enc[:weakAt]...), 1, 7), enc[weakAt+2:]...),
		"cut in the peak":       enc[:len(enc)-2],
		"no weak section at v5": enc[:weakAt],
	} {
		if err := decodeHome(&home{}, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestEngineSavesWeakFallPromptly runs the real loops on fake time: a weak
// fall is saved with the next periodic save (SaveInterval, 5 s), like an
// episode, not with the minute's activity-clock saves, so that a crash
// inside its 30 s window keeps it; and an engine started from that save
// raises it when the bed then reads empty.
func TestEngineSavesWeakFallPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, sink := &memEngineStore{}, &recorder{}
		tk := &fakeTracker{}
		cfg := EngineConfig{Sink: sink, Store: store, Shards: 2, Logger: zerolog.Nop(),
			NewFallTracker: func(devices.HubID, devices.SensorID) FallTracker { return tk }}
		e, stop := startEngineConfig(t, cfg)
		now := time.Now()
		tk.next = []FallFinding{{Impact: now.Add(-3 * time.Second), Detected: now, PeakG: 1.7, FromLying: true, Weak: true}}
		c := accelChunk("hub-1", "wearable-1", now.Add(-time.Second), false)
		e.Ingest(&devices.Message{Hub: "hub-1", Channel: devices.ChanAccel, Accel: c})
		time.Sleep(6 * time.Second)
		synctest.Wait()
		store.mu.Lock()
		saved := store.homes["hub-1"]
		store.mu.Unlock()
		var dec home
		if err := decodeHome(&dec, saved); err != nil || len(dec.trackers) != 1 || dec.trackers[0].weak.deadline == 0 {
			stop()
			t.Fatalf("6 s after a weak fall the saved home holds %+v (%v), want the weak fall", dec.trackers, err)
		}
		if got := sink.take(); len(got) != 0 {
			t.Errorf("a weak fall emitted %+v", got)
		}
		stop()

		tk2 := &fakeTracker{}
		cfg.NewFallTracker = func(devices.HubID, devices.SensorID) FallTracker { return tk2 }
		e, stop = startEngineConfig(t, cfg)
		defer stop()
		at := time.Now()
		e.Ingest(&devices.Message{Hub: "hub-1", Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{Hub: "hub-1", SentAt: at, Received: at,
			Readings: []devices.Reading{{Sensor: "radar-1", Metric: devices.MetricBed, At: at, Value: 0, Quality: 1}}}})
		synctest.Wait()
		got := sink.take()
		if len(got) != 1 || got[0].Cause != CauseFall || got[0].State != Pending {
			t.Fatalf("the bed empty after the restart: want a pending fall, got %+v", got)
		}
	})
}
