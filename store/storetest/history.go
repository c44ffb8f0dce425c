package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// CloseMany opens and resolves n incidents ("old-00000"...) of hub-old in
// one transaction: a busy year's history, shortened, for the feeds and
// pages that must page through it.
func CloseMany(t *testing.T, s *store.Store, n int) {
	t.Helper()
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	muts := make([]dispatch.Mutation, n)
	for i := range muts {
		id := fmt.Sprintf("old-%05d", i)
		muts[i] = dispatch.Mutation{Fingerprint: id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{Incident: &dispatch.Incident{ID: id, Fingerprint: id, Hub: "hub-old", Cause: detectors.CauseSOS,
				Class: detectors.ClassEmergency, Priority: 1, State: dispatch.StateResolved, Disposition: dispatch.DispositionFalseAlarm,
				Count: 1, Episode: at, OpenedAt: at, UpdatedAt: at, ClosedAt: at.Add(time.Minute)}}, nil
		}}
	}
	res, err := s.Incidents().ApplyIncidents(context.Background(), muts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}
