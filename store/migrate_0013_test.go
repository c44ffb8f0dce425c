package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

func regionBackends() []struct {
	name  string
	fresh func(testing.TB) store.Config
} {
	return []struct {
		name  string
		fresh func(testing.TB) store.Config
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}}
}

// withEachStore runs fn on a fresh open store of each back end.
func withEachStore(t *testing.T, fn func(t *testing.T, ctx context.Context, s *store.Store)) {
	withEachStoreConfig(t, func(t *testing.T, ctx context.Context, _ store.Config, s *store.Store) {
		defer s.Close()
		fn(t, ctx, s)
	})
}

// withEachStoreConfig runs fn on a fresh open store of each back end and
// its configuration, for a test that closes the store (fn closes it) and
// opens it again.
func withEachStoreConfig(t *testing.T, fn func(t *testing.T, ctx context.Context, cfg store.Config, s *store.Store)) {
	for _, be := range regionBackends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := be.fresh(t)
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			fn(t, ctx, cfg, s)
		})
	}
}

func deriveDistrict(a devices.Address) (string, bool) {
	d, err := region.Derive(a.Line1)
	return string(d.Code), err == nil
}

// TestMigrate0013: residents from before districts were kept read with
// none; the gateway's start-up backfill gives each the 시군구 its address
// names and reports those whose address names none.
func TestMigrate0013(t *testing.T) {
	for _, be := range regionBackends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := be.fresh(t)
			exec, closeDB, err := store.OpenAtVersion(ctx, cfg, 12)
			if err != nil {
				t.Fatal(err)
			}
			for id, address := range map[string]string{
				"res-busan":  `{"line1": "부산광역시 해운대구 해운대로 1"}`,
				"res-abroad": `{"line1": "1600 Amphitheatre Pkwy"}`,
				"res-none":   `{}`,
			} {
				if err := exec(`INSERT INTO residents (id, name, address, access_sealed, created_us, updated_us) VALUES ($1, '김순자', $2, $3, 1, 1)`,
					id, address, []byte{0}); err != nil {
					t.Fatal(err)
				}
			}
			closeDB()
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var code string
			if err := store.QueryRow(ctx, s, `SELECT district_code FROM residents WHERE id = 'res-busan'`, nil, &code); err != nil || code != "" {
				t.Fatalf("an old row's district %q, %v; want empty", code, err)
			}
			set, unreadable, err := s.Registry().BackfillDistricts(ctx, deriveDistrict)
			slices.Sort(unreadable)
			if err != nil || set != 1 || !slices.Equal(unreadable, []devices.ResidentID{"res-abroad"}) {
				t.Fatalf("BackfillDistricts = %d, %v, %v; want 1 set and res-abroad unreadable (res-none has no address to read)", set, unreadable, err)
			}
			if err := store.QueryRow(ctx, s, `SELECT district_code FROM residents WHERE id = 'res-busan'`, nil, &code); err != nil || code != "26350" {
				t.Errorf("district after the backfill %q, %v; want 26350", code, err)
			}
			counts, err := s.Registry().ResidentsBySido(ctx)
			if err != nil || counts["26"] != 1 || counts[""] != 2 {
				t.Errorf("ResidentsBySido = %v, %v; want 26: 1 and 2 without", counts, err)
			}
			if set, _, err := s.Registry().BackfillDistricts(ctx, deriveDistrict); err != nil || set != 0 {
				t.Errorf("a second backfill set %d, %v; want 0", set, err)
			}
		})
	}
}

// The store derives a district the resident lacks from the address, keeps
// one given, refuses an unknown one, and leaves an address it cannot read
// without (the admin API is the strict door).
func TestResidentDistrictStored(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		reg := s.Registry()
		r, err := reg.CreateResident(ctx, devices.Resident{Name: "김영희", Address: devices.Address{Line1: "서울 종로구 세종대로 209"}})
		if err != nil || r.DistrictCode != "11110" {
			t.Fatalf("CreateResident: district %q, %v; want 11110", r.DistrictCode, err)
		}
		got, err := reg.GetResident(ctx, r.ID)
		if err != nil || got.DistrictCode != "11110" {
			t.Fatalf("GetResident: district %q, %v", got.DistrictCode, err)
		}
		got.DistrictCode = "26350"
		if got, err = reg.UpdateResident(ctx, got); err != nil || got.DistrictCode != "26350" {
			t.Errorf("UpdateResident: district %q, %v; want 26350 as given", got.DistrictCode, err)
		}
		got.DistrictCode = "26999"
		if _, err := reg.UpdateResident(ctx, got); !errors.Is(err, devices.ErrInvalid) {
			t.Errorf("UpdateResident with an unknown district: %v, want ErrInvalid", err)
		}
		odd, err := reg.CreateResident(ctx, devices.Resident{Name: "Kim", Address: devices.Address{Line1: "somewhere"}})
		if err != nil || odd.DistrictCode != "" {
			t.Errorf("CreateResident with an unreadable address: district %q, %v; want none, stored", odd.DistrictCode, err)
		}
	})
}
