package dispatch_test

import (
	"context"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// seeingStore is the store's incidents with see called on every group of
// mutations before it is applied: tests hold, record or poison commits
// with it.
type seeingStore struct {
	store.Incidents
	see func([]dispatch.Mutation)
}

func (s seeingStore) ApplyIncidents(ctx context.Context, muts []dispatch.Mutation) ([]dispatch.MutationResult, error) {
	s.see(muts)
	return s.Incidents.ApplyIncidents(ctx, muts)
}

func (s seeingStore) ApplyIncidentsAndClaim(ctx context.Context, muts []dispatch.Mutation, c dispatch.Claim) ([]dispatch.MutationResult, []dispatch.OutboxRow, error) {
	s.see(muts)
	return s.Incidents.ApplyIncidentsAndClaim(ctx, muts, c)
}
