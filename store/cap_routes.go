package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/cap"
)

// Routes is the sub-store of the 119 routing table (cap.RouteSource): one
// route per 시도, its bearer token sealed at rest.
type Routes struct{ *database }

// Routes returns the sub-store of the 119 routing table.
func (s *Store) Routes() Routes { return Routes{s.database} }

var _ cap.RouteSource = Routes{}

func routeAD(sido string) string { return "cap_route:" + sido }

func (s Routes) scanRoute(sc row) (cap.Route, error) {
	var r cap.Route
	var endpoints string
	var sealed []byte
	var updated int64
	if err := sc.Scan(&r.Sido, &endpoints, &sealed, &updated); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(endpoints), &r.Endpoints); err != nil {
		return r, fmt.Errorf("store: 119 route of %s: endpoints: %w", r.Sido, err)
	}
	token, err := s.sealer.open(sealed, routeAD(r.Sido))
	if err != nil {
		return r, fmt.Errorf("store: 119 route of %s: token: %w", r.Sido, err)
	}
	r.BearerToken, r.UpdatedAt = string(token), fromUS(updated)
	return r, nil
}

// CAPRoute returns the stored route of a 시도; false when it has none.
func (s Routes) CAPRoute(ctx context.Context, sido string) (cap.Route, bool, error) {
	r, err := s.scanRoute(s.be.queryRow(ctx, `SELECT sido, endpoints, token_sealed, updated_us FROM cap_routes WHERE sido = $1`, sido))
	if isNoRows(err) {
		return cap.Route{}, false, nil
	}
	if err != nil {
		return cap.Route{}, false, fmt.Errorf("store: 119 route of %s: %w", sido, err)
	}
	return r, true, nil
}

// CAPRoutes returns every stored route in 시도 order.
func (s Routes) CAPRoutes(ctx context.Context) ([]cap.Route, error) {
	rs, err := s.be.query(ctx, `SELECT sido, endpoints, token_sealed, updated_us FROM cap_routes ORDER BY sido`)
	return collect(rs, err, "119 routes", s.scanRoute)
}

// PutCAPRoute creates or replaces the route of r.Sido (checked with
// cap.Route.Validate) and returns it as stored.
func (s Routes) PutCAPRoute(ctx context.Context, r cap.Route) (cap.Route, error) {
	if err := r.Validate(); err != nil {
		return cap.Route{}, err
	}
	r.UpdatedAt = s.now()
	_, err := s.be.exec(ctx, `INSERT INTO cap_routes (sido, endpoints, token_sealed, updated_us) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sido) DO UPDATE SET endpoints = excluded.endpoints, token_sealed = excluded.token_sealed, updated_us = excluded.updated_us`,
		r.Sido, mustJSON(r.Endpoints), s.sealer.seal([]byte(r.BearerToken), routeAD(r.Sido)), toUS(r.UpdatedAt))
	if err != nil {
		return cap.Route{}, fmt.Errorf("store: put 119 route of %s: %w", r.Sido, err)
	}
	return r, nil
}

// DeleteCAPRoute removes the stored route of a 시도 (devices.ErrNotFound
// when it has none).
func (s Routes) DeleteCAPRoute(ctx context.Context, sido string) error {
	n, err := s.be.exec(ctx, `DELETE FROM cap_routes WHERE sido = $1`, sido)
	if err != nil {
		return fmt.Errorf("store: delete 119 route of %s: %w", sido, err)
	}
	if n == 0 {
		return fmt.Errorf("store: 119 route of %s: %w", sido, devices.ErrNotFound)
	}
	return nil
}
