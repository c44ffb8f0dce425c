package cap

// 119 routing: Korea's 119 is run by 18 fire headquarters, one per 시도
// (two in 경기), each with its own dispatch centre. A resident's emergency
// goes to the centre of the 시도 the resident lives in, and to no other:
// the route is chosen per notification from the resident's district as the
// registry has it then, so a resident who moved is routed anew. A 시도
// without a route is an error, never a silent default (the gateway refuses
// to start while residents live in one; docs/operations.md).

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
)

// Route is one 시도's way to its 119 centre.
type Route struct {
	// Sido is the 2-digit code of the 시도 (devices/region: "11" 서울특별시).
	Sido string `json:"sido"`
	// Endpoints are the centre's CAP receivers; every message goes to each.
	Endpoints []string `json:"endpoints"`
	// BearerToken, when set, is sent as "Authorization: Bearer ..." (the
	// centre's credential for us). Never shown back by the admin API.
	BearerToken string    `json:"bearer_token,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// Validate checks r and tidies it in place: a known 시도 (given by code or
// name: "11", "서울", "서울특별시"), one or more distinct http(s) URLs. The
// error wraps devices.ErrInvalid and names what is wrong, with the choices
// for a 시도 that is not one.
func (r *Route) Validate() error {
	sido, err := SidoOf(r.Sido)
	if err != nil {
		return err
	}
	r.Sido = string(sido.Code)
	if len(r.Endpoints) == 0 {
		return fmt.Errorf("%w: 119 경로 (route) of %s: at least one endpoint URL is required", devices.ErrInvalid, sido)
	}
	seen := map[string]bool{}
	out := r.Endpoints[:0]
	for _, e := range r.Endpoints {
		e = strings.TrimSpace(e)
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: 119 경로 (route) of %s: endpoint %q is not an http(s) URL", devices.ErrInvalid, sido, e)
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	r.Endpoints = out
	if strings.ContainsAny(r.BearerToken, " \t\r\n") {
		return fmt.Errorf("%w: 119 경로 (route) of %s: the bearer token may not hold spaces or line breaks", devices.ErrInvalid, sido)
	}
	return nil
}

// SidoOf finds a 시도 by its code or name ("26", "부산", "부산광역시"); an
// unknown one is an error wrapping devices.ErrInvalid that lists the 17.
func SidoOf(s string) (region.Region, error) {
	s = strings.TrimSpace(s)
	if r, ok := region.Lookup(region.Code(s)); ok && r.Code.IsSido() {
		return r, nil
	}
	if r, ok := region.SidoByName(s); ok {
		return r, nil
	}
	names := make([]string, 0, 17)
	for _, r := range region.Sidos() {
		names = append(names, r.String())
	}
	return region.Region{}, fmt.Errorf("%w: 시도를 알 수 없습니다 (unknown province) %q; 시도: %s", devices.ErrInvalid, s, strings.Join(names, ", "))
}

// NoRouteError is a notification that has nowhere to go: the resident's
// 시도 has no route, or the resident has no district and the routes differ
// by 시도.
type NoRouteError struct {
	Sido     region.Region // zero when the resident has no district
	Resident devices.ResidentID
}

func (e *NoRouteError) Error() string {
	if e.Sido.Code == "" {
		return fmt.Sprintf("119 경로를 정할 수 없습니다: 대상자 %s의 시군구가 없습니다 (resident %s has no district, and 119 routes differ by 시도): "+
			"set the resident's district_code", e.Resident, e.Resident)
	}
	return fmt.Sprintf("%s의 119 경로가 없습니다 (no 119 route for %s): dolbomctl region route set %s --endpoint URL",
		e.Sido.Name, e.Sido, e.Sido.Code)
}

// RouteSource reads the stored routing table (the store implements it).
type RouteSource interface {
	// CAPRoute returns the stored route of a 시도; false when it has none.
	CAPRoute(ctx context.Context, sido string) (Route, bool, error)
	// CAPRoutes returns every stored route, in 시도 order.
	CAPRoutes(ctx context.Context) ([]Route, error)
}

// RouterOptions configures a Router.
type RouterOptions struct {
	// Source is the stored routing table; nil: Fallback alone.
	Source RouteSource
	// Fallback, when set, is the route of every 시도 that has no stored
	// one: the single-endpoint set-up (--cap-url), one 119 receiver for the
	// whole country, as an explicit route for each 시도. A stored route of a
	// 시도 takes its place for that 시도.
	Fallback []string
	// FallbackToken is the bearer token sent with Fallback.
	FallbackToken string
	// RootCAs, Timeout, Transport and Logger are the senders'
	// (SenderOptions).
	RootCAs   *x509.CertPool
	Timeout   time.Duration
	Transport http.RoundTripper
	Logger    zerolog.Logger
}

// Router picks the 119 centre of each notification. It reads the stored
// route on every call (an emergency is rare; a route changed through the
// admin API, on any gateway of a cluster, holds from the next message) and
// keeps one Sender per distinct route, so connections are reused.
type Router struct {
	o RouterOptions

	mu      sync.Mutex
	senders map[string]*Sender // by routeKey
}

// NewRouter checks the fallback's URLs and returns the router.
func NewRouter(o RouterOptions) (*Router, error) {
	if len(o.Fallback) > 0 {
		if _, err := NewSender(SenderOptions{Endpoints: o.Fallback, Transport: o.Transport}); err != nil {
			return nil, err
		}
	}
	return &Router{o: o, senders: map[string]*Sender{}}, nil
}

// Source of an effective route: stored for the 시도, the fallback for
// every 시도, or none.
const (
	RouteStored   = "stored"
	RouteFallback = "fallback"
	RouteNone     = "none"
)

// Effective is the route a 시도 gets now, and where it comes from.
type Effective struct {
	Sido   region.Region `json:"sido"`
	Source string        `json:"source"` // RouteStored, RouteFallback or RouteNone
	Route  Route         `json:"route"`
}

// Table returns the effective route of every 시도, in code order.
func (r *Router) Table(ctx context.Context) ([]Effective, error) {
	stored := map[string]Route{}
	if r.o.Source != nil {
		rs, err := r.o.Source.CAPRoutes(ctx)
		if err != nil {
			return nil, err
		}
		for _, rt := range rs {
			stored[rt.Sido] = rt
		}
	}
	var out []Effective
	for _, s := range region.Sidos() {
		e := Effective{Sido: s, Source: RouteNone, Route: Route{Sido: string(s.Code)}}
		if rt, ok := stored[string(s.Code)]; ok {
			e.Source, e.Route = RouteStored, rt
		} else if len(r.o.Fallback) > 0 {
			e.Source, e.Route = RouteFallback, r.fallback(string(s.Code))
		}
		out = append(out, e)
	}
	return out, nil
}

func (r *Router) fallback(sido string) Route {
	return Route{Sido: sido, Endpoints: slices.Clone(r.o.Fallback), BearerToken: r.o.FallbackToken}
}

// Empty reports whether no 시도 has a route: no 119 is configured at all
// (every alert waits in the outbox, as the gateway warns at start).
func (r *Router) Empty(ctx context.Context) (bool, error) {
	if len(r.o.Fallback) > 0 {
		return false, nil
	}
	if r.o.Source == nil {
		return true, nil
	}
	rs, err := r.o.Source.CAPRoutes(ctx)
	return len(rs) == 0, err
}

// route returns the effective route of a 시도.
func (r *Router) route(ctx context.Context, sido region.Region) (Route, error) {
	if r.o.Source != nil {
		rt, ok, err := r.o.Source.CAPRoute(ctx, string(sido.Code))
		if err != nil {
			return Route{}, fmt.Errorf("cap: 119 route of %s: %w", sido, err)
		}
		if ok {
			return rt, nil
		}
	}
	if len(r.o.Fallback) > 0 {
		return r.fallback(string(sido.Code)), nil
	}
	return Route{}, &NoRouteError{Sido: sido}
}

// RouteOf is the route of a resident by their district code. A resident
// without a district has a route only while every 시도 has the same one
// (the single-endpoint set-up: there is one 119 to reach); otherwise, and
// for a 시도 without a route, the error is a *NoRouteError.
func (r *Router) RouteOf(ctx context.Context, resident devices.ResidentID, district string) (Route, error) {
	if district != "" {
		sido, ok := region.Lookup(region.Code(district).Sido())
		if !ok {
			return Route{}, fmt.Errorf("cap: resident %s: district %q is no known 시군구", resident, district)
		}
		return r.route(ctx, sido)
	}
	table, err := r.Table(ctx)
	if err != nil {
		return Route{}, err
	}
	first := table[0]
	for _, e := range table {
		if e.Source == RouteNone || !slices.Equal(e.Route.Endpoints, first.Route.Endpoints) ||
			e.Route.BearerToken != first.Route.BearerToken {
			return Route{}, &NoRouteError{Resident: resident}
		}
	}
	// The one route of every 시도, for no 시도 in particular.
	rt := first.Route
	rt.Sido = ""
	return rt, nil
}

// SenderFor returns the sender of a route, one per distinct route.
func (r *Router) SenderFor(rt Route) (*Sender, error) {
	key := strings.Join(rt.Endpoints, "\n") + "\x00" + rt.BearerToken
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.senders[key]; ok {
		return s, nil
	}
	s, err := NewSender(SenderOptions{Endpoints: rt.Endpoints, RootCAs: r.o.RootCAs, Timeout: r.o.Timeout,
		BearerToken: rt.BearerToken, Transport: r.o.Transport, Logger: r.o.Logger})
	if err != nil {
		return nil, fmt.Errorf("cap: 119 route of 시도 %s: %w", rt.Sido, err)
	}
	// A route edited many times must not keep every old client: the
	// table is at most 17 routes, so a map far larger is stale entries.
	if len(r.senders) > 64 {
		clear(r.senders)
	}
	r.senders[key] = s
	return s, nil
}
