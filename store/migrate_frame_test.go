package store_test

import (
	"context"
	"testing"

	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// migrateFrom is the frame of a migration test, run on each back end: a
// database left by a binary at schema version (seed fills it through exec,
// in the SQL of that time) is opened by this binary, which migrates it, and
// check reads the result. The back ends' migrations are parallel by design
// (store/migrate.go); their tests share this frame and differ only in what
// they seed and check.
func migrateFrom(t *testing.T, version int, seed func(t *testing.T, exec func(query string, args ...any) error),
	check func(t *testing.T, ctx context.Context, s *store.Store, backend string)) {
	t.Helper()
	for _, be := range []struct {
		name  string
		fresh func(testing.TB) store.Config
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := be.fresh(t)
			exec, closeDB, err := store.OpenAtVersion(ctx, cfg, version)
			if err != nil {
				t.Fatal(err)
			}
			seed(t, exec)
			closeDB()
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			check(t, ctx, s, be.name)
		})
	}
}
