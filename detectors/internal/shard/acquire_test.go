package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/wheel"
	"github.com/dolbom/dolbom/devices"
)

// TestReleasedSlotTimerDoesNotFire: a deadline armed for a record that is
// then released (its timer not cancelled, as when the release comes while
// the wheel is firing) does not run on the record that reuses the index:
// the key's generation no longer matches. The new record's own timer does.
func TestReleasedSlotTimerDoesNotFire(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	w := wheel.New(time.Second, 64, start)
	var s Slots
	var c Chunked[string]
	i := c.Add("hub-1")
	w.Schedule(s.Key(i), start.Add(5*time.Second))
	s.Free(i)
	j, ok := s.Reuse()
	if !ok || j != i {
		t.Fatalf("Reuse = %d, %v; want index %d again", j, ok, i)
	}
	*c.At(j) = "hub-2"
	w.Schedule(s.Key(j), start.Add(10*time.Second))
	var ran []string
	expired := func(key uint64, _ wheel.Timer) {
		if k, live := s.Live(key); live {
			ran = append(ran, *c.At(k))
		}
	}
	w.Advance(start.Add(6*time.Second), expired)
	if len(ran) != 0 {
		t.Fatalf("the released record's deadline ran on %v", ran)
	}
	w.Advance(start.Add(11*time.Second), expired)
	if len(ran) != 1 || ran[0] != "hub-2" {
		t.Fatalf("ran %v; want hub-2's own deadline", ran)
	}
	if _, ok := s.Reuse(); ok {
		t.Error("an index handed out twice")
	}
}

// TestLoaderBatchesAndRetries: acquisitions asked for while loads run are
// read in batches of at most loadBatch hubs, at most loadsInFlight at once;
// a failed load is retried (the homes stay parked) and each request gets
// its own delivery with the events after its saved position and floor.
func TestLoaderBatchesAndRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var sizes []int
		inFlight, most, failures := 0, 0, 1
		release := make(chan struct{})
		delivered := map[devices.HubID]Loaded[int64]{}
		l := &Loader[int64]{
			Log:     zerolog.Nop(),
			HubOf:   func(r *int64) devices.HubID { return devices.HubID(fmt.Sprintf("hub-%d", *r)) },
			Applied: func(r *int64) int64 { return *r },
			Load: func(_ context.Context, hubs []devices.HubID) ([]int64, error) {
				mu.Lock()
				inFlight++
				most = max(most, inFlight)
				fail := failures > 0
				failures--
				sizes = append(sizes, len(hubs))
				wait := release
				mu.Unlock()
				<-wait
				mu.Lock()
				inFlight--
				mu.Unlock()
				if fail {
					return nil, errors.New("database away")
				}
				return []int64{7}, nil // hub-7's saved record, position 7
			},
			Replay: func(_ context.Context, after map[devices.HubID]int64, fn func(*devices.Event) error) error {
				for _, seq := range []int64{5, 8} {
					if seq > after["hub-7"] {
						if err := fn(&devices.Event{Hub: "hub-7", Seq: seq}); err != nil {
							return err
						}
					}
				}
				return nil
			},
			Deliver: func(_ context.Context, ld Loaded[int64]) {
				mu.Lock()
				delivered[ld.Hub] = ld
				mu.Unlock()
			},
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go l.Run(ctx)
		for i := range 2500 {
			l.Request(Acquire{Hub: devices.HubID(fmt.Sprintf("hub-%d", i)), Epoch: 3})
		}
		for range 10 {
			synctest.Wait()
			mu.Lock()
			close(release)
			release = make(chan struct{})
			mu.Unlock()
			time.Sleep(time.Second)
		}
		mu.Lock()
		close(release)
		mu.Unlock()
		synctest.Wait()
		if most > loadsInFlight {
			t.Errorf("%d loads at once, want at most %d", most, loadsInFlight)
		}
		for _, n := range sizes {
			if n > loadBatch {
				t.Errorf("a batch of %d hubs, want at most %d", n, loadBatch)
			}
		}
		if len(delivered) != 2500 {
			t.Fatalf("%d homes delivered, want 2500 (the failed batch retried)", len(delivered))
		}
		if ld := delivered["hub-7"]; !ld.Found || ld.Rec != 7 || len(ld.Events) != 1 || ld.Events[0].Seq != 8 || ld.Epoch != 3 {
			t.Errorf("hub-7's load %+v; want its record and only the event after its position", ld)
		}
		if ld := delivered["hub-8"]; ld.Found {
			t.Errorf("hub-8 has no saved record, got %+v", ld)
		}
	})
}

// input is a test's shard input: a hub's reading (seq 0) or journaled event.
type input struct {
	hub   devices.HubID
	epoch devices.Epoch
	seq   int64
}

// TestHolderParksUntilLoaded: a cluster shard parks a home's inputs while
// its load runs, every event but at most parkOthers readings (the rest let
// go, counted), then applies them in order after the load, without the
// events the load's replay applied; an input of a home not held is dropped.
func TestHolderParksUntilLoaded(t *testing.T) {
	var unowned, released, overflow atomic.Uint64
	var requested []Acquire
	discarded := 0
	held := map[devices.HubID]devices.Epoch{}
	h := Holder[input]{
		Cluster: true,
		HubOf:   func(o input) devices.HubID { return o.hub },
		EpochOf: func(o input) devices.Epoch { return o.epoch },
		SeqOf:   func(o input) int64 { return o.seq },
		Discard: func(input) { discarded++ },
		Held: func(hub devices.HubID) (devices.Epoch, bool) {
			ep, ok := held[hub]
			return ep, ok
		},
		Drop:    func(hub devices.HubID) { delete(held, hub) },
		Request: func(a Acquire) { requested = append(requested, a) },
		Unowned: &unowned, Released: &released, Overflow: &overflow,
	}
	if h.Admit(input{hub: "hub-1"}) || unowned.Load() != 1 || discarded != 1 {
		t.Fatalf("a reading of a home not held was admitted (unowned %d)", unowned.Load())
	}
	if h.Admit(input{hub: "hub-1", epoch: 2, seq: 1}) || len(requested) != 1 || requested[0].Epoch != 2 {
		t.Fatalf("an event under a new epoch did not start the acquisition: %+v", requested)
	}
	for i := range 100 {
		h.Admit(input{hub: "hub-1"})
		if i%20 == 0 {
			h.Admit(input{hub: "hub-1", seq: int64(10 + i)})
		}
	}
	if overflow.Load() != 100-parkOthers {
		t.Errorf("overflow %d, want %d readings let go", overflow.Load(), 100-parkOthers)
	}
	var applied []input
	h.Loaded(requested[0], []*devices.Event{{Hub: "hub-1", Seq: 1}}, func() { held["hub-1"] = 2 }, func(o input) { applied = append(applied, o) })
	events, readings := 0, 0
	for _, o := range applied {
		if o.seq == 1 {
			t.Error("the event the replay applied was applied again")
		}
		if o.seq != 0 {
			events++
		} else {
			readings++
		}
	}
	if events != 5 || readings != parkOthers {
		t.Errorf("applied %d events and %d readings; want 5 and %d", events, readings, parkOthers)
	}
	if !h.Admit(input{hub: "hub-1"}) {
		t.Error("a reading of the held home was not admitted")
	}
	h.Release("hub-1")
	if released.Load() != 1 || h.Admit(input{hub: "hub-1"}) {
		t.Errorf("released %d; a released home's reading admitted", released.Load())
	}
}
