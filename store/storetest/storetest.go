package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// Fresh returns the Config of a new, empty database (SQLite or Postgres).
type Fresh func(t *testing.T) store.Config

// suite is a list of named contract tests, each run as a subtest on a
// fresh store of the back end under test.
type suite []struct {
	name string
	fn   func(t *testing.T, fresh Fresh)
}

func (s suite) run(t *testing.T, fresh Fresh) {
	for _, tc := range s {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh) })
	}
}

// Run runs the contract suite against the back end that fresh configures.
func Run(t *testing.T, fresh Fresh) {
	tests := suite{
		{"Residents", testResidents},
		{"ResidentSearch", testResidentSearch},
		{"Hubs", testHubs},
		{"Sensors", testSensors},
		{"HubInventory", testInventory},
		{"EncryptionAtRest", testEncryption},
		{"EventDedup", testEventDedup},
		{"EventDedupInOneCommit", testEventDedupOneCommit},
		{"EventsConcurrent", testEventsConcurrent},
		{"JournalPositions", testJournalPositions},
		{"AcquireLoadsByHub", testAcquireLoads},
		{"FleetOf", testFleetOf},
		{"Fleet", testFleet},
		{"Poison", testPoison},
		{"HeldHubs", testHeldHubs},
		{"ReadingsAndRollups", testRollups},
		{"RetentionKeepsEvidence", testRetention},
		{"Health", testHealth},
		{"RefuseNewerSchema", testNewerSchema},
		{"DrainOnRunExit", testDrain},
		{"PushBackWhenFull", testPushBack},
		{"Dispatch", testDispatch},
		{"Cluster", testCluster},
		{"Fencing", testFencing},
	}
	tests.run(t, fresh)
}

func open(t *testing.T, cfg store.Config) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// start runs s.Run until the returned stop is called; stop waits for Run.
func start(t *testing.T, s *store.Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantErr(t *testing.T, what string, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, targets)
		return
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("%s: error %v is not %v", what, err, target)
		}
	}
}

func sampleResident() devices.Resident {
	return devices.Resident{
		Name: "김영희", BirthDate: "1941-03-02", Phone: "+821012345678", Language: "ko",
		Address:      devices.Address{Line1: "서울특별시 종로구 세종대로 209", Building: "101동", Floor: "3", Unit: "302", District: "종로구", Lat: 37.57, Lon: 126.97},
		MedicalNotes: "atrial fibrillation", Medications: []string{"warfarin"}, Allergies: []string{"penicillin"},
		Access:         devices.Access{KeyHolder: "neighbour 302", KeySafeCode: "4471", DoorCode: "*8812#", Notes: "dog"},
		Guardians:      []devices.Guardian{{Name: "김민수", Relation: "son", Phone: "+821098765432", Order: 1}},
		SocialWorkerID: "sw-7", Priority: true,
		Consent: devices.Consent{ShareMedicalWith119: true, NotifyGuardians: true},
	}
}

