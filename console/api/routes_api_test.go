package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/dispatch/cap"
)

func TestRoutesAPI(t *testing.T) {
	ra := consoletest.NewRoutes()
	ra.SetResidents("11", 3)
	e := newTestEnv(t)
	e.h = api.NewAdminAPI(api.AdminConfig{Token: testToken, Now: func() time.Time { return testNow }, Routes: ra},
		e.reg, e.health, e.hubs, zerolog.Nop())

	e.must(t, http.StatusOK, "PUT", "/api/v1/regions/routes/"+"%EC%84%9C%EC%9A%B8", // 서울
		`{"endpoints": ["https://119.seoul.example.kr/cap"], "bearer_token": "s3cret"}`)
	e.must(t, http.StatusOK, "PUT", "/api/v1/regions/routes/26", `{"endpoints": ["https://119.busan.example.kr/cap"]}`)
	got := decode[struct {
		Routes []struct {
			Sido      struct{ Code, Name string }
			Source    string
			Endpoints []string
			HasToken  bool `json:"has_token"`
			Residents int
		}
	}](t, e.must(t, http.StatusOK, "GET", "/api/v1/regions/routes", ""))
	if len(got.Routes) != 17 {
		t.Fatalf("%d routes listed, want one per 시도", len(got.Routes))
	}
	seoul := got.Routes[0]
	if seoul.Sido.Code != "11" || seoul.Source != cap.RouteStored || !seoul.HasToken || seoul.Residents != 3 || len(seoul.Endpoints) != 1 {
		t.Errorf("서울's route %+v", seoul)
	}
	if rec := e.do(t, "GET", "/api/v1/regions/routes", ""); strings.Contains(rec.Body.String(), "s3cret") {
		t.Errorf("the route list shows the token")
	}
	if got.Routes[2].Source != cap.RouteNone {
		t.Errorf("대구 without a route: source %s, want none", got.Routes[2].Source)
	}

	bad := decode[errorBody](t, e.must(t, http.StatusBadRequest, "PUT", "/api/v1/regions/routes/99", `{"endpoints": ["https://x.example"]}`))
	if !strings.Contains(bad.Error, "서울특별시 (11)") {
		t.Errorf("unknown 시도: %+v, want the choices", bad)
	}
	e.must(t, http.StatusBadRequest, "PUT", "/api/v1/regions/routes/11", `{"endpoints": ["ftp://x.example"]}`)

	// 서울 has residents: its route stays; 부산 has none: it goes.
	conflict := decode[errorBody](t, e.must(t, http.StatusConflict, "DELETE", "/api/v1/regions/routes/11", ""))
	if !strings.Contains(conflict.Error, "대상자 3명, 진행 중 사건 0건") {
		t.Errorf("delete of a route with residents: %+v, want the counts", conflict)
	}
	e.must(t, http.StatusNoContent, "DELETE", "/api/v1/regions/routes/26", "")
	e.must(t, http.StatusNotFound, "DELETE", "/api/v1/regions/routes/26", "")

	tree := decode[[]struct {
		Code      string
		Districts []struct{ Code, Name string }
	}](t, e.must(t, http.StatusOK, "GET", "/api/v1/regions", ""))
	if len(tree) != 17 || tree[0].Code != "11" || len(tree[0].Districts) != 25 {
		t.Errorf("regions: %d 시도, the first %s with %d 시군구; want 17, 11 with 25", len(tree), tree[0].Code, len(tree[0].Districts))
	}
}

// A route is not deleted while residents depend on it (no fallback), nor
// while open incidents were routed there (even with a fallback); the
// refusal gives both counts.
func TestRouteDeleteRefusals(t *testing.T) {
	for _, tc := range []struct {
		name              string
		fallback          bool
		residents, open   int
		status            int
		wantInRefusalText string
	}{
		{"residents, no fallback", false, 2, 0, http.StatusConflict, "대상자 2명, 진행 중 사건 0건"},
		{"open incidents, no residents", false, 0, 1, http.StatusConflict, "대상자 0명, 진행 중 사건 1건"},
		{"open incidents, with a fallback", true, 5, 1, http.StatusConflict, "5 residents and 1 open incidents depend on it"},
		{"residents, with a fallback", true, 5, 0, http.StatusNoContent, ""},
		{"nothing depends on it", false, 0, 0, http.StatusNoContent, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ra *consoletest.Routes
			if tc.fallback {
				ra = consoletest.NewRoutes("https://119.national.example.kr/cap")
			} else {
				ra = consoletest.NewRoutes()
			}
			ra.SetResidents("26", tc.residents)
			ra.SetOpenIncidents("26", tc.open)
			e := newTestEnv(t)
			e.h = api.NewAdminAPI(api.AdminConfig{Token: testToken, Now: func() time.Time { return testNow }, Routes: ra},
				e.reg, e.health, e.hubs, zerolog.Nop())
			e.must(t, http.StatusOK, "PUT", "/api/v1/regions/routes/26", `{"endpoints": ["https://119.busan.example.kr/cap"]}`)
			rec := e.must(t, tc.status, "DELETE", "/api/v1/regions/routes/26", "")
			if tc.wantInRefusalText != "" && !strings.Contains(rec.Body.String(), tc.wantInRefusalText) {
				t.Errorf("refusal %s; want %q", rec.Body.String(), tc.wantInRefusalText)
			}
		})
	}
}
