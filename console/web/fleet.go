package web

// The fleet page (/admin/fleet, 기기 현황) and its JSON and CSV twins under
// /console/api/fleet: the admin API's fleet view (console/api/fleet.go)
// for a signed-in admin, always within the account's regions: a Busan
// admin's page, JSON and CSV hold Busan's hubs only, whatever the request
// asks.

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
)

func init() {
	for k, v := range fleetText {
		webText[k] = v
	}
}

var fleetText = map[string][2]string{
	"nav.fleet":              {"기기 현황", "Fleet"},
	"fleet.title":            {"기기 현황", "Fleet"},
	"fleet.help":             {"허브와 센서의 모델, 펌웨어, 배터리, 전원, 마지막 연결, 내구연한입니다. 값은 게이트웨이가 마지막으로 저장한 기기 상태입니다.", "Hubs and sensors by model, firmware, battery, power, last seen and end of life, as the gateway last saved their health."},
	"fleet.region":           {"지역", "Region"},
	"fleet.region.all":       {"전체", "All"},
	"fleet.model":            {"모델", "Model"},
	"fleet.firmware":         {"펌웨어", "Firmware"},
	"fleet.fw_declared":      {"(등록값)", "(declared)"},
	"fleet.fw_declared.help": {"허브가 아직 버전을 보고하지 않아 관리자가 등록한 값입니다.", "The hub has not reported its version yet: this is the one registered by an admin."},
	"fleet.fw_reported.help": {"허브가 이 버전을 처음 보고한 시각입니다.", "When the hub first reported this version."},
	"fleet.battery_below":    {"배터리 (% 미만)", "Battery below (%)"},
	"fleet.offline_days":     {"연결 끊김 (일 이상)", "Offline for more than (days)"},
	"fleet.eol_within_days":  {"내구연한 (일 이내)", "End of life within (days)"},
	"fleet.search":           {"조회", "Search"},
	"fleet.csv":              {"CSV 내려받기", "Download CSV"},
	"fleet.counts":           {"집계", "Counts"},
	"fleet.by_sido":          {"시도별", "By 시도"},
	"fleet.by_sigungu":       {"시군구별", "By 시군구"},
	"fleet.by_model":         {"모델별", "By model"},
	"fleet.by_firmware":      {"펌웨어별", "By firmware"},
	"fleet.hubs":             {"허브", "Hubs"},
	"fleet.online":           {"연결됨", "Online"},
	"fleet.low_battery":      {"배터리 부족", "Low battery"},
	"fleet.past_eol":         {"내구연한 경과", "Past end of life"},
	"fleet.total":            {"합계", "Total"},
	"fleet.none":             {"조건에 맞는 허브가 없습니다.", "No hub matches."},
	"fleet.no_region":        {"지역 없음 (재고)", "No region (in stock)"},
	"fleet.hub":              {"허브", "Hub"},
	"fleet.resident":         {"대상자", "Resident"},
	"fleet.power":            {"전원", "Power"},
	"fleet.power.mains":      {"상용전원", "mains"},
	"fleet.power.battery":    {"배터리", "battery"},
	"fleet.battery":          {"배터리", "Battery"},
	"fleet.last_seen":        {"마지막 연결", "Last seen"},
	"fleet.eol":              {"내구연한", "End of life"},
	"fleet.sensors":          {"센서", "Sensors"},
	"fleet.unknown":          {"모름", "unknown"},
	"fleet.offline":          {"끊김", "offline"},
	"fleet.next":             {"다음 페이지", "Next page"},
	"fleet.first":            {"처음으로", "First page"},
}

func (w *web) fleetRoutes() {
	m := w.mux
	m.HandleFunc("GET /admin/fleet", w.signedIn(w.fleetPage, console.RoleAdmin))
	const p = "/console/api/fleet"
	m.HandleFunc("GET "+p, w.signedInAPI(w.fleetAPI((*api.Fleet).ServeList), console.RoleAdmin))
	m.HandleFunc("GET "+p+"/counts", w.signedInAPI(w.fleetAPI((*api.Fleet).ServeCounts), console.RoleAdmin))
	m.HandleFunc("GET "+p+".csv", w.signedInAPI(w.fleetAPI((*api.Fleet).ServeCSV), console.RoleAdmin))
}

