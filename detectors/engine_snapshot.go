package detectors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dolbom/dolbom/devices"
)

// A home's snapshot: a version byte, the fixed-size core, the sensors (id
// and location) and the tracks. Fall trackers' raw buffers are not kept: a
// restart loses at most the chunk under way, while a fall already reported
// is an episode and is kept.
//
// Version 2 writes the counts and string lengths as uvarints: a home may
// track up to maxEngineSensors sensors times every metric, more than a byte
// can count. Version 3 adds, after the tracks, the home's applied journal
// position as a uvarint. Versions 1 (single-byte counts) and 2 are still
// read, so a gateway upgraded in place keeps its homes (with no position:
// its replay applies only what lies beyond the journal watermark).
//
// Version 4 writes, after the version byte, how many episode kinds the core
// holds (a uvarint), so that adding a cause does not cost every home its
// saved state: a new kind is appended to the kinds (home.go), a snapshot
// saved before reads with that episode closed, and one saved by a newer
// gateway, read by an older one, drops the episodes of kinds it does not
// know. Versions 1 to 3 hold kindsBeforeV4.
//
// Version 5 adds, after the journal position, the weak falls held for the
// bed zone (rule_fall.go, weakFall): a uvarint count, then for each the
// wearable's sensor index (uvarint), the impact, detection and deadline
// (varints, ms) and the peak (float32). A weak finding waits up to
// FallCancelWindow for the bed to read empty; without it in the snapshot a
// restart in that window lost a fall out of bed the bed zone would have
// confirmed. Version 4 is still read, with no weak finding held.
const (
	snapshotV1      = 1
	snapshotV2      = 2
	snapshotV4      = 4
	snapshotV5      = 5
	snapshotVersion = snapshotV5
)

// weakSize is the least an encoded weak finding takes (four one-byte
// varints and the float32), for bounding a corrupt count.
const weakSize = 4 + 4

// kindsBeforeV4 is how many episode kinds the snapshots before version 4
// hold, unwritten: kFireConfirmed to kInactivity.
const kindsBeforeV4 = 13

var (
	coreSize    = binary.Size(homeCore{})
	episodeSize = binary.Size(Episode{})
	// epsOffset is where the episodes start in the encoded core, after
	// Clock and Offset (TestSnapshotCoreLayout).
	epsOffset = binary.Size(struct{ Clock, Offset int64 }{})
)

var errSnapshot = errors.New("malformed snapshot")

var trackSize = binary.Size(track{})

func encodeHome(h *home) []byte {
	b := make([]byte, 0, 2+coreSize+len(h.sensors)*24+binary.MaxVarintLen32+len(h.tracks)*trackSize)
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, uint64(numKinds))
	b, _ = binary.Append(b, binary.LittleEndian, &h.core)
	b = binary.AppendUvarint(b, uint64(len(h.sensors)))
	for k, s := range h.sensors {
		id, loc := h.sensorID(k), s.loc.location()
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, uint64(len(loc)))
		b = append(b, loc...)
	}
	b = binary.AppendUvarint(b, uint64(len(h.tracks)))
	b, _ = binary.Append(b, binary.LittleEndian, h.tracks)
	b = binary.AppendUvarint(b, uint64(h.applied))
	return appendWeak(b, h)
}

// appendWeak writes the weak findings held (version 5).
func appendWeak(b []byte, h *home) []byte {
	n := 0
	for i := range h.trackers {
		if h.trackers[i].weak.deadline != 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i := range h.trackers {
		w := &h.trackers[i].weak
		if w.deadline == 0 {
			continue
		}
		si := slices.IndexFunc(h.sensors, func(s sensorInfo) bool { return s.name == h.trackers[i].sensor })
		b = binary.AppendUvarint(b, uint64(si)) // the slot's sensor is one of the home's: holdWeak found it there
		b = binary.AppendVarint(b, w.impact)
		b = binary.AppendVarint(b, w.detected)
		b = binary.AppendVarint(b, w.deadline)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(w.peak))
	}
	return b
}

// readWeak reads the weak findings of a version 5 snapshot into slots of
// h.trackers (with no tracker yet: the wearable's next chunk makes one).
func (r *snapshotReader) readWeak(h *home) error {
	n, ok := r.count(weakSize)
	if !ok || n > len(h.sensors) {
		return fmt.Errorf("%w: weak falls", errSnapshot)
	}
	h.trackers = nil
	for range n {
		var v [4]int64
		for k := range v {
			var m int
			if k == 0 {
				u, c := binary.Uvarint(r.b)
				v[k], m = int64(u), c
				if u >= uint64(len(h.sensors)) {
					m = 0
				}
			} else {
				v[k], m = binary.Varint(r.b)
			}
			if m <= 0 {
				return fmt.Errorf("%w: weak fall", errSnapshot)
			}
			r.b = r.b[m:]
		}
		if len(r.b) < 4 || v[3] == 0 {
			return fmt.Errorf("%w: weak fall", errSnapshot)
		}
		name := h.sensors[v[0]].name
		if slices.ContainsFunc(h.trackers, func(s fallTrackerSlot) bool { return s.sensor == name }) {
			return fmt.Errorf("%w: weak fall: sensor twice", errSnapshot)
		}
		w := weakFall{impact: v[1], detected: v[2], deadline: v[3], peak: math.Float32frombits(binary.LittleEndian.Uint32(r.b))}
		r.b = r.b[4:]
		h.trackers = append(h.trackers, fallTrackerSlot{sensor: name, weak: w})
	}
	return nil
}

