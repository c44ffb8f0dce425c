package web_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/console/web"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/workorder"
	"github.com/dolbom/dolbom/store"
)

// storeRegistry is the store's registry as the admin pages call it (the
// gateway's adapter, without its side effects).
type storeRegistry struct {
	store.Registry
	accounts store.Accounts
}

// fill stores what a store call returned where the port's caller reads it.
func fill[T any](dst *T) func(T, error) error {
	return func(v T, err error) error { *dst = v; return err }
}

func dropValue[T any](_ T, err error) error { return err }

func (r storeRegistry) CreateResident(ctx context.Context, res *devices.Resident) error {
	return fill(res)(r.Registry.CreateResident(ctx, *res))
}

func (r storeRegistry) UpdateResident(ctx context.Context, res devices.Resident) error {
	return dropValue(r.Registry.UpdateResident(ctx, res))
}

func (r storeRegistry) CreateHub(ctx context.Context, h *devices.Hub) error {
	return fill(h)(r.Registry.CreateHub(ctx, *h))
}

func (r storeRegistry) UpdateHub(ctx context.Context, h devices.Hub) error {
	return dropValue(r.Registry.UpdateHub(ctx, h))
}

func (r storeRegistry) CreateSensor(ctx context.Context, s *devices.Sensor) error {
	return fill(s)(r.Registry.CreateSensor(ctx, *s))
}

func (r storeRegistry) UpdateSensor(ctx context.Context, s devices.Sensor) error {
	return dropValue(r.Registry.UpdateSensor(ctx, s))
}

func (r storeRegistry) GetAccount(ctx context.Context, id string) (console.Account, error) {
	return r.accounts.GetAccount(ctx, id)
}

// stuckList is a fixed "119 경로 없음" list.
type stuckList []cap.StuckMessage

func (l stuckList) List() []cap.StuckMessage { return l }

// scopeWorld is one Seoul and one Busan home, each with an open incident,
// and accounts of both regions.
type scopeWorld struct {
	de                 *deskEnv
	seoul, busan       devices.Resident
	seoulHub, busanHub devices.HubID
	seoulInc, busanInc dispatch.Incident
	seoulSensor        devices.SensorID
	seoulOrder         string   // a work order of the Seoul hub
	seoulMarkers       []string // what must never reach a Busan account
}

