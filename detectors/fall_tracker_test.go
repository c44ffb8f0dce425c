package detectors

import (
	"math"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// A synthetic fall through the real tracker: standing still, an impact, then
// lying still; later standing up again. The adapter must report the fall
// once and the recovery once.
func TestWearableFallTrackerReportsFallThenRecovery(t *testing.T) {
	const hz = 50
	start := time.Unix(1_800_000_000, 0)
	var x, y, z []float32
	add := func(seconds float64, ax, ay, az float64) {
		for range int(seconds * hz) {
			x, y, z = append(x, float32(ax)), append(y, float32(ay)), append(z, float32(az))
		}
	}
	add(4, 0, -1, 0)         // upright (SisFall: y is vertical)
	add(0.3, 0.5, -0.2, 0.3) // falling
	add(0.1, 2.5, -2.0, 1.5) // impact
	add(6, 0, 0, -1)         // lying still
	add(4, 0, -1, 0)         // up again
	tk := WearableFallTrackers(nil)("hub-1", "wearable-1")
	var falls, recoveries int
	for i := 0; i < len(x); i += hz {
		j := min(i+hz, len(x))
		c := &devices.AccelChunk{Hub: "hub-1", Sensor: "wearable-1", At: start.Add(time.Duration(i) * time.Second / hz), RateHz: hz,
			X: x[i:j], Y: y[i:j], Z: z[i:j]}
		for _, f := range tk.Feed(c) {
			if f.Recovered {
				recoveries++
			} else {
				falls++
				if math.Abs(f.Impact.Sub(start).Seconds()-4.35) > 0.5 {
					t.Errorf("impact at %v after start, want ~4.35 s", f.Impact.Sub(start))
				}
			}
		}
	}
	if falls != 1 || recoveries != 1 {
		t.Fatalf("falls %d, recoveries %d; want 1 and 1", falls, recoveries)
	}
}
