package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// fleetFixture registers, at base: a Seoul (11110) resident with hubs
// hub-s1 (online, mains, battery 80, reports firmware 1.2 over a registered
// 1.0, two sensors), hub-s2 (offline since 10 days, battery 15, reports no
// firmware) and hub-sd (disabled); a Busan (26350) resident with hub-b1
// (online, DG-200, end of life in 20 days); hub-n in stock (no resident,
// never heard from).
func fleetFixture(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := ctxT(t)
	reg := s.Registry()
	seoul, busan := sampleResident(), sampleResident()
	seoul.DistrictCode = "11110"
	busan.DistrictCode = "26350"
	busan.Address.Line1 = "부산광역시 해운대구 중동 1"
	var ids []devices.ResidentID
	for _, r := range []devices.Resident{seoul, busan} {
		got, err := reg.CreateResident(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.ID)
	}
	installed := base.AddDate(-1, 0, 0)
	for _, h := range []devices.Hub{
		{ID: "hub-s1", ResidentID: ids[0], Model: "DG-100", Firmware: "1.0", InstalledAt: installed},
		{ID: "hub-s2", ResidentID: ids[0], Model: "DG-100", Firmware: "1.0", InstalledAt: installed},
		{ID: "hub-sd", ResidentID: ids[0], Model: "DG-100", Firmware: "1.0", InstalledAt: installed, Disabled: true},
		{ID: "hub-b1", ResidentID: ids[1], Model: "DG-200", Firmware: "2.0", InstalledAt: base.AddDate(-5, 0, 20), EndOfLife: base.AddDate(0, 0, 20)},
		{ID: "hub-n", Model: "DG-100", Firmware: "1.0", InstalledAt: installed},
	} {
		if _, err := reg.CreateHub(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []devices.SensorID{"door-1", "smoke-1"} {
		sn := devices.Sensor{Hub: "hub-s1", ID: id, Kind: devices.SensorDoor, Location: devices.LocKitchen, InstalledAt: installed}
		if _, err := reg.CreateSensor(ctx, sn); err != nil {
			t.Fatal(err)
		}
	}
	err := s.State().SaveHubHealth(ctx, []devices.HubHealthRecord{
		{HubHealth: devices.HubHealth{Hub: "hub-s1", Online: true, LastSeen: base, PowerKnown: true, OnMains: true, Battery: 80, Firmware: "1.2",
			FirmwareReported: base.Add(-time.Hour), // the hub's word, which wins over the registry's 1.0
			Sensors:          []devices.SensorHealth{{Sensor: "door-1", LastSeen: base.Add(-time.Minute), Battery: 12}}}},
		{HubHealth: devices.HubHealth{Hub: "hub-s2", LastSeen: base.AddDate(0, 0, -10), PowerKnown: true, Battery: 15}},
		{HubHealth: devices.HubHealth{Hub: "hub-b1", Online: true, LastSeen: base.In(time.FixedZone("KST", 9*3600)), Battery: 50, Firmware: "2.0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fleetIDs(hs []console.FleetHub) []string {
	var out []string
	for _, h := range hs {
		out = append(out, string(h.Hub))
	}
	return out
}

// testFleet: the fleet list's filters, scope and paging, and the counts of
// one aggregate query, on both back ends (docs/api.md, GET /fleet).
func testFleet(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	fleetFixture(t, s)
	st := s.State()

	all, err := st.FleetHubs(ctx, console.FleetQuery{Now: base})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fleetIDs(all), []string{"hub-b1", "hub-n", "hub-s1", "hub-s2"}; !slices.Equal(got, want) {
		t.Fatalf("FleetHubs(all) = %v, want %v (no disabled hub)", got, want)
	}
	s1 := all[2]
	if s1.Firmware != "1.2" || s1.Battery != 80 || !s1.Online || !s1.OnMains || !s1.LastSeen.Equal(base) || s1.District != "11110" || s1.Model != "DG-100" {
		t.Errorf("hub-s1 = %+v", s1)
	}
	if len(s1.Sensors) != 2 || s1.Sensors[0].Sensor != "door-1" || s1.Sensors[0].Battery != 12 || s1.Sensors[1].Battery != -1 {
		t.Errorf("hub-s1 sensors = %+v, want door-1 at 12%% and smoke-1 unknown", s1.Sensors)
	}
	if n := all[1]; n.Battery != -1 || n.Online || n.District != "" || n.Firmware != "1.0" {
		t.Errorf("hub-n (never heard from) = %+v", n)
	}
	if b := all[0]; !b.EndOfLife.Equal(base.AddDate(0, 0, 20)) {
		t.Errorf("hub-b1 end of life = %v", b.EndOfLife)
	}

	page, err := st.FleetHubs(ctx, console.FleetQuery{Now: base, Limit: 2})
	if err != nil || !slices.Equal(fleetIDs(page), []string{"hub-b1", "hub-n"}) {
		t.Errorf("page 1 = %v, %v", fleetIDs(page), err)
	}
	page, err = st.FleetHubs(ctx, console.FleetQuery{Now: base, Limit: 2, After: "hub-n"})
	if err != nil || !slices.Equal(fleetIDs(page), []string{"hub-s1", "hub-s2"}) {
		t.Errorf("page 2 = %v, %v", fleetIDs(page), err)
	}

	for _, tc := range []struct {
		name string
		q    console.FleetQuery
		want []string
	}{
		{"busan scope", console.FleetQuery{Scope: []string{"26"}}, []string{"hub-b1"}},
		{"busan scope, seoul asked", console.FleetQuery{Scope: []string{"26"}, Region: "11"}, nil},
		{"two scopes", console.FleetQuery{Scope: []string{"11110", "26350"}}, []string{"hub-b1", "hub-s1", "hub-s2"}},
		{"시도", console.FleetQuery{Region: "11"}, []string{"hub-s1", "hub-s2"}},
		{"시군구", console.FleetQuery{Region: "26350"}, []string{"hub-b1"}},
		{"other 시군구", console.FleetQuery{Region: "26320"}, nil},
		{"model", console.FleetQuery{Model: "DG-200"}, []string{"hub-b1"}},
		{"reported firmware", console.FleetQuery{Firmware: "1.2"}, []string{"hub-s1"}},
		{"registered firmware when none reported", console.FleetQuery{Firmware: "1.0"}, []string{"hub-n", "hub-s2"}},
		{"battery", console.FleetQuery{BatteryBelow: 20}, []string{"hub-s2"}},
		{"battery 60", console.FleetQuery{BatteryBelow: 60}, []string{"hub-b1", "hub-s2"}},
		{"offline 7 days", console.FleetQuery{OfflineFor: 7 * 24 * time.Hour}, []string{"hub-n", "hub-s2"}},
		{"offline 11 days", console.FleetQuery{OfflineFor: 11 * 24 * time.Hour}, []string{"hub-n"}},
		{"end of life in 30 days", console.FleetQuery{EndOfLifeSet: true, EndOfLifeWithin: 30 * 24 * time.Hour}, []string{"hub-b1"}},
		{"end of life past", console.FleetQuery{EndOfLifeSet: true}, nil},
		{"combined", console.FleetQuery{Region: "11", BatteryBelow: 20, OfflineFor: time.Hour}, []string{"hub-s2"}},
	} {
		tc.q.Now = base
		got, err := st.FleetHubs(ctx, tc.q)
		if err != nil || !slices.Equal(fleetIDs(got), tc.want) {
			t.Errorf("%s: FleetHubs = %v, %v; want %v", tc.name, fleetIDs(got), err, tc.want)
		}
	}
	_, err = st.FleetHubs(ctx, console.FleetQuery{Region: "1'1"})
	wantErr(t, "FleetHubs(bad region)", err, devices.ErrInvalid)

	groups, err := st.FleetGroups(ctx, console.FleetQuery{Now: base.AddDate(0, 0, 30)})
	if err != nil {
		t.Fatal(err)
	}
	want := []console.FleetGroup{
		{District: "", Model: "DG-100", Firmware: "1.0", Hubs: 1},
		{District: "11110", Model: "DG-100", Firmware: "1.0", Hubs: 1, LowBattery: 1},
		{District: "11110", Model: "DG-100", Firmware: "1.2", Hubs: 1, Online: 1},
		{District: "26350", Model: "DG-200", Firmware: "2.0", Hubs: 1, Online: 1, PastEndOfLife: 1},
	}
	if !slices.Equal(groups, want) {
		t.Errorf("FleetGroups =\n %+v\nwant\n %+v", groups, want)
	}
	groups, err = st.FleetGroups(ctx, console.FleetQuery{Now: base, Scope: []string{"26"}})
	if err != nil || len(groups) != 1 || groups[0].District != "26350" {
		t.Errorf("FleetGroups(busan) = %+v, %v", groups, err)
	}
}
