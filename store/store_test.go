package store_test

import (
	"testing"

	"github.com/dolbom/dolbom/store"

	"github.com/dolbom/dolbom/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Config { return storetest.SQLite(t) })
}

func TestPostgres(t *testing.T) {
	storetest.Postgres(t) // skips (or fails) here when no database is configured
	storetest.Run(t, func(t *testing.T) store.Config { return storetest.Postgres(t) })
}
