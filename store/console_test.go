package store_test

import (
	"testing"

	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

func TestConsoleSQLite(t *testing.T) {
	storetest.RunConsole(t, func(t *testing.T) store.Config { return storetest.SQLite(t) })
}

func TestConsolePostgres(t *testing.T) {
	storetest.Postgres(t)
	storetest.RunConsole(t, func(t *testing.T) store.Config { return storetest.Postgres(t) })
}
