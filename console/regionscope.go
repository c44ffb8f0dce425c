package console

// One account's view of the regions (scope.go), for one request: whether
// it may see an incident or a resident. The consoles' pages (console/web)
// and the bearer-token API (console/api) both ask it, so that a page and
// an API call draw the same line.

import (
	"context"
	"errors"
	"strings"
	"sync"

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

// ResidentGetter reads one resident (a registry).
type ResidentGetter interface {
	GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error)
}

// Scope answers, for one request, whether its account may see an incident
// or a resident. It caches residents' districts for the request's life (a
// queue of 500 incidents, a stream).
type Scope struct {
	acct      Account
	residents ResidentGetter
	routes    IncidentRegions // nil: no incident is pinned

	mu        sync.Mutex
	districts map[devices.ResidentID]string
	pins      map[string]string // incident -> 시도; "" when it has none
}

// NewScope is acct's scope; routes may be nil.
func NewScope(acct Account, residents ResidentGetter, routes IncidentRegions) *Scope {
	return &Scope{acct: acct, residents: residents, routes: routes,
		districts: map[devices.ResidentID]string{}, pins: map[string]string{}}
}

// Account is whose scope it is.
func (s *Scope) Account() Account { return s.acct }

// National reports that there is nothing to check. A social worker's
// scope is their caseload (today's rule, checked where their pages are),
// their 시군구 the centre they belong to: a resident of their caseload
// stays theirs wherever the resident lives.
func (s *Scope) National() bool {
	return s.acct.National() || s.acct.Role == RoleSocialWorker
}

// Regions are the region codes a list query keeps (nil: all).
func (s *Scope) Regions() []string {
	if s.National() {
		return nil
	}
	return s.acct.Regions
}

// Resident reports whether the account may see a resident.
func (s *Scope) Resident(r devices.Resident) bool {
	return s.National() || s.acct.Covers(r.DistrictCode)
}

// District is a resident's district ("" when unknown or gone).
func (s *Scope) District(ctx context.Context, id devices.ResidentID) (string, error) {
	s.mu.Lock()
	d, ok := s.districts[id]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	r, err := s.residents.GetResident(ctx, id)
	if err != nil && !errors.Is(err, devices.ErrNotFound) {
		return "", err
	}
	s.mu.Lock()
	s.districts[id] = r.DistrictCode
	s.mu.Unlock()
	return r.DistrictCode, nil
}

// KnowDistrict records a resident's district read elsewhere (the queue
// reads each resident anyway).
func (s *Scope) KnowDistrict(id devices.ResidentID, district string) {
	s.mu.Lock()
	s.districts[id] = district
	s.mu.Unlock()
}

// RegionOf is an incident's region: the 시도 its 119 Alert went to, or
// the resident's district; the district when it lies in that 시도 (so a
// 시군구 account sees its incidents too).
func (s *Scope) RegionOf(ctx context.Context, inc dispatch.Incident) (string, error) {
	if err := s.Prefetch(ctx, []dispatch.Incident{inc}); err != nil {
		return "", err
	}
	s.mu.Lock()
	pinned := s.pins[inc.ID]
	s.mu.Unlock()
	district := ""
	if inc.ResidentID != "" {
		d, err := s.District(ctx, inc.ResidentID)
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

// Prefetch reads the pinned 시도 of the incidents not known yet, in one
// query (a queue page of 500 incidents).
func (s *Scope) Prefetch(ctx context.Context, incs []dispatch.Incident) error {
	if s.routes == nil {
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
	got, err := s.routes.PinnedRoutes(ctx, ids)
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

// Incident reports whether the account may see an incident.
func (s *Scope) Incident(ctx context.Context, inc dispatch.Incident) (bool, error) {
	if s.National() {
		return true, nil
	}
	code, err := s.RegionOf(ctx, inc)
	if err != nil {
		return false, err
	}
	return s.acct.Covers(code), nil
}

// Incidents keeps the incidents the account may see, in order.
func (s *Scope) Incidents(ctx context.Context, all []dispatch.Incident) ([]dispatch.Incident, error) {
	if s.National() {
		return all, nil
	}
	if err := s.Prefetch(ctx, all); err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, inc := range all {
		ok, err := s.Incident(ctx, inc)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, inc)
		}
	}
	return out, nil
}

// Watch narrows a live feed to the incidents the account may see. An
// incident whose region cannot be read is left out (warn tells why) and
// the stream goes on: a page fetches its rows again on the next change.
func (s *Scope) Watch(ctx context.Context, in <-chan dispatch.Incident, warn func(inc dispatch.Incident, err error)) <-chan dispatch.Incident {
	if s.National() {
		return in
	}
	out := make(chan dispatch.Incident)
	go func() {
		defer close(out)
		for inc := range in {
			ok, err := s.Incident(ctx, inc)
			if err != nil {
				warn(inc, err)
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
	return out
}
