package detectors

import (
	"testing"

	"github.com/dolbom/dolbom/devices"
)

// guessLocation reads the room from the installer's sensor names; the first
// matching group wins ("bath-bed" is a bathroom), an unknown name is other.
func TestGuessLocation(t *testing.T) {
	for id, want := range map[devices.SensorID]devices.Location{
		"kitchen-smoke":   devices.LocKitchen,
		"shower-humidity": devices.LocBathroom,
		"bath-bed":        devices.LocBathroom,
		"bedroom-radar":   devices.LocBedroom,
		"living-pir":      devices.LocLivingRoom,
		"front-door":      devices.LocEntrance,
		"hall-pir":        devices.LocHallway,
		"pendant-1":       devices.LocWorn,
		"wearable":        devices.LocWorn,
		"attic-heat":      devices.LocOther,
	} {
		if got := guessLocation(id); got != want {
			t.Errorf("guessLocation(%q) = %v, want %v", id, got, want)
		}
	}
}
