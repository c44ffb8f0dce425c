package store

import (
	"context"
	"fmt"

	"github.com/dolbom/dolbom/console"
)

// The audit log keeps the console's records (console.AuditEntry, queried
// by console.AuditQuery: default 100 entries, at most 1000): the store
// implements its AuditLog port. Seq is assigned here, increasing; the log is
// append-only.

// AppendAudit adds an entry. At defaults to the store's clock.
func (s Accounts) AppendAudit(ctx context.Context, e console.AuditEntry) error {
	if e.AccountID == "" || e.Action == "" {
		return invalid("audit entry: account and action are required")
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := s.be.exec(ctx, `INSERT INTO audit_log (at_us, account_id, action, resident_id, incident_id, remote, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, toUS(e.At), e.AccountID, e.Action, e.ResidentID, e.IncidentID, e.Remote, e.Detail)
	if err != nil {
		return fmt.Errorf("store: append audit: %w", err)
	}
	return nil
}

// ListAudit returns audit entries newest first.
func (s Accounts) ListAudit(ctx context.Context, aq console.AuditQuery) ([]console.AuditEntry, error) {
	limit := aq.Limit
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	w := where{}
	if aq.Before > 0 {
		w.add("seq < ?", aq.Before)
	}
	if aq.ResidentID != "" {
		w.add("resident_id = ?", aq.ResidentID)
	}
	if aq.AccountID != "" {
		w.add("account_id = ?", aq.AccountID)
	}
	rows, err := s.be.query(ctx, `SELECT seq, at_us, account_id, action, resident_id, incident_id, remote, detail
		FROM audit_log`+w.sql()+fmt.Sprintf(` ORDER BY seq DESC LIMIT %d`, limit), w.args...)
	return collect(rows, err, "list audit", func(sc row) (console.AuditEntry, error) {
		var e console.AuditEntry
		var at int64
		if err := sc.Scan(&e.Seq, &at, &e.AccountID, &e.Action, &e.ResidentID, &e.IncidentID, &e.Remote, &e.Detail); err != nil {
			return console.AuditEntry{}, err
		}
		e.At = fromUS(at)
		return e, nil
	})
}