// testResidentSearch: phones however they are typed, addresses by any part,
// several words all required (docs/api.md, GET /residents ?q=).
func testResidentSearch(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	a := sampleResident()
	a.ID, a.Name, a.Phone = "res-a", "김영희", "+821033334444"
	a.Address = devices.Address{Line1: "서울특별시 노원구 동일로 1414", Building: "103동", Floor: "15", Unit: "1502호", District: "노원구"}
	b := sampleResident()
	b.ID, b.Name, b.Phone = "res-b", "Park Minho", "+821055556666"
	b.Address = devices.Address{Line1: "부산광역시 해운대구 해운대로 1", Building: "104동", Unit: "1502호"}
	for _, r := range []devices.Resident{a, b} {
		if _, err := s.Registry().CreateResident(ctx, r); err != nil {
			t.Fatalf("CreateResident(%s): %v", r.ID, err)
		}
	}
	for q, want := range map[string][]devices.ResidentID{
		"010-3333-4444":    {"res-a"},
		"01033334444":      {"res-a"},
		"+821033334444":    {"res-a"},
		"010 3333 4444":    {"res-a"},
		"+82 10-5555-6666": {"res-b"},
		"3333":             {"res-a"},
		"103동":             {"res-a"},
		"동일로":              {"res-a"},
		"해운대로":             {"res-b"},
		"1502호":            {"res-a", "res-b"},
		"104동 1502호":       {"res-b"},
		"103동 1502":        {"res-a"},
		"PARK":             {"res-b"},
		"res-b":            {"res-b"},
		"010-3333-4445":    nil,
		"105동":             nil,
		"50%":              nil,
	} {
		rs, err := s.Registry().ListResidents(ctx, console.ListQuery{Search: q})
		if err != nil {
			t.Fatalf("ListResidents(%q): %v", q, err)
		}
		var got []devices.ResidentID
		for _, r := range rs {
			got = append(got, r.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("search %q = %v, want %v", q, got, want)
		}
	}
}

func testResidents(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	r, err := s.Registry().CreateResident(ctx, sampleResident())
	if err != nil {
		t.Fatalf("CreateResident: %v", err)
	}
	if len(r.ID) < 5 || string(r.ID[:4]) != "res-" || r.CreatedAt.IsZero() || !r.UpdatedAt.Equal(r.CreatedAt) {
		t.Errorf("created resident id %q created %v updated %v", r.ID, r.CreatedAt, r.UpdatedAt)
	}
	if r.Guardians[0].Language != "ko" {
		t.Errorf("guardian language not defaulted: %q", r.Guardians[0].Language)
	}
	got, err := s.Registry().GetResident(ctx, r.ID)
	if err != nil {
		t.Fatalf("GetResident: %v", err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("GetResident:\n got %+v\nwant %+v", got, r)
	}

	other := sampleResident()
	other.ID, other.Name, other.SocialWorkerID, other.Phone = "res-b", "Park Minho", "sw-9", "+821055554444"
	if _, err := s.Registry().CreateResident(ctx, other); err != nil {
		t.Fatalf("CreateResident(res-b): %v", err)
	}
	_, err = s.Registry().CreateResident(ctx, other)
	wantErr(t, "duplicate resident", err, devices.ErrConflict)

	for _, bad := range []func(*devices.Resident){
		func(r *devices.Resident) { r.Name = " " },
		func(r *devices.Resident) { r.Language = "fr" },
		func(r *devices.Resident) { r.BirthDate = "2/3/1941" },
		func(r *devices.Resident) { r.Phone = "010-1234" },
		func(r *devices.Resident) { r.ID = "Res/1" },
		func(r *devices.Resident) { r.Guardians[0].Phone = "" },
	} {
		b := sampleResident()
		bad(&b)
		_, err := s.Registry().CreateResident(ctx, b)
		wantErr(t, fmt.Sprintf("invalid resident %+v", b.ID), err, devices.ErrInvalid)
	}

	_, err = s.Registry().GetResident(ctx, "res-none")
	wantErr(t, "GetResident(missing)", err, devices.ErrNotFound)

	list := func(q console.ListQuery) []devices.ResidentID {
		t.Helper()
		rs, err := s.Registry().ListResidents(ctx, q)
		if err != nil {
			t.Fatalf("ListResidents(%+v): %v", q, err)
		}
		var ids []devices.ResidentID
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	first, second := min(r.ID, "res-b"), max(r.ID, "res-b")
	for _, tc := range []struct {
		q    console.ListQuery
		want []devices.ResidentID
	}{
		{console.ListQuery{}, []devices.ResidentID{first, second}},
		{console.ListQuery{Limit: 1}, []devices.ResidentID{first}},
		{console.ListQuery{After: string(first)}, []devices.ResidentID{second}},
		{console.ListQuery{Search: "park"}, []devices.ResidentID{"res-b"}},
		{console.ListQuery{Search: "%"}, nil},
		{console.ListQuery{Search: "+821055554444"}, []devices.ResidentID{"res-b"}},
		{console.ListQuery{SocialWorkerID: "sw-7"}, []devices.ResidentID{r.ID}},
	} {
		if got := list(tc.q); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ListResidents(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}

	upd := r
	upd.Name, upd.Access.DoorCode, upd.Medications = "김영희 (updated)", "0000", nil
	upd.CreatedAt = time.Time{} // ignored: kept from creation
	got, err = s.Registry().UpdateResident(ctx, upd)
	if err != nil {
		t.Fatalf("UpdateResident: %v", err)
	}
	if got.Name != upd.Name || got.Access.DoorCode != "0000" || got.Medications != nil || !got.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("after update: %+v", got)
	}
	missing := sampleResident()
	missing.ID = "res-none"
	_, err = s.Registry().UpdateResident(ctx, missing)
	wantErr(t, "UpdateResident(missing)", err, devices.ErrNotFound)

	if err := s.Registry().SetResidentDisabled(ctx, "res-b", true); err != nil {
		t.Fatalf("SetResidentDisabled: %v", err)
	}
	if got := list(console.ListQuery{}); !reflect.DeepEqual(got, []devices.ResidentID{r.ID}) {
		t.Errorf("list without disabled = %v", got)
	}
	if got := list(console.ListQuery{IncludeDisabled: true}); len(got) != 2 {
		t.Errorf("list with disabled = %v", got)
	}
	wantErr(t, "SetResidentDisabled(missing)", s.Registry().SetResidentDisabled(ctx, "res-none", true), devices.ErrNotFound)
}

func testHubs(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	r, err := s.Registry().CreateResident(ctx, sampleResident())
	if err != nil {
		t.Fatal(err)
	}
	installed := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	h, err := s.Registry().CreateHub(ctx, devices.Hub{ResidentID: r.ID, InstalledAt: installed, Firmware: "1.2.0", SecretHash: "$argon2id$x"})
	if err != nil {
		t.Fatalf("CreateHub: %v", err)
	}
	if err := devices.ValidateHubID(string(h.ID)); err != nil || string(h.ID[:4]) != "hub-" {
		t.Errorf("generated hub id %q: %v", h.ID, err)
	}
	if want := installed.AddDate(5, 0, 0); !h.EndOfLife.Equal(want) {
		t.Errorf("EndOfLife = %v, want %v", h.EndOfLife, want)
	}
	got, err := s.Registry().GetHub(ctx, h.ID)
	if err != nil || !reflect.DeepEqual(got, h) {
		t.Errorf("GetHub = %+v, %v; want %+v", got, err, h)
	}
	_, err = s.Registry().CreateHub(ctx, devices.Hub{ID: h.ID})
	wantErr(t, "duplicate hub", err, devices.ErrConflict)
	_, err = s.Registry().CreateHub(ctx, devices.Hub{ID: "hub-x", ResidentID: "res-none"})
	wantErr(t, "hub of a missing resident", err, devices.ErrInvalid, devices.ErrNotFound)
	_, err = s.Registry().CreateHub(ctx, devices.Hub{ID: "Hub/1"})
	wantErr(t, "bad hub id", err, devices.ErrInvalid)
	stock, err := s.Registry().CreateHub(ctx, devices.Hub{ID: "hub-stock"})
	if err != nil {
		t.Fatalf("CreateHub(stock): %v", err)
	}

	hubs, err := s.Registry().ListHubs(ctx, console.ListQuery{ResidentID: r.ID})
	if err != nil || len(hubs) != 1 || hubs[0].ID != h.ID {
		t.Errorf("ListHubs(resident) = %v, %v", hubs, err)
	}
	hubs, err = s.Registry().ListHubs(ctx, console.ListQuery{})
	if err != nil || len(hubs) != 2 {
		t.Errorf("ListHubs() = %v, %v", hubs, err)
	}

	stock.ResidentID, stock.Firmware = r.ID, "2.0.0"
	upd, err := s.Registry().UpdateHub(ctx, stock)
	if err != nil || upd.ResidentID != r.ID || upd.Firmware != "2.0.0" {
		t.Errorf("UpdateHub = %+v, %v", upd, err)
	}
	_, err = s.Registry().UpdateHub(ctx, devices.Hub{ID: "hub-none"})
	wantErr(t, "UpdateHub(missing)", err, devices.ErrNotFound)

	hash := devices.HashHubSecret("s3cret")
	if err := s.Registry().SetHubSecretHash(ctx, h.ID, hash); err != nil {
		t.Fatal(err)
	}
	if err := s.Registry().SetHubDisabled(ctx, h.ID, true); err != nil {
		t.Fatal(err)
	}
	cred, err := s.Registry().HubCredential(ctx, h.ID)
	if err != nil || cred.SecretHash != hash || !cred.Disabled || cred.Hub != h.ID {
		t.Errorf("HubCredential = %+v, %v", cred, err)
	}
	_, err = s.Registry().HubCredential(ctx, "hub-none")
	wantErr(t, "HubCredential(missing)", err, devices.ErrNotFound)
	// A connect wave: concurrent lookups share queries, each gets its own
	// answer.
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				if c, err := s.Registry().HubCredential(ctx, h.ID); err != nil || c.Hub != h.ID || c.SecretHash != hash || !c.Disabled {
					t.Errorf("concurrent HubCredential(%s) = %+v, %v", h.ID, c, err)
				}
			case 1:
				if c, err := s.Registry().HubCredential(ctx, stock.ID); err != nil || c.Hub != stock.ID || c.Disabled {
					t.Errorf("concurrent HubCredential(%s) = %+v, %v", stock.ID, c, err)
				}
			default:
				_, err := s.Registry().HubCredential(ctx, devices.HubID(fmt.Sprintf("hub-none-%d", i)))
				wantErr(t, "concurrent HubCredential(missing)", err, devices.ErrNotFound)
			}
		})
	}
	wg.Wait()
	wantErr(t, "SetHubDisabled(missing)", s.Registry().SetHubDisabled(ctx, "hub-none", true), devices.ErrNotFound)
	if hubs, _ := s.Registry().ListHubs(ctx, console.ListQuery{}); len(hubs) != 1 {
		t.Errorf("disabled hub listed: %v", hubs)
	}
}

