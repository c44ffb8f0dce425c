package shard

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/dolbom/dolbom/devices"
)

// laneOp is a test op: a hub and a name.
type laneOp struct{ hub, name string }

func laneHub(o *laneOp) devices.HubID { return devices.HubID(o.hub) }

// An event is taken ahead of the ordinary queue, after its own hub's older
// ordinary ops and before everything else, its hub's newer ops included.
func TestLanesEventPullsOnlyItsHubsOlderOps(t *testing.T) {
	l := NewLanes(8, laneHub)
	var waits atomic.Uint64
	for _, o := range []laneOp{{"a", "a1"}, {"b", "b1"}, {"a", "a2"}} {
		l.Put(o, false, nil, &waits)
	}
	l.Put(laneOp{"a", "a-sos"}, true, nil, &waits)
	l.Put(laneOp{"a", "a3"}, false, nil, &waits) // after the event
	var got []string
	apply := func(o laneOp) { got = append(got, o.name) }
	if !l.Event(nil, apply) {
		t.Fatal("no event taken")
	}
	if want := []string{"a1", "a2", "a-sos"}; !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
	got = nil
	l.Drain(apply)
	if want := []string{"b1", "a3"}; !slices.Equal(got, want) {
		t.Fatalf("then %v, want %v", got, want)
	}
	if waits.Load() != 0 {
		t.Errorf("%d waits counted with room in both lanes", waits.Load())
	}
}

// Events parked while a state loads are put back in their turn: after the
// load everything parked is taken in the order it was handed on, so each
// event still comes after its own hub's older inputs.
func TestUnparkPutsEventsInTheirTurn(t *testing.T) {
	l := NewLanes(8, laneHub)
	var waits atomic.Uint64
	for _, o := range []struct {
		laneOp
		event bool
	}{{laneOp{"a", "a1"}, false}, {laneOp{"a", "a-sos"}, true}, {laneOp{"b", "b1"}, false}, {laneOp{"b", "b-fall"}, true}, {laneOp{"a", "a2"}, false}} {
		l.Put(o.laneOp, o.event, nil, &waits)
	}
	// A loading shard's select takes whichever lane is ready: events first
	// here, and the load ends with a2 still in the ordinary channel, older
	// than nothing parked but newer than both events.
	for range 2 {
		l.Park(<-l.ParkingEvents())
	}
	for range 2 {
		l.Park(<-l.Parking())
	}
	l.Unpark()
	var got []string
	l.Drain(func(o laneOp) { got = append(got, o.name) })
	if want := []string{"a1", "a-sos", "b1", "b-fall", "a2"}; !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}

	// The load ends with a hub's reading still in the channel and its
	// later event parked: the reading goes first.
	l = NewLanes(8, laneHub)
	l.Put(laneOp{"a", "a1"}, false, nil, &waits)
	l.Put(laneOp{"a", "a-sos"}, true, nil, &waits)
	l.Park(<-l.ParkingEvents())
	l.Unpark()
	got = nil
	l.Drain(func(o laneOp) { got = append(got, o.name) })
	if want := []string{"a1", "a-sos"}; !slices.Equal(got, want) {
		t.Fatalf("a reading left in the channel at the end of the load: applied %v, want %v", got, want)
	}
}

// next takes what the shard's select would take next, in the same order:
// the backlog's oldest op not yet applied, then the ordinary channel's,
// and nothing (without waiting) when neither holds one.
func TestLanesNextTakesQueuedOpsInOrder(t *testing.T) {
	l := NewLanes(8, laneHub)
	var waits atomic.Uint64
	for _, o := range []laneOp{{"a", "a1"}, {"b", "b1"}, {"b", "b2"}, {"a", "a2"}} {
		l.Put(o, false, nil, &waits)
	}
	l.Put(laneOp{"a", "a-sos"}, true, nil, &waits) // moves a1, b1, b2, a2 to the backlog
	l.Put(laneOp{"c", "c1"}, false, nil, &waits)
	var got []string
	apply := func(o laneOp) { got = append(got, o.name) }
	if !l.Event(nil, apply) {
		t.Fatal("no event taken")
	}
	got = nil
	for l.Next(apply) {
	}
	if want := []string{"b1", "b2", "c1"}; !slices.Equal(got, want) {
		t.Fatalf("next took %v, want %v (backlog first, applied ops skipped, then the channel)", got, want)
	}
	if l.Next(apply) {
		t.Fatal("next took an op from empty lanes")
	}
}

// next takes at most queuedRun ops in a row, then declines once with ops
// still queued, so that the shard's select serves its ticks, saves,
// queries and stop while a backlog lasts.
func TestLanesNextLetsTheSelectRunDuringABacklog(t *testing.T) {
	l := NewLanes(4*queuedRun, laneHub)
	var waits atomic.Uint64
	for i := range 3 * queuedRun {
		l.Put(laneOp{"a", fmt.Sprint(i)}, false, nil, &waits)
	}
	taken := 0
	apply := func(laneOp) { taken++ }
	for l.Next(apply) {
	}
	if taken != queuedRun || l.Len() != 2*queuedRun {
		t.Fatalf("next took %d ops in a row (%d left), want %d", taken, l.Len(), queuedRun)
	}
	if !l.Next(apply) || taken != queuedRun+1 {
		t.Fatal("next declined twice in a row with ops queued")
	}
}
