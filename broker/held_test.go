package broker

import (
	"slices"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// guardOn turns the load guard on for the whole test, whatever the
// messages' waits: tune runs before Run, whose goroutine alone touches
// busyUntil afterwards. No timing is asserted.
func guardOn(s *Server) {
	s.capacity.busyUntil = time.Now().Add(time.Hour)
	s.capacity.loadBusy.Store(true)
}

const hubC, secretC = devices.HubID("hub-c"), "secret-c"

// TestRestartLetsHeldHubsPastLoadGuard: a node that held hubs A and B saves
// them when it stops; restarted with its load guard on, it lets them back
// in and refuses hub C, which it never served, "server busy" (reason load).
// The cap still applies to the hubs it held.
func TestRestartLetsHeldHubsPastLoadGuard(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		held := &fakeHeld{}
		before := startEnvHeld(t, Config{}, held, nil)
		a, b := before.hub(v, hubA, secretA), before.hub(v, hubB, secretB)
		before.stop() // StopIntake saves the set while A and B are still connected
		a.conn.Close()
		b.conn.Close()

		after := startEnvHeld(t, Config{BusyWait: time.Hour}, held, guardOn)
		after.dir.set(hubC, secretC, false)
		after.expectBusy(t, v, hubC, secretC)
		if n := value(after.s.m.refused.WithLabelValues(refuseLoad)); n != 1 {
			t.Errorf("refused{load} = %v, want 1 (hub C, new to the node)", n)
		}
		for _, h := range []struct {
			id     devices.HubID
			secret string
		}{{hubA, secretA}, {hubB, secretB}} {
			c, ack := after.dialRaw(connectOpts{v: v, id: string(h.id), user: string(h.id), pass: h.secret})
			t.Cleanup(func() { c.conn.Close() })
			if ack.ReasonCode != 0 {
				t.Fatalf("hub %s, held before the restart, refused while the load guard is on: CONNACK %#x", h.id, ack.ReasonCode)
			}
		}
		waitFor(t, func() bool { return value(after.s.m.loadGuardPassed) == 2 })

		capped := startEnvHeld(t, Config{BusyWait: time.Hour, MaxHubs: 1}, held, guardOn)
		a3 := capped.hub(v, hubA, secretA)
		defer a3.conn.Close()
		capped.expectBusy(t, v, hubB, secretB)
		if n := value(capped.s.m.refused.WithLabelValues(refuseCapacity)); n != 1 {
			t.Errorf("refused{capacity} = %v, want 1: a held hub is let past the load guard, not past --max-hubs", n)
		}
	})
}

// TestLoadGuardLetsAKeptSessionIn: a hub whose session the node keeps (it
// left a moment ago) is not new load: while the guard is on it gets back
// in, and a hub the node never served does not.
func TestLoadGuardLetsAKeptSessionIn(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		e := startEnvTuned(t, Config{BusyWait: time.Hour}, func(s *Server) { s.capacity.busyHold = time.Hour })
		a := e.hub(v, hubA, secretA)
		a.conn.Close()
		waitFor(t, func() bool { return e.s.Connected() == 0 })
		// Turned on the way Run does, from the messages' waits: every one
		// of them late.
		for range 2 * minLateSample {
			e.s.capacity.observeWait(time.Now().Add(-2 * time.Hour))
		}
		waitFor(t, func() bool { return value(e.s.m.loadGuard) == 1 })
		e.expectBusy(t, v, hubB, secretB)
		a2 := e.hub(v, hubA, secretA)
		a2.conn.Close()
	})
}

// TestHeldNow: the set saved holds the hubs with a connection or a kept
// session and the hubs held before the restart until their sessions would
// have expired, each once, sorted.
func TestHeldNow(t *testing.T) {
	e := startEnvTuned(t, Config{}, nil)
	now := time.Now()
	restored := []uint64{hubHash("hub-gone"), hubHash(string(hubA))}
	slices.Sort(restored)
	e.s.held.restored.Store(&restoredHubs{hashes: restored, until: now.Add(time.Minute)})
	a := e.hub(4, hubA, secretA)
	defer a.conn.Close()
	b := e.hub(4, hubB, secretB)
	b.conn.Close() // a 3.1.1 hub without clean session: its session is kept
	waitFor(t, func() bool { return e.s.Connected() == 1 })
	want := []uint64{hubHash("hub-gone"), hubHash(string(hubA)), hubHash(string(hubB))}
	slices.Sort(want)
	if got := e.s.heldNow(now); !slices.Equal(got, want) {
		t.Errorf("heldNow = %x, want %x", got, want)
	}
	later := now.Add(2 * time.Minute) // hub-gone's session would have expired
	want = []uint64{hubHash(string(hubA)), hubHash(string(hubB))}
	slices.Sort(want)
	if got := e.s.heldNow(later); !slices.Equal(got, want) {
		t.Errorf("heldNow after the restored sessions expired = %x, want %x", got, want)
	}
	if e.s.held.heldBefore("hub-gone", later) || !e.s.held.heldBefore("hub-gone", now) || e.s.held.heldBefore("hub-new", now) {
		t.Error("heldBefore: want hub-gone until its session would expire, and no hub that was not held")
	}
}
