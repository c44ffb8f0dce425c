package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// testFencing: in cluster mode every per-home write carries its ownership
// epoch and is refused when it is not the hub's current one
// (docs/cluster.md, "Fencing"). PostgreSQL only: the embedded store
// refuses cluster mode at Open.
func testFencing(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	if cfg.DatabaseURL == "" {
		cfg.Cluster = true
		if _, err := store.Open(ctxT(t), cfg); !errors.Is(err, cluster.ErrNeedsPostgres) {
			t.Errorf("Open(Cluster) on the embedded store = %v, want %v", err, cluster.ErrNeedsPostgres)
		}
		return
	}
	suite{
		{"StaleSaveRefusedAndStateNeverGoesBack", testStaleSaveRefused},
		{"EventInsertRacingAClaim", testEventInsertRacingAClaim},
		{"StaleDetectionDoesNotOpenIncident", testStaleDetection},
		{"CommandRowsOnlyToOwner", testCommandRowsOnlyToOwner},
		{"LeaseClockIsDatabase", testOutboxLeaseClock},
		{"NoDeadlockUnderMovesAndWrites", testNoDeadlock},
	}.run(t, fresh)
}

// fencedPair opens two cluster-mode stores on one fresh database, joined
// as nodes n1 and n2.
func fencedPair(t *testing.T, fresh Fresh) (a, b *store.Store, ma, mb cluster.Member, raw rawDB) {
	cfg := fresh(t)
	cfg.Cluster = true
	a, b = open(t, cfg), open(t, cfg)
	return a, b, join(t, a, "n1", time.Minute), join(t, b, "n2", time.Minute), openRaw(t, cfg)
}

// claim claims hubs for m through s and returns their epochs.
func claim(t *testing.T, s *store.Store, m cluster.Member, hubs ...devices.HubID) map[devices.HubID]devices.Epoch {
	t.Helper()
	owned, err := s.Cluster().ClaimHubs(ctxT(t), m, hubs)
	if err != nil {
		t.Fatalf("ClaimHubs(%s, %v): %v", m, hubs, err)
	}
	out := make(map[devices.HubID]devices.Epoch, len(owned))
	for h, o := range owned {
		out[h] = o.Epoch
	}
	return out
}

// wantStale checks that err is a *detectors.StaleError naming exactly hubs.
func wantStale(t *testing.T, what string, err error, hubs ...devices.HubID) {
	t.Helper()
	var st *detectors.StaleError
	if !errors.As(err, &st) {
		t.Errorf("%s: error %v, want a *detectors.StaleError naming %v", what, err, hubs)
		return
	}
	got := slices.Clone(st.Hubs)
	slices.Sort(got)
	if !slices.Equal(got, hubs) {
		t.Errorf("%s: refused %v, want %v", what, got, hubs)
	}
	if !errors.Is(err, devices.ErrNotOwner) {
		t.Errorf("%s: %v is not devices.ErrNotOwner", what, err)
	}
}

// health is a hub's health record with a firmware to tell saves apart.
func health(hub devices.HubID, firmware string, epoch devices.Epoch) devices.HubHealthRecord {
	return devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: hub, Firmware: firmware, Battery: -1}, Epoch: epoch}
}

