// Package webconsole wires the web console (console.NewWeb) to the store:
// adapters from *store.Store to the console's ports. Only cmd knows both
// sides; the gateway mounts the handler at "/".
package webconsole

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// Ports are the console ports the store can serve. Health, incidents and
// the open-incident check come from elsewhere (the health monitor,
// dispatch) and are set by the caller.
func Ports(st *store.Store) console.WebDeps {
	a := adapter{st}
	return console.WebDeps{Accounts: a, Audit: a, Residents: a, Visits: a, Wellbeing: a, Caseload: a}
}

// New returns the web console over st, with health (may be nil) and the
// dispatch ports in extra (DispatchPorts; any may be nil until dispatch is
// wired). Run its Run while it serves.
func New(cfg console.WebConfig, st *store.Store, health console.HealthReader, extra console.WebDeps, log zerolog.Logger) (*console.Web, error) {
	deps := Ports(st)
	deps.Health = health
	deps.Incidents, deps.History, deps.OpenIncident = extra.Incidents, extra.History, extra.OpenIncident
	deps.Desk, deps.Evidence, deps.Reports = extra.Desk, extra.Evidence, extra.Reports
	deps.Registry, deps.Hubs = extra.Registry, extra.Hubs
	cfg.Logger = log
	return console.NewWeb(cfg, deps)
}

// StoreHealth reads device health from what the monitor last saved, for
// use where no live monitor runs (tests, tools). The gateway should pass
// its live monitor instead.
type StoreHealth struct{ St *store.Store }

func (h StoreHealth) HubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealth, error) {
	rec, err := h.St.GetHubHealth(ctx, hub)
	return rec.HubHealth, err
}

type adapter struct{ st *store.Store }

func toAccount(a store.Account) console.Account {
	return console.Account{ID: a.ID, Name: a.Name, Role: console.Role(a.Role), PasswordHash: a.PasswordHash, Disabled: a.Disabled, CreatedAt: a.CreatedAt}
}

func (a adapter) CreateAccount(ctx context.Context, acc console.Account) error {
	_, err := a.st.CreateAccount(ctx, store.Account{ID: acc.ID, Name: acc.Name, Role: string(acc.Role), PasswordHash: acc.PasswordHash, Disabled: acc.Disabled})
	return err
}

func (a adapter) GetAccount(ctx context.Context, id string) (console.Account, error) {
	acc, err := a.st.GetAccount(ctx, id)
	return toAccount(acc), err
}

func (a adapter) ListAccounts(ctx context.Context) ([]console.Account, error) {
	list, err := a.st.ListAccounts(ctx)
	out := make([]console.Account, len(list))
	for i, acc := range list {
		out[i] = toAccount(acc)
	}
	return out, err
}

func (a adapter) CountAccounts(ctx context.Context) (int, error) { return a.st.CountAccounts(ctx) }

func (a adapter) SetAccountDisabled(ctx context.Context, id string, disabled bool) error {
	return a.st.SetAccountDisabled(ctx, id, disabled)
}

func (a adapter) SetAccountPassword(ctx context.Context, id, hash string) error {
	return a.st.SetAccountPassword(ctx, id, hash)
}

func (a adapter) CreateSession(ctx context.Context, s console.Session) error {
	return a.st.CreateSession(ctx, store.Session(s))
}

func (a adapter) GetSession(ctx context.Context, tokenHash string) (console.Session, error) {
	s, err := a.st.GetSession(ctx, tokenHash)
	return console.Session(s), err
}

func (a adapter) TouchSession(ctx context.Context, tokenHash string, lastSeen, expires time.Time) error {
	return a.st.TouchSession(ctx, tokenHash, lastSeen, expires)
}

func (a adapter) DeleteSession(ctx context.Context, tokenHash string) error {
	return a.st.DeleteSession(ctx, tokenHash)
}

func (a adapter) AppendAudit(ctx context.Context, e console.AuditEntry) error {
	return a.st.AppendAudit(ctx, store.AuditEntry(e))
}

func (a adapter) ListAudit(ctx context.Context, q console.AuditQuery) ([]console.AuditEntry, error) {
	list, err := a.st.ListAudit(ctx, store.AuditQuery(q))
	out := make([]console.AuditEntry, len(list))
	for i, e := range list {
		out[i] = console.AuditEntry(e)
	}
	return out, err
}

func (a adapter) AddVisit(ctx context.Context, v *console.Visit) error {
	out, err := a.st.AddVisit(ctx, store.Visit{ID: v.ID, ResidentID: v.ResidentID, Kind: string(v.Kind), At: v.At, AccountID: v.AccountID, Notes: v.Notes, Next: v.Next})
	if err == nil {
		v.ID, v.At, v.Next = out.ID, out.At, out.Next
	}
	return err
}

func (a adapter) ListVisits(ctx context.Context, resident devices.ResidentID, limit int) ([]console.Visit, error) {
	list, err := a.st.ListVisits(ctx, resident, limit)
	return visitsOf(list), err
}

func visitsOf(list []store.Visit) []console.Visit {
	out := make([]console.Visit, len(list))
	for i, v := range list {
		out[i] = console.Visit{ID: v.ID, ResidentID: v.ResidentID, Kind: console.VisitKind(v.Kind), At: v.At, AccountID: v.AccountID, Notes: v.Notes, Next: v.Next}
	}
	return out
}

func (a adapter) VisitSummaries(ctx context.Context, socialWorkerID string) ([]console.VisitSummary, error) {
	list, err := a.st.VisitSummaries(ctx, socialWorkerID)
	out := make([]console.VisitSummary, len(list))
	for i, s := range list {
		out[i] = console.VisitSummary(s)
	}
	return out, err
}

func (a adapter) GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error) {
	return a.st.GetResident(ctx, id)
}

func (a adapter) ListResidents(ctx context.Context, q console.ListQuery) ([]devices.Resident, error) {
	return a.st.ListResidents(ctx, store.ListQuery{Limit: q.Limit, After: q.After, Search: q.Search, SocialWorkerID: q.SocialWorkerID, IncludeDisabled: q.IncludeDisabled})
}

func (a adapter) ListHubs(ctx context.Context, q console.ListQuery) ([]devices.Hub, error) {
	return a.st.ListHubs(ctx, store.HubQuery{ListQuery: store.ListQuery{Limit: q.Limit, After: q.After, IncludeDisabled: q.IncludeDisabled}, ResidentID: q.ResidentID})
}

func (a adapter) ResidentHourly(ctx context.Context, resident devices.ResidentID, metric devices.Metric, from, to time.Time) ([]console.HourlyPoint, error) {
	list, err := a.st.ResidentRollups(ctx, resident, metric, from, to)
	out := make([]console.HourlyPoint, len(list))
	for i, r := range list {
		out[i] = console.HourlyPoint{Hour: r.Bucket, Count: r.Count, Sum: r.Sum, Min: r.Min, Max: r.Max, Avg: r.Avg}
	}
	return out, err
}

func (a adapter) CaseloadActivity(ctx context.Context, socialWorkerID string, from, split, to time.Time) ([]console.ActivityWindow, error) {
	list, err := a.st.CaseloadActivity(ctx, socialWorkerID, from, split, to)
	out := make([]console.ActivityWindow, len(list))
	for i, w := range list {
		out[i] = console.ActivityWindow(w)
	}
	return out, err
}
