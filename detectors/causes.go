package detectors

import "slices"

// Produced is one cause the detectors can produce, with every class its
// detections can carry.
type Produced struct {
	Cause   Cause
	Classes []Class
}

// deviceCauses are the device-health causes of the health monitor
// (detectors/health, whose tests hold its own lists to this one).
var deviceCauses = []Cause{CauseHubOffline, CausePowerLost, CauseBatteryLow, CauseSensorSilent,
	CauseSensorFault, CauseEndOfLife, CauseClockSkew}

// Causes lists every cause the detectors can produce: the Engine's
// episodes (kindCause, each with the classes episodeClass gives it at every
// level), the fall the wearer got up from (rule_fall_ask.go, no episode of
// its own) and the health monitor's device causes. It is derived from the
// tables the rules use, not written by hand, so that dispatch's tests can
// hold its own tables (causeOrder, CategoryOf, evidence plans) to it: a new
// cause left out of one of them fails a test naming it, instead of ranking
// as "an emergency just above a fall" or being told as "a device".
func Causes() []Produced {
	var out []Produced
	var h home
	for k := range numKinds {
		var classes []Class
		for level := range 256 { // every level an episode can hold
			h.core.Eps[k].Level = uint8(level)
			if c := h.episodeClass(k); !slices.Contains(classes, c) {
				classes = append(classes, c)
			}
		}
		out = append(out, Produced{Cause: kindCause[k], Classes: classes})
	}
	out = append(out, Produced{Cause: CauseFallRecovered, Classes: []Class{ClassWelfare}})
	for _, c := range deviceCauses {
		out = append(out, Produced{Cause: c, Classes: []Class{ClassDeviceHealth}})
	}
	return out
}

// Can reports whether p's detections can carry class c.
func (p Produced) Can(c Class) bool { return slices.Contains(p.Classes, c) }
