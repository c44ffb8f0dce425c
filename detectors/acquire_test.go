package detectors

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// fencedStore is a cluster's shared database for the detectors' tests: hub
// owners with epochs and floors, saved homes refused when stale, and the
// journal replayed by hub.
type fencedStore struct {
	mu     sync.Mutex
	owners map[devices.HubID]devices.Epoch
	floors map[devices.HubID]int64
	homes  map[devices.HubID]HomeSnapshot
	events []devices.Event // seq = index + 1
}

func newFencedStore() *fencedStore {
	return &fencedStore{owners: map[devices.HubID]devices.Epoch{}, floors: map[devices.HubID]int64{}, homes: map[devices.HubID]HomeSnapshot{}}
}

// claim moves hub to a new owner (a bumped epoch), as a CONNECT elsewhere does.
func (f *fencedStore) claim(hub devices.HubID) devices.Epoch {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owners[hub]++
	return f.owners[hub]
}

func (f *fencedStore) epoch(hub devices.HubID) devices.Epoch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.owners[hub]
}

// journal appends an event as the broker does before the PUBACK and
// returns the live message, with its position and epoch.
func (f *fencedStore) journal(hub devices.HubID, id devices.EventID, kind devices.EventKind, sensor devices.SensorID, at time.Time, epoch devices.Epoch) *devices.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := devices.Event{Hub: hub, ID: id, Kind: kind, Sensor: sensor, At: at, Received: at, Seq: int64(len(f.events) + 1)}
	if kind == devices.EventFall {
		ev.Value, ev.HasValue = 3, true
	}
	f.events = append(f.events, ev)
	ev.Epoch = epoch
	return &devices.Message{Hub: hub, Channel: devices.ChanEvents, Event: &ev}
}

func (f *fencedStore) SaveHomes(_ context.Context, hs []HomeSnapshot) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var stale []devices.HubID
	for _, h := range hs {
		if h.Epoch != f.owners[h.Hub] {
			stale = append(stale, h.Hub)
			continue
		}
		f.homes[h.Hub] = h
	}
	if stale != nil {
		return &StaleError{Hubs: stale}
	}
	return nil
}

func (f *fencedStore) LoadHomes(context.Context) ([]HomeSnapshot, error) {
	panic("a cluster's engine loads no homes in bulk")
}

func (f *fencedStore) LoadHome(context.Context, devices.HubID) (HomeSnapshot, bool, error) {
	panic("a cluster's engine loads homes in batches")
}

func (f *fencedStore) LoadHomesOf(_ context.Context, hubs []devices.HubID) ([]HomeSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []HomeSnapshot
	for _, h := range hubs {
		if sn, ok := f.homes[h]; ok {
			out = append(out, sn)
		}
	}
	return out, nil
}

