package consoletest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/cap"
)

var _ api.RouteAdmin = (*Routes)(nil)

// Routes is the 119 routing table in memory (api.RouteAdmin): stored
// routes, a real cap.Router over them for the effective table, and
// residents counted per 시도 as the test sets them.
type Routes struct {
	*cap.Router
	Now func() time.Time

	mu     sync.Mutex
	stored map[string]cap.Route
	counts map[string]int
	open   map[string]int
}

// NewRoutes returns an empty table; fallback, when given, is the route of
// every 시도 without a stored one (--cap-url).
func NewRoutes(fallback ...string) *Routes {
	r := &Routes{Now: time.Now, stored: map[string]cap.Route{}, counts: map[string]int{}, open: map[string]int{}}
	router, err := cap.NewRouter(cap.RouterOptions{Source: r, Fallback: fallback})
	if err != nil {
		panic(err) // a test's mistake
	}
	r.Router = router
	return r
}

// SetResidents sets how many residents live in a 시도.
func (r *Routes) SetResidents(sido string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[sido] = n
}

// SetOpenIncidents sets how many open incidents a 시도 has.
func (r *Routes) SetOpenIncidents(sido string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open[sido] = n
}

func (r *Routes) OpenIncidentsBySido(context.Context) (map[string]int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.open), nil
}

func (r *Routes) CAPRoute(_ context.Context, sido string) (cap.Route, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, ok := r.stored[sido]
	return rt, ok, nil
}

func (r *Routes) CAPRoutes(context.Context) ([]cap.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]cap.Route, 0, len(r.stored))
	for _, rt := range r.stored {
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b cap.Route) int { return strings.Compare(a.Sido, b.Sido) })
	return out, nil
}

func (r *Routes) PutCAPRoute(_ context.Context, rt cap.Route) (cap.Route, error) {
	if err := rt.Validate(); err != nil {
		return cap.Route{}, err
	}
	rt.UpdatedAt = r.Now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stored[rt.Sido] = rt
	return rt, nil
}

func (r *Routes) DeleteCAPRoute(_ context.Context, sido string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.stored[sido]; !ok {
		return devices.ErrNotFound
	}
	delete(r.stored, sido)
	return nil
}

func (r *Routes) ResidentsBySido(context.Context) (map[string]int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts), nil
}
