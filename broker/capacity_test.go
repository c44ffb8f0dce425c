package broker

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

// busyCode is the CONNACK a hub refused for capacity gets.
func busyCode(v byte) byte {
	if v == 5 {
		return packets.ErrServerBusy.Code // 0x89
	}
	return v3Unavailable.Code // 0x03
}

// expectBusy connects hub and expects the busy CONNACK.
func (e *env) expectBusy(t *testing.T, v byte, hub devices.HubID, secret string) {
	t.Helper()
	c, ack := e.dialRaw(connectOpts{v: v, id: string(hub), user: string(hub), pass: secret})
	c.conn.Close()
	if ack.ReasonCode != busyCode(v) {
		t.Fatalf("CONNECT of %s: CONNACK %#x, want busy %#x", hub, ack.ReasonCode, busyCode(v))
	}
}

func versions(t *testing.T, f func(t *testing.T, v byte)) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { f(t, v) })
	}
}

// TestCapacityRefusesNewHubAtMax: with MaxHubs hubs connected, another hub
// is refused "server busy" and counted, and the connected one keeps being
// served.
func TestCapacityRefusesNewHubAtMax(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		e := startEnv(t, Config{MaxHubs: 1})
		a := e.hub(v, hubA, secretA)
		defer a.conn.Close()
		e.expectBusy(t, v, hubB, secretB)
		if n := value(e.s.m.refused.WithLabelValues(refuseCapacity)); n != 1 {
			t.Errorf("refused{capacity} = %v, want 1", n)
		}
		a.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 7)
		if pk := a.expect(packets.Puback); pk.PacketID != 7 {
			t.Errorf("PUBACK for packet %d, want 7", pk.PacketID)
		}
		if got := e.s.capacity.held.Load(); got != 1 {
			t.Errorf("places held %d, want 1", got)
		}
	})
}

// TestCapacityLetsAdmittedHubReconnect: a hub that holds a place gets back
// in at capacity (its old connection still counts until mochi closes it),
// and the count returns to one place per hub.
func TestCapacityLetsAdmittedHubReconnect(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		e := startEnv(t, Config{MaxHubs: 1})
		first := e.hub(v, hubA, secretA)
		defer first.conn.Close()
		second, ack := e.dialRaw(connectOpts{v: v, id: string(hubA), user: string(hubA), pass: secretA})
		defer second.conn.Close()
		if ack.ReasonCode != 0 {
			t.Fatalf("reconnect of an admitted hub at capacity: CONNACK %#x, want 0", ack.ReasonCode)
		}
		waitFor(t, func() bool { return e.s.capacity.held.Load() == 1 })
		e.expectBusy(t, v, hubB, secretB) // still full for anyone else
	})
}

// TestCapacityFreedByDisconnect: a hub leaving gives its place to the next.
func TestCapacityFreedByDisconnect(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		e := startEnv(t, Config{MaxHubs: 1})
		a := e.hub(v, hubA, secretA)
		a.conn.Close()
		waitFor(t, func() bool { return e.s.capacity.held.Load() == 0 })
		b := e.hub(v, hubB, secretB)
		b.conn.Close()
		// A refused CONNECT gives back the place it tried for, and one
		// refused for its credentials gives back the place it took.
		waitFor(t, func() bool { return e.s.capacity.held.Load() == 0 })
		c, ack := e.dialRaw(connectOpts{v: v, id: string(hubA), user: string(hubA), pass: "wrong"})
		c.conn.Close()
		if ack.ReasonCode == 0 {
			t.Fatal("wrong password accepted")
		}
		waitFor(t, func() bool { return e.s.capacity.held.Load() == 0 })
		a2 := e.hub(v, hubA, secretA)
		a2.conn.Close()
	})
}

