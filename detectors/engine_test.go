package detectors

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// memEngineStore is an in-memory EngineStore.
type memEngineStore struct {
	mu         sync.Mutex
	homes      map[devices.HubID][]byte
	hold       chan struct{} // not nil: LoadHomes waits until it is closed
	pointLoads int
}

func (s *memEngineStore) SaveHomes(_ context.Context, hs []HomeSnapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.homes == nil {
		s.homes = map[devices.HubID][]byte{}
	}
	for _, h := range hs {
		s.homes[h.Hub] = h.Data
	}
	return nil
}

func (s *memEngineStore) LoadHomes(ctx context.Context) ([]HomeSnapshot, error) {
	if s.hold != nil { // a slow bulk load, until the test lets it go
		select {
		case <-s.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []HomeSnapshot
	for k, v := range s.homes {
		out = append(out, HomeSnapshot{Hub: k, Data: v})
	}
	return out, nil
}

func (s *memEngineStore) LoadHome(_ context.Context, hub devices.HubID) (HomeSnapshot, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pointLoads++
	data, ok := s.homes[hub]
	return HomeSnapshot{Hub: hub, Data: data}, ok, nil
}

// restore decodes snapshots straight into the shards of an engine that is
// not running, as its load does, and returns how many it could not read.
func (e *Engine) restore(snaps []HomeSnapshot) (corrupt int) {
	for _, sn := range snaps {
		if !e.shardOf(sn.Hub).restore(sn) {
			corrupt++
		}
	}
	return corrupt
}

func startEngine(t *testing.T, store EngineStore, sink *recorder) (*Engine, func()) {
	t.Helper()
	return startEngineConfig(t, EngineConfig{Sink: sink, Store: store, Shards: 2, Logger: zerolog.Nop()})
}

// startEngineConfig runs an engine of cfg until the returned stop is called.
func startEngineConfig(t *testing.T, cfg EngineConfig) (*Engine, func()) {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	synctest.Wait()
	return e, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func fallEvent(hub devices.HubID, at time.Time) *devices.Message {
	return &devices.Message{Hub: hub, Channel: devices.ChanEvents, Event: &devices.Event{
		Hub: hub, ID: "f1", Kind: devices.EventFall, Sensor: "wearable-1", At: at, Received: at, Value: 3, HasValue: true}}
}

// TestEngineLoopFallWindowAcrossRestart runs the real loops on fake time: a
// fall goes pending, the engine stops inside the window and starts again
// from its store, and the fall fires exactly once when the window ends.
func TestEngineLoopFallWindowAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, sink := &memEngineStore{}, &recorder{}
		e, stop := startEngine(t, store, sink)
		e.Ingest(fallEvent("hub-1", time.Now()))
		synctest.Wait()
		got := sink.take()
		if len(got) != 1 || got[0].State != Pending || got[0].Cause != CauseFall {
			t.Fatalf("want one pending fall, got %+v", got)
		}
		fp := got[0].Fingerprint
		time.Sleep(10 * time.Second)
		stop()
		e, stop = startEngine(t, store, sink)
		defer stop()
		// The restored window is sent again (the Sink keeps one incident
		// per fingerprint), then nothing until it ends.
		if got := sink.take(); len(got) != 1 || got[0].State != Pending || got[0].Fingerprint != fp {
			t.Fatalf("want the pending fall re-sent under %s, got %+v", fp, got)
		}
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if got := sink.take(); len(got) != 0 {
			t.Fatalf("nothing before the window ends, got %+v", got)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got = sink.take()
		if len(got) != 1 || got[0].State != Firing || got[0].Fingerprint != fp {
			t.Fatalf("want one firing fall, got %+v", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := sink.take(); len(got) != 0 {
			t.Fatalf("fired twice: %+v", got)
		}
		_ = e
	})
}

// TestEngineLoopSilentHome: a home that sends nothing more after its last
// motion gets its welfare check from the wall clock, and a hub disconnect
// during the emergency level raises its priority.
func TestEngineLoopSilentHome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &recorder{}
		e, stop := startEngine(t, nil, sink)
		defer stop()
		now := time.Now()
		e.Ingest(&devices.Message{Hub: "hub-2", Channel: devices.ChanEvents, Event: &devices.Event{
			Hub: "hub-2", ID: "m1", Kind: devices.EventMotion, Sensor: "hall-pir", At: now, Received: now}})
		time.Sleep(12*time.Hour + 2*time.Second)
		synctest.Wait()
		got := sink.take()
		if len(got) != 1 || got[0].Cause != CauseInactivity || got[0].Class != ClassWelfare {
			t.Fatalf("want a welfare check, got %+v", got)
		}
		time.Sleep(12 * time.Hour)
		synctest.Wait()
		got = sink.take()
		if len(got) != 1 || got[0].Class != ClassEmergency || got[0].Priority != PriorityHigh {
			t.Fatalf("want the emergency level, got %+v", got)
		}
		fp := got[0].Fingerprint
		e.Connection(devices.ConnectionEvent{Hub: "hub-2", Connected: false, At: time.Now(), Reason: "lost"})
		synctest.Wait()
		got = sink.take()
		if len(got) != 1 || got[0].Priority != PriorityCritical || got[0].Fingerprint != fp {
			t.Fatalf("want the emergency raised to P1, got %+v", got)
		}
	})
}

func TestSnapshotRoundTrip(t *testing.T) {
	sr := runScenario(t, "testdata/scenarios/inactivity-learned.txt")
	h := sr.s.homes.At(0)
	var back home
	if err := decodeHome(&back, encodeHome(h)); err != nil {
		t.Fatal(err)
	}
	if back.core != h.core || len(back.tracks) != len(h.tracks) || len(back.sensors) != len(h.sensors) {
		t.Fatalf("round trip differs")
	}
	for _, bad := range [][]byte{nil, {9}, encodeHome(h)[:20]} {
		if err := decodeHome(&back, bad); err == nil {
			t.Errorf("decoded %d bad bytes", len(bad))
		}
	}
}
