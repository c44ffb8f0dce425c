package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// fleetPlanHubs is the fleet TestFleetQueryPlan plans for: enough rows that
// PostgreSQL's planner prefers an index where one serves (on a few hundred
// it scans whole tables whatever the indexes).
const fleetPlanHubs = 20_000

// TestFleetQueryPlan: at national scale a fleet page walks the hubs'
// primary key in order and stops at its LIMIT (no sort of every hub), the
// joins to residents and health are lookups by key, and a regional
// account's page and counts start from the residents_district index
// instead of reading every hub (docs/operations.md, "Fleet").
func TestFleetQueryPlan(t *testing.T) {
	for _, be := range []struct {
		name string
		cfg  func(t *testing.T) store.Config
	}{
		{"sqlite", func(t *testing.T) store.Config { return storetest.SQLite(t) }},
		{"postgres", func(t *testing.T) store.Config { return storetest.Postgres(t) }},
	} {
		t.Run(be.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := store.Open(ctx, be.cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.FleetFill(ctx, fleetPlanHubs); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
			busan := []string{"26"}
			for _, tc := range []struct {
				name   string
				q      console.FleetQuery
				groups bool
				// want are fragments the plan must hold, refuse those it
				// must not.
				want, refuse map[string][]string
			}{
				{"national page", console.FleetQuery{Now: now, Limit: 101}, false,
					map[string][]string{"sqlite": {"USING INDEX sqlite_autoindex_hubs_1", "SEARCH r USING INDEX sqlite_autoindex_residents_1", "SEARCH hh USING INDEX sqlite_autoindex_hub_health_1"},
						"postgres": {"Limit", "Index Scan using hubs_pkey"}},
					map[string][]string{"sqlite": {"TEMP B-TREE", "SCAN r", "SCAN hh"}, "postgres": {"Sort", "Seq Scan on hubs"}}},
				{"national filtered page", console.FleetQuery{Now: now, Limit: 101, BatteryBelow: 20, OfflineFor: 24 * time.Hour}, false,
					// PostgreSQL may instead read the health rows that match
					// (it guesses few), sorting only those: in SQL either way.
					map[string][]string{"sqlite": {"USING INDEX sqlite_autoindex_hubs_1"}, "postgres": {"Limit"}},
					map[string][]string{"sqlite": {"TEMP B-TREE", "SCAN r", "SCAN hh"}, "postgres": {"Seq Scan on residents"}}},
				{"busan page", console.FleetQuery{Now: now, Limit: 101, Scope: busan}, false,
					map[string][]string{"sqlite": {"USING INDEX residents_district"}, "postgres": {"residents_district"}},
					map[string][]string{"sqlite": {"SCAN h ", "SCAN r", "SCAN hh"}, "postgres": {"Seq Scan on residents", "Seq Scan on hub_health"}}},
				{"busan counts", console.FleetQuery{Now: now, Scope: busan}, true,
					map[string][]string{"sqlite": {"USING INDEX residents_district"}, "postgres": {"residents_district"}},
					map[string][]string{"sqlite": {"SCAN h ", "SCAN r", "SCAN hh"}, "postgres": {"Seq Scan on residents", "Seq Scan on hub_health"}}},
				{"national counts", console.FleetQuery{Now: now}, true,
					// Counting every hub reads every hub once; the joins
					// must stay lookups (or one hash join), never a scan per hub.
					map[string][]string{"sqlite": {"SEARCH hh USING INDEX sqlite_autoindex_hub_health_1"}},
					map[string][]string{"sqlite": {"SCAN hh"}, "postgres": {"Nested Loop"}}},
			} {
				plan, err := s.FleetPlan(ctx, tc.q, tc.groups)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				text := strings.Join(plan, "\n")
				for _, w := range tc.want[be.name] {
					if !strings.Contains(text, w) {
						t.Errorf("%s: plan lacks %q:\n%s", tc.name, w, text)
					}
				}
				for _, r := range tc.refuse[be.name] {
					if strings.Contains(text, r) {
						t.Errorf("%s: plan has %q:\n%s", tc.name, r, text)
					}
				}
				t.Logf("%s:\n%s", tc.name, text)
			}
			// The counts are one row per 시군구, model and firmware: 280
			// districts x 3 models x 4 firmwares at most, not 20,000.
			groups, err := s.State().FleetGroups(ctx, console.FleetQuery{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, g := range groups {
				total += g.Hubs
			}
			if total != fleetPlanHubs || len(groups) > 280*3*4 {
				t.Errorf("FleetGroups: %d groups of %d hubs, want at most %d groups of %d", len(groups), total, 280*3*4, fleetPlanHubs)
			}
		})
	}
}