// TestCapacityBurstDoesNotOvershoot: many hubs connecting at once get
// exactly MaxHubs places.
func TestCapacityBurstDoesNotOvershoot(t *testing.T) {
	const hubs, places = 40, 10
	e := startEnv(t, Config{MaxHubs: places, MaxConnecting: 64})
	for i := range hubs {
		e.dir.set(devices.HubID(fmt.Sprintf("hub-%02d", i)), "pw", false)
	}
	var admitted, busy atomic.Int32
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []*rawClient
	for i := range hubs {
		wg.Go(func() {
			id := fmt.Sprintf("hub-%02d", i)
			c, ack := e.dialRaw(connectOpts{v: 5, id: id, user: id, pass: "pw"})
			switch ack.ReasonCode {
			case 0:
				admitted.Add(1)
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
			case packets.ErrServerBusy.Code:
				busy.Add(1)
				c.conn.Close()
			default:
				t.Errorf("%s: CONNACK %#x", id, ack.ReasonCode)
				c.conn.Close()
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range open {
			c.conn.Close()
		}
	}()
	if admitted.Load() != places || busy.Load() != hubs-places {
		t.Errorf("admitted %d, busy %d; want %d and %d", admitted.Load(), busy.Load(), places, hubs-places)
	}
	// mochi writes the CONNACK before OnSessionEstablished counts the
	// session, so the count may lag the last CONNACK the clients read.
	waitFor(t, func() bool { return e.s.Connected() >= places })
	if n := e.s.Connected(); n != places {
		t.Errorf("connected %d, want %d", n, places)
	}
}

// TestMemoryGuard: with live heap and stacks above the high water of the
// memory limit, new hubs are refused "server busy" (reason memory) while
// an admitted hub still gets back in; below it, new hubs are admitted.
func TestMemoryGuard(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		var used atomic.Uint64
		used.Store(10)
		e := startEnvTuned(t, Config{MemoryHighWater: 0.8}, func(s *Server) {
			s.capacity.sample = func() (uint64, uint64) { return used.Load(), 100 }
		})
		a := e.hub(v, hubA, secretA)
		defer a.conn.Close()
		used.Store(85)
		waitFor(t, func() bool { return value(e.s.m.memoryGuard) == 1 })
		e.expectGuarded(t, v, refuseMemory)
		used.Store(50)
		waitFor(t, func() bool { return value(e.s.m.memoryGuard) == 0 })
		b2 := e.hub(v, hubB, secretB)
		b2.conn.Close()
	})
}

// TestMemoryGuardNeedsALimit: with no memory limit in force the guard
// never refuses.
func TestMemoryGuardNeedsALimit(t *testing.T) {
	c := newCapacity(Config{MemoryHighWater: 0.8})
	c.sample = func() (uint64, uint64) { return 1 << 40, 1<<63 - 1 }
	if c.checkMemory() {
		t.Error("guard on without a memory limit")
	}
	c.sample = func() (uint64, uint64) { return 90, 100 }
	if !c.checkMemory() {
		t.Error("guard off at 90% of the limit with a high water of 80%")
	}
	c.highWater = -1
	if c.checkMemory() {
		t.Error("guard on while disabled")
	}
}

// TestGoMemoryReadsTheRuntime: the metric names exist (a wrong one would
// read as "no limit" and turn the guard off without a word).
func TestGoMemoryReadsTheRuntime(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(8 << 30))
	used, limit := goMemory()
	if used == 0 || limit != 8<<30 {
		t.Errorf("goMemory() = %d used, %d limit; want some use and the 8 GiB limit set", used, limit)
	}
}

// TestLoadGuard: while more than one in twenty of the hubs' messages wait
// longer than BusyWait to be handled, new hubs are refused "server busy"
// (reason load) and an admitted hub still gets back in; once the messages
// are handled in time again for busyHold, new hubs are admitted.
func TestLoadGuard(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		e := startEnvTuned(t, Config{BusyWait: time.Nanosecond, ReadingsBurst: 1000}, func(s *Server) {
			s.capacity.busyHold = 2 * time.Second
		})
		a := e.hub(v, hubA, secretA)
		defer a.conn.Close()
		readings := devices.Topic(hubA, devices.ChanReadings)
		for i := 1; i <= 2*minLateSample; i++ { // every one waits longer than 1 ns
			a.publish(readings, readingsPayload(), 1, uint16(i))
			a.expect(packets.Puback)
		}
		waitFor(t, func() bool { return value(e.s.m.loadGuard) == 1 })
		e.expectGuarded(t, v, refuseLoad)
		waitFor(t, func() bool { return value(e.s.m.loadGuard) == 0 }) // nothing published: nothing late
		b := e.hub(v, hubB, secretB)
		b.conn.Close()
	})
}

// TestLoadGuardJudgesASample: a second with fewer than minLateSample
// messages, or with one late in twenty or fewer, does not turn the guard
// on; with no BusyWait there is no guard.
func TestLoadGuardJudgesASample(t *testing.T) {
	c := newCapacity(Config{BusyWait: 100 * time.Millisecond})
	now := time.Now()
	feed := func(n, late int) bool {
		for i := range n {
			read := time.Now().Add(-time.Millisecond)
			if i < late {
				read = time.Now().Add(-time.Second)
			}
			c.observeWait(read)
		}
		now = now.Add(time.Second)
		return c.checkLoad(now)
	}
	if feed(minLateSample-1, minLateSample-1) {
		t.Error("guard on after too few messages to judge")
	}
	if feed(200, 10) {
		t.Error("guard on with 5% of the messages late")
	}
	if !feed(200, 11) {
		t.Error("guard off with 5.5% of the messages late")
	}
	for range busyHold/time.Second - 1 {
		if !feed(200, 0) {
			t.Fatal("guard off before busyHold of messages in time")
		}
	}
	if feed(200, 0) {
		t.Error("guard still on after busyHold of messages in time")
	}
	c = newCapacity(Config{BusyWait: -1})
	if feed(200, 200) {
		t.Error("guard on while disabled")
	}
}

// expectGuarded checks a guard that is on: hub B, new, is refused busy and
// counted with reason; hub A, admitted, gets back in.
func (e *env) expectGuarded(t *testing.T, v byte, reason string) {
	t.Helper()
	e.expectBusy(t, v, hubB, secretB)
	if n := value(e.s.m.refused.WithLabelValues(reason)); n != 1 {
		t.Errorf("refused{%s} = %v, want 1", reason, n)
	}
	a2, ack := e.dialRaw(connectOpts{v: v, id: string(hubA), user: string(hubA), pass: secretA})
	t.Cleanup(func() { a2.conn.Close() })
	if ack.ReasonCode != 0 {
		t.Errorf("admitted hub reconnecting while the %s guard is on: CONNACK %#x, want 0", reason, ack.ReasonCode)
	}
}
