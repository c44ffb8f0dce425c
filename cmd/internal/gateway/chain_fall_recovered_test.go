package gateway

import (
	"slices"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store/storetest"
)

// A wearable's own accelerometer through the whole gateway: the resident
// falls, lies still (the fall's cancel window opens and the hub is asked
// "괜찮으세요?"), then gets up within the window. The fall emergency is
// cancelled and never reaches 119; a "fell and got up" welfare incident
// (fall_recovered, P3) is opened for the social worker instead, the
// resident asked about it, and their answer recorded on it.
func TestChainFellAndGotUpIsWelfareNot119(t *testing.T) {
	c := startChain(t, storetest.SQLite(t), 20*time.Second)
	c.g.Engine.Refresh(c.hub, []devices.Sensor{{Hub: c.hub, ID: "wearable-1", Kind: devices.SensorWearable, Location: devices.LocWorn}})
	cl := c.connect(t)

	const hz = 50
	var x, y, z []float32
	add := func(seconds float64, ax, ay, az float64) {
		for range int(seconds * hz) {
			x, y, z = append(x, float32(ax)), append(y, float32(ay)), append(z, float32(az))
		}
	}
	add(4, 0, -1, 0)         // standing
	add(0.3, 0.5, -0.2, 0.3) // falling
	add(0.1, 2.5, -2.0, 1.5) // impact
	add(4, 0, 0, -1)         // lying still: a fall
	down := len(x)
	add(5, 0, -1, 0) // up again
	start := time.Now().Add(-9 * time.Second).Truncate(time.Second)
	publishAccel(t, c, cl, start, hz, x[:down], y[:down], z[:down])
	c.expectCheckIn(t, "during the fall's window")
	publishAccel(t, c, cl, start.Add(time.Duration(down)*time.Second/hz), hz, x[down:], y[down:], z[down:])

	waitFor(t, 10*time.Second, "the fell-and-got-up welfare incident", func() bool {
		_, ok := c.incident(t, detectors.CauseFallRecovered)
		return ok
	})
	welfare, _ := c.incident(t, detectors.CauseFallRecovered)
	if welfare.Class != detectors.ClassWelfare || welfare.Priority != detectors.PriorityMedium || welfare.State != dispatch.StateVerifying {
		t.Errorf("fell and got up: %s P%d %s, want a welfare incident at P3 asking the resident", welfare.Class, welfare.Priority, welfare.State)
	}
	// The resident is asked again, about the fall they got up from, and
	// answers: the answer is recorded and the social worker's step runs.
	c.expectCheckIn(t, "about the fall they got up from")
	c.publishEvent(t, cl, devices.Event{ID: "answer-1", Kind: devices.EventCheckIn, At: time.Now()})
	waitFor(t, 10*time.Second, "the answer recorded on the welfare incident", func() bool {
		inc, _ := c.incident(t, detectors.CauseFallRecovered)
		return inc.State != dispatch.StateVerifying && slices.Contains(inc.Evidence.Events, devices.EventID("answer-1"))
	})
	waitFor(t, 10*time.Second, "the fall emergency cancelled", func() bool {
		inc, ok := c.incident(t, detectors.CauseFall)
		return ok && inc.State.Closed()
	})
	time.Sleep(500 * time.Millisecond) // anything queued for 119 would have gone by now
	if n := c.mock119.Stats().ByType["Alert"]; n != 0 {
		t.Errorf("119 got %d alerts for a fall the resident got up from", n)
	}
}

// publishAccel sends the trace as 1 s accelerometer chunks at QoS 1.
func publishAccel(t *testing.T, c *chain, cl mqtt.Client, start time.Time, hz int, x, y, z []float32) {
	t.Helper()
	for i := 0; i < len(x); i += hz {
		j := min(i+hz, len(x))
		chunk := devices.AccelChunk{Sensor: "wearable-1", At: start.Add(time.Duration(i) * time.Second / time.Duration(hz)), RateHz: hz,
			X: x[i:j], Y: y[i:j], Z: z[i:j]}
		tok := cl.Publish(devices.Topic(c.hub, devices.ChanAccel), 1, false, devices.EncodeAccel(chunk))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish accel: %v", tok.Error())
		}
	}
}

// expectCheckIn waits for the hub to be asked to check in with the resident.
func (c *chain) expectCheckIn(t *testing.T, when string) {
	t.Helper()
	select {
	case cmd := <-c.commands:
		if cmd.Type != devices.CmdCheckIn {
			t.Errorf("command %q, want check_in %s", cmd.Type, when)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the hub was not asked to check in with the resident %s", when)
	}
}
