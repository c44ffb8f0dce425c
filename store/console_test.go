package store_test

import (
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// The store implements the console's ports with the console's own records:
// no adapter copies them between twin types.
var (
	_ console.AccountStore   = store.Accounts{}
	_ console.AuditLog       = store.Accounts{}
	_ console.VisitLog       = store.Casework{}
	_ console.Wellbeing      = store.Casework{}
	_ console.CaseloadReader = store.Casework{}
	_ console.ReportSource   = store.Casework{}
	_ console.SensorReader   = store.Registry{}
	_ console.ResidentReader = store.Registry{}
	_ console.EvidenceReader = store.Journal{}
	_ console.EventLog       = store.Journal{}
	_ detectors.Fleet        = store.Registry{}
)

func TestConsoleSQLite(t *testing.T) {
	storetest.RunConsole(t, func(t *testing.T) store.Config { return storetest.SQLite(t) })
}

func TestConsolePostgres(t *testing.T) {
	storetest.Postgres(t)
	storetest.RunConsole(t, func(t *testing.T) store.Config { return storetest.Postgres(t) })
}
