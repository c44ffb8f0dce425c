package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/store"
)

// The routing table keeps one route per 시도, its token sealed at rest.
func TestCAPRoutesStored(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		rs := s.Routes()
		if _, ok, err := rs.CAPRoute(ctx, "11"); ok || err != nil {
			t.Fatalf("CAPRoute on an empty table: %v, %v", ok, err)
		}
		put, err := rs.PutCAPRoute(ctx, cap.Route{Sido: "서울", Endpoints: []string{"https://119.seoul.example.kr/cap"}, BearerToken: "centre-secret"})
		if err != nil || put.Sido != "11" {
			t.Fatalf("PutCAPRoute: %+v, %v", put, err)
		}
		if _, err := rs.PutCAPRoute(ctx, cap.Route{Sido: "26", Endpoints: []string{"https://119.busan.example.kr/cap"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := rs.PutCAPRoute(ctx, cap.Route{Sido: "99", Endpoints: []string{"https://x.example"}}); !errors.Is(err, devices.ErrInvalid) {
			t.Errorf("PutCAPRoute(99): %v, want ErrInvalid", err)
		}
		got, ok, err := rs.CAPRoute(ctx, "11")
		if err != nil || !ok || got.BearerToken != "centre-secret" || !slices.Equal(got.Endpoints, put.Endpoints) {
			t.Errorf("CAPRoute(11) = %+v, %v, %v", got, ok, err)
		}
		var sealed []byte
		if err := store.QueryRow(ctx, s, `SELECT token_sealed FROM cap_routes WHERE sido = '11'`, nil, &sealed); err != nil || bytes.Contains(sealed, []byte("centre-secret")) {
			t.Errorf("the token at rest: %v; want it sealed", err)
		}
		all, err := rs.CAPRoutes(ctx)
		if err != nil || len(all) != 2 || all[0].Sido != "11" || all[1].Sido != "26" || all[1].BearerToken != "" {
			t.Errorf("CAPRoutes = %+v, %v", all, err)
		}
		if err := rs.DeleteCAPRoute(ctx, "26"); err != nil {
			t.Fatal(err)
		}
		if err := rs.DeleteCAPRoute(ctx, "26"); !errors.Is(err, devices.ErrNotFound) {
			t.Errorf("a second delete: %v, want ErrNotFound", err)
		}
	})
}

// An incident's 119 route is pinned by its first message; the first pin
// wins.
func TestIncidentRoutePinned(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		rs := s.Routes()
		if _, ok, err := rs.PinnedRoute(ctx, "inc-1"); ok || err != nil {
			t.Fatalf("PinnedRoute before any pin: %v, %v", ok, err)
		}
		if err := rs.PinRoute(ctx, "inc-1", "11", []string{"https://119.seoul.example.kr/cap"}); err != nil {
			t.Fatal(err)
		}
		if err := rs.PinRoute(ctx, "inc-1", "26", []string{"https://119.busan.example.kr/cap"}); err != nil {
			t.Fatal(err)
		}
		if sido, ok, err := rs.PinnedRoute(ctx, "inc-1"); sido != "11" || !ok || err != nil {
			t.Errorf("PinnedRoute = %q, %v, %v; want the first pin, 11", sido, ok, err)
		}
	})
}

// Open incidents count under the 시도 their Alert was routed to, else
// their resident's; closed ones not at all.
func TestOpenIncidentsBySido(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		busan, err := s.Registry().CreateResident(ctx, devices.Resident{Name: "부산 대상자", Language: "ko", Address: devices.Address{Line1: "부산광역시 해운대구 해운대로 1"}})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		var muts []dispatch.Mutation
		for i, st := range []dispatch.State{dispatch.StateNotified, dispatch.StateAcknowledged, dispatch.StateResolved} {
			id := fmt.Sprintf("inc-%d", i)
			muts = append(muts, dispatch.Mutation{Fingerprint: id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
				return dispatch.Change{Incident: &dispatch.Incident{ID: id, Fingerprint: id, Hub: "hub-1", ResidentID: busan.ID, Cause: detectors.CauseSOS,
					Class: detectors.ClassEmergency, Priority: 1, State: st, Count: 1, Episode: at, OpenedAt: at, UpdatedAt: at}}, nil
			}})
		}
		if _, err := s.Incidents().ApplyIncidents(ctx, muts); err != nil {
			t.Fatal(err)
		}
		// inc-0's Alert went to 서울 before the resident moved to 부산.
		if err := s.Routes().PinRoute(ctx, "inc-0", "11", []string{"https://119.seoul.example.kr/cap"}); err != nil {
			t.Fatal(err)
		}
		counts, err := s.Routes().OpenIncidentsBySido(ctx)
		if err != nil || counts["11"] != 1 || counts["26"] != 1 || len(counts) != 2 {
			t.Errorf("OpenIncidentsBySido = %v, %v; want 11: 1 (pinned), 26: 1 (the resident's), the resolved one not counted", counts, err)
		}
		// A regional dispatcher's page: Seoul's is the one whose Alert went
		// there; Busan's are its resident's (the store's page may hold the
		// pinned one too: the console checks each again).
		ids := func(regions ...string) []string {
			incs, err := s.Incidents().ListIncidents(ctx, dispatch.IncidentQuery{Regions: regions, States: []dispatch.State{dispatch.StateNotified, dispatch.StateAcknowledged}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, inc := range incs {
				out = append(out, inc.ID)
			}
			slices.Sort(out)
			return out
		}
		if got := ids("11"); !slices.Equal(got, []string{"inc-0"}) {
			t.Errorf("incidents of 11: %v; want inc-0 (its Alert went to Seoul)", got)
		}
		if got := ids("26350"); !slices.Contains(got, "inc-1") || slices.Contains(got, "inc-2") {
			t.Errorf("open incidents of 26350: %v; want inc-1 and not the resolved inc-2", got)
		}
		if got := ids("27"); len(got) != 0 {
			t.Errorf("incidents of 27: %v; want none", got)
		}
	})
}

// The pinned 시도 of many incidents in one query, past a chunk's size.
func TestPinnedRoutesMany(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		var ids []string
		for i := range 620 {
			id := fmt.Sprintf("inc-%04d", i)
			ids = append(ids, id)
			if i%3 == 0 {
				if err := s.Routes().PinRoute(ctx, id, "26", []string{"https://119.busan.example.kr/cap"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := s.Routes().PinnedRoutes(ctx, ids)
		if err != nil || len(got) != 207 || got["inc-0600"] != "26" || got["inc-0601"] != "" {
			t.Errorf("PinnedRoutes: %d pinned, %v; want 207 (every third of 620)", len(got), err)
		}
	})
}
