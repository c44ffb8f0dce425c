package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
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
	if got, _ := e.s.heldNow(now); !slices.Equal(got, want) {
		t.Errorf("heldNow = %x, want %x", got, want)
	}
	later := now.Add(2 * time.Minute) // hub-gone's session would have expired
	want = []uint64{hubHash(string(hubA)), hubHash(string(hubB))}
	slices.Sort(want)
	if got, _ := e.s.heldNow(later); !slices.Equal(got, want) {
		t.Errorf("heldNow after the restored sessions expired = %x, want %x", got, want)
	}
	if e.s.held.heldBefore("hub-gone", later) || !e.s.held.heldBefore("hub-gone", now) || e.s.held.heldBefore("hub-new", now) {
		t.Error("heldBefore: want hub-gone until its session would expire, and no hub that was not held")
	}
}

// TestHeldSetFollowsSessions: the set held now follows the hubs' sessions as
// they come and go, with no walk of the hubs' states: a hub is in it while
// connected or while mochi keeps its session, and leaves it when a clean
// session ends or a kept one expires.
func TestHeldSetFollowsSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, Config{SessionExpiry: time.Minute})
		defer e.stop()
		held := func() []uint64 {
			synctest.Wait()
			got, _ := e.s.heldNow(time.Now())
			return got
		}
		both := []uint64{hubHash(string(hubA)), hubHash(string(hubB))}
		slices.Sort(both)
		a, _ := e.dialRaw(connectOpts{v: 4, id: string(hubA), user: string(hubA), pass: secretA})
		b, _ := e.dialRaw(connectOpts{v: 4, id: string(hubB), user: string(hubB), pass: secretB, clean: true})
		if got := held(); !slices.Equal(got, both) {
			t.Fatalf("held with A and B connected = %x, want %x", got, both)
		}
		b.conn.Close() // a clean session ends with its connection
		if got := held(); !slices.Equal(got, []uint64{hubHash(string(hubA))}) {
			t.Errorf("held after B's clean session ended = %x, want A's only", got)
		}
		a.conn.Close() // A's session is kept for SessionExpiry
		if got := held(); !slices.Equal(got, []uint64{hubHash(string(hubA))}) {
			t.Errorf("held while A's session is kept = %x, want A's", got)
		}
		time.Sleep(61 * time.Second)
		if got := held(); len(got) != 0 {
			t.Errorf("held after A's session expired = %x, want none", got)
		}
		a2, _ := e.dialRaw(connectOpts{v: 4, id: string(hubA), user: string(hubA), pass: secretA})
		defer a2.conn.Close()
		if got := held(); !slices.Equal(got, []uint64{hubHash(string(hubA))}) {
			t.Errorf("held after A came back = %x, want A's", got)
		}
	})
}

// TestHeldSavedOnlyWhenChanged: a periodic save of a set that has not
// changed writes nothing (at 300,000 hubs it wrote 2.4 MB every minute);
// a change, a set last written half a session expiry ago, and the save at
// stop are written.
func TestHeldSavedOnlyWhenChanged(t *testing.T) {
	store := &fakeHeld{}
	e := startEnvHeld(t, Config{}, store, nil)
	ctx := context.Background()
	saves := func() int {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.saves
	}
	a := e.hub(4, hubA, secretA)
	defer a.conn.Close()
	e.s.saveHeld(ctx, false)
	n := saves()
	e.s.saveHeld(ctx, false)
	if saves() != n {
		t.Errorf("an unchanged set was written again: %d saves, want %d", saves(), n)
	}
	if got := value(e.s.m.heldSaves.WithLabelValues("unchanged")); got != 1 {
		t.Errorf("held_hubs_saves_total{outcome=unchanged} = %v, want 1", got)
	}
	b := e.hub(4, hubB, secretB)
	defer b.conn.Close()
	e.s.saveHeld(ctx, false)
	if saves() != n+1 {
		t.Errorf("a changed set (B connected) was not written: %d saves, want %d", saves(), n+1)
	}
	store.mu.Lock()
	got := store.sets[e.s.held.node]
	store.mu.Unlock()
	want := []uint64{hubHash(string(hubA)), hubHash(string(hubB))}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("saved %x, want %x", got, want)
	}
	e.s.held.saveMu.Lock()
	e.s.held.last.at = e.s.held.last.at.Add(-e.s.cfg.SessionExpiry / heldRefreshShare)
	e.s.held.saveMu.Unlock()
	e.s.saveHeld(ctx, false)
	if saves() != n+2 {
		t.Errorf("an unchanged set saved half a session expiry ago was not written again: %d saves, want %d", saves(), n+2)
	}
	e.s.saveHeld(ctx, true)
	if saves() != n+3 {
		t.Errorf("the save at stop was skipped: %d saves, want %d", saves(), n+3)
	}
}

// BenchmarkHeldNow is the set one save writes, at national scale: read from
// the set kept as hubs come and go, sorted (before, every save walked each
// hub's state under its lock as well).
func BenchmarkHeldNow(b *testing.B) {
	s := &Server{}
	for i := range 300_000 {
		s.held.holding(fmt.Sprintf("hub-%07d", i))
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if hubs, _ := s.heldNow(now); len(hubs) != 300_000 {
			b.Fatalf("%d hubs, want 300000", len(hubs))
		}
	}
}