// testStaleSaveRefused: a node that lost a home can no longer save its
// engine state or its health; the other homes of the same save are
// written; a stored state of a newer epoch is never replaced by an older
// one; a save without an epoch is refused outright (ErrUnfenced).
func testStaleSaveRefused(t *testing.T, fresh Fresh) {
	a, b, ma, mb, raw := fencedPair(t, fresh)
	ctx := ctxT(t)
	ea := claim(t, a, ma, "hub-1", "hub-2")
	homeData := func(s *store.Store, hub devices.HubID) string {
		t.Helper()
		snap, ok, err := s.State().LoadHome(ctx, hub)
		if err != nil || !ok {
			t.Fatalf("LoadHome(%s) = %v, %v", hub, ok, err)
		}
		return string(snap.Data)
	}
	if err := a.State().SaveHomes(ctx, []detectors.HomeSnapshot{
		{Hub: "hub-1", Data: []byte("a1"), Epoch: ea["hub-1"]},
		{Hub: "hub-2", Data: []byte("a2"), Epoch: ea["hub-2"]},
	}); err != nil {
		t.Fatalf("SaveHomes by the owner: %v", err)
	}
	if err := a.State().SaveHubHealth(ctx, []devices.HubHealthRecord{health("hub-1", "a", ea["hub-1"])}); err != nil {
		t.Fatalf("SaveHubHealth by the owner: %v", err)
	}

	eb := claim(t, b, mb, "hub-1") // hub-1 moves to n2
	if eb["hub-1"] <= ea["hub-1"] {
		t.Fatalf("epoch after the move = %d, want above %d", eb["hub-1"], ea["hub-1"])
	}
	err := a.State().SaveHomes(ctx, []detectors.HomeSnapshot{
		{Hub: "hub-1", Data: []byte("a1-late"), Epoch: ea["hub-1"]},
		{Hub: "hub-2", Data: []byte("a2-new"), Epoch: ea["hub-2"]},
	})
	wantStale(t, "SaveHomes by the old owner", err, "hub-1")
	if got := homeData(a, "hub-1"); got != "a1" {
		t.Errorf("hub-1 state after the refused save = %q, want %q", got, "a1")
	}
	if got := homeData(a, "hub-2"); got != "a2-new" {
		t.Errorf("hub-2 (still n1's) state = %q, want %q: the same call's other homes are saved", got, "a2-new")
	}
	err = a.State().SaveHubHealth(ctx, []devices.HubHealthRecord{health("hub-1", "a-late", ea["hub-1"])})
	wantStale(t, "SaveHubHealth by the old owner", err, "hub-1")
	if h, err := a.State().GetHubHealth(ctx, "hub-1"); err != nil || h.Firmware != "a" {
		t.Errorf("hub-1 health after the refused save = %+v, %v; want firmware a", h, err)
	}

	// The new owner saves; the old one still cannot.
	if err := b.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-1", Data: []byte("b1"), Epoch: eb["hub-1"]}}); err != nil {
		t.Fatalf("SaveHomes by the new owner: %v", err)
	}
	if err := b.State().SaveHubHealth(ctx, []devices.HubHealthRecord{health("hub-1", "b", eb["hub-1"])}); err != nil {
		t.Fatalf("SaveHubHealth by the new owner: %v", err)
	}
	wantStale(t, "SaveHomes by the old owner after the new one's",
		a.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-1", Data: []byte("a1-later"), Epoch: ea["hub-1"]}}), "hub-1")
	if got := homeData(b, "hub-1"); got != "b1" {
		t.Errorf("hub-1 state = %q, want the new owner's %q", got, "b1")
	}

	// State never goes backwards: even were the owner row's epoch set back
	// (it never is: claims only bump it), a state saved under a newer
	// epoch is not replaced.
	if err := raw.exec(`UPDATE hub_owners SET epoch = $2 WHERE hub_id = $1`, "hub-1", int64(ea["hub-1"])); err != nil {
		t.Fatal(err)
	}
	wantStale(t, "SaveHomes of an older epoch over a newer state",
		a.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-1", Data: []byte("a1-back"), Epoch: ea["hub-1"]}}), "hub-1")
	wantStale(t, "SaveHubHealth of an older epoch over a newer record",
		a.State().SaveHubHealth(ctx, []devices.HubHealthRecord{health("hub-1", "a-back", ea["hub-1"])}), "hub-1")
	if got := homeData(b, "hub-1"); got != "b1" {
		t.Errorf("hub-1 state = %q, want %q: state went backwards", got, "b1")
	}
	var epoch int64
	if err := raw.queryRow(`SELECT epoch FROM home_state WHERE hub_id = $1`, []any{"hub-1"}, &epoch); err != nil || epoch != int64(eb["hub-1"]) {
		t.Errorf("home_state.epoch of hub-1 = %d, %v; want %d", epoch, err, eb["hub-1"])
	}

	// A hub no node claimed has no owner row: nothing of it is saved.
	wantStale(t, "SaveHomes of an unclaimed hub",
		a.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-9", Data: []byte("x"), Epoch: 1}}), "hub-9")

	// Without an epoch: a wiring bug, refused before anything is written.
	err = b.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-1", Data: []byte("b1-unfenced")}})
	wantErr(t, "SaveHomes without an epoch", err, store.ErrUnfenced)
	err = b.State().SaveHubHealth(ctx, []devices.HubHealthRecord{health("hub-1", "unfenced", 0)})
	wantErr(t, "SaveHubHealth without an epoch", err, store.ErrUnfenced)
	if got := homeData(b, "hub-1"); got != "b1" {
		t.Errorf("hub-1 state = %q after an unfenced save, want %q", got, "b1")
	}
}

// testEventInsertRacingAClaim: the old owner journals an event while the
// new owner claims the hub and then reads the hub's journal (the replay at
// takeover), 200 times. Each time the event is either seen by that replay
// read or refused to the old owner (devices.ErrNotOwner: no PUBACK, the
// hub resends to the new owner): never acknowledged and missed, which
// would lose an SOS. A refused event is not stored either.
func testEventInsertRacingAClaim(t *testing.T, fresh Fresh) {
	a, b, ma, mb, _ := fencedPair(t, fresh)
	start(t, a)
	ctx := ctxT(t)
	const rounds = 200
	var seen, refused int
	for round := range rounds {
		hub := devices.HubID(fmt.Sprintf("hub-%03d", round))
		epoch := claim(t, a, ma, hub)[hub]
		ev := &devices.Event{Hub: hub, ID: "sos-1", Kind: devices.EventSOS, At: time.Now(), Received: time.Now(), Epoch: epoch}
		var appendErr, claimErr, replayErr error
		var replayed []devices.EventID
		var wg sync.WaitGroup
		go_ := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-go_
			_, appendErr = a.Journal().AppendEvent(ctx, ev)
		}()
		go func() {
			defer wg.Done()
			<-go_
			if _, claimErr = b.Cluster().ClaimHubs(ctx, mb, []devices.HubID{hub}); claimErr != nil {
				return
			}
			replayErr = b.Journal().ReplayEvents(ctx, "", hub, 0, func(e *devices.Event) error {
				replayed = append(replayed, e.ID)
				return nil
			})
		}()
		close(go_)
		wg.Wait()
		if claimErr != nil || replayErr != nil {
			t.Fatalf("round %d: claim %v, replay %v", round, claimErr, replayErr)
		}
		stored := slices.Contains(replayed, ev.ID)
		switch {
		case appendErr == nil && stored:
			seen++
		case errors.Is(appendErr, devices.ErrNotOwner) && !stored:
			refused++
		case appendErr == nil:
			t.Fatalf("round %d: the event was acknowledged to the old owner but the new owner's replay after its claim missed it", round)
		default:
			t.Fatalf("round %d: append = %v, replayed by the new owner %v", round, appendErr, replayed)
		}
		// The hub's redelivery to the old owner: a stored event is a
		// duplicate (durable, acknowledged), a refused one refused again.
		again := *ev
		fresh, err := a.Journal().AppendEvent(ctx, &again)
		if stored && (err != nil || fresh) || !stored && !errors.Is(err, devices.ErrNotOwner) {
			t.Fatalf("round %d: redelivery to the old owner = fresh %v, %v; stored before: %v", round, fresh, err, stored)
		}
	}
	unfenced := &devices.Event{Hub: "hub-000", ID: "sos-2", Kind: devices.EventSOS, At: time.Now()}
	_, err := a.Journal().AppendEvent(ctx, unfenced)
	wantErr(t, "AppendEvent without an epoch", err, store.ErrUnfenced)
	// And a refused event was not stored behind the replay's back.
	var late int
	for round := range rounds {
		hub := devices.HubID(fmt.Sprintf("hub-%03d", round))
		if err := b.Journal().ReplayEvents(ctx, "", hub, 0, func(*devices.Event) error { late++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if late != seen {
		t.Errorf("%d events stored in the end, want the %d the replays saw", late, seen)
	}
	t.Logf("%d rounds: %d events seen by the new owner's replay, %d refused to the old owner", rounds, seen, refused)
}

// testStaleDetection: in one group, a detection fenced by an old epoch is
// skipped with dispatch.ErrStaleEpoch and opens nothing, while the
// current owner's detection and an unfenced change (119, the console)
// are applied.
func testStaleDetection(t *testing.T, fresh Fresh) {
	a, b, ma, mb, _ := fencedPair(t, fresh)
	ctx := ctxT(t)
	old := claim(t, a, ma, "hub-1")["hub-1"]
	cur := claim(t, b, mb, "hub-1")["hub-1"]
	apply(t, b, fenced(newIncident("inc-0", "fp-0", 1, 0, dispatchT0), cur)) // to be changed unfenced below
	res := apply(t, a,
		fenced(newIncident("inc-stale", "fp-stale", 1, 2, dispatchT0), old),
		fenced(newIncident("inc-cur", "fp-cur", 1, 2, dispatchT0), cur),
		dispatch.Mutation{IncidentID: "inc-0", Apply: func(c *dispatch.Incident, _ *dispatch.OutboxRow) (dispatch.Change, error) {
			inc := *c
			inc.State = dispatch.StateAcknowledged
			return dispatch.Change{Incident: &inc}, nil
		}},
	)
	if !errors.Is(res[0].Err, dispatch.ErrStaleEpoch) || res[0].Changed || res[0].Enqueued != 0 {
		t.Errorf("stale detection = %+v, want skipped with %v", res[0], dispatch.ErrStaleEpoch)
	}
	if res[1].Err != nil || !res[1].Changed || res[1].Enqueued != 2 {
		t.Errorf("the current owner's detection = %+v, want applied", res[1])
	}
	if res[2].Err != nil || !res[2].Changed {
		t.Errorf("unfenced change = %+v, want applied", res[2])
	}
	if _, err := a.Incidents().Incident(ctx, "inc-stale"); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("incident of the stale detection: %v, want none (%v)", err, devices.ErrNotFound)
	}
	res = apply(t, a, fenced(newIncident("inc-x", "fp-x", 1, 0, dispatchT0), 0))
	wantErr(t, "detection without an epoch", res[0].Err, store.ErrUnfenced)
}

// fenced makes m a detection of hub-1 under epoch.
func fenced(m dispatch.Mutation, epoch devices.Epoch) dispatch.Mutation {
	m.Fence = dispatch.Fence{Hub: "hub-1", Epoch: epoch}
	return m
}

// withCommand opens incident id of hub-1 with a notification row and a
// check-in command row, due at dispatchT0.
func withCommand(id string) dispatch.Mutation {
	m := newIncident(id, "fp-"+id, 1, 1, dispatchT0)
	open := m.Apply
	m.Apply = func(cur *dispatch.Incident, row *dispatch.OutboxRow) (dispatch.Change, error) {
		ch, err := open(cur, row)
		ch.Enqueue = append(ch.Enqueue, dispatch.OutboxRow{Key: id + "/cmd", Kind: dispatch.KindCommand, Channel: dispatch.ChannelHub,
			Attempt: 1, Priority: 1, DueAt: dispatchT0, Deadline: dispatchT0.Add(time.Hour)})
		return ch, err
	}
	return m
}

// claimedKinds claims every due row through s and returns their kinds by key.
func claimedKinds(t *testing.T, s *store.Store, id string) map[string]dispatch.OutboxKind {
	t.Helper()
	rows, err := s.Incidents().ClaimOutbox(ctxT(t), dispatch.Claim{ID: id, Now: dispatchT0.Add(time.Minute), Lease: time.Hour, Limit: 10})
	if err != nil {
		t.Fatalf("ClaimOutbox(%s): %v", id, err)
	}
	out := map[string]dispatch.OutboxKind{}
	for _, r := range rows {
		out[r.Key] = r.Kind
	}
	return out
}

// testCommandRowsOnlyToOwner: a check-in command goes only to the node
// that owns its hub (the one holding the hub's session); notifications go
// to any node.
func testCommandRowsOnlyToOwner(t *testing.T, fresh Fresh) {
	a, b, ma, mb, raw := fencedPair(t, fresh)
	epoch := claim(t, a, ma, "hub-1")["hub-1"]
	apply(t, a, fenced(withCommand("inc-1"), epoch))
	var hub string
	if err := raw.queryRow(`SELECT hub_id FROM dispatch_outbox WHERE row_key = $1`, []any{"inc-1/cmd"}, &hub); err != nil || hub != "hub-1" {
		t.Errorf("hub_id of the command row = %q, %v; want hub-1", hub, err)
	}
	if got := claimedKinds(t, b, "b-1"); len(got) != 1 || got["inc-1/cmd"] != "" {
		t.Errorf("n2 (not the owner) claimed %v, want the notification only", got)
	}
	if got := claimedKinds(t, a, "a-1"); len(got) != 1 || got["inc-1/cmd"] != dispatch.KindCommand {
		t.Errorf("n1 (the owner) claimed %v, want the command", got)
	}
	// The hub moves to n2: the next command is n2's.
	epoch = claim(t, b, mb, "hub-1")["hub-1"]
	apply(t, b, fenced(withCommand("inc-2"), epoch))
	if got := claimedKinds(t, a, "a-2"); got["inc-2/cmd"] != "" {
		t.Errorf("n1 claimed %v after the hub moved, want no command", got)
	}
	if got := claimedKinds(t, b, "b-2"); got["inc-2/cmd"] != dispatch.KindCommand {
		t.Errorf("n2 (the owner now) claimed %v, want the command", got)
	}
	// A command row whose claim lapsed is taken back by the owner only.
	if err := raw.exec(`UPDATE dispatch_outbox SET claimed_until_us = 0 WHERE row_key = $1`, "inc-2/cmd"); err != nil {
		t.Fatal(err)
	}
	if got := claimedKinds(t, a, "a-3"); got["inc-2/cmd"] != "" {
		t.Errorf("n1 took back %v, want no command of a hub it lost", got)
	}
	if got := claimedKinds(t, b, "b-3"); got["inc-2/cmd"] != dispatch.KindCommand {
		t.Errorf("n2 took back %v, want its command", got)
	}
}

// testOutboxLeaseClock: outbox leases run on the database's clock. A node
// whose clock is an hour ahead does not take a row another node claimed a
// moment ago, and one whose clock is an hour behind takes a row whose
// lease is over.
func testOutboxLeaseClock(t *testing.T, fresh Fresh) {
	a, b, _, _, raw := fencedPair(t, fresh)
	apply(t, a, newIncident("inc-1", "fp-1", 1, 1, dispatchT0))
	claimAt := func(s *store.Store, id string, clock time.Duration) []dispatch.OutboxRow {
		t.Helper()
		rows, err := s.Incidents().ClaimOutbox(ctxT(t), dispatch.Claim{ID: id, Now: time.Now().Add(clock), Lease: 30 * time.Second, Limit: 10})
		if err != nil {
			t.Fatalf("ClaimOutbox(%s): %v", id, err)
		}
		return rows
	}
	before := time.Now()
	if rows := claimAt(a, "behind", -time.Hour); len(rows) != 1 {
		t.Fatalf("first claim took %d rows, want 1", len(rows))
	}
	after := time.Now()
	var until int64
	if err := raw.queryRow(`SELECT claimed_until_us FROM dispatch_outbox`, nil, &until); err != nil {
		t.Fatal(err)
	}
	// The test's database runs on this machine: its clock is time.Now.
	if u := time.UnixMicro(until); u.Before(before.Add(29*time.Second)) || u.After(after.Add(31*time.Second)) {
		t.Errorf("lease of a node an hour behind ends at %s, want 30s after the database's now (%s)", u, before)
	}
	if rows := claimAt(b, "ahead", time.Hour); len(rows) != 0 {
		t.Errorf("a node an hour ahead took %d rows under a live lease, want none", len(rows))
	}
	if err := raw.exec(`UPDATE dispatch_outbox SET claimed_until_us = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - 1000000`); err != nil {
		t.Fatal(err)
	}
	if rows := claimAt(b, "behind-too", -time.Hour); len(rows) != 1 || !rows[0].Recovered {
		t.Errorf("a node an hour behind took %+v after the lease ended, want the row, recovered", rows)
	}
}

// testNoDeadlock: claims moving hubs back and forth between two nodes,
// fenced saves, event appends and detection groups, all on the same hubs
// at once and each given its hubs in reverse order, never deadlock: every
// writer locks hub_owners rows first, in hub_id order, then its data rows.
// Each write either succeeds or is refused as stale; nothing else fails.
func testNoDeadlock(t *testing.T, fresh Fresh) {
	a, b, ma, mb, _ := fencedPair(t, fresh)
	start(t, a)
	ctx := ctxT(t)
	const nHubs, rounds = 40, 25
	hubs := make([]devices.HubID, nHubs)
	for i := range hubs {
		hubs[nHubs-1-i] = devices.HubID(fmt.Sprintf("hub-%02d", i)) // reverse order
	}
	claim(t, a, ma, hubs...)
	var mu sync.Mutex
	epochs := map[devices.HubID]devices.Epoch{}
	note := func(owned map[devices.HubID]devices.Epoch) {
		mu.Lock()
		defer mu.Unlock()
		for h, e := range owned {
			epochs[h] = max(epochs[h], e)
		}
	}
	epochOf := func(h devices.HubID) devices.Epoch {
		mu.Lock()
		defer mu.Unlock()
		return max(epochs[h], 1)
	}
	var errs []error
	outcomes := map[string]int{}
	fail := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			outcomes[what+" ok"]++
		case errors.Is(err, devices.ErrNotOwner) || errors.Is(err, dispatch.ErrStaleEpoch):
			outcomes[what+" stale"]++
		default:
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	var wg sync.WaitGroup
	for w, s := range []*store.Store{a, b} {
		m := []cluster.Member{ma, mb}[w]
		wg.Go(func() { // claims, in alternating halves
			for r := range rounds {
				owned, err := s.Cluster().ClaimHubs(ctx, m, hubs[(r%2)*nHubs/2:][:nHubs/2])
				fail("claim", err)
				got := map[devices.HubID]devices.Epoch{}
				for h, o := range owned {
					got[h] = o.Epoch
				}
				note(got)
			}
		})
		wg.Go(func() { // state saves
			for r := range rounds {
				snaps := make([]detectors.HomeSnapshot, 0, nHubs)
				recs := make([]devices.HubHealthRecord, 0, nHubs)
				for _, h := range hubs {
					snaps = append(snaps, detectors.HomeSnapshot{Hub: h, Data: []byte{byte(r)}, Epoch: epochOf(h)})
					recs = append(recs, health(h, "fw", epochOf(h)))
				}
				fail("save homes", s.State().SaveHomes(ctx, snaps))
				fail("save health", s.State().SaveHubHealth(ctx, recs))
			}
		})
		wg.Go(func() { // detection groups
			for r := range rounds {
				var muts []dispatch.Mutation
				for i, h := range hubs[:10] {
					m := newIncident(fmt.Sprintf("inc-%d-%d-%d", w, r, i), fmt.Sprintf("fp-%d-%d-%d", w, r, i), 1, 1, dispatchT0)
					m.Fence = dispatch.Fence{Hub: h, Epoch: epochOf(h)}
					muts = append(muts, m)
				}
				res, err := s.Incidents().ApplyIncidents(ctx, muts)
				fail("apply incidents", err)
				for _, x := range res {
					fail("detection", x.Err)
				}
			}
		})
	}
	wg.Go(func() { // event appends through the journal's group commit
		for r := range rounds {
			var inner sync.WaitGroup
			for _, h := range hubs {
				inner.Go(func() {
					_, err := a.Journal().AppendEvent(ctx, &devices.Event{Hub: h, ID: devices.EventID(fmt.Sprintf("e-%d", r)),
						Kind: devices.EventMotion, At: dispatchT0, Epoch: epochOf(h)})
					fail("append event", err)
				})
			}
			inner.Wait()
		}
	})
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	t.Logf("outcomes: %v", outcomes)
}
