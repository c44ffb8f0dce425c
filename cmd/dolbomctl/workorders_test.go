package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/workorder"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// dolbomctl technician, workorder and account token, against the admin
// API on a real SQLite store: a technician is set, an open order listed
// and closed with what was replaced, and a regional admin's token made
// with account token sees its region's orders only.
func TestWorkOrderCommands(t *testing.T) {
	g := newGateway(t)
	s, err := store.Open(t.Context(), storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mux := http.NewServeMux()
	mux.Handle(api.APIPrefix, api.NewAdminAPI(api.AdminConfig{Token: testToken, Accounts: s.Accounts(), Tokens: s.Accounts(),
		WorkOrders: s.WorkOrders()}, g.reg, consoletest.Health{}, g.hubs, zerolog.Nop()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.env["DOLBOM_SERVER"] = srv.URL

	tech := g.ok(t, "technician", "set", "tech-jongno", "--name", "김기사", "--phone", "010-1111-2222", "--region", "서울 종로구")
	if tech["region"] != "11110" || tech["phone"] != "+821011112222" {
		t.Errorf("technician set printed %v", tech)
	}
	if r := g.ctl(t, "technician", "set", "t2", "--phone", "010-1111-2222"); r.code != 2 {
		t.Errorf("technician set without --region: exit %d", r.code)
	}
	var ids []string
	for _, region := range []string{"11110", "26350"} {
		o, _, err := s.WorkOrders().OpenOrder(t.Context(), workorder.Order{Hub: devices.HubID("hub-x" + region), ResidentID: devices.ResidentID("r-x" + region),
			Fault: workorder.FaultBatteryLow, Region: region, LastIncident: "i", OpenedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	if l, _ := g.ok(t, "workorder", "list", "--status", "open")["work_orders"].([]any); len(l) != 2 {
		t.Errorf("workorder list: %v", l)
	}
	if r := g.ctl(t, "workorder", "close", ids[0], "--by", "tech-jongno"); r.code != 2 {
		t.Errorf("close without --replaced: exit %d", r.code)
	}
	closed := g.ok(t, "workorder", "close", ids[0], "--by", "tech-jongno", "--replaced", "battery CR123A")
	if closed["status"] != "closed" || closed["replaced"] != "battery CR123A" {
		t.Errorf("workorder close printed %v", closed)
	}
	if hist, _ := g.ok(t, "workorder", "list", "--resident", "r-x11110")["work_orders"].([]any); len(hist) != 1 {
		t.Errorf("resident's history: %v", hist)
	}

	if err := s.Accounts().CreateAccount(t.Context(), console.Account{ID: "a-busan", Name: "부산", Role: console.RoleAdmin, PasswordHash: "h", Regions: []string{"26"}}); err != nil {
		t.Fatal(err)
	}
	token, _ := g.ok(t, "account", "token", "a-busan")["token"].(string)
	if token == "" {
		t.Fatal("account token printed no token")
	}
	g.env["DOLBOM_ADMIN_TOKEN"] = token
	l, _ := g.ok(t, "workorder", "list")["work_orders"].([]any)
	if len(l) != 1 || !strings.Contains(l[0].(map[string]any)["region"].(string), "26") {
		t.Errorf("a Busan token's orders: %v", l)
	}
	if r := g.ctl(t, "workorder", "close", ids[0], "--by", "x", "--replaced", "y"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("a Busan token closing Seoul's order: exit %d, %s", r.code, r.stderr)
	}
}
