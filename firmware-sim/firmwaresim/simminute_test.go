package firmwaresim

import (
	"bytes"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

var updateSimMinute = flag.Bool("update-sim-minute", false, "rewrite devices/testdata/sim-minute.json")

// simMinutePath is the simulator's readings batch of one night minute (17
// readings: smoke, heat, CO, four PIRs, the door, the radar and the
// wearable), kept where the hot path's benchmarks read it: devices decodes
// it, and the store, detectors and gateway benchmarks use the decoded batch.
const simMinutePath = "../../devices/testdata/sim-minute.json"

// simMinuteAt is the minute of that batch (03:07 KST, asleep).
var simMinuteAt = time.Date(2026, 12, 1, 3, 7, 0, 0, kst)

func TestSimMinuteFixture(t *testing.T) {
	h := &Home{Seed: 1, Index: 7}
	rs := h.Readings(nil, simMinuteAt)
	if len(rs) != 17 {
		t.Fatalf("%d readings in the night minute, want 17", len(rs))
	}
	got := AppendReadings(nil, devices.ReadingBatch{SentAt: simMinuteAt.Add(time.Minute), Readings: rs})
	if *updateSimMinute {
		if err := os.WriteFile(simMinutePath, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(simMinutePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Fatalf("%s is not the simulator's batch any more: go test ./firmware-sim/firmwaresim -run SimMinute -update-sim-minute", simMinutePath)
	}
}
