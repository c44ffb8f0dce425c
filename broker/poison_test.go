package broker

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

// A panic while handling one hub's message (here in the stage the broker
// hands events to) is recovered: counted, kept as poison, the hub
// disconnected without a PUBACK; its resend of the same payload is refused
// with a reject instead of panicking again, and other hubs keep being served.
func TestPanicInPublishIsPoisonNotACrash(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		e.ingest.mu.Lock()
		e.ingest.panicOn = "boom"
		e.ingest.mu.Unlock()
		events := devices.Topic(hubA, devices.ChanEvents)
		bad := eventPayload("boom", devices.EventSOS)

		a := e.hub(4, hubA, secretA)
		a.publish(events, bad, 1, 1)
		for {
			pk, err := a.readTimeout(5 * time.Second)
			if err == errTimeout {
				t.Fatal("the hub whose message panicked was not disconnected")
			}
			if err != nil {
				break // disconnected
			}
			if pk.FixedHeader.Type == packets.Puback {
				t.Fatal("a message whose handling panicked was acknowledged")
			}
		}
		if got := value(e.s.m.panics); got != 1 {
			t.Errorf("panics_total = %v, want 1", got)
		}
		waitFor(t, func() bool { return len(e.journal.kept()) == 1 })
		p := e.journal.kept()[0]
		if p.Hub != hubA || p.Stage != "broker" || p.Channel != devices.ChanEvents || p.EventID != "boom" || string(p.Input) != string(bad) || p.Panic == "" || p.Stack == "" {
			t.Errorf("poison kept = %+v", p)
		}

		// Everything else keeps serving, this hub's other messages included.
		b := e.hub(4, hubB, secretB)
		b.publish(devices.Topic(hubB, devices.ChanEvents), eventPayload("sos-b", devices.EventSOS), 1, 7)
		if ack := b.expect(packets.Puback); ack.PacketID != 7 {
			t.Fatalf("PUBACK for %d, want 7", ack.PacketID)
		}
		a = e.hub(4, hubA, secretA)
		a.subscribe(1, devices.Topic(hubA, devices.ChanRejects))
		a.publish(events, bad, 1, 2) // the hub resends what was not acknowledged
		// The reject is queued and the PUBACK written directly: either may come first.
		ack, rej := a.ackAndReject()
		if ack.PacketID != 2 {
			t.Fatalf("PUBACK for %d, want 2", ack.PacketID)
		}
		if r, err := devices.DecodeReject(rej.Payload); err != nil || r.Code != devices.CodePoison || r.EventID != "boom" {
			t.Errorf("reject for the resent poison = %+v, %v; want code %s", r, err, devices.CodePoison)
		}
		a.publish(events, eventPayload("sos-a", devices.EventSOS), 1, 3)
		if ack := a.expect(packets.Puback); ack.PacketID != 3 {
			t.Fatalf("PUBACK for %d, want 3", ack.PacketID)
		}
		if got := value(e.s.m.panics); got != 1 {
			t.Errorf("panics_total = %v after the resend, want still 1", got)
		}
	})
}
