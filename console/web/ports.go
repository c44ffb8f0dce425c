package web

// The ports the pages read through, declared here where they are used
// (the store implements them; the records are console's).

import (
	"context"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// AuditLog is the append-only record of who saw or did what.
type AuditLog interface {
	AppendAudit(ctx context.Context, e console.AuditEntry) error
	ListAudit(ctx context.Context, q console.AuditQuery) ([]console.AuditEntry, error)
}

// VisitLog keeps the visits and calls.
type VisitLog interface {
	// AddVisit stores v, setting v.ID.
	AddVisit(ctx context.Context, v *console.Visit) error
	// ListVisits returns the latest first.
	ListVisits(ctx context.Context, resident devices.ResidentID, limit int) ([]console.Visit, error)
	// VisitSummaries covers every resident of the social worker who has any
	// visit or call on record.
	VisitSummaries(ctx context.Context, socialWorkerID string) ([]console.VisitSummary, error)
}

// ResidentReader is the part of api.Registry the pages read; the store (and so
// the gateway's registry over it) satisfies it.
type ResidentReader interface {
	GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error)
	ListResidents(ctx context.Context, q console.ListQuery) ([]devices.Resident, error)
	ListHubs(ctx context.Context, q console.ListQuery) ([]devices.Hub, error)
}

// Wellbeing reads the hourly rollups of what the sensors measured.
type Wellbeing interface {
	ResidentHourly(ctx context.Context, resident devices.ResidentID, metric devices.Metric, from, to time.Time) ([]console.HourlyPoint, error)
	// CaseloadActivity covers every resident of the social worker with
	// motion data in [from, to), split into [from, split) and [split, to).
	CaseloadActivity(ctx context.Context, socialWorkerID string, from, split, to time.Time) ([]console.ActivityWindow, error)
}

// IncidentSummary is what the social worker's pages show of an incident.
// Dispatch fills it once wired.
type IncidentSummary struct {
	ID         string             `json:"id"`
	ResidentID devices.ResidentID `json:"resident_id"`
	Cause      string             `json:"cause"`
	Priority   int                `json:"priority"`
	State      string             `json:"state"`
	OpenedAt   time.Time          `json:"opened_at"`
	ClosedAt   time.Time          `json:"closed_at,omitzero"`
	Summary    string             `json:"summary,omitempty"` // one line, in the resident's language
}

// IncidentLister lists the open incidents of some residents (the "Today"
// page: ~360 residents at once).
type IncidentLister interface {
	OpenIncidentsForResidents(ctx context.Context, residents []devices.ResidentID) ([]IncidentSummary, error)
}

// IncidentHistory lists a resident's incidents, newest first.
type IncidentHistory interface {
	IncidentsOfResident(ctx context.Context, resident devices.ResidentID, limit int) ([]dispatch.Incident, error)
}

// OpenIncidentChecker tells whether a resident has an open incident now:
// only then does a dispatcher see their medical and access details.
type OpenIncidentChecker interface {
	OpenIncident(ctx context.Context, resident devices.ResidentID) bool
}
