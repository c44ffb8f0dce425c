package cap

// An incident's 119 centre is fixed by its first message (the Alert): its
// Updates and Cancel reference that Alert, and only the centre that holds
// the Alert can act on them. A resident who moves while an incident is
// open changes the route of their next incident, never of this one.
// Messages that cannot be routed are kept loud (Stuck): each one is logged
// with its 시도 and incident, counted, and listed for the dispatcher's
// console until it goes out.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices/region"
)

// RoutePins keeps, per incident, the 시도 its first 119 message was routed
// to (the store implements it).
type RoutePins interface {
	// PinnedRoute returns the 시도 code an incident was routed to; false
	// when none was pinned yet.
	PinnedRoute(ctx context.Context, incident string) (sido string, ok bool, err error)
	// PinRoute records the 시도 (and, for the record, the endpoints) of an
	// incident's first message. The first pin wins: a later call for the
	// same incident changes nothing.
	PinRoute(ctx context.Context, incident, sido string, endpoints []string) error
}

// RouteOfSido is the route of a 시도 by its code (a pinned incident's); a
// *NoRouteError when the 시도 has none now.
func (r *Router) RouteOfSido(ctx context.Context, sido string) (Route, error) {
	s, ok := region.Lookup(region.Code(sido))
	if !ok || !s.Code.IsSido() {
		return Route{}, &NoRouteError{Sido: region.Region{Code: region.Code(sido), Name: sido}}
	}
	return r.route(ctx, s)
}

// StuckMessage is a 119 message that has no route now.
type StuckMessage struct {
	Incident string        `json:"incident_id"`
	Sido     region.Region `json:"sido"` // zero: the resident has no district
	Resident string        `json:"resident_id,omitempty"`
	Since    time.Time     `json:"since"`
	Reason   string        `json:"reason"`
}

// Stuck lists the incidents whose 119 message found no route, until a
// message of the incident goes out. It is what the dispatcher's banner
// ("119 경로 없음") and the gauge dolbom_cap_no_route_incidents read.
type Stuck struct {
	mu    sync.Mutex
	byInc map[string]StuckMessage
	total uint64
}

// NewStuck returns an empty list.
func NewStuck() *Stuck {
	return &Stuck{byInc: map[string]StuckMessage{}}
}

// add records a message without a route; first reports whether the
// incident was not stuck already (the caller logs at error level then, and
// at debug level on every retry, so that the outbox's retries do not flood
// the log).
func (s *Stuck) add(m StuckMessage) (first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	old, ok := s.byInc[m.Incident]
	if ok {
		m.Since = old.Since
	}
	s.byInc[m.Incident] = m
	return !ok
}

// clear drops an incident whose message went out.
func (s *Stuck) clear(incident string) {
	s.mu.Lock()
	delete(s.byInc, incident)
	s.mu.Unlock()
}

// List returns the stuck incidents, oldest first.
func (s *Stuck) List() []StuckMessage {
	s.mu.Lock()
	out := make([]StuckMessage, 0, len(s.byInc))
	for _, m := range s.byInc {
		out = append(out, m)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b StuckMessage) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Incident, b.Incident)
	})
	return out
}

// Len is the number of stuck incidents.
func (s *Stuck) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byInc)
}

// Total counts every attempt that found no route (retries included).
func (s *Stuck) Total() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}
