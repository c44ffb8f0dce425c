package store_test

import (
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/web"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// The store implements the console's ports with the console's own records:
// no adapter copies them between twin types.
var (
	_ console.AccountStore = store.Accounts{}
	_ web.AuditLog         = store.Accounts{}
	_ web.VisitLog         = store.Casework{}
	_ web.Wellbeing        = store.Casework{}
	_ web.CaseloadReader   = store.Casework{}
	_ web.ReportSource     = store.Casework{}
	_ web.SensorReader     = store.Registry{}
	_ web.ResidentReader   = store.Registry{}
	_ web.EvidenceReader   = store.Journal{}
	_ api.EventLog         = store.Journal{}
	_ console.APITokens    = store.Accounts{}
	_ detectors.Fleet      = store.Registry{}
)

func TestConsoleSQLite(t *testing.T) {
	storetest.RunConsole(t, func(t *testing.T) store.Config { return storetest.SQLite(t) })
}

func TestConsolePostgres(t *testing.T) {
	storetest.Postgres(t)
	storetest.RunConsole(t, func(t *testing.T) store.Config { return storetest.Postgres(t) })
}
