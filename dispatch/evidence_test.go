package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// openIncidents opens n incidents of priority prio on hub in one
// transaction and returns the highest change number.
func openIncidents(t *testing.T, st *store.Store, hub devices.HubID, prio detectors.Priority, n int) int64 {
	t.Helper()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	muts := make([]dispatch.Mutation, n)
	for i := range muts {
		id := fmt.Sprintf("inc-%s-p%d-%05d", hub, prio, i)
		muts[i] = dispatch.Mutation{Fingerprint: id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{Incident: &dispatch.Incident{ID: id, Fingerprint: id, Hub: hub, Cause: detectors.CauseSOS,
				Class: detectors.ClassEmergency, Priority: prio, State: dispatch.StateOpen, Count: 1,
				Episode: at, OpenedAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at}}, nil
		}}
	}
	res, err := st.Incidents().ApplyIncidents(context.Background(), muts)
	if err != nil {
		t.Fatal(err)
	}
	var top int64
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		top = max(top, r.Incident.Seq)
	}
	return top
}

func evidenceBackends() map[string]func(testing.TB) store.Config {
	return map[string]func(testing.TB) store.Config{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}
}

// The evidence keeper starts after the latest incident change, not after
// the latest of the 1,000 most urgent incidents: otherwise every restart
// replays the newer, less urgent ones (and, with 1,000 urgent incidents
// that never close, all changes since). An incident's evidence is of one
// hub: the store says so in the words the keeper knows.
func TestEvidenceKeeperStartsAtTheLatestChange(t *testing.T) {
	for name, cfg := range evidenceBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			openIncidents(t, st, "hub-urgent", detectors.PriorityCritical, 1000)
			latest := openIncidents(t, st, "hub-minor", detectors.Priority(4), 1)
			if got := dispatch.EvidenceStart(ctx, st.Incidents()); got != latest {
				t.Fatalf("evidence keeper starts after change %d; the latest is %d", got, latest)
			}
			at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			if err := st.Incidents().KeepEvidence(ctx, "inc-x", "hub-1", at, at.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := st.Incidents().KeepEvidence(ctx, "inc-x", "hub-2", at, at.Add(time.Minute)); !errors.Is(err, dispatch.ErrEvidenceOfAnotherHub) {
				t.Errorf("another hub's evidence: %v, want ErrEvidenceOfAnotherHub", err)
			}
		})
	}
}
