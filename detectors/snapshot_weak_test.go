package detectors

import (
	"bytes"
	"testing"
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
