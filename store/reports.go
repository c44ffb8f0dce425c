package store

// Read-only queries over the dispatch tables and the raw samples for the
// consoles: a resident's incident history, the reports' incidents with the
// notification that got each acknowledged, and the raw data of a hub
// around an incident (the evidence chart).

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// IncidentsOfResident returns a resident's incidents, the newest first
// (web.IncidentHistory).
func (s Casework) IncidentsOfResident(ctx context.Context, resident devices.ResidentID, limit int) ([]dispatch.Incident, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return s.queryIncidents(ctx, `SELECT data, change_seq FROM incidents WHERE resident_id = $1
		ORDER BY opened_us DESC, id LIMIT $2`, string(resident), int64(limit))
}

// reportPage is how many incidents a report reads at a time.
const reportPage = 1000

// ReportIncidents yields the incidents opened in [from, to), the oldest
// first, reading them a page at a time (an index range after the last one
// read), so that a report over a year of national incidents holds one page,
// not the year. An error is yielded once, last. AckStep and AckChannel
// are those of the notification whose answer acknowledged the incident;
// AckStep is -1 when it was acknowledged on the console or by 119 (even if a
// guardian pressed 1 afterwards), or not at all (web.ReportSource).
func (s Casework) ReportIncidents(ctx context.Context, from, to time.Time) iter.Seq2[console.ReportIncident, error] {
	return func(yield func(console.ReportIncident, error) bool) {
		afterUS, afterID := toUS(from)-1, ""
		for {
			page, err := s.queryIncidents(ctx, `SELECT data, change_seq FROM incidents
				WHERE opened_us >= $1 AND opened_us < $2 AND (opened_us, id) > ($3, $4)
				ORDER BY opened_us, id LIMIT $5`, toUS(from), toUS(to), afterUS, afterID, int64(reportPage))
			if err != nil {
				yield(console.ReportIncident{}, fmt.Errorf("store: report incidents: %w", err))
				return
			}
			if len(page) == 0 {
				return
			}
			last := page[len(page)-1]
			acked, err := s.reportAcks(ctx, afterUS, afterID, toUS(last.OpenedAt), last.ID)
			if err != nil {
				yield(console.ReportIncident{}, err)
				return
			}
			for _, inc := range page {
				ri := console.ReportIncident{Incident: inc, AckStep: -1}
				for i := range acked[inc.ID] {
					if row := &acked[inc.ID][i]; inc.AcknowledgedThrough(row) {
						ri.AckStep, ri.AckChannel = row.Step, string(row.Channel)
						break
					}
				}
				if !yield(ri, nil) {
					return
				}
			}
			if len(page) < reportPage {
				return
			}
			afterUS, afterID = toUS(last.OpenedAt), last.ID
		}
	}
}

// reportAcks returns, by incident, the acknowledged notifications of the
// incidents after (afterUS, afterID) up to (lastUS, lastID) in opening
// order (one page of a report), the earliest first.
func (s *database) reportAcks(ctx context.Context, afterUS int64, afterID string, lastUS int64, lastID string) (map[string][]dispatch.OutboxRow, error) {
	rows, err := s.be.query(ctx, `SELECT `+prefixCols("o.", outboxCols)+` FROM dispatch_outbox o JOIN incidents i ON i.id = o.incident_id
		WHERE o.state = 'acknowledged' AND (i.opened_us, i.id) > ($1, $2) AND (i.opened_us, i.id) <= ($3, $4)`,
		afterUS, afterID, lastUS, lastID)
	if err != nil {
		return nil, fmt.Errorf("store: report acknowledgements: %w", err)
	}
	defer rows.Close()
	acked := map[string][]dispatch.OutboxRow{}
	for rows.Next() {
		r, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("store: report acknowledgements: %w", err)
		}
		acked[r.IncidentID] = append(acked[r.IncidentID], r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: report acknowledgements: %w", err)
	}
	for _, list := range acked {
		slices.SortStableFunc(list, func(a, b dispatch.OutboxRow) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	}
	return acked, nil
}

// prefixCols qualifies a comma-separated column list with a table alias.
func prefixCols(prefix, cols string) string {
	out := make([]byte, 0, len(cols)+16*len(prefix))
	start := true
	for i := 0; i < len(cols); i++ {
		c := cols[i]
		if start && c != ' ' && c != '\t' && c != '\n' {
			out = append(out, prefix...)
			start = false
		}
		out = append(out, c)
		if c == ',' {
			start = true
		}
	}
	return string(out)
}

// maxCaseloadIncidents bounds CaseloadIncidents: a month of one caseload
// (~360 homes) is a few hundred incidents; a flood of device faults is cut
// here rather than loaded without end.
const maxCaseloadIncidents = 20000

// CaseloadIncidents returns the incidents of one social worker's residents
// opened in [from, to), the oldest first (Today's ranking and the monthly
// caseload report). The period is an index range on the opening time.
func (s Casework) CaseloadIncidents(ctx context.Context, socialWorkerID string, from, to time.Time) ([]dispatch.Incident, error) {
	incs, err := s.queryIncidents(ctx, `SELECT i.data, i.change_seq FROM incidents i JOIN residents r ON r.id = i.resident_id
		WHERE r.social_worker_id = $1 AND i.opened_us >= $2 AND i.opened_us < $3
		ORDER BY i.opened_us, i.id LIMIT $4`, socialWorkerID, toUS(from), toUS(to), int64(maxCaseloadIncidents))
	if err != nil {
		return nil, fmt.Errorf("store: caseload incidents: %w", err)
	}
	return incs, nil
}