func testSensors(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: "hub-1"}); err != nil {
		t.Fatal(err)
	}
	sn := devices.Sensor{Hub: "hub-1", ID: "kitchen-smoke", Kind: devices.SensorSmoke, Location: devices.LocKitchen, ReportSeconds: 3600,
		InstalledAt: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := s.Registry().CreateSensor(ctx, sn); err != nil {
		t.Fatalf("CreateSensor: %v", err)
	}
	got, err := s.Registry().GetSensor(ctx, "hub-1", "kitchen-smoke")
	if err != nil || !reflect.DeepEqual(got, sn) {
		t.Errorf("GetSensor = %+v, %v; want %+v", got, err, sn)
	}
	for _, tc := range []struct {
		name string
		sn   devices.Sensor
		errs []error
	}{
		{"duplicate", sn, []error{devices.ErrConflict}},
		{"unknown kind", devices.Sensor{Hub: "hub-1", ID: "x", Kind: "laser", Location: devices.LocKitchen}, []error{devices.ErrInvalid}},
		{"unknown location", devices.Sensor{Hub: "hub-1", ID: "x", Kind: devices.SensorDoor, Location: "garage"}, []error{devices.ErrInvalid}},
		{"bad id", devices.Sensor{Hub: "hub-1", ID: "a b", Kind: devices.SensorDoor, Location: devices.LocEntrance}, []error{devices.ErrInvalid}},
		{"missing hub", devices.Sensor{Hub: "hub-none", ID: "x", Kind: devices.SensorDoor, Location: devices.LocEntrance}, []error{devices.ErrInvalid, devices.ErrNotFound}},
	} {
		_, err := s.Registry().CreateSensor(ctx, tc.sn)
		wantErr(t, tc.name, err, tc.errs...)
	}
	door := devices.Sensor{Hub: "hub-1", ID: "door", Kind: devices.SensorDoor, Location: devices.LocEntrance, ReportSeconds: 600}
	if _, err := s.Registry().CreateSensor(ctx, door); err != nil {
		t.Fatal(err)
	}
	door.Location, door.ReportSeconds = devices.LocHallway, 900
	if got, err := s.Registry().UpdateSensor(ctx, door); err != nil || got.Location != devices.LocHallway || got.ReportSeconds != 900 {
		t.Errorf("UpdateSensor = %+v, %v", got, err)
	}
	if err := s.Registry().SetSensorDisabled(ctx, "hub-1", "door", true); err != nil {
		t.Fatal(err)
	}
	list, err := s.Registry().ListSensors(ctx, "hub-1")
	if err != nil || len(list) != 2 || list[0].ID != "door" || !list[0].Disabled {
		t.Errorf("ListSensors = %+v, %v", list, err)
	}
	_, err = s.Registry().GetSensor(ctx, "hub-1", "none")
	wantErr(t, "GetSensor(missing)", err, devices.ErrNotFound)
	wantErr(t, "SetSensorDisabled(missing)", s.Registry().SetSensorDisabled(ctx, "hub-1", "none", true), devices.ErrNotFound)
}

