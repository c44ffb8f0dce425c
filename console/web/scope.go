package web

// Scoping by region (docs/operations.md): an account with regions
// (console.Account.Regions) sees and acts on the incidents and residents
// of its regions only, in every page, the browser's API and the live
// stream; another region's is "not found", like a missing one. National
// accounts (no regions) see all. The rule is console.Scope, which the bearer API asks too, and
// every route that shows or changes an incident or a resident goes through
// it (scope_test.go enumerates the routes).

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/dispatch"
)

// IncidentRegions tells the 시도 an incident's 119 Alert was routed to.
type IncidentRegions = console.IncidentRegions

// scope is console.Scope: one rule for pages and the bearer API.
type scope = console.Scope

func (w *web) scopeOf(rc *reqCtx) *scope {
	return console.NewScope(rc.account, w.deps.Residents, w.deps.IncidentRegions)
}

// scopedDesk is the desk as one account sees it: its live feed carries
// only the incidents of the account's regions (the queue's stream).
type scopedDesk struct {
	Desk
	s   *scope
	log zerolog.Logger
}

func (d scopedDesk) Watch(ctx context.Context, after int64) (<-chan dispatch.Incident, dispatch.FeedStart, error) {
	in, start, err := d.Desk.Watch(ctx, after)
	if err != nil {
		return in, start, err
	}
	return d.s.Watch(ctx, in, func(inc dispatch.Incident, err error) {
		d.log.Warn().Err(err).Str("incident_id", inc.ID).Msg("live stream: the incident's region")
	}), start, nil
}

func (d scopedDesk) ListIncidents(ctx context.Context, q dispatch.IncidentQuery) ([]dispatch.Incident, error) {
	q.Regions = d.s.Regions() // the store narrows the page first; each is checked below
	all, err := d.Desk.ListIncidents(ctx, q)
	if err != nil {
		return nil, err
	}
	return d.s.Incidents(ctx, all)
}
