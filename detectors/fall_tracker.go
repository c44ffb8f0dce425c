package detectors

import (
	"github.com/dolbom/dolbom/detectors/fall"
	"github.com/dolbom/dolbom/devices"
)

// WearableFallTrackers returns the engine's tracker factory backed by the
// streaming accelerometer fall detector of package fall (cfg nil: its
// defaults). The detector reports through Feed both a fall and the wearer
// getting up after one (fall.Fall.GotUp); the adapter turns them into
// FallFindings.
func WearableFallTrackers(cfg *fall.Config) NewFallTrackerFunc {
	return func(devices.HubID, devices.SensorID) FallTracker {
		return &wearableTracker{t: fall.NewTracker(cfg)}
	}
}

type wearableTracker struct {
	t   *fall.Tracker
	out []FallFinding
}

func (w *wearableTracker) Feed(c *devices.AccelChunk) []FallFinding {
	w.out = w.out[:0]
	for _, f := range w.t.Feed(c) {
		w.out = append(w.out, FallFinding{Impact: f.Impact, Detected: f.Detected, PeakG: f.PeakG, Recovered: f.GotUp, FromLying: f.FromLying, Weak: f.Weak})
	}
	return w.out
}