func testInventory(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	for i := range 5 {
		hub := devices.HubID(fmt.Sprintf("hub-%d", i))
		if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: hub, Disabled: i == 2}); err != nil {
			t.Fatal(err)
		}
		for j := range i {
			if _, err := s.Registry().CreateSensor(ctx, devices.Sensor{Hub: hub, ID: devices.SensorID(fmt.Sprintf("s%d", j)),
				Kind: devices.SensorMotion, Location: devices.LocBedroom, ReportSeconds: 60 * (j + 1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var seen []string
	err := s.Registry().FleetSnapshot(ctx, func(h devices.Hub, sensors []devices.Sensor) error {
		seen = append(seen, fmt.Sprintf("%s:%d:%v", h.ID, len(sensors), h.Disabled))
		if h.EndOfLife.IsZero() {
			t.Errorf("%s: no end of life", h.ID)
		}
		for j, sn := range sensors {
			if sn.Hub != h.ID || sn.ReportSeconds != 60*(j+1) {
				t.Errorf("%s: sensor %+v", h.ID, sn)
			}
		}
		return nil
	})
	want := []string{"hub-0:0:false", "hub-1:1:false", "hub-2:2:true", "hub-3:3:false", "hub-4:4:false"}
	if err != nil || !reflect.DeepEqual(seen, want) {
		t.Errorf("FleetSnapshot saw %v, %v; want %v", seen, err, want)
	}
}

func testEncryption(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	s := open(t, cfg)
	ctx := ctxT(t)
	r := sampleResident()
	r.Access.DoorCode, r.Access.KeySafeCode = "DOOR-739164", "SAFE-553201"
	r, err := s.Registry().CreateResident(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	if err := openRaw(t, cfg).queryRow(`SELECT access_sealed FROM residents WHERE id = $1`, []any{string(r.ID)}, &sealed); err != nil {
		t.Fatalf("raw read: %v", err)
	}
	if len(sealed) == 0 || bytes.Contains(sealed, []byte("DOOR-739164")) || bytes.Contains(sealed, []byte("SAFE-553201")) {
		t.Errorf("access codes stored in the clear: %q", sealed)
	}
	s.Close()

	wrongKey := cfg
	wrongKey.SecretKey = bytes.Repeat([]byte{7}, 32)
	s2 := open(t, wrongKey)
	if _, err := s2.Registry().GetResident(ctx, r.ID); err == nil {
		t.Error("resident read with the wrong key")
	}
	s2.Close()
	s3 := open(t, cfg)
	if got, err := s3.Registry().GetResident(ctx, r.ID); err != nil || got.Access.DoorCode != "DOOR-739164" {
		t.Errorf("GetResident after reopen = %+v, %v", got.Access, err)
	}
}

var base = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func event(hub devices.HubID, id string, at time.Time) *devices.Event {
	return &devices.Event{Hub: hub, ID: devices.EventID(id), Kind: devices.EventSOS, Sensor: "pendant", At: at, Received: at.Add(150 * time.Millisecond)}
}

func testEventDedup(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	start(t, s)
	ctx := ctxT(t)
	e := event("hub-1", "e-1", base)
	e.Value, e.HasValue, e.Detail = 2.5, true, []byte(`{"peak_g":2.5}`)
	for i, want := range []bool{true, false} {
		fresh, err := s.Journal().AppendEvent(ctx, e)
		if err != nil || fresh != want {
			t.Fatalf("append #%d: fresh %v, %v; want %v", i+1, fresh, err, want)
		}
	}
	if fresh, err := s.Journal().AppendEvent(ctx, event("hub-2", "e-1", base)); err != nil || !fresh {
		t.Errorf("same id from another hub: fresh %v, %v", fresh, err)
	}
	evs, err := s.Journal().ListEvents(ctx, store.EventQuery{Hub: "hub-1"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("ListEvents = %v, %v", evs, err)
	}
	got := evs[0]
	if got.ID != e.ID || got.Kind != e.Kind || got.Sensor != e.Sensor || !got.At.Equal(e.At) || !got.Received.Equal(e.Received) ||
		got.Value != 2.5 || !got.HasValue || string(got.Detail) != `{"peak_g":2.5}` && string(got.Detail) != `{"peak_g": 2.5}` {
		t.Errorf("stored event %+v, want %+v", got, e)
	}
	if evs, _ := s.Journal().ListEvents(ctx, store.EventQuery{Since: base.Add(time.Hour)}); len(evs) != 0 {
		t.Errorf("ListEvents(since later) = %v", evs)
	}
	_, err = s.Journal().AppendEvent(ctx, &devices.Event{Hub: "hub-1"})
	wantErr(t, "event without id", err, devices.ErrInvalid)
}

// testEventDedupOneCommit queues copies of one event before the writer
// starts, so that they land in one group commit.
func testEventDedupOneCommit(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	const copies = 20
	var freshCount atomic.Int32
	var wg sync.WaitGroup
	for range copies {
		wg.Go(func() {
			fresh, err := s.Journal().AppendEvent(ctx, event("hub-1", "dup", base))
			if err != nil {
				t.Errorf("AppendEvent: %v", err)
			}
			if fresh {
				freshCount.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let the copies queue up before the writer runs
	start(t, s)
	wg.Wait()
	if n := freshCount.Load(); n != 1 {
		t.Errorf("%d copies reported fresh, want 1", n)
	}
	if evs, _ := s.Journal().ListEvents(ctx, store.EventQuery{}); len(evs) != 1 {
		t.Errorf("%d events stored, want 1", len(evs))
	}
}

func testEventsConcurrent(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	start(t, s)
	ctx := ctxT(t)
	const goroutines, each = 200, 5
	var freshCount atomic.Int32
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			hub := devices.HubID(fmt.Sprintf("hub-%03d", g))
			for i := range each {
				e := event(hub, fmt.Sprintf("e-%d", i), base.Add(time.Duration(i)*time.Second))
				for range 2 { // every event is redelivered once
					fresh, err := s.Journal().AppendEvent(ctx, e)
					if err != nil {
						t.Errorf("AppendEvent: %v", err)
						return
					}
					if fresh {
						freshCount.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := freshCount.Load(); n != goroutines*each {
		t.Errorf("%d fresh, want %d", n, goroutines*each)
	}
	evs, err := s.Journal().ListEvents(ctx, store.EventQuery{Limit: 10000})
	if err != nil || len(evs) != goroutines*each {
		t.Errorf("%d events stored (%v), want %d", len(evs), err, goroutines*each)
	}
}

func reading(sensor devices.SensorID, m devices.Metric, at time.Time, v float64) devices.Reading {
	return devices.Reading{Sensor: sensor, Metric: m, At: at, Value: v, Quality: -1}
}

func testRollups(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	start(t, s)
	ctx := ctxT(t)
	// Minute 0: 20, 22, 24 (split over two flushes); minute 1: 30; minute
	// 61 (next hour): 10. Another sensor must not mix in.
	batches := []*devices.ReadingBatch{
		{Hub: "hub-1", Readings: []devices.Reading{
			reading("k", devices.MetricTemperature, base.Add(5*time.Second), 20),
			reading("k", devices.MetricTemperature, base.Add(25*time.Second), 22),
			reading("b", devices.MetricTemperature, base.Add(25*time.Second), 99),
		}},
		{Hub: "hub-1", Readings: []devices.Reading{
			reading("k", devices.MetricTemperature, base.Add(59*time.Second), 24),
			reading("k", devices.MetricTemperature, base.Add(60*time.Second), 30),
			reading("k", devices.MetricTemperature, base.Add(61*time.Minute), 10),
		}},
	}
	for _, b := range batches {
		if err := s.Journal().AppendReadings(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := s.Journal().Readings(ctx, "hub-1", "k", devices.MetricTemperature, base, base.Add(2*time.Hour))
	if err != nil || len(rs) != 5 || rs[0].Value != 20 || rs[4].Value != 10 || !rs[1].At.Equal(base.Add(25*time.Second)) || rs[0].Quality != -1 {
		t.Errorf("Readings = %+v, %v", rs, err)
	}
	WantRollups(t, s, time.Minute, base, base.Add(2*time.Hour), []store.Rollup{
		{Bucket: base, Count: 3, Sum: 66, Min: 20, Max: 24, Avg: 22},
		{Bucket: base.Add(time.Minute), Count: 1, Sum: 30, Min: 30, Max: 30, Avg: 30},
		{Bucket: base.Add(61 * time.Minute), Count: 1, Sum: 10, Min: 10, Max: 10, Avg: 10},
	})
	WantRollups(t, s, time.Hour, base, base.Add(2*time.Hour), []store.Rollup{
		{Bucket: base, Count: 4, Sum: 96, Min: 20, Max: 30, Avg: 24},
		{Bucket: base.Add(time.Hour), Count: 1, Sum: 10, Min: 10, Max: 10, Avg: 10},
	})
	_, err = s.Journal().Rollups(ctx, "hub-1", "k", devices.MetricTemperature, time.Second, base, base.Add(time.Hour))
	wantErr(t, "rollups at 1s", err, devices.ErrInvalid)
}

// WantRollups fails t unless the journal's rollups at step of hub-1's
// sensor k (temperature) over [from, to) are want.
func WantRollups(t *testing.T, s *store.Store, step time.Duration, from, to time.Time, want []store.Rollup) {
	t.Helper()
	got, err := s.Journal().Rollups(ctxT(t), "hub-1", "k", devices.MetricTemperature, step, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if !RollupsEqual(got, want) {
		t.Errorf("rollups at %v\n got %+v\nwant %+v", step, got, want)
	}
}

// RollupsEqual reports whether two rollup series are equal, sums and
// averages to within 1e-9.
func RollupsEqual(a, b []store.Rollup) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Bucket.Equal(y.Bucket) || x.Count != y.Count || math.Abs(x.Sum-y.Sum) > 1e-9 || x.Min != y.Min || x.Max != y.Max || math.Abs(x.Avg-y.Avg) > 1e-9 {
			return false
		}
	}
	return true
}

func testRetention(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	start(t, s)
	ctx := ctxT(t)
	now := base
	old := now.Add(-100 * time.Hour) // past the 72 h raw retention
	incident := old.Add(10 * time.Minute)
	// One reading a minute from old, one batch a minute as hubs send them
	// (retention deletes whole batches), and a recent one kept anyway.
	var batches [][]devices.Reading
	for m := range 20 {
		batches = append(batches, []devices.Reading{reading("radar", devices.MetricHeartRate, old.Add(time.Duration(m)*time.Minute), float64(60+m))})
	}
	batches = append(batches, []devices.Reading{reading("radar", devices.MetricHeartRate, now.Add(-time.Hour), 70)})
	for _, hub := range []devices.HubID{"hub-a", "hub-b"} {
		for _, rs := range batches {
			if err := s.Journal().AppendReadings(ctx, &devices.ReadingBatch{Hub: hub, Readings: rs}); err != nil {
				t.Fatal(err)
			}
		}
		for _, at := range []time.Time{incident, old} {
			chunk := &devices.AccelChunk{Hub: hub, Sensor: "wearable", At: at, Received: at, RateHz: 50,
				X: []float32{0.1, 2.5}, Y: []float32{-1, 0}, Z: []float32{0.98, 3.25}}
			if err := s.Journal().AppendAccel(ctx, chunk); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A reading older than 90 days goes with its minute summary (computed
	// from the raw readings); its hourly rollup stays.
	ancient := now.Add(-100 * 24 * time.Hour)
	if err := s.Journal().AppendReadings(ctx, &devices.ReadingBatch{Hub: "hub-a", Readings: []devices.Reading{reading("k", devices.MetricTemperature, ancient, 21)}}); err != nil {
		t.Fatal(err)
	}
	// Keep hub-a's 5 minutes around the incident, before the flush: the
	// readings may still be queued when an incident is opened.
	if err := s.Incidents().KeepEvidence(ctx, "inc-1", "hub-a", incident.Add(-2*time.Minute), incident.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "evidence of another hub", s.Incidents().KeepEvidence(ctx, "inc-1", "hub-b", incident, incident), devices.ErrConflict)
	wantErr(t, "evidence of another hub, in dispatch's words", s.Incidents().KeepEvidence(ctx, "inc-1", "hub-b", incident, incident), dispatch.ErrEvidenceOfAnotherHub)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.RunRetention(ctx, now)
	if err != nil {
		t.Fatalf("RunRetention: %v", err)
	}
	want := store.RetentionResult{Readings: 20 + 15 + 1, Accel: 3}
	if res != want {
		t.Errorf("RunRetention deleted %+v, want %+v", res, want)
	}
	count := func(hub devices.HubID) int {
		rs, err := s.Journal().Readings(ctx, hub, "radar", devices.MetricHeartRate, old.Add(-time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if a, b := count("hub-a"), count("hub-b"); a != 5+1 || b != 1 {
		t.Errorf("after retention hub-a has %d readings (want 6), hub-b %d (want 1)", a, b)
	}
	ev, err := s.Incidents().Evidence(ctx, "inc-1")
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if ev.Hub != "hub-a" || len(ev.Readings) != 5 || ev.Readings[0].Value != 68 || len(ev.Accel) != 1 {
		t.Fatalf("Evidence = %+v", ev)
	}
	c := ev.Accel[0]
	if !c.At.Equal(incident) || c.RateHz != 50 || !reflect.DeepEqual(c.X, []float32{0.1, 2.5}) ||
		!reflect.DeepEqual(c.Y, []float32{-1, 0}) || !reflect.DeepEqual(c.Z, []float32{0.98, 3.25}) {
		t.Errorf("evidence chunk %+v", c)
	}
	if hours, _ := s.Journal().Rollups(ctx, "hub-a", "k", devices.MetricTemperature, time.Hour, ancient.Add(-time.Hour), now); len(hours) != 1 {
		t.Errorf("hourly rollup of 100 days ago: %v, want kept", hours)
	}
	if minutes, _ := s.Journal().Rollups(ctx, "hub-a", "k", devices.MetricTemperature, time.Minute, ancient.Add(-time.Hour), now); len(minutes) != 0 {
		t.Errorf("minute rollup of 100 days ago: %v, want gone", minutes)
	}
	_, err = s.Incidents().Evidence(ctx, "inc-none")
	wantErr(t, "Evidence(missing)", err, devices.ErrNotFound)
}

func testHealth(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	hs := []devices.HubHealthRecord{
		{HubHealth: devices.HubHealth{Hub: "hub-1", Online: true, LastSeen: base, LastConnect: base.Add(-time.Hour), HeartbeatInterval: 5 * time.Minute,
			PowerKnown: true, OnMains: false, Battery: 41.5, ClockSkew: -1500 * time.Millisecond, ClockSkewMillis: -1500, Firmware: "1.2",
			Faults:  []devices.Fault{devices.FaultPowerLost},
			Sensors: []devices.SensorHealth{{Sensor: "door", LastSeen: base, Battery: 12, Faults: []devices.Fault{devices.FaultBatteryLow}}}},
			Episodes: []devices.FaultEpisode{{Fault: devices.FaultPowerLost, Since: base.Add(-time.Minute)},
				{Fault: devices.FaultBatteryLow, Sensor: "door", Since: base.Add(-2 * time.Hour)}}},
		{HubHealth: devices.HubHealth{Hub: "hub-2", Battery: -1, LastDisconnect: base, Faults: []devices.Fault{devices.FaultOffline}},
			Episodes: []devices.FaultEpisode{{Fault: devices.FaultOffline, Since: base}}},
	}
	if err := s.State().SaveHubHealth(ctx, hs); err != nil {
		t.Fatal(err)
	}
	got, err := s.State().LoadHubHealth(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("LoadHubHealth = %v, %v", got, err)
	}
	for i := range hs {
		if !healthEqual(got[i], hs[i]) {
			t.Errorf("health round trip\n got %+v\nwant %+v", got[i], hs[i])
		}
	}
	hs[1].Online, hs[1].Faults = true, nil
	if err := s.State().SaveHubHealth(ctx, hs[1:]); err != nil {
		t.Fatal(err)
	}
	h2, err := s.State().GetHubHealth(ctx, "hub-2")
	if err != nil || !h2.Online || len(h2.Faults) != 0 {
		t.Errorf("GetHubHealth after upsert = %+v, %v", h2, err)
	}
	_, err = s.State().GetHubHealth(ctx, "hub-none")
	wantErr(t, "GetHubHealth(missing)", err, devices.ErrNotFound)
}

func healthEqual(a, b devices.HubHealthRecord) bool {
	if len(a.Episodes) != len(b.Episodes) {
		return false
	}
	for i := range a.Episodes {
		if !a.Episodes[i].Since.Equal(b.Episodes[i].Since) {
			return false
		}
		a.Episodes[i].Since = b.Episodes[i].Since
	}
	times := [][2]time.Time{{a.LastSeen, b.LastSeen}, {a.LastConnect, b.LastConnect}, {a.LastDisconnect, b.LastDisconnect}}
	for _, p := range times {
		if !p[0].Equal(p[1]) {
			return false
		}
	}
	a.LastSeen, a.LastConnect, a.LastDisconnect = b.LastSeen, b.LastConnect, b.LastDisconnect
	for i := range a.Sensors {
		if i < len(b.Sensors) && a.Sensors[i].LastSeen.Equal(b.Sensors[i].LastSeen) {
			a.Sensors[i].LastSeen = b.Sensors[i].LastSeen
		}
	}
	return reflect.DeepEqual(a, b)
}

func testNewerSchema(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	s := open(t, cfg)
	s.Close()
	raw := openRaw(t, cfg)
	if err := raw.exec(`INSERT INTO schema_version (version, applied_us) VALUES ($1, 0)`, store.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(context.Background(), cfg)
	wantErr(t, "Open on a newer schema", err, store.ErrSchemaTooNew)
}

func testDrain(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	cfg.FlushInterval = time.Hour // nothing is written before the drain
	s := open(t, cfg)
	stop := start(t, s)
	ctx := ctxT(t)
	const producers, batches, perBatch = 20, 25, 10
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			hub := devices.HubID(fmt.Sprintf("hub-%02d", p))
			for b := range batches {
				rb := &devices.ReadingBatch{Hub: hub}
				for i := range perBatch {
					rb.Readings = append(rb.Readings, reading("m", devices.MetricMotion, base.Add(time.Duration(b*perBatch+i)*time.Second), 1))
				}
				if err := s.Journal().AppendReadings(ctx, rb); err != nil {
					t.Errorf("AppendReadings: %v", err)
				}
			}
		})
	}
	wg.Wait()
	stop()
	if err := s.Journal().AppendReadings(ctx, &devices.ReadingBatch{Hub: "hub-late"}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("AppendReadings after Run returned: %v, want ErrClosed", err)
	}
	if _, err := s.Journal().AppendEvent(ctx, event("hub-late", "e", base)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("AppendEvent after Run returned: %v, want ErrClosed", err)
	}
	s.Close()
	s2 := open(t, cfg)
	total := 0
	for p := range producers {
		rs, err := s2.Journal().Readings(ctx, devices.HubID(fmt.Sprintf("hub-%02d", p)), "m", devices.MetricMotion, base, base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		total += len(rs)
	}
	if want := producers * batches * perBatch; total != want {
		t.Errorf("%d readings stored after the drain, want %d", total, want)
	}
}

func testPushBack(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	cfg.SampleQueue = 2
	s := open(t, cfg) // Run not started: nothing leaves the queue
	b := &devices.ReadingBatch{Hub: "hub-1", Readings: []devices.Reading{reading("m", devices.MetricMotion, base, 1)}}
	for i := range 2 {
		if err := s.Journal().AppendReadings(context.Background(), b); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Journal().AppendReadings(ctx, b); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("append to a full queue: %v, want it to block until the deadline", err)
	}
	start(t, s)
	if err := s.Journal().AppendReadings(ctxT(t), b); err != nil {
		t.Errorf("append once the writer runs: %v", err)
	}
}
