package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// The dispatch contract: incidents, timeline, outbox and policies.

func testDispatch(t *testing.T, fresh Fresh) {
	suite{
		{"IncidentAndOutboxAtomic", testIncidentAtomic},
		{"OneIncidentPerFingerprint", testFingerprint},
		{"FoldedFingerprintFindsItsIncident", testFoldAlias},
		{"OutboxRowOps", testOutboxRowOps},
		{"ClaimExactlyOnce", testClaimOnce},
		{"ClaimRecoversAbandoned", testClaimRecovers},
		{"ReleaseClaimsOfACrashedProcess", testReleaseClaims},
		{"ListAndFeed", testListIncidents},
		{"ApplyAndClaim", testApplyAndClaim},
		{"Policies", testPolicies},
		{"CancelRecipients", testCancelRecipients},
		{"LatestNotificationTo", testLatestNotificationTo},
	}.run(t, fresh)
}

var dispatchT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// newIncident is a mutation that opens an incident with n notification rows.
func newIncident(id, fingerprint string, prio detectors.Priority, rows int, due time.Time) dispatch.Mutation {
	return dispatch.Mutation{Fingerprint: fingerprint, Apply: func(cur *dispatch.Incident, _ *dispatch.OutboxRow) (dispatch.Change, error) {
		if cur != nil {
			inc := *cur
			inc.Count++
			return dispatch.Change{Incident: &inc, Timeline: []dispatch.TimelineEntry{{At: due, Actor: "detector", Action: "repeated"}}}, nil
		}
		inc := &dispatch.Incident{ID: id, Fingerprint: fingerprint, Hub: "hub-1", Cause: detectors.CauseSOS,
			Class: detectors.ClassEmergency, Priority: prio, State: dispatch.StateOpen, Count: 1, OpenedAt: due, UpdatedAt: due}
		ch := dispatch.Change{Incident: inc, Timeline: []dispatch.TimelineEntry{{At: due, Actor: "detector", Action: "opened"}}}
		for i := range rows {
			ch.Enqueue = append(ch.Enqueue, dispatch.OutboxRow{
				Key: dispatch.NotificationKey(id, 0, fmt.Sprintf("r%d", i), dispatch.Channel119, 1), Kind: dispatch.KindNotify, Channel: dispatch.Channel119,
				Attempt: 1, Recipient: dispatch.Recipient{Role: dispatch.Role119, ID: fmt.Sprintf("r%d", i)}, MsgType: dispatch.MsgAlert,
				Priority: prio, DueAt: due, Deadline: due.Add(time.Hour)})
		}
		return ch, nil
	}}
}

func apply(t *testing.T, s *store.Store, muts ...dispatch.Mutation) []dispatch.MutationResult {
	t.Helper()
	res, err := s.Incidents().ApplyIncidents(ctxT(t), muts)
	if err != nil {
		t.Fatalf("ApplyIncidents: %v", err)
	}
	return res
}

func testIncidentAtomic(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	res := apply(t, s, newIncident("inc-a", "fp-a", 1, 3, dispatchT0))
	if !res[0].Changed || res[0].Enqueued != 3 || res[0].Incident.Seq == 0 {
		t.Fatalf("first apply: %+v", res[0])
	}
	rows, err := s.Incidents().Outbox(ctx, "inc-a")
	if err != nil || len(rows) != 3 {
		t.Fatalf("Outbox: %d rows, %v", len(rows), err)
	}
	if r := rows[0]; r.State != dispatch.OutboxPending || r.Recipient.Role != dispatch.Role119 || !r.DueAt.Equal(dispatchT0) {
		t.Errorf("row: %+v", r)
	}
	// A group whose second mutation fails in the database (the id is taken
	// under another fingerprint) commits nothing, not even the first.
	_, err = s.Incidents().ApplyIncidents(ctx, []dispatch.Mutation{
		newIncident("inc-b", "fp-b", 1, 2, dispatchT0),
		newIncident("inc-a", "fp-other", 1, 2, dispatchT0),
	})
	if err == nil {
		t.Fatal("duplicate incident id committed")
	}
	if _, err := s.Incidents().Incident(ctx, "inc-b"); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("inc-b after a failed group: %v, want not found", err)
	}
	if rows, _ := s.Incidents().Outbox(ctx, "inc-b"); len(rows) != 0 {
		t.Errorf("inc-b has %d outbox rows after a failed group", len(rows))
	}
	// An Apply error skips only its mutation.
	res = apply(t, s,
		dispatch.Mutation{IncidentID: "inc-a", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{}, dispatch.ErrClosed
		}},
		newIncident("inc-b", "fp-b", 2, 1, dispatchT0),
		dispatch.Mutation{IncidentID: "inc-none", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{}, nil
		}})
	if !errors.Is(res[0].Err, dispatch.ErrClosed) || res[0].Incident.ID != "inc-a" || res[1].Err != nil || !res[1].Changed ||
		!errors.Is(res[2].Err, devices.ErrNotFound) {
		t.Errorf("results: %+v", res)
	}
	tl, err := s.Incidents().Timeline(ctx, "inc-a")
	if err != nil || len(tl) != 1 || tl[0].Action != "opened" {
		t.Errorf("timeline: %+v %v", tl, err)
	}
}

