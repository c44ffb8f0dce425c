package detectors

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// A hub losing contact during an open emergency raises it; a hub that says
// goodbye, is replaced by its own new connection, or is let go by the
// gateway shutting down does not (a stock client such as mosquitto_pub
// disconnects cleanly after every publish).
func TestEngineEscalatesOnlyOnLostContact(t *testing.T) {
	cases := []struct {
		reason   string
		escalate bool
	}{
		{"lost", true}, {"kicked", true}, {"clean", false}, {"taken_over", false}, {"shutdown", false},
	}
	for _, c := range cases {
		t.Run(c.reason, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sink := &recorder{}
				e, stop := startEngine(t, &memEngineStore{}, sink)
				defer stop()
				now := time.Now()
				e.Ingest(&devices.Message{Hub: "hub-1", Channel: devices.ChanEvents, Event: &devices.Event{
					Hub: "hub-1", ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: now, Received: now}})
				synctest.Wait()
				first := sink.take()
				if len(first) != 1 || first[0].Cause != CauseSOS || first[0].State != Firing {
					t.Fatalf("SOS detections %+v", first)
				}
				e.Connection(devices.ConnectionEvent{Hub: "hub-1", Connected: false, At: now.Add(time.Second), Reason: c.reason})
				synctest.Wait()
				got := sink.take()
				escalated := len(got) == 1 && got[0].Fingerprint == first[0].Fingerprint && got[0].Priority <= first[0].Priority
				if escalated != c.escalate || (!c.escalate && len(got) != 0) {
					t.Fatalf("after a %q disconnect: %+v; want escalated=%v", c.reason, got, c.escalate)
				}
			})
		})
	}
}
