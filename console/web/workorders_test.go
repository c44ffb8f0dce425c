package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/dispatch/workorder"
)

// The admin's work orders page lists the open orders of their regions in
// Korean and English and closes one with what was replaced (refused
// without); the resident's page shows the history; a Busan admin neither
// sees nor closes Seoul's order.
func TestWorkOrdersPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.resident("김영희", "sw-kim", false)
	o, _, err := e.st.WorkOrders().OpenOrder(ctx, workorder.Order{Hub: "hub-wo", ResidentID: r.ID, Fault: workorder.FaultBatteryLow,
		Region: r.DistrictCode, LastIncident: "inc-x", OpenedAt: e.clock()})
	if err != nil {
		t.Fatal(err)
	}
	a := console.Account{ID: "a-busan", Name: "부산관리", Role: console.RoleAdmin, Regions: []string{"26"}, PasswordHash: console.HashPassword(password)}
	if err := e.st.Accounts().CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}

	root := e.client()
	root.login("root", password)
	status, page := root.get("/admin/workorders?lang=ko")
	if status != http.StatusOK || !strings.Contains(page, "점검 작업지시") || !strings.Contains(page, `data-order="`+o.ID+`"`) || !strings.Contains(page, "배터리 부족") {
		t.Fatalf("work orders page: %d\n%s", status, page)
	}
	if _, en := root.get("/admin/workorders?lang=en"); !strings.Contains(en, "Maintenance work orders") || !strings.Contains(en, "Battery low") {
		t.Errorf("English page lacks its words")
	}

	// An order whose SMS failed for good says so, in both languages.
	failed, _, err := e.st.WorkOrders().OpenOrder(ctx, workorder.Order{Hub: "hub-wo", ResidentID: r.ID, Fault: workorder.FaultTamper,
		Region: r.DistrictCode, LastIncident: "inc-y", OpenedAt: e.clock()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.WorkOrders().RecordNotice(ctx, failed.ID, workorder.NoticeRecord{State: workorder.NoticeFailed, Error: "21211 invalid number"}); err != nil {
		t.Fatal(err)
	}
	if _, page := root.get("/admin/workorders?lang=ko"); !strings.Contains(page, `data-notice="failed">문자 발송 실패: 기사에게 전화하세요`) ||
		!strings.Contains(page, "21211 invalid number") || !strings.Contains(page, `data-notice="pending"`) {
		t.Errorf("the page does not tell the failed SMS from the pending one:\n%s", page)
	}
	if _, en := root.get("/admin/workorders?lang=en"); !strings.Contains(en, "SMS failed: call the technician") {
		t.Errorf("English page lacks the failed SMS")
	}

	busan := e.client()
	busan.login("a-busan", password)
	if _, page := busan.get("/admin/workorders"); strings.Contains(page, o.ID) {
		t.Errorf("a Busan admin sees Seoul's order")
	}
	if s := busan.post("/admin/workorders/"+o.ID+"/close", url.Values{"csrf": {busan.csrf}, "replaced": {"x"}}); s != http.StatusNotFound {
		t.Errorf("a Busan admin closes Seoul's order: %d, want 404", s)
	}

	if s := root.post("/admin/workorders/"+o.ID+"/close", url.Values{"csrf": {root.csrf}}); s != http.StatusBadRequest {
		t.Errorf("close without what was replaced: %d, want 400", s)
	}
	if s := root.post("/admin/workorders/"+o.ID+"/close", url.Values{"csrf": {root.csrf}, "replaced": {"배터리 CR123A"}}); s != http.StatusSeeOther {
		t.Fatalf("close: %d", s)
	}
	if got, _ := e.st.WorkOrders().GetOrder(ctx, o.ID); got.Status != workorder.StatusClosed || got.Replaced != "배터리 CR123A" || got.ClosedBy != "root" {
		t.Errorf("closed order = %+v", got)
	}
	if status, page := root.get("/residents/" + string(r.ID) + "?lang=ko"); !strings.Contains(page, "점검 이력") || !strings.Contains(page, "배터리 CR123A") {
		t.Errorf("the resident's page (%d) lacks the maintenance history:\n%s", status, page)
	}
	if _, page := root.get("/residents/" + string(r.ID) + "?lang=en"); !strings.Contains(page, "Maintenance history") {
		t.Errorf("the English resident's page lacks the maintenance history")
	}
}
