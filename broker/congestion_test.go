package broker

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestWaitsOver: the door shuts on the p99 of the waits counted between two
// readings, only from buckets wholly above the limit, and never on a window
// with too few samples to judge.
func TestWaitsOver(t *testing.T) {
	buckets := []float64{0, 0.001, 0.01, 0.1, 1} // 4 buckets: [0,1ms) [1,10ms) [10,100ms) [100ms,1s)
	limit := 0.010
	for _, tc := range []struct {
		name          string
		before, after []uint64
		want          bool
	}{
		{"quiet", []uint64{0, 0, 0, 0}, []uint64{990, 10, 0, 0}, false},
		{"one in a hundred above: not more than 1%", []uint64{0, 0, 0, 0}, []uint64{95, 4, 1, 0}, false},
		{"two in a hundred above", []uint64{0, 0, 0, 0}, []uint64{90, 8, 1, 1}, true},
		{"long waits only before the window", []uint64{100, 0, 50, 50}, []uint64{200, 0, 50, 50}, false},
		{"long waits in the window", []uint64{100, 0, 50, 50}, []uint64{160, 0, 70, 50}, true},
		{"waits up to 10 ms are not above", []uint64{0, 0, 0, 0}, []uint64{0, 100, 0, 0}, false},
		{"too few to judge", []uint64{0, 0, 0, 0}, []uint64{0, 0, 49, 0}, false},
		{"enough to judge", []uint64{0, 0, 0, 0}, []uint64{0, 0, 50, 0}, true},
	} {
		if got := waitsOver(buckets, tc.before, tc.after, limit); got != tc.want {
			t.Errorf("%s: waitsOver = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSchedWaitsReadsTheRuntime: the runtime's histogram is there and read;
// the first reading only sets the baseline.
func TestSchedWaitsReadsTheRuntime(t *testing.T) {
	w := newSchedWaits(time.Hour)
	if w.over() {
		t.Fatal("first reading judged: it has no window yet")
	}
	if !w.started || len(w.last) == 0 {
		t.Fatal("the runtime's /sched/latencies:seconds was not read")
	}
	if w.over() {
		t.Fatal("waits over an hour in a test's window")
	}
}

// scriptedCPU is a congestion measure a test sets.
type scriptedCPU struct {
	mu    sync.Mutex
	over  bool
	calls int
}

func (s *scriptedCPU) measure() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.over
}

func (s *scriptedCPU) set(over bool) {
	s.mu.Lock()
	s.over = over
	s.mu.Unlock()
}

// scripted is a door whose measure the test sets (cpu), with the states it
// reported (shut), stopped when the test ends.
type scripted struct {
	*congestion
	cpu  *scriptedCPU
	shut []bool
}

func newScripted(t *testing.T, stop chan struct{}) *scripted {
	if stop == nil {
		stop = make(chan struct{})
		t.Cleanup(func() { close(stop) })
	}
	s := &scripted{cpu: &scriptedCPU{}}
	s.congestion = newCongestion(time.Millisecond, stop, func(b bool) { s.shut = append(s.shut, b) })
	s.measure = s.cpu.measure
	return s
}

// TestDoorShutsAndOpens: a CONNECT in a saturated window waits until the
// watcher sees the cores clear; the metric follows the door; a CONNECT in a
// clear window does not wait; the runtime is read at most once a window.
func TestDoorShutsAndOpens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newScripted(t, nil)
		cpu := c.cpu

		if c.yield() {
			t.Fatal("a clear window made a CONNECT wait")
		}
		for range 100 {
			c.yield() // same window: not read again
		}
		if cpu.calls != 1 {
			t.Fatalf("the runtime read %d times in one window, want 1", cpu.calls)
		}

		cpu.set(true)
		time.Sleep(congestionWindow)
		waited := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			if !c.yield() {
				t.Error("a CONNECT at a shut door did not wait")
			}
			waited <- time.Since(start)
		}()
		time.Sleep(5 * congestionWindow)
		synctest.Wait()
		select {
		case <-waited:
			t.Fatal("the CONNECT went on while the cores were saturated")
		default:
		}
		cpu.set(false)
		if d := <-waited; d < 5*congestionWindow || d > 7*congestionWindow {
			t.Errorf("waited %v, want until the window after the cores cleared", d)
		}
		if len(c.shut) != 2 || !c.shut[0] || c.shut[1] {
			t.Errorf("door states %v, want [shut open]", c.shut)
		}
		if c.yield() {
			t.Error("the door stayed shut after the cores cleared")
		}
	})
}

// TestDoorWaitIsBounded: a node that stays saturated lets a CONNECT go on
// after yieldMax, and a stopping server lets every waiting CONNECT go.
func TestDoorWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		c := newScripted(t, stop)
		c.cpu.set(true)
		c.yield() // the baseline reading
		time.Sleep(congestionWindow)
		start := time.Now()
		if !c.yield() {
			t.Fatal("no wait at a shut door")
		}
		if d := time.Since(start); d != yieldMax {
			t.Errorf("waited %v at a door that never opened, want yieldMax %v", d, yieldMax)
		}
		done := make(chan struct{})
		go func() {
			c.yield()
			close(done)
		}()
		time.Sleep(congestionWindow)
		close(stop)
		<-done
		synctest.Wait() // the watcher has ended too
	})
}

