package detectors

import (
	"math"
	"slices"
	"strings"
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
	var tr trace
	add := func(seconds float64, ax, ay, az float64) { tr.add(hz, seconds, ax, ay, az) }
	add(4, 0, -1, 0)         // upright (SisFall: y is vertical)
	add(0.3, 0.5, -0.2, 0.3) // falling
	add(0.1, 2.5, -2.0, 1.5) // impact
	add(6, 0, 0, -1)         // lying still
	add(4, 0, -1, 0)         // up again
	tk := WearableFallTrackers(nil)("hub-1", "wearable-1")
	var falls, recoveries int
	x, y, z := tr.x, tr.y, tr.z
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

// A fall out of bed: lying, rolling off with an impact, then lying still on
// the floor. The real tracker marks it FromLying, and the engine says so in
// the pending detection's words and facts (the people asked are told it
// was a fall from bed).
func TestFallFromLyingThroughTheEngine(t *testing.T) {
	const hz = 50
	start := time.Unix(1_800_000_000, 0)
	var tr trace
	add := func(seconds float64, ax, ay, az float64) { tr.add(hz, seconds, ax, ay, az) }
	add(6, 0, -0.1, 1)       // lying on the back in bed (gravity on z)
	add(0.3, 0.5, -0.1, 0.3) // rolling off, dropping
	add(0.2, 3.5, -0.8, 1.5) // landing on the floor
	add(8, 1, -0.1, 0)       // lying on the side, still
	var got []Detection
	e, err := NewEngine(EngineConfig{Sink: SinkFunc(func(d Detection) { got = append(got, d) }), Shards: 1,
		NewFallTracker: WearableFallTrackers(nil)})
	if err != nil {
		t.Fatal(err)
	}
	s := e.shards[0]
	s.applySensors(s.homes.At(s.homeIndex("hub-1")), []devices.Sensor{{Hub: "hub-1", ID: "wearable-1", Kind: devices.SensorWearable, Location: devices.LocWorn}})
	s.startup(start)
	x, y, z := tr.x, tr.y, tr.z
	for i := 0; i < len(x); i += hz {
		j := min(i+hz, len(x))
		at := start.Add(time.Duration(i) * time.Second / hz)
		c := &devices.AccelChunk{Hub: "hub-1", Sensor: "wearable-1", At: at, RateHz: hz, X: x[i:j], Y: y[i:j], Z: z[i:j]}
		c.Received = c.SampleTime(j - i - 1)
		s.Handle(engineOp{msg: &devices.Message{Hub: "hub-1", Channel: devices.ChanAccel, Accel: c}})
		s.finish(s.homeIndex("hub-1"))
	}
	if len(got) != 1 || got[0].Cause != CauseFall || got[0].State != Pending {
		t.Fatalf("detections %+v, want one pending fall", got)
	}
	d := got[0]
	if !strings.Contains(d.Explanation.Ko, "누운 자세에서 낙상") || !strings.Contains(d.Explanation.En, "Fall from lying") {
		t.Errorf("explanation %+v does not say it was a fall from lying", d.Explanation)
	}
	if !slices.Contains(d.Evidence.Facts, Fact{Name: "from_lying", Value: 1}) {
		t.Errorf("facts %+v lack from_lying", d.Evidence.Facts)
	}
}

// trace is a waist accelerometer trace built from segments of constant
// acceleration (g; y along the trunk).
type trace struct{ x, y, z []float32 }

func (tr *trace) add(hz int, seconds, ax, ay, az float64) {
	for range int(seconds * float64(hz)) {
		tr.x, tr.y, tr.z = append(tr.x, float32(ax)), append(tr.y, float32(ay)), append(tr.z, float32(az))
	}
}
