package broker

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/devices"
)

// A broker on a simulated clock (Config.Now) receives a hub that lives on
// that clock, months before the wall clock, as on time: its events and
// readings are taken with their own timestamps and stamped received at the
// simulated time, and its connection begins then. On the wall clock the
// same event is months old and refused: what `dolbom-sim load --speed 16`
// showed as one clock_skew per hub.
func TestSimulatedClockStampsReceipts(t *testing.T) {
	sim := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	if time.Since(sim) < 30*24*time.Hour {
		t.Fatalf("the wall clock (%s) must be well past %s for this test to tell them apart", time.Now(), sim)
	}
	event := devices.EncodeEvent(devices.Event{ID: "e-1", Kind: devices.EventMotion, At: sim.Add(-20 * time.Second)})
	readings := devices.EncodeReadings(devices.ReadingBatch{SentAt: sim, Readings: []devices.Reading{
		{Sensor: "kitchen-heat", Metric: devices.MetricTemperature, At: sim.Add(-30 * time.Second), Value: 21.5, Quality: -1}}})

	t.Run("simulated", func(t *testing.T) {
		e := startEnv(t, Config{Now: func() time.Time { return sim }})
		c := e.hub(5, hubA, secretA)
		defer c.conn.Close()
		c.publish(devices.Topic(hubA, devices.ChanEvents), event, 1, 1)
		if ack := c.expect(packets.Puback); ack.ReasonCode >= 0x80 {
			t.Fatalf("event refused: %#x", ack.ReasonCode)
		}
		c.publish(devices.Topic(hubA, devices.ChanReadings), readings, 1, 2)
		if ack := c.expect(packets.Puback); ack.ReasonCode >= 0x80 {
			t.Fatalf("readings refused: %#x", ack.ReasonCode)
		}
		var sawEvent, sawReadings bool
		e.ingest.mu.Lock()
		msgs := append([]devices.Message(nil), e.ingest.msgs...)
		e.ingest.mu.Unlock()
		for _, m := range msgs {
			switch {
			case m.Event != nil:
				sawEvent = true
				if !m.Event.Received.Equal(sim) || m.Event.ClockError != "" || !m.Event.At.Equal(sim.Add(-20*time.Second)) {
					t.Errorf("event received %s (clock error %q) at %s, want received %s at its own time", m.Event.Received, m.Event.ClockError, m.Event.At, sim)
				}
			case m.Readings != nil:
				sawReadings = true
				if !m.Readings.Received.Equal(sim) {
					t.Errorf("readings received %s, want %s", m.Readings.Received, sim)
				}
			}
		}
		if !sawEvent || !sawReadings {
			t.Fatalf("ingested event %v readings %v, want both", sawEvent, sawReadings)
		}
		if cs := e.ingest.connections(hubA); len(cs) == 0 || !cs[0].At.Equal(sim) {
			t.Errorf("connections %+v, want one at %s", cs, sim)
		}
	})
	t.Run("wall", func(t *testing.T) {
		e := startEnv(t, Config{})
		c := e.hub(5, hubA, secretA)
		defer c.conn.Close()
		c.publish(devices.Topic(hubA, devices.ChanEvents), event, 1, 1)
		if ack := c.expect(packets.Puback); ack.ReasonCode < 0x80 {
			t.Errorf("an event months old taken (%#x): the wall clock's check did not run", ack.ReasonCode)
		}
	})
}
