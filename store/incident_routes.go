package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/dolbom/dolbom/dispatch/cap"
)

var _ cap.RoutePins = Routes{}

// PinnedRoute returns the 시도 an incident's first 119 message was routed
// to; false when none was yet.
func (s Routes) PinnedRoute(ctx context.Context, incident string) (string, bool, error) {
	var sido string
	err := s.be.queryRow(ctx, `SELECT sido FROM incident_routes WHERE incident_id = $1`, incident).Scan(&sido)
	if isNoRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: 119 route of incident %s: %w", incident, err)
	}
	return sido, true, nil
}

// PinRoute records the 시도 of an incident's first 119 message; the first
// pin of an incident wins.
func (s Routes) PinRoute(ctx context.Context, incident, sido string, endpoints []string) error {
	_, err := s.be.exec(ctx, `INSERT INTO incident_routes (incident_id, sido, endpoints, routed_us) VALUES ($1, $2, $3, $4)
		ON CONFLICT (incident_id) DO NOTHING`, incident, sido, mustJSON(endpoints), toUS(s.now()))
	if err != nil {
		return fmt.Errorf("store: pin the 119 route of incident %s: %w", incident, err)
	}
	return nil
}

// OpenIncidentsBySido counts the open incidents per 시도: the 시도 their
// 119 Alert was routed to, else their resident's district's (an incident
// not yet sent to 119); "" for neither.
func (s Routes) OpenIncidentsBySido(ctx context.Context) (map[string]int, error) {
	return countBy(ctx, s.database, "open incidents by 시도", `SELECT COALESCE(ir.sido, substr(r.district_code, 1, 2), ''), count(*)
		FROM incidents i
		LEFT JOIN incident_routes ir ON ir.incident_id = i.id
		LEFT JOIN residents r ON r.id = i.resident_id
		WHERE i.state NOT IN ('resolved', 'cancelled') GROUP BY 1`)
}

// PinnedRoutes returns the 시도 of each of the incidents that has one (the
// console's queue: one query for a page of incidents, not one each).
func (s Routes) PinnedRoutes(ctx context.Context, incidents []string) (map[string]string, error) {
	out := make(map[string]string, len(incidents))
	for len(incidents) > 0 {
		chunk := incidents[:min(len(incidents), 500)]
		incidents = incidents[len(chunk):]
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			ph[i], args[i] = fmt.Sprintf("$%d", i+1), id
		}
		rs, err := s.be.query(ctx, `SELECT incident_id, sido FROM incident_routes WHERE incident_id IN (`+strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: incidents' 119 routes: %w", err)
		}
		for rs.Next() {
			var id, sido string
			if err := rs.Scan(&id, &sido); err != nil {
				rs.Close()
				return nil, fmt.Errorf("store: incidents' 119 routes: %w", err)
			}
			out[id] = sido
		}
		err = rs.Err()
		rs.Close()
		if err != nil {
			return nil, fmt.Errorf("store: incidents' 119 routes: %w", err)
		}
	}
	return out, nil
}
