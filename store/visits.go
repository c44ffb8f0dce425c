package store

import (
	"context"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// Casework is the sub-store of what the social workers' pages read and
// write: the visit log (web.VisitLog), a caseload's incidents, visits
// and activity (web.CaseloadReader, web.Wellbeing), a resident's
// incident history (web.IncidentHistory) and the incident report
// (web.ReportSource). The visit log keeps the console's records
// (console.Visit, console.VisitSummary) and created_us for itself.
type Casework struct{ *database }

// Casework returns the sub-store of visits, caseloads and reports.
func (s *Store) Casework() Casework { return Casework{s.database} }

const visitColumns = `id, resident_id, kind, at_us, account_id, notes, next_us, created_us`

func scanVisit(sc row) (console.Visit, error) {
	var v console.Visit
	var resident string
	var at, next, created int64
	if err := sc.Scan(&v.ID, &resident, &v.Kind, &at, &v.AccountID, &v.Notes, &next, &created); err != nil {
		return v, err
	}
	v.ResidentID, v.At, v.Next = devices.ResidentID(resident), fromUS(at), fromUS(next)
	return v, nil
}

// AddVisit stores a visit or call, giving it an id ("vis-...") if it has
// none, and sets v to what was stored (times in UTC to the microsecond).
func (s Casework) AddVisit(ctx context.Context, vp *console.Visit) error {
	v := *vp
	if v.ID == "" {
		v.ID = newID("vis-")
	}
	switch {
	case v.Kind != console.VisitHome && v.Kind != console.VisitCall:
		return invalid("visit kind %q: want visit or call", v.Kind)
	case v.ResidentID == "" || v.AccountID == "":
		return invalid("visit: resident and account are required")
	case v.At.IsZero():
		return invalid("visit: time is required")
	case len(v.Notes) > 10000:
		return invalid("visit notes: %d bytes, at most 10000", len(v.Notes))
	}
	v.At = v.At.UTC().Truncate(time.Microsecond)
	v.Next = v.Next.UTC().Truncate(time.Microsecond)
	_, err := s.be.exec(ctx, `INSERT INTO visits (`+visitColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		v.ID, string(v.ResidentID), v.Kind, toUS(v.At), v.AccountID, v.Notes, toUS(v.Next), toUS(s.now()))
	if err != nil {
		return fmt.Errorf("store: add visit: %w", err)
	}
	*vp = v
	return nil
}

// ListVisits returns a resident's visits and calls, the latest first.
func (s Casework) ListVisits(ctx context.Context, resident devices.ResidentID, limit int) ([]console.Visit, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.be.query(ctx, `SELECT `+visitColumns+` FROM visits WHERE resident_id = $1
		ORDER BY at_us DESC, id DESC LIMIT `+fmt.Sprint(limit), string(resident))
	return collect(rows, err, "list visits", scanVisit)
}

// A VisitSummary's Next is the next contact scheduled by the latest record
// that scheduled one.
// VisitSummaries summarises the visits of every resident of one social
// worker: one grouped query for the whole caseload (~360 residents).
func (s Casework) VisitSummaries(ctx context.Context, socialWorkerID string) ([]console.VisitSummary, error) {
	rows, err := s.be.query(ctx, `SELECT v.resident_id,
			MAX(CASE WHEN v.kind = 'visit' THEN v.at_us ELSE 0 END),
			MAX(CASE WHEN v.kind = 'call' THEN v.at_us ELSE 0 END),
			MAX(v.next_us)
		FROM visits v JOIN residents r ON r.id = v.resident_id
		WHERE r.social_worker_id = $1
		GROUP BY v.resident_id ORDER BY v.resident_id`, socialWorkerID)
	return collect(rows, err, "visit summaries", func(sc row) (console.VisitSummary, error) {
		var vs console.VisitSummary
		var resident string
		var visit, call, next int64
		if err := sc.Scan(&resident, &visit, &call, &next); err != nil {
			return console.VisitSummary{}, err
		}
		vs.ResidentID, vs.LastVisit, vs.LastCall, vs.Next = devices.ResidentID(resident), fromUS(visit), fromUS(call), fromUS(next)
		return vs, nil
	})
}

// CaseloadVisits returns the visits and calls of one social worker's
// residents made in [from, to), the oldest first (the monthly caseload
// report).
func (s Casework) CaseloadVisits(ctx context.Context, socialWorkerID string, from, to time.Time) ([]console.Visit, error) {
	rows, err := s.be.query(ctx, `SELECT `+prefixCols("v.", visitColumns)+` FROM visits v JOIN residents r ON r.id = v.resident_id
		WHERE r.social_worker_id = $1 AND v.at_us >= $2 AND v.at_us < $3 ORDER BY v.at_us, v.id`, socialWorkerID, toUS(from), toUS(to))
	return collect(rows, err, "caseload visits", scanVisit)
}
