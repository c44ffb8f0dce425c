package store_test

import (
	"context"
	"testing"

	"github.com/dolbom/dolbom/store"
)

// TestMigrate0012: a database left by a binary at schema 11 keeps its
// saved state, health and outbox rows, which read as written under epoch 0
// (not fenced) and, for outbox rows, with no hub; the cluster tables exist
// and are empty (a single gateway never writes them).
func TestMigrate0012(t *testing.T) {
	migrateFrom(t, 11, func(t *testing.T, exec func(string, ...any) error) {
		for _, q := range []string{
			`INSERT INTO home_state (hub_id, data, updated_us) VALUES ('hub-1', 'x', 1)`,
			`INSERT INTO hub_health (hub_id, data, updated_us) VALUES ('hub-1', '{}', 1)`,
			`INSERT INTO dispatch_outbox (row_key, incident_id, kind, state, priority, due_us, deadline_us, created_us, updated_us, data)
				VALUES ('k', 'inc-1', 'command', 'pending', 0, 1, 2, 1, 1, '{}')`,
		} {
			if err := exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}, func(t *testing.T, ctx context.Context, s *store.Store, backend string) {
		var stateEpoch, healthEpoch int64
		var outboxHub string
		// The saved state is in a file of its own on the embedded store
		// (state.db), moved there after migration 12 ran.
		if err := store.QueryStateRow(ctx, s, `SELECT s.epoch, h.epoch FROM home_state s, hub_health h
			WHERE s.hub_id = 'hub-1' AND h.hub_id = 'hub-1'`, nil, &stateEpoch, &healthEpoch); err != nil {
			t.Fatal(err)
		}
		if err := store.QueryRow(ctx, s, `SELECT hub_id FROM dispatch_outbox WHERE row_key = 'k'`, nil, &outboxHub); err != nil {
			t.Fatal(err)
		}
		if stateEpoch != 0 || healthEpoch != 0 || outboxHub != "" {
			t.Errorf("old rows read epoch %d/%d and outbox hub %q, want 0/0 and none", stateEpoch, healthEpoch, outboxHub)
		}
		for _, table := range []string{"cluster_members", "hub_owners", "cluster_settings", "registry_changes", "voice_rate"} {
			var n int
			if err := store.QueryRow(ctx, s, `SELECT COUNT(*) FROM `+table, nil, &n); err != nil {
				t.Errorf("table %s: %v", table, err)
			} else if n != 0 {
				t.Errorf("table %s has %d rows after the migration, want none", table, n)
			}
		}
		if backend == "postgres" {
			var n int
			if err := store.QueryRow(ctx, s, `SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'events_hub_seq' AND schemaname = current_schema()`, nil, &n); err != nil || n != 1 {
				t.Errorf("index events_hub_seq: %d found, %v", n, err)
			}
		}
	})
}
