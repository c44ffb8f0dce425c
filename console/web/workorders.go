package web

// Maintenance work orders (dispatch/workorder, docs/operations.md "Work
// orders"): the admin's page lists the orders of their regions, open ones
// first, and closes one with what was replaced (/admin/workorders); the
// resident's page shows the resident's history. Another region's order is
// not found, as in the API.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/workorder"
)

func init() {
	for k, v := range workOrderText {
		webText[k] = v
	}
}

var workOrderText = map[string][2]string{
	"nav.workorders":         {"작업지시", "Work orders"},
	"wo.title":               {"점검 작업지시", "Maintenance work orders"},
	"wo.help":                {"배터리 부족, 감지기 응답 없음, 훼손, 사용 연한 도래가 감지되면 허브와 고장마다 하나의 작업지시가 열리고 지역 기사에게 문자가 갑니다. 교체한 것을 적고 종결하세요.", "A low battery, a silent sensor, tampering or end of life opens one order per hub and fault and texts the region's technician. Close it with what was replaced."},
	"wo.open":                {"진행 중", "Open"},
	"wo.closed":              {"종결", "Closed"},
	"wo.none":                {"작업지시가 없습니다.", "No work orders."},
	"wo.opened":              {"접수", "Opened"},
	"wo.hub":                 {"허브", "Hub"},
	"wo.resident":            {"대상자", "Resident"},
	"wo.fault":               {"고장", "Fault"},
	"wo.detections":          {"감지 횟수", "Detections"},
	"wo.technician":          {"기사", "Technician"},
	"wo.notified":            {"문자 발송", "Texted"},
	"wo.notyet":              {"아직 발송 전", "not texted yet"},
	"wo.notice.retry":        {"재시도", "tries"},
	"wo.notice.parked":       {"담당 기사 없음: 지역 기사를 등록하면 발송", "no technician: texted once one covers the region"},
	"wo.notice.failed":       {"문자 발송 실패: 기사에게 전화하세요", "SMS failed: call the technician"},
	"wo.replaced":            {"교체 내역", "Replaced"},
	"wo.close":               {"종결", "Close"},
	"wo.done":                {"작업지시를 종결했습니다.", "The work order is closed."},
	"wo.history":             {"점검 이력", "Maintenance history"},
	"wo.status":              {"상태", "Status"},
	"wo.status.all":          {"전체", "All"},
	"wo.filter":              {"조회", "Search"},
	"wo.bad_status":          {"상태는 진행 중(open) 또는 종결(closed)만 고를 수 있습니다.", "Status is open or closed."},
	"wo.fault.battery_low":   {"배터리 부족", "Battery low"},
	"wo.fault.sensor_silent": {"감지기 응답 없음", "Sensor silent"},
	"wo.fault.sensor_fault":  {"감지기 훼손·자가진단 실패", "Sensor tampered with or failed"},
	"wo.fault.end_of_life":   {"사용 연한 도래", "End of life"},
}

func (w *web) workOrderRoutes() {
	m := w.mux
	m.HandleFunc("GET /admin/workorders", w.signedIn(w.workOrdersPage, console.RoleAdmin))
	m.HandleFunc("POST /admin/workorders/{id}/close", w.signedIn(w.closeWorkOrderForm, console.RoleAdmin))
}

func (w *web) workOrdersPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.renderWorkOrders(rw, r, rc, http.StatusOK, r.URL.Query().Get("done") != "", "")
}

// workOrderFilter is the page's filter form: a hub, a resident, open or
// closed orders (the admin API's filters).
type workOrderFilter struct {
	Hub, Resident, Status string
}

func (w *web) renderWorkOrders(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, done bool, problem string) {
	if w.deps.WorkOrders == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	var f workOrderFilter
	if r.Method == http.MethodGet {
		v := r.URL.Query()
		f = workOrderFilter{Hub: strings.TrimSpace(v.Get("hub")), Resident: strings.TrimSpace(v.Get("resident")), Status: v.Get("status")}
	}
	data := map[string]any{"Filter": f, "Done": done, "Problem": problem}
	if f.Status != "" && f.Status != string(workorder.StatusOpen) && f.Status != string(workorder.StatusClosed) {
		data["Problem"] = translate(rc.lang, "wo.bad_status")
		w.render(rw, r, "workorders", http.StatusBadRequest, rc, data)
		return
	}
	q := workorder.Query{Hub: devices.HubID(f.Hub), ResidentID: devices.ResidentID(f.Resident)}
	if !rc.account.National() {
		q.Regions = rc.account.Regions
	}
	if f.Status != string(workorder.StatusClosed) {
		q.Status, q.Limit = workorder.StatusOpen, 500
		open, err := w.deps.WorkOrders.ListOrders(r.Context(), q)
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		data["Open"], data["ShowOpen"] = open, true
	}
	if f.Status != string(workorder.StatusOpen) {
		q.Status, q.Limit = workorder.StatusClosed, 100
		closed, err := w.deps.WorkOrders.ListOrders(r.Context(), q)
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		data["Closed"], data["ShowClosed"] = closed, true
	}
	w.render(rw, r, "workorders", status, rc, data)
}

func (w *web) closeWorkOrderForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if w.deps.WorkOrders == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	id := r.PathValue("id")
	o, err := w.deps.WorkOrders.GetOrder(r.Context(), id)
	if errors.Is(err, devices.ErrNotFound) || err == nil && !rc.account.Covers(o.Region) {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	replaced := strings.TrimSpace(r.PostFormValue("replaced"))
	if _, err := w.deps.WorkOrders.CloseOrder(r.Context(), id, rc.account.ID, replaced, w.cfg.Now()); err != nil {
		switch {
		case errors.Is(err, devices.ErrInvalid):
			w.renderWorkOrders(rw, r, rc, http.StatusBadRequest, false, err.Error())
		case errors.Is(err, workorder.ErrClosed):
			w.renderWorkOrders(rw, r, rc, http.StatusConflict, false, err.Error())
		default:
			w.fail(rw, r, rc, err)
		}
		return
	}
	_ = w.audit(r.Context(), rc, "workorder.close", o.ResidentID, "", id+" "+replaced)
	http.Redirect(rw, r, "/admin/workorders?done="+url.QueryEscape(id), http.StatusSeeOther)
}