func testFingerprint(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	// Three triggers of one episode, two in the same group: one incident.
	res := apply(t, s, newIncident("inc-1", "fp", 1, 1, dispatchT0), newIncident("inc-2", "fp", 1, 1, dispatchT0))
	apply(t, s, newIncident("inc-3", "fp", 1, 1, dispatchT0))
	if res[1].Incident.ID != "inc-1" {
		t.Errorf("second trigger made incident %s", res[1].Incident.ID)
	}
	inc, err := s.Incidents().Incident(ctx, "inc-1")
	if err != nil || inc.Count != 3 {
		t.Errorf("incident: count %d, %v", inc.Count, err)
	}
	all, _ := s.Incidents().ListIncidents(ctx, dispatch.IncidentQuery{Limit: 10})
	if len(all) != 1 {
		t.Errorf("%d incidents, want 1", len(all))
	}
	// Enqueuing an existing key again is ignored.
	res = apply(t, s, dispatch.Mutation{IncidentID: "inc-1", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
		return dispatch.Change{Enqueue: []dispatch.OutboxRow{{Key: dispatch.NotificationKey("inc-1", 0, "r0", dispatch.Channel119, 1),
			Kind: dispatch.KindNotify, Channel: dispatch.Channel119, DueAt: dispatchT0, Deadline: dispatchT0}}}, nil
	}})
	if res[0].Enqueued != 0 {
		t.Errorf("a repeated key was enqueued again")
	}
}

// A detection of a new episode may join an open incident of its home
// (Mutation.Fold); the fingerprint, kept as an alias, then finds that
// incident again, also once it is closed. Fold sees only the home's open
// incidents.
func testFoldAlias(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	apply(t, s, newIncident("inc-a", "fp-a", 1, 0, dispatchT0))
	apply(t, s, dispatch.Mutation{Fingerprint: "fp-other-home", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
		return dispatch.Change{Incident: &dispatch.Incident{ID: "inc-x", Fingerprint: "fp-other-home", Hub: "hub-2",
			Cause: detectors.CauseSOS, Class: detectors.ClassEmergency, Priority: 1, State: dispatch.StateOpen, OpenedAt: dispatchT0}}, nil
	}})
	var offered []string
	pick := func(open []dispatch.Incident) *dispatch.Incident {
		offered = offered[:0]
		for _, o := range open {
			offered = append(offered, o.ID)
		}
		if len(open) == 0 {
			return nil
		}
		return &open[0]
	}
	joined := func(alias bool) dispatch.Mutation {
		return dispatch.Mutation{Fingerprint: "fp-b", FoldHub: "hub-1", Fold: pick, Apply: func(cur *dispatch.Incident, _ *dispatch.OutboxRow) (dispatch.Change, error) {
			if cur == nil {
				return dispatch.Change{}, errors.New("fp-b found no incident")
			}
			inc := *cur
			inc.Count++
			ch := dispatch.Change{Incident: &inc}
			if alias {
				ch.Alias = "fp-b"
			}
			return ch, nil
		}}
	}
	res := apply(t, s, joined(true))
	if res[0].Err != nil || res[0].Incident.ID != "inc-a" || len(offered) != 1 || offered[0] != "inc-a" {
		t.Fatalf("fold: %+v, offered %v (want inc-a only)", res[0], offered)
	}
	// The alias finds it without asking Fold, also after the incident closed.
	offered = append(offered[:0], "not asked")
	apply(t, s, dispatch.Mutation{IncidentID: "inc-a", Apply: func(cur *dispatch.Incident, _ *dispatch.OutboxRow) (dispatch.Change, error) {
		inc := *cur
		inc.State = dispatch.StateResolved
		return dispatch.Change{Incident: &inc}, nil
	}})
	res = apply(t, s, joined(false))
	if res[0].Err != nil || res[0].Incident.ID != "inc-a" || res[0].Incident.Count != 3 || offered[0] != "not asked" {
		t.Fatalf("by alias: %+v, offered %v", res[0], offered)
	}
	// A new episode with no open incident in its home opens its own.
	res = apply(t, s, dispatch.Mutation{Fingerprint: "fp-c", FoldHub: "hub-1", Fold: pick,
		Apply: func(cur *dispatch.Incident, _ *dispatch.OutboxRow) (dispatch.Change, error) {
			if cur != nil {
				return dispatch.Change{}, fmt.Errorf("fp-c joined %s", cur.ID)
			}
			return dispatch.Change{}, nil
		}})
	if res[0].Err != nil || len(offered) != 0 {
		t.Errorf("no open incident: %+v, offered %v", res[0], offered)
	}
	if inc, err := s.Incidents().Incident(ctx, "inc-a"); err != nil || inc.Fingerprint != "fp-a" {
		t.Errorf("inc-a: %+v %v", inc, err)
	}
}

