package health

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// simClock is a clock the test moves by hand, far from the bubble's wall
// clock (2000-01-01), so that a time read from the wall shows.
type simClock struct{ ms atomic.Int64 }

func (c *simClock) now() time.Time  { return time.UnixMilli(c.ms.Load()) }
func (c *simClock) set(t time.Time) { c.ms.Store(t.UnixMilli()) }

// TestHealthClockAdvance: a monitor on a Clock finds a sensor silent when
// Advance moves past its supervision window, at the Clock's time, and a
// hub whose clock agrees with the simulated one is not skewed, however far
// that is from the wall.
func TestHealthClockAdvance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		c := &simClock{}
		c.set(start)
		h := startMonitor(t, Config{Clock: detectors.Clock(c.now), Fleet: fleetOf(registryEntry{
			hub: devices.Hub{ID: "hub-1"},
			sensors: []devices.Sensor{
				sensor("hub-1", "motion-1", devices.SensorMotion, 60),
				sensor("hub-1", "door-1", devices.SensorDoor, 60),
			},
		})})
		defer h.stop()
		h.m.Connection(devices.ConnectionEvent{Hub: "hub-1", Connected: true, At: start})
		for range 8 {
			now := c.now()
			h.ingest(&devices.Message{Hub: "hub-1", Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{Hub: "hub-1", SentAt: now, Received: now,
				Readings: []devices.Reading{{Sensor: "motion-1", Metric: devices.MetricMotion, Value: 1, At: now, Quality: -1}}}})
			c.set(now.Add(time.Minute))
			h.m.Advance(c.now())
			synctest.Wait()
		}
		got := h.sink.take()
		expect(t, "8 simulated min", got, "firing sensor_silent door-1")
		if got[0].At.Before(start) || got[0].At.After(c.now()) {
			t.Fatalf("silent at %s, outside the simulated %s..%s", got[0].At, start, c.now())
		}
	})
}

// TestHealthStep: Step returns once the readings queued before it are
// applied and the deadlines run, with no other wait.
func TestHealthStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		c := &simClock{}
		c.set(start)
		h := startMonitor(t, Config{Clock: detectors.Clock(c.now), Fleet: fleetOf(registryEntry{
			hub:     devices.Hub{ID: "hub-1"},
			sensors: []devices.Sensor{sensor("hub-1", "motion-1", devices.SensorMotion, 60), sensor("hub-1", "door-1", devices.SensorDoor, 60)},
		})})
		defer h.stop()
		h.m.Connection(devices.ConnectionEvent{Hub: "hub-1", Connected: true, At: start})
		for range 8 {
			now := c.now()
			h.m.Ingest(&devices.Message{Hub: "hub-1", Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{Hub: "hub-1", SentAt: now, Received: now,
				Readings: []devices.Reading{{Sensor: "motion-1", Metric: devices.MetricMotion, Value: 1, At: now, Quality: -1}}}})
			c.set(now.Add(time.Minute))
			if err := h.m.Step(t.Context(), c.now()); err != nil {
				t.Fatal(err)
			}
		}
		expect(t, "8 simulated min", h.sink.take(), "firing sensor_silent door-1")
	})
}