// TestDoorStaleReadingNotJudged: the first CONNECT after a quiet spell
// does not judge the spell (the runtime's counts since the last reading
// cover all of it), only sets a fresh baseline.
func TestDoorStaleReadingNotJudged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newScripted(t, nil)
		cpu := c.cpu
		c.yield()
		cpu.set(true)
		time.Sleep(time.Minute)
		if c.yield() {
			t.Fatal("a stale window shut the door")
		}
		time.Sleep(congestionWindow)
		go c.yield()
		synctest.Wait()
		if len(c.shut) != 1 {
			t.Fatalf("a fresh saturated window did not shut the door: %v", c.shut)
		}
		cpu.set(false)
	})
}

// TestConnectWaitsForTheCores: through the broker, a hub's CONNECT gets no
// CONNACK while the door is shut, is admitted once it opens, and is counted
// as yielded; a broker left at the default never measures.
func TestConnectWaitsForTheCores(t *testing.T) {
	cpu := &scriptedCPU{over: true}
	e := startEnvTuned(t, Config{ConnectYieldAt: time.Millisecond}, func(s *Server) {
		s.congestion.measure = cpu.measure
		s.congestion.maxWait = time.Hour // the CONNACK below can only come from the door opening
	})
	e.s.congestion.door(time.Now()) // baseline
	time.Sleep(congestionWindow)
	acked := make(chan packets.Packet, 1)
	go func() {
		c, ack := e.dialRaw(connectOpts{v: 5, id: string(hubA), user: string(hubA), pass: secretA, clean: true})
		defer c.conn.Close()
		acked <- ack
	}()
	waitFor(t, func() bool { return value(e.s.m.connectDoorShut) == 1 })
	select {
	case <-acked:
		t.Fatal("CONNACK while the cores were saturated")
	case <-time.After(300 * time.Millisecond):
	}
	cpu.set(false)
	if ack := <-acked; ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x after the door opened", ack.ReasonCode)
	}
	if n := value(e.s.m.connectsYielded); n != 1 {
		t.Errorf("connects_yielded_total %v, want 1", n)
	}
	if value(e.s.m.connectDoorShut) != 0 {
		t.Error("door still reported shut")
	}

	off := startEnv(t, Config{})
	if off.s.congestion.measure != nil {
		t.Error("a broker without ConnectYieldAt reads the scheduler")
	}
	c := off.hub(5, hubB, secretB)
	c.conn.Close()
}

// TestServedHubsPassTheDoor: while the door is shut, a hub this node served
// (held before a restart, or with a kept session) connects at once, as in a
// reconnect wave; a hub never served waits.
func TestServedHubsPassTheDoor(t *testing.T) {
	cpu := &scriptedCPU{over: true}
	e := startEnvTuned(t, Config{ConnectYieldAt: time.Millisecond}, func(s *Server) {
		s.congestion.measure = cpu.measure
		s.congestion.maxWait = time.Hour
	})
	e.s.held.restored.Store(&restoredHubs{hashes: []uint64{hubHash(string(hubA))}, until: time.Now().Add(time.Hour)})
	e.s.congestion.door(time.Now()) // baseline
	time.Sleep(congestionWindow)

	// A hub never served meets the shut door.
	waiting := make(chan packets.Packet, 1)
	go func() {
		c, ack := e.dialRaw(connectOpts{v: 5, id: string(hubB), user: string(hubB), pass: secretB, clean: true})
		defer c.conn.Close()
		waiting <- ack
	}()
	waitFor(t, func() bool { return value(e.s.m.connectDoorShut) == 1 })

	// The hub held before the restart passes it (a dial that met the door
	// would wait for the hour).
	dial := func(o connectOpts) (*rawClient, packets.Packet) {
		t.Helper()
		type dialed struct {
			c   *rawClient
			ack packets.Packet
		}
		done := make(chan dialed, 1)
		go func() { c, ack := e.dialRaw(o); done <- dialed{c, ack} }()
		select {
		case d := <-done:
			return d.c, d.ack
		case <-time.After(10 * time.Second):
			t.Fatalf("hub %s held at the shut door", o.id)
			return nil, packets.Packet{}
		}
	}
	a, ack := dial(connectOpts{v: 4, id: string(hubA), user: string(hubA), pass: secretA})
	if ack.ReasonCode != 0 {
		t.Fatalf("hub held before the restart: CONNACK %#x", ack.ReasonCode)
	}
	// And so does it again with its session kept (3.1.1, not clean), the
	// restored set aside.
	a.conn.Close()
	e.s.held.restored.Store(nil)
	waitFor(t, func() bool { st := e.s.states.get(string(hubA)); return st != nil && st.sessionKept() })
	a2, ack := dial(connectOpts{v: 4, id: string(hubA), user: string(hubA), pass: secretA})
	defer a2.conn.Close()
	if ack.ReasonCode != 0 {
		t.Fatalf("hub with a kept session: CONNACK %#x", ack.ReasonCode)
	}
	if n := value(e.s.m.connectsYielded); n != 0 {
		t.Errorf("connects_yielded_total %v while only the new hub waits, want 0", n)
	}
	select {
	case ack := <-waiting:
		t.Fatalf("the new hub passed the shut door: CONNACK %#x", ack.ReasonCode)
	default:
	}
	cpu.set(false)
	if ack := <-waiting; ack.ReasonCode != 0 {
		t.Fatalf("new hub after the door opened: CONNACK %#x", ack.ReasonCode)
	}
}
