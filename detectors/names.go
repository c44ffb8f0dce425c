package detectors

import "github.com/dolbom/dolbom/devices"

// locCode is a sensor's location as one byte: an index into knownLocations,
// which are all the registry accepts (devices.Locations).
type locCode uint8

var knownLocations = [...]devices.Location{devices.LocOther, devices.LocBedroom, devices.LocLivingRoom,
	devices.LocKitchen, devices.LocBathroom, devices.LocEntrance, devices.LocHallway, devices.LocUtility, devices.LocWorn}

// codeOf is l's code; a location the registry would not accept counts as
// "other" (it cannot be a room the rules know).
func codeOf(l devices.Location) locCode {
	for k, x := range knownLocations {
		if x == l {
			return locCode(k)
		}
	}
	return 0
}

func (c locCode) location() devices.Location { return knownLocations[c] }
