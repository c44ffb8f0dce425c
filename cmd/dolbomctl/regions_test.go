package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/consoletest"
)

// dolbomctl region route set|list|delete against the real admin API.
func TestRegionRouteCommands(t *testing.T) {
	g := newGateway(t)
	routes := consoletest.NewRoutes("http://127.0.0.1:8119/cap") // make run's --cap-url
	routes.SetResidents("11", 2)
	mux := http.NewServeMux()
	mux.Handle(api.APIPrefix, api.NewAdminAPI(api.AdminConfig{Token: testToken, Routes: routes}, g.reg, consoletest.Health{}, g.hubs, zerolog.Nop()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.env["DOLBOM_SERVER"] = srv.URL

	token := filepath.Join(t.TempDir(), "seoul.token")
	if err := os.WriteFile(token, []byte("centre-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set := g.ok(t, "region", "route", "set", "서울", "--endpoint", "https://119.seoul.example.kr/cap", "--token-file", token)
	if sido, _ := set["sido"].(map[string]any); sido["code"] != "11" || set["has_token"] != true || set["source"] != "stored" {
		t.Errorf("route set printed %v", set)
	}
	if rt, _, _ := routes.CAPRoute(t.Context(), "11"); rt.BearerToken != "centre-secret" {
		t.Errorf("stored token %q, want the file's content", rt.BearerToken)
	}
	list := g.ok(t, "region", "route", "list")
	rs, _ := list["routes"].([]any)
	if len(rs) != 17 {
		t.Fatalf("route list: %d routes, want 17", len(rs))
	}
	first, second := rs[0].(map[string]any), rs[1].(map[string]any)
	if first["source"] != "stored" || second["source"] != "fallback" {
		t.Errorf("서울 %v, 부산 %v: want stored and fallback", first["source"], second["source"])
	}
	if r := g.ctl(t, "region", "route", "list"); strings.Contains(r.stdout, "centre-secret") {
		t.Error("route list prints the token")
	}
	// An open incident of 서울 holds its route even with a fallback: its
	// Cancel must reach the centre that holds its Alert.
	routes.SetOpenIncidents("11", 1)
	if r := g.ctl(t, "region", "route", "delete", "11"); r.code != 1 || !strings.Contains(r.stderr, "대상자 2명, 진행 중 사건 1건") {
		t.Errorf("route delete with an open incident: exit %d, %s; want a refusal with the counts", r.code, r.stderr)
	}
	routes.SetOpenIncidents("11", 0)
	// The fallback takes 서울's place: the delete is allowed.
	if r := g.ctl(t, "region", "route", "delete", "11"); r.code != 0 {
		t.Errorf("route delete: exit %d, %s", r.code, r.stderr)
	}
	if r := g.ctl(t, "region", "route", "set", "Seoul", "--endpoint", "https://x.example"); r.code != 1 || !strings.Contains(r.stderr, "서울특별시 (11)") {
		t.Errorf("route set Seoul: exit %d, %s; want a refusal listing the 시도", r.code, r.stderr)
	}
	if r := g.ctl(t, "region", "route", "set", "11"); r.code != 2 || !strings.Contains(r.stderr, "--endpoint") {
		t.Errorf("route set without --endpoint: exit %d, %s", r.code, r.stderr)
	}
}

// dolbomctl account regions sets an account's regions through the admin
// API, refusing an unknown region with the choices and a dispatcher's
// 시군구; --national clears them.
func TestAccountRegionsCommand(t *testing.T) {
	g := newGateway(t)
	g.reg.AddAccount(console.Account{ID: "d-busan", Name: "부산상황", Role: console.RoleDispatcher})
	mux := http.NewServeMux()
	mux.Handle(api.APIPrefix, api.NewAdminAPI(api.AdminConfig{Token: testToken, Accounts: g.reg}, g.reg, consoletest.Health{}, g.hubs, zerolog.Nop()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.env["DOLBOM_SERVER"] = srv.URL

	set := g.ok(t, "account", "regions", "d-busan", "--region", "부산", "--region", "27")
	if rs, _ := set["regions"].([]any); len(rs) != 2 || rs[0] != "26" || rs[1] != "27" {
		t.Errorf("account regions printed %v; want [26 27]", set)
	}
	if a, _ := g.reg.GetAccount(t.Context(), "d-busan"); len(a.Regions) != 2 {
		t.Errorf("stored regions %v", a.Regions)
	}
	if r := g.ctl(t, "account", "regions", "d-busan", "--region", "99"); r.code != 1 || !strings.Contains(r.stderr, "부산광역시 (26)") {
		t.Errorf("unknown region: exit %d, %s; want a refusal listing the 시도", r.code, r.stderr)
	}
	if r := g.ctl(t, "account", "regions", "d-busan", "--region", "26350"); r.code != 1 || !strings.Contains(r.stderr, "a dispatcher belongs to 시도") {
		t.Errorf("a dispatcher's 시군구: exit %d, %s", r.code, r.stderr)
	}
	if r := g.ctl(t, "account", "regions", "nobody", "--national"); r.code != 1 {
		t.Errorf("unknown account: exit %d", r.code)
	}
	g.ok(t, "account", "regions", "d-busan", "--national")
	if a, _ := g.reg.GetAccount(t.Context(), "d-busan"); !a.National() {
		t.Errorf("after --national: %v", a.Regions)
	}
	list := g.ok(t, "account", "list")
	if as, _ := list["accounts"].([]any); len(as) != 2 {
		t.Errorf("account list: %v", list)
	}
}
