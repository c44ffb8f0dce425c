package webconsole

import (
	"context"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/dispatch"
)

// CaseloadIncidents and CaseloadVisits serve the console's CaseloadReader
// (Today's ranking, the monthly caseload report).
func (a adapter) CaseloadIncidents(ctx context.Context, socialWorkerID string, from, to time.Time) ([]dispatch.Incident, error) {
	return a.st.CaseloadIncidents(ctx, socialWorkerID, from, to)
}

func (a adapter) CaseloadVisits(ctx context.Context, socialWorkerID string, from, to time.Time) ([]console.Visit, error) {
	list, err := a.st.CaseloadVisits(ctx, socialWorkerID, from, to)
	return visitsOf(list), err
}