func testOutboxRowOps(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	apply(t, s, newIncident("inc-a", "fp-a", 1, 3, dispatchT0))
	keys := []string{dispatch.NotificationKey("inc-a", 0, "r0", dispatch.Channel119, 1), dispatch.NotificationKey("inc-a", 0, "r1", dispatch.Channel119, 1),
		dispatch.NotificationKey("inc-a", 0, "r2", dispatch.Channel119, 1)}
	claimed, err := s.Incidents().ClaimOutbox(ctx, dispatch.Claim{ID: "c1", Now: dispatchT0, Lease: time.Minute, Limit: 1})
	if err != nil || len(claimed) != 1 || claimed[0].ClaimID != "c1" || claimed[0].Tries != 1 || claimed[0].State != dispatch.OutboxSending {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	k0 := claimed[0].Key
	change := func(ch dispatch.Change) {
		apply(t, s, dispatch.Mutation{IncidentID: "inc-a", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return ch, nil
		}})
	}
	// A completion under a wrong claim id is dropped; the right one lands.
	change(dispatch.Change{Row: &dispatch.RowUpdate{Key: k0, ClaimID: "other", State: dispatch.OutboxSent, Ref: "x"}})
	change(dispatch.Change{Row: &dispatch.RowUpdate{Key: k0, ClaimID: "c1", State: dispatch.OutboxSent, Ref: "CAP-1"}})
	// Callbacks find the row and its incident by key or provider reference.
	res := apply(t, s, dispatch.Mutation{RowRef: "CAP-1", Apply: func(cur *dispatch.Incident, row *dispatch.OutboxRow) (dispatch.Change, error) {
		if cur == nil || cur.ID != "inc-a" || row == nil || row.Key != k0 || row.ProviderRef != "CAP-1" || row.State != dispatch.OutboxSent {
			return dispatch.Change{}, fmt.Errorf("by ref: incident %v row %+v", cur, row)
		}
		return dispatch.Change{Row: &dispatch.RowUpdate{Key: row.Key, State: dispatch.OutboxDelivered}}, nil
	}})
	if res[0].Err != nil {
		t.Error(res[0].Err)
	}
	res = apply(t, s, dispatch.Mutation{RowRef: "nope", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
		return dispatch.Change{}, nil
	}})
	if !errors.Is(res[0].Err, devices.ErrNotFound) {
		t.Errorf("unknown ref: %v", res[0].Err)
	}
	// Reschedule moves only pending rows, and only earlier; cancel keeps
	// the channels asked for.
	later := dispatchT0.Add(time.Hour)
	change(dispatch.Change{Reschedule: []dispatch.Reschedule{{Key: keys[1], DueAt: later}}})
	change(dispatch.Change{Enqueue: []dispatch.OutboxRow{{Key: "inc-a/sms", Kind: dispatch.KindNotify, Channel: dispatch.ChannelSMS,
		DueAt: later, Deadline: later}}})
	change(dispatch.Change{Reschedule: []dispatch.Reschedule{{Key: "inc-a/sms", DueAt: dispatchT0}}})
	change(dispatch.Change{CancelPending: true, Keep: []dispatch.Channel{dispatch.Channel119}})
	rows, _ := s.Incidents().Outbox(ctx, "inc-a")
	states := map[string]dispatch.OutboxRow{}
	for _, r := range rows {
		states[r.Key] = r
	}
	if r := states[k0]; r.State != dispatch.OutboxDelivered || r.ProviderRef != "CAP-1" {
		t.Errorf("completed row: %+v", r)
	}
	if r := states[keys[1]]; r.State != dispatch.OutboxPending || !r.DueAt.Equal(dispatchT0) {
		t.Errorf("kept cap row: %+v", r)
	}
	if r := states["inc-a/sms"]; r.State != dispatch.OutboxCancelled || !r.DueAt.Equal(dispatchT0) {
		t.Errorf("cancelled sms row: %+v", r)
	}
	due, ok, err := s.Incidents().NextOutboxDue(ctx)
	if err != nil || !ok || !due.Equal(dispatchT0) {
		t.Errorf("NextOutboxDue = %v %v %v", due, ok, err)
	}
}

