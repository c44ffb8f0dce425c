package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/console/web"
)

// The admin's regions page lists every 시도 with its route, residents and
// open incidents; a route is set there, and its delete is refused with the
// counts while residents or open incidents depend on it. A regional admin
// sees their 시도 only and changes nothing.
func TestRegionsPage(t *testing.T) {
	routes := consoletest.NewRoutes()
	routes.SetResidents("26", 4)
	routes.SetOpenIncidents("26", 1)
	e := newEnvDeps(t, web.Deps{Routes: routes})
	a := console.Account{ID: "a-busan", Name: "부산관리", Role: console.RoleAdmin, Regions: []string{"26"}, PasswordHash: console.HashPassword(password)}
	if err := e.st.Accounts().CreateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	root := e.client()
	root.login("root", password)
	status, page := root.get("/admin/regions")
	if status != http.StatusOK || strings.Count(page, `<tr class="route-`) != 17 || !strings.Contains(page, "지역과 119 경로") {
		t.Fatalf("regions page: %d, %d rows; want 17 시도", status, strings.Count(page, `<tr class="route-`))
	}
	if s := root.post("/admin/regions/26/route", url.Values{"csrf": {root.csrf}, "endpoints": {"https://119.busan.example.kr/cap"}}); s != http.StatusSeeOther {
		t.Fatalf("set 부산's route: %d", s)
	}
	if rt, ok, _ := routes.CAPRoute(context.Background(), "26"); !ok || rt.Endpoints[0] != "https://119.busan.example.kr/cap" {
		t.Fatalf("stored route %+v, %v", rt, ok)
	}
	if s := root.post("/admin/regions/26/route", url.Values{"csrf": {root.csrf}, "endpoints": {"ftp://x"}}); s != http.StatusBadRequest {
		t.Errorf("set a bad endpoint: %d, want 400", s)
	}
	s, body, _ := root.do("POST", "/admin/regions/26/route/delete", url.Values{"csrf": {root.csrf}}, nil)
	if s != http.StatusConflict || !strings.Contains(body, "대상자 4명, 진행 중 사건 1건") {
		t.Errorf("delete a route in use: %d; want 409 with the counts", s)
	}
	routes.SetResidents("26", 0)
	routes.SetOpenIncidents("26", 0)
	if s := root.post("/admin/regions/26/route/delete", url.Values{"csrf": {root.csrf}}); s != http.StatusSeeOther {
		t.Errorf("delete an unused route: %d", s)
	}

	busan := e.client()
	busan.login("a-busan", password)
	if _, page := busan.get("/admin/regions"); strings.Count(page, `<tr class="route-`) != 1 || !strings.Contains(page, `data-sido="26"`) {
		t.Errorf("a Busan admin's regions page: want the one row of 부산")
	}
	if s := busan.post("/admin/regions/26/route", url.Values{"csrf": {busan.csrf}, "endpoints": {"https://x.example/cap"}}); s != http.StatusNotFound {
		t.Errorf("a regional admin sets a route: %d, want 404", s)
	}
}