func newScopeWorld(t *testing.T) *scopeWorld {
	t.Helper()
	w := &scopeWorld{}
	sido := func(code string) region.Region { r, _ := region.Lookup(region.Code(code)); return r }
	w.de = newDeskEnv(t, func(d *web.Deps, st *store.Store) {
		d.Registry = storeRegistry{Registry: st.Registry(), accounts: st.Accounts()}
		d.IncidentRegions = st.Routes()
		d.Routes = consoletest.NewRoutes()
		d.WorkOrders = st.WorkOrders()
		d.NoRoutes = stuckList{
			{Incident: "inc-stuck-seoul", Sido: sido("11"), Since: time.Now()},
			{Incident: "inc-stuck-busan", Sido: sido("26"), Since: time.Now()},
		}
	})
	de, ctx := w.de, context.Background()
	w.seoul, w.seoulHub = de.home("서울할머니", "sw-kim")
	if w.seoul.DistrictCode != "11110" {
		t.Fatalf("the Seoul resident's district %q", w.seoul.DistrictCode)
	}
	busan, err := de.st.Registry().CreateResident(ctx, devices.Resident{Name: "부산할아버지", BirthDate: "1941-01-01", Phone: "+821055512345",
		Language: "ko", Address: devices.Address{Line1: "부산광역시 해운대구 해운대로 1"}, SocialWorkerID: "sw-lee"})
	if err != nil {
		t.Fatal(err)
	}
	w.busan, w.busanHub = busan, devices.HubID("hub-"+string(busan.ID))
	if _, err := de.st.Registry().CreateHub(ctx, devices.Hub{ID: w.busanHub, ResidentID: busan.ID, InstalledAt: de.clock().AddDate(-1, 0, 0),
		Model: "DG-200", SecretHash: "$argon2id$unused"}); err != nil {
		t.Fatal(err)
	}
	s, err := de.st.Registry().CreateSensor(ctx, devices.Sensor{Hub: w.seoulHub, ID: "smoke-1", Kind: devices.SensorSmoke, Location: devices.LocKitchen})
	if err != nil {
		t.Fatal(err)
	}
	w.seoulSensor = s.ID
	w.seoulInc = de.detect(w.seoulHub, detectors.CauseSOS, detectors.PriorityCritical, "")
	w.busanInc = de.detect(w.busanHub, detectors.CauseSOS, detectors.PriorityCritical, "")
	order, _, err := de.st.WorkOrders().OpenOrder(ctx, workorder.Order{Hub: w.seoulHub, ResidentID: w.seoul.ID, Fault: workorder.FaultBatteryLow,
		Region: w.seoul.DistrictCode, LastIncident: "x", OpenedAt: de.clock(), Replaced: ""})
	if err != nil {
		t.Fatal(err)
	}
	w.seoulOrder = order.ID
	for _, a := range []console.Account{
		{ID: "d-busan", Name: "부산상황", Role: console.RoleDispatcher, Regions: []string{"26"}},
		{ID: "a-busan", Name: "부산관리", Role: console.RoleAdmin, Regions: []string{"26"}},
		{ID: "d-seoul", Name: "서울상황요원", Role: console.RoleDispatcher, Regions: []string{"11"}},
	} {
		a.PasswordHash = console.HashPassword(password)
		if err := de.st.Accounts().CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// The national admin views the Seoul resident: an audit entry about
	// Seoul that a Busan admin must not read.
	root := de.client()
	root.login("root", password)
	if status, _ := root.get("/residents/" + string(w.seoul.ID)); status != http.StatusOK {
		t.Fatalf("national admin, Seoul resident page: %d", status)
	}
	w.seoulMarkers = []string{w.seoulInc.ID, string(w.seoul.ID), "서울할머니", string(w.seoulHub), "d-seoul", "서울상황요원", "inc-stuck-seoul", w.seoulOrder}
	return w
}

// expand gives the concrete requests of a route pattern against the
// Seoul records; nil for routes that touch no region's data.
func (w *scopeWorld) expand(pattern string) (method string, paths []string) {
	method, p, _ := strings.Cut(pattern, " ")
	switch p {
	case "/static/", "/login", "/logout":
		return method, nil
	}
	id := ""
	switch {
	case strings.Contains(p, "/incidents/"):
		id = w.seoulInc.ID
	case strings.Contains(p, "/residents/"):
		id = string(w.seoul.ID)
	case strings.Contains(p, "/hubs/"):
		id = string(w.seoulHub)
	case strings.Contains(p, "/accounts/"):
		id = "d-seoul"
	case strings.Contains(p, "/workorders/"):
		id = w.seoulOrder
	case strings.Contains(p, "/rollouts/"):
		id = "1" // a rollout is national: a regional account is refused any
	}
	p = strings.NewReplacer("{id}", url.PathEscape(id), "{sensor}", string(w.seoulSensor), "{sido}", "11", "{$}", "").Replace(p)
	if strings.Contains(p, "{action}") {
		for _, a := range []string{"acknowledge", "assign", "note", "status119", "resolve", "cancel", "send119", "responder"} {
			paths = append(paths, strings.Replace(p, "{action}", a, 1))
		}
		return method, paths
	}
	if p == "/reports/export.csv" {
		return method, []string{p, p + "?kind=incidents", p + "?kind=false"}
	}
	if strings.Contains(p, "{") {
		return method, []string{"UNEXPANDED " + p}
	}
	return method, []string{p}
}

// form is what a POST sends: every field any form reads, aimed at Seoul.
func (w *scopeWorld) form(c *client) url.Values {
	return url.Values{"csrf": {c.csrf}, "text": {"부산에서 손댐"}, "self": {"1"}, "status": {"dispatched"}, "disposition": {"false_alarm"},
		"responder": {"g1"}, "state": {"on_scene"}, "disabled": {"true"}, "password": {"busan-took-over-1234"}, "regions": {"11"},
		"id": {"d-new-seoul"}, "name": {"새 계정"}, "role": {"dispatcher"}, "resident_id": {string(w.seoul.ID)},
		"line1": {"서울특별시 종로구 세종대로 1"}, "address_line1": {"서울특별시 종로구 세종대로 1"}, "phone": {"+821011112222"},
		"language": {"ko"}, "endpoints": {"https://119.elsewhere.example/cap"}, "model": {"DG-200"}, "kind": {"smoke"}, "room": {"kitchen"}, "installed_at": {"2025-01-01"}, "replaced": {"부산에서 교체"}}
}

// jsonBody is what a POST to the browser's JSON API sends.
func (w *scopeWorld) jsonBody(path string) string {
	switch {
	case strings.HasSuffix(path, "/disabled"):
		return `{"disabled": true}`
	case strings.HasSuffix(path, "/password"):
		return `{"password": "busan-took-over-1234"}`
	case strings.HasSuffix(path, "/regions"):
		return `{"regions": ["11"]}`
	case strings.HasSuffix(path, "/accounts"):
		return `{"id": "d-new-seoul", "name": "새 계정", "role": "dispatcher", "password": "busan-took-over-1234", "regions": ["11"]}`
	}
	return `{"note": "부산에서 손댐", "kind": "call"}`
}

// A Busan dispatcher and a Busan regional admin cannot see or act on
// Seoul's incident, resident, hub or account through any route of the
// console: every route the router has is tried (a route added later
// without the region check fails here), and the live stream carries
// Busan's incident but not Seoul's.
func TestBusanCannotReachSeoulThroughAnyRoute(t *testing.T) {
	w := newScopeWorld(t)
	de := w.de
	if len(de.routes) < 40 {
		t.Fatalf("the console lists %d routes; want all of them", len(de.routes))
	}
	before := de.incident(w.seoulInc.ID)
	for _, who := range []string{"d-busan", "a-busan"} {
		c := de.client()
		if status := c.login(who, password); status != http.StatusSeeOther {
			t.Fatalf("%s login: %d", who, status)
		}
		for _, pattern := range de.routes {
			method, paths := w.expand(pattern)
			for _, p := range paths {
				if strings.HasPrefix(p, "UNEXPANDED") {
					t.Errorf("route %q: the test does not know how to aim it at Seoul; teach expand", pattern)
					continue
				}
				if p == "/queue/stream" {
					w.checkStream(t, c, who)
					continue
				}
				var status int
				var body string
				switch {
				case method == "GET":
					status, body = c.get(p)
				case strings.HasPrefix(p, "/console/api/"):
					status, body = c.postJSON(p, w.jsonBody(p), true)
				default:
					status, body, _ = c.do("POST", p, w.form(c), nil)
				}
				if method == "POST" && status < 400 {
					t.Errorf("%s: %s %s answered %d; want a refusal", who, method, p, status)
				}
				for _, m := range w.seoulMarkers {
					if strings.Contains(body, m) {
						t.Errorf("%s: %s %s (%d) shows Seoul's %q", who, method, p, status, m)
					}
				}
			}
		}
	}
	// Nothing of Seoul's changed.
	after := de.incident(w.seoulInc.ID)
	if after.State != before.State || after.AcknowledgedBy != before.AcknowledgedBy || after.AssignedTo != before.AssignedTo {
		t.Errorf("the Seoul incident changed: %s/%s/%s, was %s/%s/%s", after.State, after.AcknowledgedBy, after.AssignedTo,
			before.State, before.AcknowledgedBy, before.AssignedTo)
	}
	_, tl, _ := de.d.Incident(context.Background(), w.seoulInc.ID)
	for _, e := range tl {
		if e.Actor == "d-busan" || e.Actor == "a-busan" {
			t.Errorf("the Seoul incident's timeline has %s by %s", e.Action, e.Actor)
		}
	}
	ctx := context.Background()
	if r, _ := de.st.Registry().GetResident(ctx, w.seoul.ID); r.Disabled || r.Name != "서울할머니" || r.Phone != w.seoul.Phone {
		t.Errorf("the Seoul resident changed: %+v", r)
	}
	if h, _ := de.st.Registry().GetHub(ctx, w.seoulHub); h.Disabled {
		t.Error("the Seoul hub was disabled")
	}
	if a, _ := de.st.Accounts().GetAccount(ctx, "d-seoul"); a.Disabled || len(a.Regions) != 1 || a.Regions[0] != "11" ||
		!passwordIs(a.PasswordHash, password) {
		t.Errorf("the Seoul account changed: %+v", a)
	}
	if o, _ := de.st.WorkOrders().GetOrder(ctx, w.seoulOrder); o.Status != workorder.StatusOpen {
		t.Errorf("the Seoul work order changed: %+v", o)
	}
	if _, err := de.st.Accounts().GetAccount(ctx, "d-new-seoul"); err == nil {
		t.Error("a Busan admin created an account of Seoul")
	}

	// The national admin's export does list Seoul's incident: the check
	// above is not blind.
	root := de.client()
	root.login("root", password)
	if _, csv := root.get("/reports/export.csv?kind=incidents"); !strings.Contains(csv, w.seoulInc.ID) {
		t.Fatalf("the national incidents export lacks Seoul's incident")
	}

	// Busan's own: the dispatcher's queue shows it, with its 시도, and
	// the banner names Busan's stuck incident.
	c := de.client()
	c.login("d-busan", password)
	_, q := c.get("/queue")
	if !strings.Contains(q, w.busanInc.ID) || !strings.Contains(q, "inc-stuck-busan") || !strings.Contains(q, `<td class="q-sido">부산광역시 (26)</td>`) {
		t.Errorf("the Busan dispatcher's queue lacks Busan's incident, its 시도 or its no-route banner")
	}
	if status, _ := c.get("/incidents/" + w.busanInc.ID); status != http.StatusOK {
		t.Errorf("the Busan dispatcher's own incident: %d", status)
	}
	if status := c.post("/incidents/"+w.busanInc.ID+"/acknowledge", url.Values{"csrf": {c.csrf}}); status != http.StatusSeeOther {
		t.Errorf("acknowledge Busan's own incident: %d", status)
	}
}

func passwordIs(hash, pw string) bool {
	ok, err := devices.VerifySecret(hash, pw)
	return ok && err == nil
}

// checkStream reads the live stream from its start until Busan's incident
// arrives: Seoul's, opened before it, must not have come first.
func (w *scopeWorld) checkStream(t *testing.T, c *client, who string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.e.srv.URL+"/queue/stream?last_event_id=0", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s: stream: %v", who, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if who == "d-busan" {
			t.Errorf("%s: stream answered %d", who, resp.StatusCode)
		}
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, m := range w.seoulMarkers {
			if strings.Contains(line, m) {
				t.Errorf("%s: the live stream carries Seoul's %q", who, m)
			}
		}
		if strings.Contains(line, w.busanInc.ID) {
			return
		}
	}
	t.Errorf("%s: the stream ended without Busan's incident: %v", who, sc.Err())
}
