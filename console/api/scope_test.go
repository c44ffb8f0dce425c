package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/workorder"
	"github.com/dolbom/dolbom/store"
)

// storeRegistry is the store's registry with its accounts, as the
// gateway wires it.
type storeRegistry struct {
	store.Registry
	accounts store.Accounts
}

// The store answers with the record written; the API's port takes a
// pointer to fill in, or only an error.
func fill[T any](p *T) func(T, error) error {
	return func(out T, err error) error {
		if err == nil {
			*p = out
		}
		return err
	}
}

func (r storeRegistry) CreateResident(ctx context.Context, res *devices.Resident) error {
	return fill(res)(r.Registry.CreateResident(ctx, *res))
}

func (r storeRegistry) UpdateResident(ctx context.Context, res devices.Resident) error {
	return fill(&res)(r.Registry.UpdateResident(ctx, res))
}

func (r storeRegistry) CreateHub(ctx context.Context, h *devices.Hub) error {
	return fill(h)(r.Registry.CreateHub(ctx, *h))
}

func (r storeRegistry) UpdateHub(ctx context.Context, h devices.Hub) error {
	return fill(&h)(r.Registry.UpdateHub(ctx, h))
}

func (r storeRegistry) CreateSensor(ctx context.Context, s *devices.Sensor) error {
	return fill(s)(r.Registry.CreateSensor(ctx, *s))
}

func (r storeRegistry) UpdateSensor(ctx context.Context, s devices.Sensor) error {
	return fill(&s)(r.Registry.UpdateSensor(ctx, s))
}

func (r storeRegistry) GetAccount(ctx context.Context, id string) (console.Account, error) {
	return r.accounts.GetAccount(ctx, id)
}

// regionEnv is both APIs on one server, over a real SQLite store and a
// real dispatcher, with a Seoul and a Busan resident, hub, sensor,
// regional admin and incident.
type regionEnv struct {
	*incidentEnv
	tokens   map[string]string // account id -> its bearer token
	incident map[string]string // "seoul", "busan" -> incident id
	order    map[string]string // "seoul", "busan" -> work order id
}

