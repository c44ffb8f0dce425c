package detectors

import (
	"strings"
	"sync"

	"github.com/dolbom/dolbom/devices"
)

// This file keeps per-home lists small. At national scale a home's state is
// paid 300,000 times, and two habits of the ordinary slice and string code
// added ~700 B per home of the simulator's 13-sensor homes (measured with
// dolbom-sim load --memprofile, docs/performance.md "Issue 14: memory per
// hub"): append doubling a list filled once and then kept for the home's
// lifetime, and a private copy of every sensor id in every home, twice
// (engine and health monitor).

// maxSharedNames bounds sensorNames. Sensor ids are unique within a hub
// only (docs/protocol.md 6.2) and homes are installed with the same few
// names ("kitchen-smoke", "hub"), so a fleet needs a few dozen; a fleet
// whose hubs number their sensors fills the table and its ids past it are
// copied per home, as before.
const maxSharedNames = 4096

// sensorNames holds one copy of each sensor id, shared by every home of the
// engine and every hub of the health monitor (strings are immutable, so
// sharing is safe across their goroutines). It is consulted only when a
// home first sees a sensor.
var sensorNames = struct {
	sync.Mutex
	m map[devices.SensorID]devices.SensorID
}{m: make(map[devices.SensorID]devices.SensorID)}

// sharedSensorID returns a copy of id that holds no reference to the
// buffer id may point into (a decoded payload), shared when it can be.
func sharedSensorID(id devices.SensorID) devices.SensorID {
	sensorNames.Lock()
	defer sensorNames.Unlock()
	if s, ok := sensorNames.m[id]; ok {
		return s
	}
	s := devices.SensorID(strings.Clone(string(id)))
	if len(sensorNames.m) < maxSharedNames {
		sensorNames.m[s] = s
	}
	return s
}

// appendTight appends v to a per-home list, growing its backing array by
// one element instead of doubling it. The lists (sensors, tracks) grow once,
// when a sensor is first seen, up to 64 elements, so the copies cost
// nothing that matters; doubling left up to half of each list unused for
// the life of the home (13 sensors in a capacity of 16, for instance).
func appendTight[T any](s []T, v T) []T {
	if len(s) < cap(s) {
		return append(s, v)
	}
	out := make([]T, len(s)+1)
	copy(out, s)
	out[len(s)] = v
	return out
}

var knownLocations = [...]devices.Location{devices.LocBedroom, devices.LocLivingRoom, devices.LocKitchen,
	devices.LocBathroom, devices.LocEntrance, devices.LocHallway, devices.LocUtility, devices.LocWorn, devices.LocOther}

// sharedLocation returns the package constant equal to l, so that a
// location read from the registry or a snapshot is not a string per sensor
// per home; an unknown one is kept as it is.
func sharedLocation(l devices.Location) devices.Location {
	for _, k := range knownLocations {
		if k == l {
			return k
		}
	}
	return l
}
