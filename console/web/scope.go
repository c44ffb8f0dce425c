package web

// Scoping by region (docs/operations.md): an account with regions
// (console.Account.Regions) sees and acts on the incidents and residents
// of its regions only, in every page, the browser's API and the live
// stream; another region's is "not found", like a missing one. National
// accounts (no regions) see all. The check is here, in one place, and
// every route that shows or changes an incident or a resident goes through
// it (scope_test.go enumerates the routes).

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// IncidentRegions tells the 시도 an incident's 119 Alert was routed to
// (store.Routes): an incident stays with the 시도 that received it when
// its resident moves.
type IncidentRegions interface {
	// PinnedRoutes returns the 시도 code of each incident that has one.
	PinnedRoutes(ctx context.Context, incidents []string) (map[string]string, error)
}

// scope answers, for one request, whether its account may see an incident
// or a resident. It caches residents' districts for the request's life (a
// queue of 500 incidents, a stream).
type scope struct {
	w    *web
	acct console.Account

	mu        sync.Mutex
	districts map[devices.ResidentID]string
	pins      map[string]string // incident -> 시도; "" when it has none
}

func (w *web) scopeOf(rc *reqCtx) *scope {
	return &scope{w: w, acct: rc.account, districts: map[devices.ResidentID]string{}, pins: map[string]string{}}
}

// national: nothing to check. A social worker's scope is their caseload
// (today's rule, checked where their pages are), their 시군구 the centre
// they belong to: a resident of their caseload stays theirs wherever the
// resident lives.
func (s *scope) national() bool {
	return s.acct.National() || s.acct.Role == console.RoleSocialWorker
}

// regions are the region codes a list query keeps (nil: all).
func (s *scope) regions() []string {
	if s.national() {
		return nil
	}
	return s.acct.Regions
}

// resident reports whether the account may see a resident.
func (s *scope) resident(r devices.Resident) bool {
	return s.national() || s.acct.Covers(r.DistrictCode)
}

// district is a resident's district ("" when unknown or gone).
func (s *scope) district(ctx context.Context, id devices.ResidentID) (string, error) {
	s.mu.Lock()
	d, ok := s.districts[id]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	r, err := s.w.deps.Residents.GetResident(ctx, id)
	if err != nil && !errors.Is(err, devices.ErrNotFound) {
		return "", err
	}
	s.mu.Lock()
	s.districts[id] = r.DistrictCode
	s.mu.Unlock()
	return r.DistrictCode, nil
}

// knowDistrict records a resident's district read elsewhere (the queue
// reads each resident anyway).
func (s *scope) knowDistrict(id devices.ResidentID, district string) {
	s.mu.Lock()
	s.districts[id] = district
	s.mu.Unlock()
}

// regionOf is an incident's region: the 시도 its 119 Alert went to, or
// the resident's district; the district when it lies in that 시도 (so a
// 시군구 account sees its incidents too).
func (s *scope) regionOf(ctx context.Context, inc dispatch.Incident) (string, error) {
	if err := s.prefetch(ctx, []dispatch.Incident{inc}); err != nil {
		return "", err
	}
	s.mu.Lock()
	pinned := s.pins[inc.ID]
	s.mu.Unlock()
	district := ""
	if inc.ResidentID != "" {
		d, err := s.district(ctx, inc.ResidentID)
		if err != nil {
			return "", err
		}
		district = d
	}
	if pinned != "" && !strings.HasPrefix(district, pinned) {
		return pinned, nil
	}
	return district, nil
}

// prefetch reads the pinned 시도 of the incidents not known yet, in one
// query (a queue page of 500 incidents).
func (s *scope) prefetch(ctx context.Context, incs []dispatch.Incident) error {
	if s.w.deps.IncidentRegions == nil {
		return nil
	}
	var ids []string
	s.mu.Lock()
	for _, inc := range incs {
		if _, ok := s.pins[inc.ID]; !ok {
			ids = append(ids, inc.ID)
		}
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	got, err := s.w.deps.IncidentRegions.PinnedRoutes(ctx, ids)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, id := range ids {
		s.pins[id] = got[id]
	}
	s.mu.Unlock()
	return nil
}

// incident reports whether the account may see an incident.
func (s *scope) incident(ctx context.Context, inc dispatch.Incident) (bool, error) {
	if s.national() {
		return true, nil
	}
	code, err := s.regionOf(ctx, inc)
	if err != nil {
		return false, err
	}
	return s.acct.Covers(code), nil
}

// scopedDesk is the desk as one account sees it: its live feed carries
// only the incidents of the account's regions (the queue's stream).
type scopedDesk struct {
	Desk
	s *scope
}

func (d scopedDesk) Watch(ctx context.Context, after int64) (<-chan dispatch.Incident, dispatch.FeedStart, error) {
	in, start, err := d.Desk.Watch(ctx, after)
	if err != nil || d.s.national() {
		return in, start, err
	}
	out := make(chan dispatch.Incident)
	go func() {
		defer close(out)
		for inc := range in {
			ok, err := d.s.incident(ctx, inc)
			if err != nil {
				// Unknown region: not shown; the stream goes on (the
				// page fetches its rows again on the next change).
				d.s.w.log.Warn().Err(err).Str("incident_id", inc.ID).Msg("live stream: the incident's region")
				continue
			}
			if !ok {
				continue
			}
			select {
			case out <- inc:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, start, nil
}

func (d scopedDesk) ListIncidents(ctx context.Context, q dispatch.IncidentQuery) ([]dispatch.Incident, error) {
	q.Regions = d.s.regions() // the store narrows the page first; each is checked below
	all, err := d.Desk.ListIncidents(ctx, q)
	if err != nil || d.s.national() {
		return all, err
	}
	if err := d.s.prefetch(ctx, all); err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, inc := range all {
		ok, err := d.s.incident(ctx, inc)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, inc)
		}
	}
	return out, nil
}
