package store_test

import (
	"context"
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// A list query with regions keeps the residents of those regions (a 시도
// or a 시군구 code) and the hubs of those residents: a regional account's
// lists.
func TestListByRegion(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		reg := s.Registry()
		var ids []devices.ResidentID
		for _, line1 := range []string{"서울특별시 종로구 세종대로 209", "부산광역시 해운대구 해운대로 1", "부산광역시 중구 중앙대로 1"} {
			r, err := reg.CreateResident(ctx, devices.Resident{Name: "대상자", Language: "ko", Address: devices.Address{Line1: line1}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reg.CreateHub(ctx, devices.Hub{ID: devices.HubID("hub-" + string(r.ID)), ResidentID: r.ID, SecretHash: "$argon2id$x"}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		for _, tc := range []struct {
			regions []string
			want    int
		}{{nil, 3}, {[]string{"26"}, 2}, {[]string{"26350"}, 1}, {[]string{"11", "26110"}, 2}, {[]string{"27"}, 0}} {
			rs, err := reg.ListResidents(ctx, console.ListQuery{Regions: tc.regions, Limit: 10})
			if err != nil || len(rs) != tc.want {
				t.Errorf("residents of %v: %d, %v; want %d", tc.regions, len(rs), err, tc.want)
			}
			hs, err := reg.ListHubs(ctx, console.ListQuery{Regions: tc.regions, Limit: 10, After: ""})
			if err != nil || len(hs) != tc.want {
				t.Errorf("hubs of %v: %d, %v; want %d", tc.regions, len(hs), err, tc.want)
			}
		}
		// With another condition before it: the placeholders stay in order.
		hs, err := reg.ListHubs(ctx, console.ListQuery{Regions: []string{"26"}, ResidentID: ids[1], Limit: 10})
		if err != nil || len(hs) != 1 {
			t.Errorf("hubs of %s in 26: %d, %v", ids[1], len(hs), err)
		}
	})
}