func (f *fencedStore) ReplayHubs(_ context.Context, after map[devices.HubID]int64, fn func(*devices.Event) error) error {
	f.mu.Lock()
	var out []*devices.Event
	for _, ev := range f.events {
		if a, ok := after[ev.Hub]; ok && ev.Seq > max(a, f.floors[ev.Hub]) {
			ev.Replayed = true
			out = append(out, &ev)
		}
	}
	f.mu.Unlock()
	for _, ev := range out {
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

func (f *fencedStore) JournalPosition(context.Context, string) (int64, error) {
	panic("a cluster keeps no global watermark")
}

func (f *fencedStore) ReplayEvents(context.Context, string, devices.HubID, int64, func(*devices.Event) error) error {
	panic("a cluster replays by hub")
}

func (f *fencedStore) JournalApplied(context.Context, string, []int64) error {
	panic("a cluster keeps no global watermark")
}

// fencedSink is dispatch on the shared database: a detection of a stale
// epoch is refused (and its engine told, as dispatch.ErrStaleEpoch would),
// others fold into one incident per fingerprint.
type fencedSink struct {
	store     *fencedStore
	mu        sync.Mutex
	incidents map[string][]Detection
	refused   []Detection
	onStale   func(hubs []devices.HubID)
}

func (s *fencedSink) Detect(d Detection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Epoch != s.store.epoch(d.Hub) {
		s.refused = append(s.refused, d)
		if s.onStale != nil {
			go s.onStale([]devices.HubID{d.Hub}) // dispatch's goroutine, not the shard's
		}
		return
	}
	if s.incidents == nil {
		s.incidents = map[string][]Detection{}
	}
	s.incidents[d.Fingerprint] = append(s.incidents[d.Fingerprint], d)
}

func (s *fencedSink) snapshot() (map[string][]Detection, []Detection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]Detection{}
	for k, v := range s.incidents {
		out[k] = slices.Clone(v)
	}
	return out, slices.Clone(s.refused)
}

// startClusterEngine runs a cluster engine on st until stop.
func startClusterEngine(t *testing.T, st *fencedStore, sink Sink) (*Engine, func()) {
	t.Helper()
	return startEngineConfig(t, EngineConfig{Sink: sink, Store: st, Journal: st, Cluster: true, Shards: 2, Logger: zerolog.Nop()})
}

// holdWithSOS starts a cluster engine that holds hub-1 (claimed, epoch
// returned), whose resident has pressed SOS.
func holdWithSOS(t *testing.T) (*fencedStore, *recorder, *Engine, func(), devices.Epoch) {
	st, sink := newFencedStore(), &recorder{}
	e, stop := startClusterEngine(t, st, sink)
	ep := st.claim("hub-1")
	e.Connection(connect("hub-1", ep))
	e.Ingest(st.journal("hub-1", "s1", devices.EventSOS, "pendant", time.Now(), ep))
	return st, sink, e, stop, ep
}

func connect(hub devices.HubID, epoch devices.Epoch) devices.ConnectionEvent {
	return devices.ConnectionEvent{Hub: hub, Connected: true, At: time.Now(), Epoch: epoch}
}

// TestAcquireReplaysAfterSavedPositionAndFloor: an acquired home replays
// its hub's journal only beyond both its saved position and the floor (the
// events handled before the hub had an owner): an adopted home with no
// saved state does not raise the hub's old SOS again, and a claimed home
// does not raise again what its saved state applied. What is replayed is
// raised under the new epoch, and the state is saved under it.
func TestAcquireReplaysAfterSavedPositionAndFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFencedStore()
		sink := &recorder{}
		now := time.Now()
		// hub-a: an SOS before the floor (handled by the single gateway
		// before the cluster), a fall after it.
		st.journal("hub-a", "a1", devices.EventSOS, "pendant", now.Add(-time.Hour), 0)
		st.journal("hub-a", "a2", devices.EventFall, "wearable-1", now.Add(-time.Second), 0)
		// hub-b: its saved state applied its SOS (seq 3); a fall came after.
		st.journal("hub-b", "b1", devices.EventSOS, "pendant", now.Add(-time.Hour), 0)
		st.journal("hub-b", "b2", devices.EventFall, "wearable-1", now.Add(-time.Second), 0)
		saved := home{applied: 3}
		saved.core.Present = -1
		st.homes["hub-b"] = HomeSnapshot{Hub: "hub-b", Data: encodeHome(&saved), Epoch: 1}
		st.owners["hub-a"], st.owners["hub-b"] = 4, 2

		e, stop := startClusterEngine(t, st, sink)
		defer stop()
		e.Acquire([]Acquired{{Hub: "hub-a", Epoch: 4, Floor: 1, Adopted: true}})
		e.Connection(connect("hub-b", 2))
		synctest.Wait()
		got := sink.take()
		causes := map[devices.HubID][]Cause{}
		for _, d := range got {
			causes[d.Hub] = append(causes[d.Hub], d.Cause)
			if d.Epoch != st.owners[d.Hub] {
				t.Errorf("%s: detection under epoch %d, want %d", d.Hub, d.Epoch, st.owners[d.Hub])
			}
		}
		for _, hub := range []devices.HubID{"hub-a", "hub-b"} {
			if !slices.Equal(causes[hub], []Cause{CauseFall}) {
				t.Errorf("%s: raised %v; want only the fall after the position and floor (no old SOS)", hub, causes[hub])
			}
		}
		time.Sleep(6 * time.Second) // a save round
		synctest.Wait()
		for _, hub := range []devices.HubID{"hub-a", "hub-b"} {
			if sn, ok := st.homes[hub]; !ok || sn.Epoch != st.owners[hub] {
				t.Errorf("%s: saved %+v; want saved under epoch %d", hub, sn.Epoch, st.owners[hub])
			}
		}
		if s := e.Stats(); s.Acquired != 2 {
			t.Errorf("Acquired = %d, want 2", s.Acquired)
		}
	})
}

// TestReleasedHomeRaisesNothingOnDisconnect: a home released because its
// hub moved to another gateway leaves the shard: the dropped session's
// disconnect that follows raises nothing (on a held home it escalates the
// open SOS), its fall's cancel window never ends here, and nothing of it
// is saved.
func TestReleasedHomeRaisesNothingOnDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, sink, e, stop, ep := holdWithSOS(t)
		defer stop()
		e.Ingest(st.journal("hub-1", "f1", devices.EventFall, "wearable-1", time.Now(), ep))
		synctest.Wait()
		if got := sink.take(); len(got) != 2 {
			t.Fatalf("before the move: %+v; want the SOS and the pending fall", got)
		}
		time.Sleep(6 * time.Second)
		st.mu.Lock()
		delete(st.homes, "hub-1")
		st.mu.Unlock()
		st.claim("hub-1") // taken by another gateway
		e.Release("hub-1")
		e.Connection(devices.ConnectionEvent{Hub: "hub-1", At: time.Now(), Reason: "lost"})
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := sink.take(); len(got) != 0 {
			t.Errorf("after the release: %+v; want nothing", got)
		}
		if _, saved := st.homes["hub-1"]; saved {
			t.Error("the released home was saved")
		}
		if s := e.Stats(); s.Released != 1 || s.Unowned == 0 {
			t.Errorf("Released = %d, Unowned = %d; want 1 and the disconnect counted", s.Released, s.Unowned)
		}
	})
}