// snapshotReader reads the variable part of a snapshot; a count or length
// is a byte in version 1 and a uvarint since.
type snapshotReader struct {
	b      []byte
	varint bool
}

// count reads a count or a length and checks that at least n*each bytes
// remain for what it counts, so that a corrupt count cannot make the
// decoder allocate without bound.
func (r *snapshotReader) count(each int) (int, bool) {
	var n uint64
	if r.varint {
		v, k := binary.Uvarint(r.b)
		if k <= 0 {
			return 0, false
		}
		n, r.b = v, r.b[k:]
	} else {
		if len(r.b) < 1 {
			return 0, false
		}
		n, r.b = uint64(r.b[0]), r.b[1:]
	}
	if n > uint64(len(r.b)) || int(n)*each > len(r.b) {
		return 0, false
	}
	return int(n), true
}

func (r *snapshotReader) str() (string, bool) {
	n, ok := r.count(1)
	if !ok {
		return "", false
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s, true
}

// coreOf returns the core saved at the start of b with kinds episode kinds
// in today's layout (numKinds episodes: those of kinds added since the save
// closed, those of kinds this gateway does not know dropped), and how many
// bytes of b it took.
func coreOf(b []byte, kinds int) (core []byte, used int, err error) {
	used = coreSize + (kinds-int(numKinds))*episodeSize
	if len(b) < used {
		return nil, 0, fmt.Errorf("%w: core", errSnapshot)
	}
	if kinds == int(numKinds) {
		return b[:used], used, nil
	}
	keep := min(kinds, int(numKinds))
	core = make([]byte, 0, coreSize)
	core = append(core, b[:epsOffset+keep*episodeSize]...)
	core = append(core, make([]byte, (int(numKinds)-keep)*episodeSize)...) // closed
	core = append(core, b[epsOffset+kinds*episodeSize:used]...)
	return core, used, nil
}

// decodeHome reads a snapshot into h. On error h may be half filled: decode
// into a scratch home and keep it only on success.
func decodeHome(h *home, b []byte) error {
	if len(b) < 1 || b[0] < snapshotV1 || b[0] > snapshotVersion {
		return fmt.Errorf("%w: version", errSnapshot)
	}
	r := snapshotReader{varint: b[0] >= 2}
	rest, kinds := b[1:], kindsBeforeV4
	if b[0] >= snapshotV4 {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n == 0 || n > 255 {
			return fmt.Errorf("%w: episode kinds", errSnapshot)
		}
		rest, kinds = rest[k:], int(n)
	}
	core, used, err := coreOf(rest, kinds)
	if err != nil {
		return err
	}
	if _, err := binary.Decode(core, binary.LittleEndian, &h.core); err != nil {
		return fmt.Errorf("%w: %w", errSnapshot, err)
	}
	r.b = rest[used:]
	ns, ok := r.count(2) // an empty id and an empty location take a byte each
	if !ok || ns > maxEngineSensors {
		return fmt.Errorf("%w: sensors", errSnapshot)
	}
	h.sensors = make([]sensorInfo, 0, ns)
	for range ns {
		id, ok1 := r.str()
		loc, ok2 := r.str()
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: sensor", errSnapshot)
		}
		h.sensors = append(h.sensors, sensorInfo{name: h.own.Name(devices.SensorID(id)), loc: codeOf(devices.Location(loc))})
	}
	nt, ok := r.count(trackSize)
	if !ok {
		return fmt.Errorf("%w: tracks", errSnapshot)
	}
	h.tracks = make([]track, nt)
	n, err := binary.Decode(r.b, binary.LittleEndian, h.tracks)
	if err != nil {
		return fmt.Errorf("%w: %w", errSnapshot, err)
	}
	r.b = r.b[n:]
	if b[0] >= 3 {
		applied, k := binary.Uvarint(r.b)
		if k <= 0 || applied > 1<<62 {
			return fmt.Errorf("%w: journal position", errSnapshot)
		}
		h.applied = int64(applied)
		r.b = r.b[k:]
	}
	if b[0] >= snapshotV5 {
		if err := r.readWeak(h); err != nil {
			return err
		}
	}
	for _, t := range h.tracks {
		if int(t.Sensor) >= len(h.sensors) {
			return fmt.Errorf("%w: track sensor", errSnapshot)
		}
	}
	for k := range h.core.Eps {
		if int(h.core.Eps[k].Sensor) > len(h.sensors) {
			return fmt.Errorf("%w: episode sensor", errSnapshot)
		}
	}
	return nil
}
