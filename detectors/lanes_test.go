package detectors

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// An SOS queued behind a large backlog of other homes' readings in the
// same shard is detected before that backlog is applied, and after the
// older readings of its own home.
func TestSOSNotBehindReadingsBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var e *Engine
		var homesAtSOS, stuck int
		var sosSawOwnMotion bool
		sink := SinkFunc(func(d Detection) {
			if d.Hub == "stuck" && stuck == 0 {
				stuck++
				<-gate // dispatch is slow: the shard stops here, its queue fills
			}
			if d.Hub == "hub-sos" && d.Cause == CauseSOS {
				s := e.shards[0] // on the shard's goroutine
				homesAtSOS = int(s.homes.Len())
				h := s.homes.At(s.index["hub-sos"])
				sosSawOwnMotion = h.core.LastMotion != 0
			}
		})
		const backlog = 2000
		e, stop := startEngineConfig(t, EngineConfig{Sink: sink, Shards: 1, QueueSize: 2 * backlog, Logger: zerolog.Nop()})

		now := time.Now()
		e.Ingest(&devices.Message{Hub: "stuck", Channel: devices.ChanEvents, Event: &devices.Event{
			Hub: "stuck", ID: "s0", Kind: devices.EventSOS, Sensor: "pendant-1", At: now, Received: now}})
		synctest.Wait()
		// The SOS's own home's motion, then other homes' readings, then the SOS.
		e.Ingest(readings("hub-sos", 0, devices.Reading{Sensor: "hall-pir", Metric: devices.MetricMotion, Value: 1, At: now}))
		for i := range backlog {
			e.Ingest(readings(devices.HubID(fmt.Sprintf("hub-%04d", i)), 0,
				devices.Reading{Sensor: "kitchen-temp", Metric: devices.MetricTemperature, Value: 21}))
		}
		e.Ingest(&devices.Message{Hub: "hub-sos", Channel: devices.ChanEvents, Event: &devices.Event{
			Hub: "hub-sos", ID: "s1", Kind: devices.EventSOS, Sensor: "pendant-1", At: now.Add(time.Second), Received: now}})
		close(gate)
		synctest.Wait()
		stop()
		if homesAtSOS == 0 {
			t.Fatal("no SOS detected")
		}
		// "stuck" and hub-sos: none of the backlog's homes yet.
		if homesAtSOS != 2 {
			t.Errorf("the SOS was detected with %d homes known, want 2: it waited behind the readings", homesAtSOS)
		}
		if !sosSawOwnMotion {
			t.Error("the SOS was applied before its own home's older reading")
		}
		if got := int(e.shards[0].homes.Len()); got != backlog+2 {
			t.Errorf("%d homes after the drain, want %d: readings were lost", got, backlog+2)
		}
	})
}