// TestMovedHomeOneIncident: two gateways on one database; a hub presses SOS
// on A and moves to B, either a second later, before A saved anything (B
// loads no state and replays the SOS from the journal), or after A's save
// (B loads A's state and sends its open SOS again). Either way B raises it
// under the same fingerprint and its epoch, and the hub's second press on B
// is the same episode. A, never told of the move, raises the escalation of
// the lost session under the old epoch: refused, and A lets the home go. One
// incident.
func TestMovedHomeOneIncident(t *testing.T) {
	for _, c := range []struct {
		name  string
		moved time.Duration // after the SOS
	}{{"before A saved", time.Second}, {"after A saved", 6 * time.Second}} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newFencedStore()
				sink := &fencedSink{store: st}
				a, stopA := startClusterEngine(t, st, sink)
				defer stopA()
				b, stopB := startClusterEngine(t, st, sink)
				defer stopB()
				sink.onStale = func(hubs []devices.HubID) { a.ReleaseStale(hubs) } // only A is ever stale here

				ep := st.claim("hub-1")
				a.Connection(connect("hub-1", ep))
				a.Ingest(st.journal("hub-1", "s1", devices.EventSOS, "pendant", time.Now(), ep))
				time.Sleep(c.moved)
				ep = st.claim("hub-1")
				b.Connection(connect("hub-1", ep))
				a.Connection(devices.ConnectionEvent{Hub: "hub-1", At: time.Now(), Reason: "lost"})
				synctest.Wait()
				time.Sleep(10 * time.Second)
				b.Ingest(st.journal("hub-1", "s2", devices.EventSOS, "pendant", time.Now(), ep))
				time.Sleep(time.Minute)
				synctest.Wait()

				incidents, refused := sink.snapshot()
				if len(incidents) != 1 {
					t.Fatalf("incidents %v; want one", incidents)
				}
				for fp, ds := range incidents {
					if len(ds) < 3 || ds[0].Cause != CauseSOS || ds[0].Epoch != 1 || ds[1].Epoch != 2 || ds[len(ds)-1].Epoch != 2 {
						t.Errorf("incident %s: %+v; want A's SOS, B's taking it over and B's second press, under epoch 2", fp, ds)
					}
				}
				if len(refused) == 0 {
					t.Error("A's stale detection was not refused")
				}
				if s := a.Stats(); s.StaleReleased != 1 || s.Released != 1 {
					t.Errorf("A: StaleReleased = %d, Released = %d; want 1, 1", s.StaleReleased, s.Released)
				}
				if sn, ok := st.homes["hub-1"]; !ok || sn.Epoch != 2 {
					t.Errorf("saved %+v; want B's state under epoch 2", sn)
				}
			})
		})
	}
}

// TestStaleSaveReleasesHome: a gateway that lost a home without knowing it
// (paused) has its save refused as stale; it lets the home go (counted),
// does not retry the save, and raises nothing for it afterwards.
func TestStaleSaveReleasesHome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, sink, e, stop, _ := holdWithSOS(t)
		defer stop()
		synctest.Wait()
		sink.take()
		st.claim("hub-1") // moved; nobody tells this gateway
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if s := e.Stats(); s.StaleReleased != 1 || s.Released != 1 {
			t.Fatalf("StaleReleased = %d, Released = %d; want the home let go after its refused save", s.StaleReleased, s.Released)
		}
		if _, saved := st.homes["hub-1"]; saved {
			t.Error("a stale save was written")
		}
		e.Connection(devices.ConnectionEvent{Hub: "hub-1", At: time.Now(), Reason: "lost"})
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := sink.take(); len(got) != 0 {
			t.Errorf("after the refused save: %+v; want nothing", got)
		}
	})
}

