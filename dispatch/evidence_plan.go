package dispatch

import (
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// What shows the evidence of an incident, by its cause: the metrics that
// tell what happened and the span around the episode's start. It is the
// cause's vocabulary, like its category, so that a new cause is described
// here and the console's charts follow (console/web draws them).

// EvidenceAccel names the accelerometer among the evidence metrics: the
// wearables send raw chunks, shown as their magnitude in g.
const EvidenceAccel devices.Metric = "accel_g"

// EvidencePlan is what to show of an incident's evidence. The span may
// reach past EvidenceWindow (what is kept beyond the raw data's
// retention): the rest is shown while the raw data is still there.
type EvidencePlan struct {
	Metrics       []devices.Metric
	Before, After time.Duration
}

// EvidenceOf is the plan for an incident of cause c; false for a cause
// with nothing to chart (device health).
func EvidenceOf(c detectors.Cause) (EvidencePlan, bool) {
	switch c {
	case detectors.CauseFall:
		// The impact, and the 30 s the resident had to get up.
		return EvidencePlan{[]devices.Metric{EvidenceAccel, devices.MetricHeartRate}, 15 * time.Second, 45 * time.Second}, true
	case detectors.CauseFireConfirmed, detectors.CauseSmokeUnconfirmed:
		return EvidencePlan{[]devices.Metric{devices.MetricTemperature, devices.MetricSmoke, devices.MetricCO, devices.MetricHumidity}, 15 * time.Minute, 5 * time.Minute}, true
	case detectors.CauseCO:
		return EvidencePlan{[]devices.Metric{devices.MetricCO, devices.MetricTemperature}, 30 * time.Minute, 5 * time.Minute}, true
	case detectors.CauseGas:
		return EvidencePlan{[]devices.Metric{devices.MetricGas}, 30 * time.Minute, 5 * time.Minute}, true
	case detectors.CauseBradycardia, detectors.CauseTachycardia, detectors.CauseAsystole:
		return EvidencePlan{[]devices.Metric{devices.MetricHeartRate, devices.MetricRespiration}, 15 * time.Minute, 5 * time.Minute}, true
	case detectors.CauseApnoea, detectors.CauseBreathingRate:
		return EvidencePlan{[]devices.Metric{devices.MetricRespiration, devices.MetricHeartRate}, 15 * time.Minute, 5 * time.Minute}, true
	case detectors.CauseInactivity:
		return EvidencePlan{[]devices.Metric{devices.MetricMotion, devices.MetricDoor}, 12 * time.Hour, time.Hour}, true
	case detectors.CauseSOS:
		return EvidencePlan{[]devices.Metric{devices.MetricHeartRate, devices.MetricMotion, EvidenceAccel}, 10 * time.Minute, 5 * time.Minute}, true
	}
	return EvidencePlan{}, false
}