// testClaimOnce: many concurrent claimers, each row handed out exactly once.
// On PostgreSQL the claimers use two Store instances, like two gateways.
func testClaimOnce(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	s := open(t, cfg)
	stores := []*store.Store{s}
	if cfg.DatabaseURL != "" {
		stores = append(stores, open(t, cfg))
	}
	const incidents, perIncident = 60, 5
	var muts []dispatch.Mutation
	for i := range incidents {
		muts = append(muts, newIncident(fmt.Sprintf("inc-%03d", i), fmt.Sprintf("fp-%d", i), detectors.Priority(1+i%4), perIncident, dispatchT0))
	}
	apply(t, s, muts...)
	var mu sync.Mutex
	seen := map[string]string{}
	var dup []string
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%len(stores)]
			for n := 0; ; n++ {
				id := fmt.Sprintf("w%d-%d", w, n)
				rows, err := st.Incidents().ClaimOutbox(context.Background(), dispatch.Claim{ID: id, Now: dispatchT0, Lease: time.Hour, Limit: 7})
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if len(rows) == 0 {
					return
				}
				mu.Lock()
				for _, r := range rows {
					if prev, ok := seen[r.Key]; ok {
						dup = append(dup, r.Key+" by "+prev+" and "+id)
					}
					seen[r.Key] = id
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(dup) > 0 {
		t.Errorf("rows claimed twice: %v", dup)
	}
	if len(seen) != incidents*perIncident {
		t.Errorf("claimed %d rows, want %d", len(seen), incidents*perIncident)
	}
	// Most urgent first.
	apply(t, s, newIncident("inc-p4", "fp-p4", 4, 1, dispatchT0), newIncident("inc-p1", "fp-p1", 1, 1, dispatchT0.Add(time.Second)))
	rows, _ := s.Incidents().ClaimOutbox(ctxT(t), dispatch.Claim{ID: "order", Now: dispatchT0.Add(time.Minute), Lease: time.Hour, Limit: 1})
	if len(rows) != 1 || rows[0].IncidentID != "inc-p1" {
		t.Errorf("first claimed row %+v, want the P1 one", rows)
	}
}

func testClaimRecovers(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	apply(t, s, newIncident("inc-a", "fp-a", 1, 1, dispatchT0))
	first, _ := s.Incidents().ClaimOutbox(ctx, dispatch.Claim{ID: "c1", Now: dispatchT0, Lease: 10 * time.Second, Limit: 5})
	if len(first) != 1 || first[0].Recovered {
		t.Fatalf("first claim: %+v", first)
	}
	if again, _ := s.Incidents().ClaimOutbox(ctx, dispatch.Claim{ID: "c2", Now: dispatchT0.Add(5 * time.Second), Lease: 10 * time.Second, Limit: 5}); len(again) != 0 {
		t.Errorf("claimed within the lease: %+v", again)
	}
	// The lease ran out (the worker died): the row comes back, in doubt.
	rec, _ := s.Incidents().ClaimOutbox(ctx, dispatch.Claim{ID: "c3", Now: dispatchT0.Add(11 * time.Second), Lease: 10 * time.Second, Limit: 5})
	if len(rec) != 1 || !rec[0].Recovered || rec[0].Tries != 2 || rec[0].ClaimID != "c3" {
		t.Fatalf("recovered claim: %+v", rec)
	}
	// The dead claim's late completion is dropped.
	apply(t, s, dispatch.Mutation{IncidentID: "inc-a", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
		return dispatch.Change{Row: &dispatch.RowUpdate{Key: rec[0].Key, ClaimID: "c1", State: dispatch.OutboxFailed}}, nil
	}})
	rows, _ := s.Incidents().Outbox(ctx, "inc-a")
	if rows[0].State != dispatch.OutboxSending || rows[0].ClaimID != "c3" {
		t.Errorf("row after a stale completion: %+v", rows[0])
	}
}

