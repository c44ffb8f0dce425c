package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/devices"
)

// fakeOwners is a cluster's ownership: a claim gives the hub's epoch, or
// fails; every claim is recorded.
type fakeOwners struct {
	mu     sync.Mutex
	epoch  devices.Epoch
	err    error
	claims []devices.HubID
}

func (o *fakeOwners) Claim(_ context.Context, hub devices.HubID) (devices.Epoch, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.claims = append(o.claims, hub)
	return o.epoch, o.err
}

func (o *fakeOwners) claimed() []devices.HubID {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]devices.HubID(nil), o.claims...)
}

// A CONNECT with a wrong password must never move a hub's home: the claim
// comes only after the password is checked. The epoch the claim gives goes
// on the connection's report and on every event of that connection.
func TestHomeClaimedOnlyAfterThePasswordAndEpochOnEveryEvent(t *testing.T) {
	owners := &fakeOwners{epoch: 7}
	e := startEnv(t, Config{Owners: owners})
	bad, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: "not-the-secret", clean: true})
	bad.conn.Close()
	if ack.ReasonCode != packets.ErrBadUsernameOrPassword.Code {
		t.Fatalf("wrong password: CONNACK %#x", ack.ReasonCode)
	}
	if got := owners.claimed(); len(got) != 0 {
		t.Fatalf("claims after a wrong password: %v; want none", got)
	}
	c := e.hub(5, hubA, secretA)
	defer c.conn.Close()
	if got := owners.claimed(); len(got) != 1 || got[0] != hubA {
		t.Fatalf("claims after the hub's CONNECT: %v; want [%s]", got, hubA)
	}
	c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 3)
	c.expect(packets.Puback)
	waitFor(t, func() bool { return len(e.ingest.events()) == 1 })
	if ev := e.ingest.events()[0].Event; ev.Epoch != 7 {
		t.Errorf("event handed on with epoch %d, want 7", ev.Epoch)
	}
	e.journal.mu.Lock()
	stored := e.journal.events["hub-a/sos-1"]
	e.journal.mu.Unlock()
	if stored == nil || stored.Epoch != 7 {
		t.Errorf("event journaled as %+v; want epoch 7 on it", stored)
	}
	conns := e.ingest.connections(hubA)
	if len(conns) != 1 || !conns[0].Connected || conns[0].Epoch != 7 {
		t.Errorf("connection reports %+v; want one connect with epoch 7", conns)
	}
}

// A claim that fails (the database unreachable, this node's lease lost)
// refuses the CONNECT as "server unavailable", counted: the hub backs off
// and tries again, through the load balancer possibly on another node.
func TestFailedClaimRefusesTheConnect(t *testing.T) {
	owners := &fakeOwners{err: errors.New("cluster: this node's lease is not live")}
	e := startEnv(t, Config{Owners: owners})
	for v, want := range map[byte]byte{4: 0x03, 5: 0x88} {
		c, ack := e.dialRaw(connectOpts{v: v, id: "hub-a", user: "hub-a", pass: secretA, clean: true})
		c.conn.Close()
		if ack.ReasonCode != want {
			t.Errorf("v%d: CONNACK %#x, want %#x", v, ack.ReasonCode, want)
		}
	}
	if got := value(e.s.m.refused.WithLabelValues(refuseOwnership)); got != 2 {
		t.Errorf("refused{ownership} = %v, want 2", got)
	}
	if n := len(e.ingest.connections(hubA)); n != 0 {
		t.Errorf("%d connection reports for refused CONNECTs", n)
	}
}

// A hub whose home moved to another node is let go without its will: the
// status topic must not say "offline" of a hub that is online elsewhere.
// A v5 hub is told to use another server.
func TestReleaseEndsTheSessionWithoutItsWill(t *testing.T) {
	e := startEnv(t, Config{})
	status := devices.Topic(hubA, devices.ChanStatus)
	c, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA, will: status})
	defer c.conn.Close()
	if ack.ReasonCode != 0 {
		t.Fatalf("connect: %#x", ack.ReasonCode)
	}
	waitFor(t, func() bool { return len(e.ingest.connections(hubA)) == 1 })
	e.s.Release(hubA)
	if d := c.expect(packets.Disconnect); d.ReasonCode != packets.ErrUseAnotherServer.Code {
		t.Errorf("DISCONNECT %#x, want use another server", d.ReasonCode)
	}
	waitFor(t, func() bool { return len(e.ingest.connections(hubA)) == 2 })
	if r := e.ingest.connections(hubA)[1].Reason; r != "moved" {
		t.Errorf("disconnect reason %q, want moved", r)
	}
	if w := e.wills.of(status); len(w) != 0 {
		t.Errorf("the released connection's will was published: %s", w[0].Payload)
	}
	if got := value(e.s.m.released); got != 1 {
		t.Errorf("sessions_released = %v, want 1", got)
	}
}

// An event the journal refuses because the home moved (devices.ErrNotOwner)
// is not acknowledged and the session is released: the hub sends it again
// to the node that owns its home now.
func TestEventRefusedAsNotOwnerIsNotAckedAndReleases(t *testing.T) {
	onBothPaths(t, Config{Owners: &fakeOwners{epoch: 3}}, func(t *testing.T, e *env) {
		e.journal.fail = devices.ErrNotOwner
		status := devices.Topic(hubA, devices.ChanStatus)
		c, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA, will: status})
		defer c.conn.Close()
		if ack.ReasonCode != 0 {
			t.Fatalf("connect: %#x", ack.ReasonCode)
		}
		c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 4)
		for {
			pk, err := c.readTimeout(5 * time.Second)
			if err != nil {
				if errors.Is(err, errTimeout) {
					t.Fatal("still connected after the journal said the home moved")
				}
				break
			}
			if pk.FixedHeader.Type == packets.Puback {
				t.Fatal("PUBACK for an event of a home this node no longer owns")
			}
			if pk.FixedHeader.Type == packets.Disconnect && pk.ReasonCode != packets.ErrUseAnotherServer.Code {
				t.Errorf("DISCONNECT %#x, want use another server", pk.ReasonCode)
			}
		}
		waitFor(t, func() bool { return len(e.ingest.connections(hubA)) == 2 })
		if r := e.ingest.connections(hubA)[1].Reason; r != "moved" {
			t.Errorf("disconnect reason %q, want moved", r)
		}
		if len(e.ingest.events()) != 0 {
			t.Error("an event the journal refused was handed on")
		}
		if w := e.wills.of(status); len(w) != 0 {
			t.Errorf("will published for a hub whose home moved: %s", w[0].Payload)
		}
	})
}
