package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// TestMigrateJournalPositions0007: a database from before the journal
// replay starts its consumers at its newest event, so that the first start
// of this version does not replay the whole history (handled by the version
// that wrote it).
func TestMigrateJournalPositions0007(t *testing.T) {
	migrateFrom(t, 6, func(t *testing.T, exec func(string, ...any) error) {
		at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC).UnixMicro()
		for i := range 5 {
			if err := exec(`INSERT INTO events (hub_id, event_id, kind, ts_us, received_us) VALUES ($1, $2, 'sos', $3, $3)`,
				"hub-1", fmt.Sprintf("e-%d", i), at); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, ctx context.Context, s *store.Store, _ string) {
		for _, consumer := range []string{"engine", "device_health"} {
			pos, err := s.Journal().JournalPosition(ctx, consumer)
			if err != nil {
				t.Fatal(err)
			}
			replayed := 0
			if err := s.Journal().ReplayEvents(ctx, consumer, "", pos, func(_ *devices.Event) error { replayed++; return nil }); err != nil {
				t.Fatal(err)
			}
			if pos == 0 || replayed != 0 {
				t.Errorf("%s starts at %d and would replay %d events of the old version's history, want none", consumer, pos, replayed)
			}
		}
	})
}
