package detectors

import (
	"time"

	"github.com/dolbom/dolbom/detectors/fall"
	"github.com/dolbom/dolbom/devices"
)

// WearableFallTrackers returns the engine's tracker factory backed by the
// streaming accelerometer fall detector of package fall (cfg nil: its
// defaults). The detector reports a fall's impact through Feed and the
// wearer getting up through RecoveredAt; the adapter turns both into
// FallFindings.
func WearableFallTrackers(cfg *fall.Config) NewFallTrackerFunc {
	return func(devices.HubID, devices.SensorID) FallTracker {
		return &wearableTracker{t: fall.NewTracker(cfg)}
	}
}

type wearableTracker struct {
	t *fall.Tracker
	// lastImpact is the impact of the latest fall, and recovered the
	// recovery time already reported for it.
	lastImpact time.Time
	recovered  time.Time
	out        []FallFinding
}

func (w *wearableTracker) Feed(c *devices.AccelChunk) []FallFinding {
	w.out = w.out[:0]
	for _, f := range w.t.Feed(c) {
		w.out = append(w.out, FallFinding{Impact: f.Impact, Detected: f.Detected, PeakG: f.PeakG})
		w.lastImpact = f.Impact
	}
	if at := w.t.RecoveredAt(); !w.lastImpact.IsZero() && at.After(w.lastImpact) && !at.Equal(w.recovered) {
		w.recovered = at
		w.out = append(w.out, FallFinding{Impact: w.lastImpact, Detected: at, Recovered: true})
	}
	return w.out
}
