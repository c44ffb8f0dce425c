package health

import (
	"testing"

	"github.com/dolbom/dolbom/detectors"
)

// Every cause the monitor emits is in the detectors' list of the causes
// they produce (detectors.Causes), as a device cause: dispatch's tests hold
// their tables to that list, so a cause missing there would escape them.
func TestHealthCausesAreListed(t *testing.T) {
	listed := map[detectors.Cause]detectors.Produced{}
	for _, p := range detectors.Causes() {
		listed[p.Cause] = p
	}
	all := append(append(healthCauses[:], hubFaultCauses[:]...), sensorFaultCauses[:]...)
	for _, c := range all {
		if p, ok := listed[c]; !ok || !p.Can(detectors.ClassDeviceHealth) {
			t.Errorf("cause %s: not in detectors.Causes() as device health (%+v)", c, p)
		}
	}
}