// TestReleasedSlotReusedByNextHome: a released home's index is reused by
// the next home acquired, whose deadlines are its own: the released
// home's fall window never ends on it, and the new home's runs as usual.
func TestReleasedSlotReusedByNextHome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFencedStore()
		sink := &recorder{}
		e, stop := startEngineConfig(t, EngineConfig{Sink: sink, Store: st, Journal: st, Cluster: true, Shards: 1, Logger: zerolog.Nop()})
		defer stop()
		ep := st.claim("hub-1")
		e.Connection(connect("hub-1", ep))
		e.Ingest(st.journal("hub-1", "f1", devices.EventFall, "wearable-1", time.Now(), ep))
		synctest.Wait()
		e.Release("hub-1")
		ep2 := st.claim("hub-2")
		e.Connection(connect("hub-2", ep2))
		synctest.Wait()
		sink.take()
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := sink.take(); len(got) != 0 {
			t.Fatalf("after hub-1's window: %+v; want nothing", got)
		}
		e.Ingest(st.journal("hub-2", "f2", devices.EventFall, "wearable-1", time.Now(), ep2))
		time.Sleep(time.Minute)
		synctest.Wait()
		got := sink.take()
		if len(got) != 2 || got[1].Hub != "hub-2" || got[1].State != Firing || got[1].Epoch != ep2 {
			t.Fatalf("hub-2's fall: %+v; want pending then firing under its epoch", got)
		}
	})
}

// TestAdoptedHomeWaitsGraceBeforeWelfare: the engine's side of an adoption.
// Gateway A saved a home whose resident was last active at t0 and died; 12
// hours and 10 minutes later B adopts it, long after B's own restart grace.
// The welfare deadline (12 h) has passed, but it runs from the adoption with
// the restart grace, as after a restart: nothing for two minutes, then
// welfare under B's epoch.
func TestAdoptedHomeWaitsGraceBeforeWelfare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFencedStore()
		sink := &fencedSink{store: st}
		a, stopA := startClusterEngine(t, st, sink)
		b, stopB := startClusterEngine(t, st, sink)
		defer stopB()
		ep := st.claim("hub-1")
		a.Connection(connect("hub-1", ep))
		a.Ingest(st.journal("hub-1", "m1", devices.EventMotion, "motion-1", time.Now(), ep))
		time.Sleep(6 * time.Second)
		stopA() // its final save stands
		time.Sleep(12*time.Hour + 10*time.Minute)
		b.Acquire([]Acquired{{Hub: "hub-1", Epoch: st.claim("hub-1"), Adopted: true}})
		time.Sleep(110 * time.Second)
		synctest.Wait()
		if incidents, refused := sink.snapshot(); len(incidents) != 0 || len(refused) != 0 {
			t.Fatalf("within the grace: %v, refused %v; want nothing", incidents, refused)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		incidents, _ := sink.snapshot()
		if len(incidents) != 1 {
			t.Fatalf("past the grace: %v; want the welfare check", incidents)
		}
		for _, ds := range incidents {
			if ds[0].Cause != CauseInactivity || ds[0].Epoch != 2 {
				t.Errorf("raised %s under epoch %d; want inactivity under B's epoch 2", ds[0].Cause, ds[0].Epoch)
			}
		}
	})
}

// TestReleaseAllLetsEveryHomeGo: a node that lost its lease lets every home
// go (any other member may own them by now): nothing is raised for them
// afterwards, nothing saved, and a hub that connects again under a new
// epoch is acquired afresh from what the store has.
func TestReleaseAllLetsEveryHomeGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, sink, e, stop, _ := holdWithSOS(t)
		defer stop()
		ep2 := st.claim("hub-2")
		e.Connection(connect("hub-2", ep2))
		e.Ingest(st.journal("hub-2", "f2", devices.EventFall, "wearable-1", time.Now(), ep2))
		synctest.Wait()
		first := byHub(t, sink.take())["hub-1"]
		e.ReleaseAll()
		for _, hub := range []devices.HubID{"hub-1", "hub-2"} {
			e.Connection(devices.ConnectionEvent{Hub: hub, At: time.Now(), Reason: "lost"})
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := sink.take(); len(got) != 0 {
			t.Fatalf("after ReleaseAll: %+v; want nothing (the fall's window, the lost sessions)", got)
		}
		if s := e.Stats(); s.Released != 2 || len(st.homes) != 0 {
			t.Fatalf("Released = %d, saved %d homes; want 2 and none", s.Released, len(st.homes))
		}
		ep := st.claim("hub-1")
		e.Connection(connect("hub-1", ep))
		e.Ingest(st.journal("hub-1", "s3", devices.EventSOS, "pendant", time.Now(), ep))
		synctest.Wait()
		// Its state was never saved: the journal gives the first SOS again
		// (the same fingerprint, so the same incident), then the new one.
		got := sink.take()
		if len(got) != 2 || got[0].Fingerprint != first.Fingerprint || got[1].Evidence.Events[0] != "s3" || got[1].Epoch != ep {
			t.Fatalf("after the hub came back: %+v; want the replayed SOS under %s, then s3, under epoch %d", got, first.Fingerprint, ep)
		}
	})
}
