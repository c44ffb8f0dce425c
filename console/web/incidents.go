package web

// The social worker's open incidents and the open-incident rule, read from
// the dispatcher's incident list.

import (
	"context"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// IncidentFinder lists incidents (dispatch.Dispatcher.ListIncidents).
type IncidentFinder interface {
	ListIncidents(ctx context.Context, q dispatch.IncidentQuery) ([]dispatch.Incident, error)
}

// DeskIncidents is the console's IncidentLister and OpenIncidentChecker
// over the dispatcher's incident list.
type DeskIncidents struct{ Desk IncidentFinder }

var (
	_ IncidentLister      = DeskIncidents{}
	_ OpenIncidentChecker = DeskIncidents{}
)

// summaryOf is what the social worker's pages show of an incident.
func summaryOf(inc dispatch.Incident) IncidentSummary {
	return IncidentSummary{ID: inc.ID, ResidentID: inc.ResidentID, Cause: string(inc.Cause), Priority: int(inc.Priority),
		State: string(inc.State), OpenedAt: inc.OpenedAt, ClosedAt: inc.ClosedAt, Summary: inc.Explanation.Ko}
}

// OpenIncidentsForResidents reads every open incident (a few hundred at
// most, nationwide) and keeps the caseload's.
func (d DeskIncidents) OpenIncidentsForResidents(ctx context.Context, residents []devices.ResidentID) ([]IncidentSummary, error) {
	incs, err := d.Desk.ListIncidents(ctx, dispatch.IncidentQuery{States: activeStates, Limit: 1000})
	if err != nil {
		return nil, err
	}
	mine := make(map[devices.ResidentID]bool, len(residents))
	for _, r := range residents {
		mine[r] = true
	}
	var out []IncidentSummary
	for _, inc := range incs {
		if inc.ResidentID != "" && mine[inc.ResidentID] {
			out = append(out, summaryOf(inc))
		}
	}
	return out, nil
}

// OpenIncident reports whether the resident has an open emergency or
// welfare incident: only then may a dispatcher see medical and access
// details. A device fault (a low battery open for weeks) does not count. It
// fails closed: when the look-up fails, the details stay hidden.
func (d DeskIncidents) OpenIncident(ctx context.Context, resident devices.ResidentID) bool {
	if resident == "" {
		return false
	}
	incs, err := d.Desk.ListIncidents(ctx, dispatch.IncidentQuery{States: activeStates, ResidentID: resident, Limit: 100})
	if err != nil {
		return false
	}
	for _, inc := range incs {
		if inc.Class != detectors.ClassDeviceHealth {
			return true
		}
	}
	return false
}