// testReleaseClaims: with the embedded store one process owns the file, so
// the claims found at start are a crashed process's and are released at
// once (in doubt) instead of after their lease; with PostgreSQL they may be
// a live gateway's and are left alone.
func testReleaseClaims(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	apply(t, s, newIncident("inc-a", "fp-a", 1, 1, dispatchT0))
	if first, _ := s.Incidents().ClaimOutbox(ctx, dispatch.Claim{ID: "c1", Now: dispatchT0, Lease: time.Hour, Limit: 5}); len(first) != 1 {
		t.Fatalf("first claim: %+v", first)
	}
	n, err := s.Incidents().ReleaseClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.Incidents().ClaimOutbox(ctx, dispatch.Claim{ID: "c2", Now: dispatchT0.Add(time.Second), Lease: time.Hour, Limit: 5})
	if !s.Incidents().SingleWriter() {
		if n != 0 || len(again) != 0 {
			t.Errorf("PostgreSQL released %d claims (claimed again: %+v): another gateway's lease must hold", n, again)
		}
		return
	}
	if n != 1 || len(again) != 1 || !again[0].Recovered || again[0].ClaimID != "c2" {
		t.Errorf("released %d, claimed again %+v; want the row at once, in doubt", n, again)
	}
}

func testListIncidents(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	apply(t, s,
		newIncident("inc-old-p2", "fp-1", 2, 0, dispatchT0),
		newIncident("inc-new-p1", "fp-2", 1, 0, dispatchT0.Add(time.Hour)),
		newIncident("inc-old-p1", "fp-3", 1, 0, dispatchT0.Add(time.Minute)))
	all, err := s.Incidents().ListIncidents(ctx, dispatch.IncidentQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inc := range all {
		ids = append(ids, inc.ID)
	}
	if fmt.Sprint(ids) != "[inc-old-p1 inc-new-p1 inc-old-p2]" {
		t.Errorf("order: %v", ids)
	}
	for _, tc := range []struct {
		q    dispatch.IncidentQuery
		want int
	}{
		{dispatch.IncidentQuery{Priority: 1}, 2},
		{dispatch.IncidentQuery{States: []dispatch.State{dispatch.StateOpen}}, 3},
		{dispatch.IncidentQuery{States: []dispatch.State{dispatch.StateResolved, dispatch.StateCancelled}}, 0},
		{dispatch.IncidentQuery{Since: dispatchT0.Add(time.Minute)}, 2},
		{dispatch.IncidentQuery{Hub: "hub-2"}, 0},
		{dispatch.IncidentQuery{Cause: detectors.CauseSOS, Limit: 1}, 1},
	} {
		got, err := s.Incidents().ListIncidents(ctx, tc.q)
		if err != nil || len(got) != tc.want {
			t.Errorf("ListIncidents(%+v) = %d, %v; want %d", tc.q, len(got), err, tc.want)
		}
	}
	changed, err := s.Incidents().IncidentsChangedSince(ctx, all[2].Seq, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range changed {
		if inc.Seq <= all[2].Seq {
			t.Errorf("changed since %d returned seq %d", all[2].Seq, inc.Seq)
		}
	}
	first, _ := s.Incidents().IncidentsChangedSince(ctx, 0, 10)
	if len(first) != 3 || first[0].Seq >= first[1].Seq || first[1].Seq >= first[2].Seq {
		t.Errorf("changes since 0: %+v", first)
	}
	if last, err := s.Incidents().LastIncidentSeq(ctx); err != nil || len(first) == 3 && last != first[2].Seq {
		t.Errorf("LastIncidentSeq = %d, %v; want %d", last, err, first[len(first)-1].Seq)
	}
}

// testApplyAndClaim: mutations and a claim in one transaction; the claim
// sees the rows the mutations queued.
func testApplyAndClaim(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	res, claimed, err := s.Incidents().ApplyIncidentsAndClaim(ctxT(t), []dispatch.Mutation{newIncident("inc-c", "fp-c", 1, 2, dispatchT0)},
		dispatch.Claim{ID: "claim-1", Now: dispatchT0, Lease: time.Minute, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Enqueued != 2 || len(claimed) != 2 {
		t.Fatalf("results %+v, claimed %d rows, want 2", res, len(claimed))
	}
	for _, r := range claimed {
		if r.State != dispatch.OutboxSending || r.ClaimID != "claim-1" || r.IncidentID != "inc-c" {
			t.Errorf("claimed row: %+v", r)
		}
	}
	// Nothing is left to claim, and a claim alone is a valid group.
	_, again, err := s.Incidents().ApplyIncidentsAndClaim(ctxT(t), nil, dispatch.Claim{ID: "claim-2", Now: dispatchT0, Lease: time.Minute, Limit: 10})
	if err != nil || len(again) != 0 {
		t.Errorf("second claim: %d rows, %v", len(again), err)
	}
}

func testPolicies(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	p := dispatch.Policy{Steps: []dispatch.Step{{After: dispatch.Duration(time.Minute),
		Notify: []dispatch.Target{{To: dispatch.RoleGuardian, Via: dispatch.ChannelSMS}}}}}
	if err := s.Incidents().SavePolicy(ctx, "fall", p, dispatchT0); err != nil {
		t.Fatal(err)
	}
	p.Steps[0].After = dispatch.Duration(2 * time.Minute)
	if err := s.Incidents().SavePolicy(ctx, "fall", p, dispatchT0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Incidents().Policies(ctx)
	if err != nil || len(got) != 1 || got["fall"].Steps[0].After.D() != 2*time.Minute {
		t.Errorf("Policies = %+v, %v", got, err)
	}
}

// testCancelRecipients: a responder who answered is not contacted again:
// their pending notifications go, whatever the step and attempt; other
// recipients' rows (guardian-10 beside guardian-1, a LIKE wildcard in
// "social_worker-1") and rows already sent stay.
func testCancelRecipients(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	key := func(step int, rid string, channel dispatch.Channel, attempt int) string {
		return dispatch.NotificationKey("inc-r", step, rid, channel, attempt)
	}
	var rows []dispatch.OutboxRow
	for _, k := range []struct {
		step    int
		rid     string
		ch      dispatch.Channel
		attempt int
	}{{0, "guardian-1", dispatch.ChannelSMS, 1}, {0, "guardian-1", dispatch.ChannelVoice, 2}, {2, "guardian-1", dispatch.ChannelSMS, 1}, {0, "guardian-10", dispatch.ChannelSMS, 1},
		{0, "social_worker-1", dispatch.ChannelVoice, 1}, {0, "socialXworker-1", dispatch.ChannelVoice, 1}} {
		rows = append(rows, dispatch.OutboxRow{Key: key(k.step, k.rid, k.ch, k.attempt), Kind: dispatch.KindNotify, Channel: k.ch,
			Attempt: k.attempt, Step: k.step, Recipient: dispatch.Recipient{Role: dispatch.RoleGuardian, ID: k.rid}, MsgType: dispatch.MsgAlert,
			DueAt: dispatchT0.Add(time.Hour), Deadline: dispatchT0.Add(2 * time.Hour)})
	}
	rows = append(rows, dispatch.OutboxRow{Key: "inc-r/t/escalate/1", Kind: dispatch.KindTimer, Timer: dispatch.TimerEscalate,
		DueAt: dispatchT0.Add(time.Hour), Deadline: dispatchT0.Add(2 * time.Hour)})
	apply(t, s, dispatch.Mutation{Fingerprint: "fp-r", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
		return dispatch.Change{Incident: &dispatch.Incident{ID: "inc-r", Fingerprint: "fp-r", Hub: "hub-1", Cause: detectors.CauseFall,
			Class: detectors.ClassEmergency, Priority: 2, State: dispatch.StateNotified, OpenedAt: dispatchT0, UpdatedAt: dispatchT0},
			Enqueue: rows}, nil
	}})
	// guardian-1's first SMS went out already.
	apply(t, s, dispatch.Mutation{IncidentID: "inc-r", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
		return dispatch.Change{Row: &dispatch.RowUpdate{Key: key(0, "guardian-1", dispatch.ChannelSMS, 1), State: dispatch.OutboxSent}}, nil
	}})
	apply(t, s, dispatch.Mutation{IncidentID: "inc-r", Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
		return dispatch.Change{CancelRecipients: []string{"guardian-1", "social_worker-1"}}, nil
	}})
	got, err := s.Incidents().Outbox(ctx, "inc-r")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]dispatch.OutboxState{
		key(0, "guardian-1", dispatch.ChannelSMS, 1): dispatch.OutboxSent, key(0, "guardian-1", dispatch.ChannelVoice, 2): dispatch.OutboxCancelled,
		key(2, "guardian-1", dispatch.ChannelSMS, 1): dispatch.OutboxCancelled, key(0, "guardian-10", dispatch.ChannelSMS, 1): dispatch.OutboxPending,
		key(0, "social_worker-1", dispatch.ChannelVoice, 1): dispatch.OutboxCancelled, key(0, "socialXworker-1", dispatch.ChannelVoice, 1): dispatch.OutboxPending,
		"inc-r/t/escalate/1": dispatch.OutboxPending,
	}
	for _, r := range got {
		if r.State != want[r.Key] {
			t.Errorf("%s: %s, want %s", r.Key, r.State, want[r.Key])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
}

// An SMS reply names only its number: LatestNotificationTo finds the newest
// SMS or call to that number of an open incident, by the exact number, in
// one query.
func testLatestNotificationTo(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	const daughter, son = "+821011112222", "+821033334444"
	row := func(inc string, ch dispatch.Channel, phone string, step int) dispatch.OutboxRow {
		return dispatch.OutboxRow{Key: dispatch.NotificationKey(inc, step, "g-"+phone, ch, 1), Kind: dispatch.KindNotify, Channel: ch,
			Attempt: 1, Step: step, Recipient: dispatch.Recipient{Role: dispatch.RoleGuardian, ID: "g-" + phone, Phone: phone},
			MsgType: dispatch.MsgAlert, DueAt: dispatchT0, Deadline: dispatchT0.Add(time.Hour)}
	}
	openInc := func(id string, state dispatch.State, rows ...dispatch.OutboxRow) {
		apply(t, s, dispatch.Mutation{Fingerprint: "fp-" + id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{Incident: &dispatch.Incident{ID: id, Fingerprint: "fp-" + id, Hub: "hub-1", Cause: detectors.CauseFall,
				Class: detectors.ClassEmergency, Priority: 2, State: state, OpenedAt: dispatchT0, UpdatedAt: dispatchT0}, Enqueue: rows}, nil
		}})
	}
	enqueue := func(id string, rows ...dispatch.OutboxRow) {
		apply(t, s, dispatch.Mutation{IncidentID: id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{Enqueue: rows}, nil
		}})
	}
	person := []dispatch.Channel{dispatch.ChannelSMS, dispatch.ChannelVoice}
	live := dispatch.ActiveStates()
	openInc("inc-a", dispatch.StateNotified, row("inc-a", dispatch.ChannelSMS, daughter, 0), row("inc-a", dispatch.ChannelVoice, son, 0))
	enqueue("inc-a", row("inc-a", dispatch.ChannelVoice, daughter, 1))
	enqueue("inc-a", row("inc-a", dispatch.ChannelConsole, daughter, 2))
	openInc("inc-z", dispatch.StateResolved, row("inc-z", dispatch.ChannelSMS, daughter, 0))

	got, found, err := s.Incidents().LatestNotificationTo(ctx, daughter, person, live)
	if err != nil || !found || got.Key != dispatch.NotificationKey("inc-a", 1, "g-"+daughter, dispatch.ChannelVoice, 1) {
		t.Errorf("daughter's latest = %q, %v, %v; want the voice call of step 1 (not the console row, not the closed incident)", got.Key, found, err)
	}
	if got, found, _ := s.Incidents().LatestNotificationTo(ctx, son, person, live); !found || got.Recipient.Phone != son || got.Channel != dispatch.ChannelVoice {
		t.Errorf("son's latest = %+v, %v", got, found)
	}
	for _, phone := range []string{"+8210", "+821011112", "+821099990000", ""} {
		if got, found, err := s.Incidents().LatestNotificationTo(ctx, phone, person, live); found || err != nil {
			t.Errorf("%q matched %q (%v): only the exact number may", phone, got.Key, err)
		}
	}
	if _, found, _ := s.Incidents().LatestNotificationTo(ctx, daughter, person, []dispatch.State{dispatch.StateResolved}); !found {
		t.Error("the states asked for are not honoured")
	}
}
