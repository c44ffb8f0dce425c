package detectors

import (
	"encoding/binary"
	"testing"
)

// withKinds rewrites a snapshot of today's version as one saved with kinds
// episode kinds: the episodes of the kinds beyond are cut, or episodes of
// kinds unknown today (firing, so that a misplaced byte shows) added.
func withKinds(t *testing.T, enc []byte, kinds int) []byte {
	t.Helper()
	if enc[0] != snapshotVersion || enc[1] != byte(numKinds) {
		t.Fatalf("not a version %d snapshot of %d kinds: % x", snapshotVersion, numKinds, enc[:2])
	}
	core := enc[2 : 2+coreSize]
	endEps := epsOffset + int(numKinds)*episodeSize
	out := []byte{snapshotVersion, byte(kinds)}
	if kinds <= int(numKinds) {
		out = append(out, core[:epsOffset+kinds*episodeSize]...)
	} else {
		out = append(out, core[:endEps]...)
		for range kinds - int(numKinds) {
			out, _ = binary.Append(out, binary.LittleEndian, Episode{Start: 1_767_225_000_000, State: epFiring, Prio: 1})
		}
	}
	out = append(out, core[endEps:]...)
	return append(out, enc[2+coreSize:]...)
}

// A cause added later (a new episode kind) costs no home its saved state:
// a snapshot saved with fewer kinds reads with the new ones closed, one
// saved by a newer gateway with more drops those it does not know, and a
// version 3 snapshot (no count, kindsBeforeV4 kinds) still reads.
func TestSnapshotEpisodeKindsAddedOrUnknown(t *testing.T) {
	h := manyTracksHome(3, 4)
	h.applied = 42
	last := numKinds - 1
	h.core.Eps[last] = Episode{} // closed: what a snapshot without that kind means
	enc := encodeHome(h)

	for _, kinds := range []int{int(numKinds) - 1, int(numKinds) + 2} {
		var back home
		if err := decodeHome(&back, withKinds(t, enc, kinds)); err != nil {
			t.Fatalf("%d kinds: %v", kinds, err)
		}
		sameHome(t, h, &back)
		if back.applied != 42 {
			t.Errorf("%d kinds: applied %d, want 42", kinds, back.applied)
		}
	}

	v3 := withKinds(t, enc, kindsBeforeV4)
	v3 = append([]byte{3}, v3[2:len(v3)-1]...) // no count before version 4, no weak falls (the last byte, 0) before 5
	var back home
	if err := decodeHome(&back, v3); err != nil {
		t.Fatalf("version 3: %v", err)
	}
	sameHome(t, h, &back)

	for _, bad := range [][]byte{{snapshotV4}, {snapshotV4, 0}, withKinds(t, enc, int(numKinds))[:2+coreSize-1]} {
		if err := decodeHome(&home{}, bad); err == nil {
			t.Errorf("% x...: accepted", bad[:min(len(bad), 4)])
		}
	}
}

// TestSnapshotCoreLayout: the episodes start at epsOffset of the encoded
// core, where coreOf cuts and pads them.
func TestSnapshotCoreLayout(t *testing.T) {
	var h home
	h.core.Eps[0].Start = 0x0102030405060708
	b, _ := binary.Append(nil, binary.LittleEndian, &h.core)
	if got := binary.LittleEndian.Uint64(b[epsOffset:]); got != 0x0102030405060708 {
		t.Errorf("the first episode's start is not at byte %d of the core: %#x", epsOffset, got)
	}
	if binary.Size(h.core) != coreSize || coreSize < epsOffset+int(numKinds)*episodeSize {
		t.Errorf("core size %d, episodes end at %d", coreSize, epsOffset+int(numKinds)*episodeSize)
	}
}