func newRegionEnv(t *testing.T) *regionEnv {
	t.Helper()
	e := &regionEnv{incidentEnv: newIncidentEnv(t), tokens: map[string]string{}, incident: map[string]string{}, order: map[string]string{}}
	e.srv.Close() // replaced by a server of both APIs
	s := e.s
	mux := http.NewServeMux()
	incidents := api.NewIncidentAPI(api.IncidentAPIConfig{Token: testToken, Heartbeat: 50 * time.Millisecond,
		Tokens: s.Accounts(), Residents: s.Registry(), IncidentRegions: s.Routes()}, e.d, zerolog.Nop())
	mux.Handle("/api/v1/incidents", incidents)
	mux.Handle("/api/v1/incidents/", incidents)
	mux.Handle("/api/v1/policies/", incidents)
	routes := consoletest.NewRoutes("https://119.example/cap")
	admin := api.NewAdminAPI(api.AdminConfig{Token: testToken, Events: s.Journal(), Routes: routes, Accounts: s.Accounts(),
		Tokens: s.Accounts(), IncidentRegions: s.Routes(), WorkOrders: s.WorkOrders(), Fleet: api.NewFleet(s.State(), nil, nil)}, storeRegistry{s.Registry(), s.Accounts()}, consoletest.Health{}, &consoletest.Hubs{}, zerolog.Nop())
	mux.Handle(api.APIPrefix, admin)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.routes = append(api.Patterns(admin), api.Patterns(incidents)...)

	ctx := t.Context()
	for _, a := range []console.Account{
		{ID: "seoul-admin", Role: console.RoleAdmin, Regions: []string{"11"}},
		{ID: "busan-admin", Role: console.RoleAdmin, Regions: []string{"26"}},
		{ID: "busan-disp", Role: console.RoleDispatcher, Regions: []string{"26"}},
	} {
		a.Name, a.PasswordHash = a.ID, "h"
		if err := s.Accounts().CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		e.tokens[a.ID] = e.newToken(t, a.ID)
	}
	for city, line1 := range map[string]string{"seoul": "서울특별시 종로구 세종대로 175", "busan": "부산광역시 해운대구 해운대해변로 264"} {
		e.mustCall(t, testToken, 201, "POST", "/api/v1/residents", `{"id": "`+city+`-r", "name": "`+city+`", "address": {"line1": "`+line1+`"},
			"access": {"door_code": "1234*"}}`)
		e.mustCall(t, testToken, 201, "POST", "/api/v1/hubs", `{"resident_id": "`+city+`-r", "id": "`+city+`-hub", "firmware": "1.0", "model": "DB-100"}`)
		e.mustCall(t, testToken, 201, "POST", "/api/v1/hubs/"+city+"-hub/sensors", `{"id": "`+city+`-s", "kind": "smoke", "location": "kitchen"}`)
		inc := e.open(t, devices.HubID(city+"-hub"), detectors.CauseSOS, detectors.PriorityCritical, testNow)
		e.incident[city] = inc.ID
		o, _, err := s.WorkOrders().OpenOrder(ctx, workorder.Order{Hub: devices.HubID(city + "-hub"), ResidentID: devices.ResidentID(city + "-r"),
			Fault: workorder.FaultBatteryLow, Region: map[string]string{"seoul": "11110", "busan": "26350"}[city], LastIncident: "x", OpenedAt: testNow})
		if err != nil {
			t.Fatal(err)
		}
		e.order[city] = o.ID
		if err := s.WorkOrders().PutTechnician(ctx, workorder.Technician{ID: city + "-tech", Name: city, Phone: "+821011112222",
			Region: map[string]string{"seoul": "11", "busan": "26"}[city]}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *regionEnv) newToken(t *testing.T, account string) string {
	t.Helper()
	var got struct{ Token string }
	if err := json.Unmarshal(e.mustCall(t, testToken, 201, "POST", "/api/v1/accounts/"+account+"/tokens", ""), &got); err != nil || got.Token == "" {
		t.Fatalf("token of %s: %q, %v", account, got.Token, err)
	}
	return got.Token
}

func (e *regionEnv) mustCall(t *testing.T, token string, want int, method, path, body string) []byte {
	t.Helper()
	code, b := e.call(t, token, method, path, body)
	if code != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

// seoulState is everything of Seoul's, as the national admin reads it: a
// Busan token's request must leave it as it was.
func (e *regionEnv) seoulState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/api/v1/residents/seoul-r?reveal=access", "/api/v1/hubs/seoul-hub", "/api/v1/hubs/seoul-hub/sensors",
		"/api/v1/residents?include_disabled=true", "/api/v1/accounts", "/api/v1/regions/routes", "/api/v1/policies/sos",
		"/api/v1/workorders/" + e.order["seoul"], "/api/v1/technicians"} {
		b.Write(e.mustCall(t, testToken, 200, "GET", p, ""))
	}
	inc, tl, err := e.d.Incident(context.Background(), e.incident["seoul"])
	if err != nil {
		t.Fatal(err)
	}
	inc.Seq = 0 // a Busan incident's change moves the feed's sequence; not Seoul's business
	j, _ := json.Marshal(inc)
	b.Write(j)
	b.WriteString(string(rune('0' + len(tl))))
	// Seoul's admin token still works (no Busan token revoked it).
	e.mustCall(t, e.tokens["seoul-admin"], 200, "GET", "/api/v1/residents/seoul-r", "")
	return b.String()
}

// TestBusanTokenCannotReachSeoul sends a Busan admin's and a Busan
// dispatcher's token to every route of both APIs (the routers' own list:
// a route added without a case here fails the test), aimed at Seoul's
// resident, hub, sensor, account and incident. Each is refused or answers
// without Seoul in it, and Seoul's records stay as they were.
func TestBusanTokenCannotReachSeoul(t *testing.T) {
	e := newRegionEnv(t)
	seoulInc := e.incident["seoul"]
	const notFound, forbidden, invalid = 404, 403, 400
	type tryCase struct {
		method, path, body string
		want               []int // refused with one of these; nil: answered 200 without Seoul's ids in it
	}
	// cases maps each route to what a Busan admin tries on it.
	cases := map[string][]tryCase{
		"GET /api/v1/status": nil, // the count of connected hubs: no region's record
		"POST /api/v1/residents": {{"POST", "/api/v1/residents", `{"id": "seoul-new", "name": "새", "address": {"line1": "서울특별시 종로구 세종대로 1"}}`, []int{invalid}},
			{"POST", "/api/v1/residents", `{"id": "nowhere-new", "name": "새"}`, []int{invalid}}},
		"GET /api/v1/residents":                           {{"GET", "/api/v1/residents?include_disabled=true", "", nil}, {"GET", "/api/v1/residents?q=seoul", "", nil}},
		"GET /api/v1/residents/{id}":                      {{"GET", "/api/v1/residents/seoul-r?reveal=access", "", []int{notFound}}},
		"PATCH /api/v1/residents/{id}":                    {{"PATCH", "/api/v1/residents/seoul-r", `{"name": "바뀜"}`, []int{notFound}}},
		"PUT /api/v1/residents/{id}":                      {{"PUT", "/api/v1/residents/seoul-r", `{"id": "seoul-r", "name": "바뀜"}`, []int{notFound}}},
		"POST /api/v1/residents/{id}/disable":             {{"POST", "/api/v1/residents/seoul-r/disable", "", []int{notFound}}},
		"POST /api/v1/residents/{id}/enable":              {{"POST", "/api/v1/residents/seoul-r/enable", "", []int{notFound}}},
		"POST /api/v1/import/residents":                   {{"POST", "/api/v1/import/residents?update=true", "id,name,address\nseoul-r,바뀜,서울특별시 종로구 세종대로 175\nseoul-new,새,서울특별시 종로구 세종대로 1\n", nil}},
		"POST /api/v1/hubs":                               {{"POST", "/api/v1/hubs", `{"resident_id": "seoul-r", "id": "seoul-hub2", "firmware": "1.0", "model": "DB-100"}`, []int{invalid, notFound}}},
		"GET /api/v1/hubs":                                {{"GET", "/api/v1/hubs?include_disabled=true", "", nil}, {"GET", "/api/v1/hubs?resident_id=seoul-r", "", nil}},
		"GET /api/v1/hubs/{id}":                           {{"GET", "/api/v1/hubs/seoul-hub", "", []int{notFound}}},
		"PATCH /api/v1/hubs/{id}":                         {{"PATCH", "/api/v1/hubs/seoul-hub", `{"firmware": "9.9"}`, []int{notFound}}, {"PATCH", "/api/v1/hubs/busan-hub", `{"resident_id": "seoul-r"}`, []int{invalid, notFound}}},
		"POST /api/v1/hubs/{id}/secret":                   {{"POST", "/api/v1/hubs/seoul-hub/secret", "", []int{notFound}}},
		"POST /api/v1/hubs/{id}/disable":                  {{"POST", "/api/v1/hubs/seoul-hub/disable", "", []int{notFound}}},
		"POST /api/v1/hubs/{id}/enable":                   {{"POST", "/api/v1/hubs/seoul-hub/enable", "", []int{notFound}}},
		"GET /api/v1/hubs/{id}/health":                    {{"GET", "/api/v1/hubs/seoul-hub/health", "", []int{notFound}}},
		"GET /api/v1/hubs/{id}/events":                    {{"GET", "/api/v1/hubs/seoul-hub/events", "", []int{notFound}}},
		"GET /api/v1/regions":                             nil, // the list of 시도 and 시군구: reference data
		"GET /api/v1/accounts":                            {{"GET", "/api/v1/accounts", "", nil}},
		"PUT /api/v1/accounts/{id}/regions":               {{"PUT", "/api/v1/accounts/seoul-admin/regions", `{"regions": ["26"]}`, []int{notFound}}, {"PUT", "/api/v1/accounts/busan-disp/regions", `{"regions": ["11"]}`, []int{invalid}}},
		"POST /api/v1/accounts/{id}/tokens":               {{"POST", "/api/v1/accounts/seoul-admin/tokens", "", []int{notFound}}},
		"DELETE /api/v1/accounts/{id}/tokens":             {{"DELETE", "/api/v1/accounts/seoul-admin/tokens", "", []int{notFound}}},
		"GET /api/v1/regions/routes":                      {{"GET", "/api/v1/regions/routes", "", nil}},
		"PUT /api/v1/regions/routes/{sido}":               {{"PUT", "/api/v1/regions/routes/11", `{"endpoints": ["https://evil.example/cap"]}`, []int{forbidden}}},
		"DELETE /api/v1/regions/routes/{sido}":            {{"DELETE", "/api/v1/regions/routes/11", "", []int{forbidden}}},
		"POST /api/v1/hubs/{id}/sensors":                  {{"POST", "/api/v1/hubs/seoul-hub/sensors", `{"id": "seoul-s2", "kind": "smoke", "location": "kitchen"}`, []int{notFound}}},
		"GET /api/v1/hubs/{id}/sensors":                   {{"GET", "/api/v1/hubs/seoul-hub/sensors", "", []int{notFound}}},
		"GET /api/v1/hubs/{id}/sensors/{sensor}":          {{"GET", "/api/v1/hubs/seoul-hub/sensors/seoul-s", "", []int{notFound}}},
		"PATCH /api/v1/hubs/{id}/sensors/{sensor}":        {{"PATCH", "/api/v1/hubs/seoul-hub/sensors/seoul-s", `{"location": "bath"}`, []int{notFound}}},
		"POST /api/v1/hubs/{id}/sensors/{sensor}/disable": {{"POST", "/api/v1/hubs/seoul-hub/sensors/seoul-s/disable", "", []int{notFound}}},
		"POST /api/v1/hubs/{id}/sensors/{sensor}/enable":  {{"POST", "/api/v1/hubs/seoul-hub/sensors/seoul-s/enable", "", []int{notFound}}},
		"GET /api/v1/incidents":                           {{"GET", "/api/v1/incidents", "", nil}, {"GET", "/api/v1/incidents?hub=seoul-hub", "", nil}},
		"GET /api/v1/incidents/stream":                    nil, // TestBusanStreamLeavesSeoulOut
		"GET /api/v1/incidents/{id}":                      {{"GET", "/api/v1/incidents/" + seoulInc, "", []int{notFound}}},
		"GET /api/v1/policies/{cause}":                    nil, // the policies are national, the same for every region
		"PUT /api/v1/policies/{cause}":                    {{"PUT", "/api/v1/policies/sos", `{"steps": []}`, []int{forbidden}}},
	}
	seoulOrder := e.order["seoul"]
	cases["GET /api/v1/workorders"] = []tryCase{{"GET", "/api/v1/workorders", "", nil}, {"GET", "/api/v1/workorders?resident_id=seoul-r", "", nil}}
	cases["GET /api/v1/workorders/{id}"] = []tryCase{{"GET", "/api/v1/workorders/" + seoulOrder, "", []int{notFound}}}
	cases["POST /api/v1/workorders/{id}/close"] = []tryCase{{"POST", "/api/v1/workorders/" + seoulOrder + "/close", `{"by": "busan", "replaced": "battery"}`, []int{notFound}}}
	cases["GET /api/v1/technicians"] = []tryCase{{"GET", "/api/v1/technicians", "", nil}}
	// Firmware and rollouts reach every region's hubs: national only.
	cases["POST /api/v1/firmware/{model}/{version}"] = []tryCase{{"POST", "/api/v1/firmware/DB-100/9.9", "image", []int{forbidden}}}
	cases["POST /api/v1/rollouts"] = []tryCase{{"POST", "/api/v1/rollouts", `{"model": "DB-100", "version": "9.9"}`, []int{forbidden}}}
	cases["GET /api/v1/rollouts/current"] = []tryCase{{"GET", "/api/v1/rollouts/current", "", []int{forbidden}}}
	cases["POST /api/v1/rollouts/current/halt"] = []tryCase{{"POST", "/api/v1/rollouts/current/halt", "", []int{forbidden}}}
	cases["POST /api/v1/rollouts/current/rollback"] = []tryCase{{"POST", "/api/v1/rollouts/current/rollback", "", []int{forbidden}}}
	// The fleet within the token's regions, whatever region is asked for.
	cases["GET /api/v1/fleet"] = []tryCase{{"GET", "/api/v1/fleet", "", nil}, {"GET", "/api/v1/fleet?region=11", "", nil}}
	cases["GET /api/v1/fleet/counts"] = []tryCase{{"GET", "/api/v1/fleet/counts", "", nil}, {"GET", "/api/v1/fleet/counts?region=11", "", nil}}
	cases["GET /api/v1/fleet.csv"] = []tryCase{{"GET", "/api/v1/fleet.csv", "", nil}, {"GET", "/api/v1/fleet.csv?region=11", "", nil}}
	cases["PUT /api/v1/technicians/{id}"] = []tryCase{{"PUT", "/api/v1/technicians/seoul-tech", `{"name": "x", "phone": "010-9999-8888", "region": "26"}`, []int{409}},
		{"PUT", "/api/v1/technicians/new-tech", `{"name": "x", "phone": "010-9999-8888", "region": "11"}`, []int{invalid}}}
	var actions []tryCase
	for _, a := range []string{"acknowledge", "assign", "note", "resolve", "cancel", "send119", "responder"} {
		actions = append(actions, tryCase{"POST", "/api/v1/incidents/" + seoulInc + "/" + a,
			`{"by": "busan", "assignee": "busan", "text": "x", "disposition": "false_alarm", "reason": "x", "responder": "guardian-1", "state": "on_scene"}`, []int{notFound}})
	}
	cases["POST /api/v1/incidents/{id}/{action}"] = actions

	for _, p := range e.routes {
		if _, ok := cases[p]; !ok {
			t.Errorf("route %q has no case here: say what a Busan token may do with it, and scope it (console/api/scope.go)", p)
		}
	}
	for p := range cases {
		if !slices.Contains(e.routes, p) {
			t.Errorf("case %q is no route any more", p)
		}
	}

	before := e.seoulState(t)
	seoulIDs := []string{"seoul-r", "seoul-hub", "seoul-s", "seoul-admin", "seoul-tech", seoulInc, seoulOrder, `"11"`, "서울"}
	for _, token := range []string{"busan-admin", "busan-disp"} {
		for _, p := range e.routes {
			for _, tc := range cases[p] {
				code, body := e.call(t, e.tokens[token], tc.method, tc.path, tc.body)
				switch {
				case token == "busan-disp" && !strings.Contains(p, "/incidents") && !strings.Contains(p, "/policies"):
					if code != forbidden {
						t.Errorf("%s: %s %s: %d, want 403 (a dispatcher has no admin API): %s", token, tc.method, tc.path, code, body)
					}
				case tc.want == nil:
					if code != 200 {
						t.Errorf("%s: %s %s: %d, want 200: %s", token, tc.method, tc.path, code, body)
					}
					for _, id := range seoulIDs {
						if strings.Contains(string(body), id) {
							t.Errorf("%s: %s %s answers Seoul's %s: %s", token, tc.method, tc.path, id, body)
						}
					}
				case !slices.Contains(tc.want, code):
					t.Errorf("%s: %s %s: %d, want one of %v: %s", token, tc.method, tc.path, code, tc.want, body)
				}
			}
		}
	}
	if after := e.seoulState(t); after != before {
		t.Errorf("Seoul changed through Busan tokens:\nbefore %s\nafter  %s", before, after)
	}
	// Nothing was created in Seoul either.
	for _, p := range []string{"/api/v1/residents/seoul-new", "/api/v1/hubs/seoul-hub2", "/api/v1/hubs/seoul-hub/sensors/seoul-s2"} {
		e.mustCall(t, testToken, 404, "GET", p, "")
	}

	if b := e.mustCall(t, testToken, 200, "GET", "/api/v1/technicians", ""); strings.Contains(string(b), "new-tech") {
		t.Errorf("a Busan token made a Seoul technician: %s", b)
	}

	// The tokens do work in Busan: the refusals above are the region's.
	busanOrder := "/api/v1/workorders/" + e.order["busan"]
	e.mustCall(t, e.tokens["busan-admin"], 400, "POST", busanOrder+"/close", `{"by": "busan-tech"}`)
	if b := e.mustCall(t, e.tokens["busan-admin"], 200, "POST", busanOrder+"/close", `{"by": "busan-tech", "replaced": "battery CR123A"}`); !strings.Contains(string(b), `"closed"`) {
		t.Errorf("close: %s", b)
	}
	e.mustCall(t, e.tokens["busan-admin"], 409, "POST", busanOrder+"/close", `{"by": "busan-tech", "replaced": "again"}`)
	if b := e.mustCall(t, e.tokens["busan-admin"], 200, "GET", "/api/v1/workorders?resident_id=busan-r", ""); !strings.Contains(string(b), "battery CR123A") {
		t.Errorf("the resident's history lacks the closed order: %s", b)
	}
	e.mustCall(t, e.tokens["busan-admin"], 200, "PUT", "/api/v1/technicians/haeundae-tech", `{"name": "해운대 기사", "phone": "010-5555-6666", "region": "부산 해운대구"}`)
	e.mustCall(t, e.tokens["busan-admin"], 200, "GET", "/api/v1/residents/busan-r", "")
	e.mustCall(t, e.tokens["busan-admin"], 200, "GET", "/api/v1/hubs/busan-hub/sensors/busan-s", "")
	e.mustCall(t, e.tokens["busan-disp"], 200, "GET", "/api/v1/incidents/"+e.incident["busan"], "")
	if b := e.mustCall(t, e.tokens["busan-disp"], 200, "GET", "/api/v1/incidents", ""); !strings.Contains(string(b), e.incident["busan"]) {
		t.Errorf("a Busan dispatcher's list lacks the Busan incident: %s", b)
	}
	if b := e.mustCall(t, testToken, 200, "GET", "/api/v1/incidents", ""); !strings.Contains(string(b), seoulInc) {
		t.Errorf("the national token's list lacks the Seoul incident: %s", b)
	}
}

// TestBusanStreamLeavesSeoulOut: the live feed of a Busan dispatcher's
// token carries Busan's incidents and never Seoul's, at its start and as
// they change.
func TestBusanStreamLeavesSeoulOut(t *testing.T) {
	e := newRegionEnv(t)
	seen := func(token string) map[string]bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/incidents/stream", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := readSSE(t, resp)
		// Both incidents change after the stream began.
		for _, city := range []string{"seoul", "busan"} {
			if _, err := e.d.Note(ctx, e.incident[city], "national", "noted"); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]bool{}
		for beats := 0; beats < 6; {
			ev := nextEvent(t, events, time.After(5*time.Second), func() string { return "stream stalled" })
			switch {
			case ev.event == "incident":
				got[incidentOf(t, ev).ID] = true
			case strings.HasPrefix(ev.event, "comment: heartbeat"):
				beats++
			}
		}
		return got
	}
	if got := seen(e.tokens["busan-disp"]); got[e.incident["seoul"]] || !got[e.incident["busan"]] {
		t.Errorf("Busan dispatcher's stream: %v; want Busan's %s and not Seoul's %s", got, e.incident["busan"], e.incident["seoul"])
	}
	if got := seen(testToken); !got[e.incident["seoul"]] {
		t.Errorf("national stream lacks Seoul's incident: %v", got)
	}
}