// fleetAPI serves one of the fleet's answers within the account's regions.
func (w *web) fleetAPI(serve func(f *api.Fleet, rw http.ResponseWriter, r *http.Request, scope []string, fail func(error))) pageHandler {
	return func(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
		if w.deps.Fleet == nil {
			api.WriteError(rw, &api.Error{Status: http.StatusNotFound, Msg: "this console serves no fleet view"})
			return
		}
		serve(w.deps.Fleet, rw, r, rc.account.Regions, func(err error) {
			var ae *api.Error
			switch {
			case errors.As(err, &ae):
				api.WriteError(rw, ae)
			case errors.Is(err, devices.ErrInvalid):
				api.WriteError(rw, &api.Error{Status: http.StatusBadRequest, Msg: err.Error()})
			default:
				w.log.Error().Err(err).Msg("fleet")
				api.WriteError(rw, &api.Error{Status: http.StatusInternalServerError, Msg: "internal error"})
			}
		})
	}
}

// fleetRegions are the regions the form offers: the 시도 the account
// covers, each with its 시군구 the account covers.
type fleetRegion struct {
	Sido      region.Region
	Districts []region.Region
}

func fleetRegionChoices(a console.Account) []fleetRegion {
	var out []fleetRegion
	for _, s := range region.Sidos() {
		if !a.National() && !coversSido(a, string(s.Code)) {
			continue
		}
		fr := fleetRegion{Sido: s}
		for _, d := range region.Districts(s.Code) {
			if a.Covers(string(d.Code)) {
				fr.Districts = append(fr.Districts, d)
			}
		}
		out = append(out, fr)
	}
	return out
}

// fleetTable is one table of the counts on the page.
type fleetTable struct {
	ID, Title string
	Rows      []api.FleetCount
}

func (w *web) fleetPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if w.deps.Fleet == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	v := r.URL.Query()
	filters := url.Values{}
	for _, k := range api.FleetParams {
		if s := v.Get(k); s != "" {
			filters.Set(k, s)
		}
	}
	data := map[string]any{"Form": filters, "Regions": fleetRegionChoices(rc.account), "CSV": "/console/api/fleet.csv"}
	if len(filters) > 0 {
		data["CSV"] = "/console/api/fleet.csv?" + filters.Encode()
	}
	asked := url.Values{}
	for k, vs := range filters {
		asked[k] = vs
	}
	if a := v.Get("after"); a != "" {
		asked.Set("after", a) // the page's other parameters (lang) are not the fleet's
	}
	q, err := w.deps.Fleet.Query(asked, rc.account.Regions)
	if err != nil {
		data["Problem"] = err.Error()
		w.render(rw, r, "fleet", http.StatusBadRequest, rc, data)
		return
	}
	counts, err := w.deps.Fleet.Counts(r.Context(), q)
	if err != nil {
		w.fleetFail(rw, r, rc, data, err)
		return
	}
	hubs, next, err := w.deps.Fleet.Page(r.Context(), q)
	if err != nil {
		w.fleetFail(rw, r, rc, data, err)
		return
	}
	data["Counts"], data["Hubs"] = counts, hubs
	data["Tables"] = []fleetTable{{"by-sido", "fleet.by_sido", counts.BySido}, {"by-sigungu", "fleet.by_sigungu", counts.BySigungu},
		{"by-model", "fleet.by_model", counts.ByModel}, {"by-firmware", "fleet.by_firmware", counts.ByFirmware}}
	if next != "" {
		nv := url.Values{}
		for k := range filters {
			nv.Set(k, filters.Get(k))
		}
		nv.Set("after", next)
		data["Next"] = "/admin/fleet?" + nv.Encode()
	}
	if q.After != "" {
		data["First"] = "/admin/fleet?" + filters.Encode()
	}
	w.render(rw, r, "fleet", http.StatusOK, rc, data)
}

func (w *web) fleetFail(rw http.ResponseWriter, r *http.Request, rc *reqCtx, data map[string]any, err error) {
	if errors.Is(err, devices.ErrInvalid) {
		data["Problem"] = err.Error()
		w.render(rw, r, "fleet", http.StatusBadRequest, rc, data)
		return
	}
	w.fail(rw, r, rc, err)
}

// Battery is a battery percentage as shown: "45%", or "" when unknown.
func (p *pageData) Battery(b float64) string {
	if b < 0 {
		return ""
	}
	return api.FleetBatteryText(b) + "%"
}
