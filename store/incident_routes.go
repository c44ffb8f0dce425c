package store

import (
	"context"
	"fmt"

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
