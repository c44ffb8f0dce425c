package dispatch

import (
	"slices"
	"testing"

	"github.com/dolbom/dolbom/detectors"
)

// Every cause the detectors can produce as an emergency is ranked in
// causeOrder: one left out would rank silently just above a fall (causeRank),
// below a button press and a heart that stopped, whatever it is. Its evidence
// plan then follows (TestEvidenceOfEveryResidentCause).
func TestCauseOrderHasEveryEmergencyCause(t *testing.T) {
	for _, p := range detectors.Causes() {
		if p.Can(detectors.ClassEmergency) && !slices.Contains(causeOrder, p.Cause) {
			t.Errorf("cause %s (class emergency) is not in causeOrder (fold.go): it would rank just above a fall", p.Cause)
		}
	}
}

// Every cause the detectors can produce has its own category (category.go):
// CategoryOf's fallback is "device", so a resident's cause left out would
// reach 119 and the guardians as "a safety device needs attention". Device
// causes, and only they, are of the device category.
func TestCategoryOfEveryProducedCause(t *testing.T) {
	for _, p := range detectors.Causes() {
		device := p.Can(detectors.ClassDeviceHealth) || deviceHealthCauses[p.Cause]
		if got := CategoryOf(p.Cause); (got == CategoryDevice) != device {
			t.Errorf("cause %s (classes %v): category %s; a resident's cause needs its own in CategoryOf (category.go)", p.Cause, p.Classes, got)
		}
	}
}
