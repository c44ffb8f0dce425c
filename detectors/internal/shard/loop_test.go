package shard

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// recordingMachine records what its shard's loop handed it; an op named
// "boom" panics.
type recordingMachine struct {
	handled   []string
	ticks     int
	recovered []string // the op of each recovered panic ("" for a tick)
}

func (m *recordingMachine) Handle(o laneOp) {
	if o.name == "boom" {
		panic("boom")
	}
	m.handled = append(m.handled, o.name)
}

func (m *recordingMachine) Tick(time.Time) { m.ticks++ }

func (m *recordingMachine) Save(slot, limit int) SaveReply[string] {
	return SaveReply[string]{Items: slices.Clone(m.handled)}
}

func (m *recordingMachine) Recovered(o laneOp, r any) {
	m.recovered = append(m.recovered, o.name)
}

// TestShardLoop: the loop applies events ahead of ordinary inputs, keeps
// going past an input that panics (reported to the machine), ticks, answers
// save requests and queries on its goroutine, and applies what is still
// queued when it stops.
func TestShardLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &recordingMachine{}
		s := NewShard(Machine[laneOp, string](m), 8, laneHub, true)
		var waits atomic.Uint64
		for _, o := range []laneOp{{"a", "a1"}, {"b", "boom"}, {"b", "b1"}} {
			s.Lanes.Put(o, false, nil, &waits)
		}
		s.Lanes.Put(laneOp{"a", "a-sos"}, true, nil, &waits)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx, time.Second); close(done) }()
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()

		if want := []string{"a1", "a-sos", "b1"}; !slices.Equal(m.handled, want) {
			t.Errorf("handled %v, want %v", m.handled, want)
		}
		if !slices.Equal(m.recovered, []string{"boom"}) {
			t.Errorf("recovered %v, want the op that panicked", m.recovered)
		}
		if m.ticks != 3 {
			t.Errorf("%d ticks in 3.5 s of 1 s ticks, want 3", m.ticks)
		}
		req := SaveReq[string]{Reply: make(chan SaveReply[string], 1)}
		s.Saves <- req
		if r := <-req.Reply; len(r.Items) != 3 {
			t.Errorf("save reply %v, want the three handled", r.Items)
		}
		ran := make(chan int, 1)
		s.Queries <- func() { ran <- len(m.handled) }
		if n := <-ran; n != 3 {
			t.Errorf("query saw %d handled, want 3", n)
		}

		s.Lanes.Put(laneOp{"c", "c1"}, false, nil, &waits) // may be queued when the stop comes
		cancel()
		<-done
		if m.handled[len(m.handled)-1] != "c1" {
			t.Errorf("stopped with c1 not applied: %v", m.handled)
		}
	})
}

// bigOp is an input the size of the runtimes' (a message, a connection
// event, a time): too big to pass without copying.
type bigOp struct {
	msg  *devices.Message
	hub  devices.HubID
	pad  [6]int64
	name string
}

type countingMachine struct{ handled int }

func (m *countingMachine) Handle(bigOp)                    { m.handled++ }
func (m *countingMachine) Tick(time.Time)                  {}
func (m *countingMachine) Save(int, int) SaveReply[string] { return SaveReply[string]{} }
func (m *countingMachine) Recovered(bigOp, any)            {}

// TestShardInputAllocatesNothing: queueing an input and applying it
// allocates nothing (a pointer to the input handed to the machine or to a
// function would move every input to the heap).
func TestShardInputAllocatesNothing(t *testing.T) {
	m := &countingMachine{}
	s := NewShard(Machine[bigOp, string](m), 8, func(o *bigOp) devices.HubID { return o.hub }, false)
	msg := &devices.Message{Hub: "hub-1"}
	var waits, dropped atomic.Uint64
	allocs := testing.AllocsPerRun(1000, func() {
		s.Put(bigOp{msg: msg, hub: "hub-1", name: "x"}, msg, nil, &waits, &dropped)
		s.Lanes.Drain(s.apply)
	})
	if allocs != 0 || m.handled == 0 {
		t.Fatalf("%v allocations per input (%d handled), want 0", allocs, m.handled)
	}
}
