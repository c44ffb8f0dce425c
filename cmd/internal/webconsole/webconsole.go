// Package webconsole wires the web console (console.NewWeb) to the store:
// adapters from *store.Store to the console's ports. Only cmd knows both
// sides; the gateway mounts the handler at "/".
package webconsole

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// Ports are the console ports the store can serve: the store implements
// most of them itself. Health, incidents and the open-incident check come
// from elsewhere (the health monitor, dispatch) and are set by the caller.
func Ports(st *store.Store) console.WebDeps {
	return console.WebDeps{Accounts: st, Audit: st, Residents: st, Visits: st, Wellbeing: st, Caseload: st}
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
