package detectors

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dolbom/dolbom/devices"
)

// A home's snapshot: a version byte, the fixed-size core, the sensors (id
// and location) and the tracks. Fall trackers' raw buffers are not kept: a
// restart loses at most the chunk under way, while a fall already reported
// is an episode and is kept.
const snapshotVersion = 1

var errSnapshot = errors.New("malformed snapshot")

func encodeHome(h *home) []byte {
	b := make([]byte, 0, 1+binary.Size(&h.core)+len(h.sensors)*24+len(h.tracks)*binary.Size(track{}))
	b = append(b, snapshotVersion)
	b, _ = binary.Append(b, binary.LittleEndian, &h.core)
	b = append(b, byte(len(h.sensors)))
	for _, s := range h.sensors {
		b = append(b, byte(len(s.id)))
		b = append(b, s.id...)
		b = append(b, byte(len(s.loc)))
		b = append(b, s.loc...)
	}
	b = append(b, byte(len(h.tracks)))
	b, _ = binary.Append(b, binary.LittleEndian, h.tracks)
	return b
}

func decodeHome(h *home, b []byte) error {
	if len(b) < 1 || b[0] != snapshotVersion {
		return fmt.Errorf("%w: version", errSnapshot)
	}
	n, err := binary.Decode(b[1:], binary.LittleEndian, &h.core)
	if err != nil {
		return fmt.Errorf("%w: %w", errSnapshot, err)
	}
	b = b[1+n:]
	str := func() (string, bool) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", false
		}
		s := string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
		return s, true
	}
	if len(b) < 1 {
		return fmt.Errorf("%w: sensors", errSnapshot)
	}
	ns := int(b[0])
	b = b[1:]
	h.sensors = make([]sensorInfo, 0, ns)
	for range ns {
		id, ok1 := str()
		loc, ok2 := str()
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: sensor", errSnapshot)
		}
		h.sensors = append(h.sensors, sensorInfo{id: devices.SensorID(id), loc: devices.Location(loc)})
	}
	if len(b) < 1 {
		return fmt.Errorf("%w: tracks", errSnapshot)
	}
	h.tracks = make([]track, b[0])
	if _, err := binary.Decode(b[1:], binary.LittleEndian, h.tracks); err != nil {
		return fmt.Errorf("%w: %w", errSnapshot, err)
	}
	for _, t := range h.tracks {
		if int(t.Sensor) >= len(h.sensors) {
			return fmt.Errorf("%w: track sensor", errSnapshot)
		}
	}
	return nil
}