// While the saved state loads, an SOS is detected at once: its home is
// loaded on its own, its part of the journal's tail first; the bulk load
// then leaves that home as it is, and the readings parked meanwhile are
// applied after it.
func TestSOSDuringStateLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, sink := &memEngineStore{}, &recorder{}
		e, stop := startEngine(t, store, sink)
		now := time.Now()
		e.Ingest(&devices.Message{Hub: "hub-1", Channel: devices.ChanEvents, Event: &devices.Event{
			Hub: "hub-1", ID: "m1", Kind: devices.EventMotion, Sensor: "hall-pir", At: now, Received: now}})
		e.Ingest(readings("hub-2", 0, devices.Reading{Sensor: "hall-pir", Metric: devices.MetricMotion, Value: 1, At: now}))
		synctest.Wait()
		stop()
		if len(store.homes) != 2 {
			t.Fatalf("%d homes saved, want 2", len(store.homes))
		}

		store.hold = make(chan struct{})
		e, stop = startEngine(t, store, sink)
		defer stop()
		later := now.Add(time.Minute)
		e.Ingest(readings("hub-2", 0, devices.Reading{Sensor: "hall-pir", Metric: devices.MetricMotion, Value: 1, At: later}))
		e.Ingest(&devices.Message{Hub: "hub-1", Channel: devices.ChanEvents, Event: &devices.Event{
			Hub: "hub-1", ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: later, Received: later}})
		synctest.Wait()
		got := sink.take()
		if len(got) != 1 || got[0].Cause != CauseSOS || got[0].Hub != "hub-1" {
			t.Fatalf("want the SOS while the state loads, got %+v", got)
		}
		select {
		case <-e.Loaded():
			t.Fatal("loaded while the bulk load is held")
		default:
		}
		if store.pointLoads != 1 {
			t.Errorf("%d homes loaded on their own, want 1", store.pointLoads)
		}
		close(store.hold)
		synctest.Wait()
		<-e.Loaded()
		s := e.shardOf("hub-1")
		h := s.homes.At(s.index["hub-1"])
		if !h.core.Eps[kSOS].open() {
			t.Error("the bulk load overwrote the home loaded early: its SOS episode is gone")
		}
		if h.core.LastActivity == 0 {
			t.Error("the home loaded early lost its saved activity")
		}
		s2 := e.shardOf("hub-2")
		if h2 := s2.homes.At(s2.index["hub-2"]); h2.core.LastMotion != later.UnixMilli() {
			t.Errorf("hub-2's parked reading not applied after its saved state: last motion %d, want %d",
				h2.core.LastMotion, later.UnixMilli())
		}
		if got := sink.take(); len(got) != 0 {
			t.Errorf("detections after the load: %+v", got)
		}
	})
}

// blockingHomeStore is memEngineStore whose LoadHome of one hub waits for
// a gate: the shard is held there, on its own goroutine.
type blockingHomeStore struct {
	*memEngineStore
	hub  devices.HubID
	gate chan struct{}
}

func (s blockingHomeStore) LoadHome(ctx context.Context, hub devices.HubID) (HomeSnapshot, bool, error) {
	if hub == s.hub {
		<-s.gate
	}
	return s.memEngineStore.LoadHome(ctx, hub)
}

// An event that comes while a shard restores its part of the saved state
// waits for one chunk of it at most, not for the whole part.
func TestSOSNotBehindRestore(t *testing.T) {
	const homes = 8 * restoreChunkSize
	saved := &memEngineStore{homes: map[devices.HubID][]byte{}}
	blob := encodeHome(&home{})
	for i := range homes {
		saved.homes[devices.HubID(fmt.Sprintf("hub-%05d", i))] = blob
	}
	// Ten starts: which of the shard's inputs is taken first is the
	// runtime's choice; none may find the restore done.
	for try := range 10 {
		synctest.Test(t, func(t *testing.T) {
			var e *Engine
			homesAtSOS := -1
			sink := SinkFunc(func(d Detection) {
				if d.Hub == "hub-00007" {
					homesAtSOS = int(e.shards[0].homes.Len()) // on the shard's goroutine
				}
			})
			store := blockingHomeStore{memEngineStore: &memEngineStore{homes: saved.homes, hold: make(chan struct{})},
				hub: "blocker", gate: make(chan struct{})}
			e, stop := startEngineConfig(t, EngineConfig{Sink: sink, Store: store, Shards: 1, Logger: zerolog.Nop()})
			defer stop()
			now := time.Now()
			sos := func(hub devices.HubID) *devices.Message {
				return &devices.Message{Hub: hub, Channel: devices.ChanEvents, Event: &devices.Event{
					Hub: hub, ID: "sos", Kind: devices.EventSOS, Sensor: "pendant-1", At: now, Received: now}}
			}
			e.Ingest(sos("blocker")) // the shard waits in its LoadHome
			synctest.Wait()
			close(store.hold) // the bulk load is handed to the shard
			synctest.Wait()
			e.Ingest(sos("hub-00007"))
			close(store.gate)
			synctest.Wait()
			<-e.Loaded()
			if homesAtSOS < 0 || homesAtSOS > restoreChunkSize+2 {
				t.Fatalf("try %d: the SOS was applied with %d homes restored (a chunk is %d): it waited for the restore",
					try, homesAtSOS, restoreChunkSize)
			}
		})
	}
}
