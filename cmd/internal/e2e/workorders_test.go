package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/workorder"
)

// TestWorkOrdersPageInBrowser: a Seoul admin opens 작업지시 from the menu,
// sees Seoul's two open orders and not Busan's, filters by hub, closes the
// order left with what was replaced (the browser refuses an empty field),
// finds it under 종결 with what was replaced and who closed it, and reads
// the page in English. Screenshots workorders-01..04.
func TestWorkOrdersPageInBrowser(t *testing.T) {
	s := startSite(t)
	bg := context.Background()
	s.accounts(t, console.Account{ID: "a-seoul", Name: "서울관리", Role: console.RoleAdmin, Regions: []string{"11"}})
	now := time.Now().UTC()
	orders := map[devices.HubID]workorder.Order{}
	for _, o := range []struct {
		district string
		hub      devices.HubID
		fault    workorder.Fault
	}{
		{"11110", "hub-wo-seoul-1", workorder.FaultBatteryLow},
		{"11110", "hub-wo-seoul-2", workorder.FaultSensorSilent},
		{"26350", "hub-wo-busan", workorder.FaultBatteryLow},
	} {
		r, err := s.st.Registry().CreateResident(bg, devices.Resident{Name: "주민", DistrictCode: o.district})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := s.st.WorkOrders().OpenOrder(bg, workorder.Order{Hub: o.hub, ResidentID: r.ID, Fault: o.fault, Region: o.district,
			LastIncident: "inc-" + string(o.hub), OpenedAt: now.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		orders[o.hub] = got
	}

	ctx := browser(t, 1366, 900)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		act(t, ctx, what, actions...)
	}
	signInUntil(t, ctx, s.URL, "a-seoul", `nav a[href="/admin/workorders"]`)
	run("open 작업지시", chromedp.Click(`nav a[href="/admin/workorders"]`))
	until(t, ctx, 30*time.Second, "the work orders page",
		`location.pathname === "/admin/workorders" && document.readyState === "complete" && !!document.querySelector("#wo-open")`)
	screenshot(t, ctx, "workorders-01-seoul")
	if got := text(t, ctx, `h1`); got != "점검 작업지시" {
		t.Errorf("title %q", got)
	}
	open := text(t, ctx, `#wo-open`)
	if !strings.Contains(open, "hub-wo-seoul-1") || !strings.Contains(open, "hub-wo-seoul-2") || strings.Contains(open, "hub-wo-busan") ||
		!strings.Contains(open, "배터리 부족") || !strings.Contains(open, "감지기 응답 없음") {
		t.Errorf("the Seoul admin's open orders:\n%s", open)
	}

	run("filter by hub",
		chromedp.SendKeys(`#wo-filter input[name=hub]`, "hub-wo-seoul-2"),
		chromedp.Click(`#wo-filter button[type=submit]`))
	// Wait for the filtered page, not the list still showing before it.
	until(t, ctx, 30*time.Second, "the filtered page",
		`location.search.includes("hub=hub-wo-seoul-2") && document.readyState === "complete" && !!document.querySelector("#wo-open")`)
	screenshot(t, ctx, "workorders-02-filtered")
	if got := count(t, ctx, `#wo-open tr[data-order]`); got != 1 {
		t.Errorf("%d open orders after filtering by hub, want 1:\n%s", got, text(t, ctx, `#wo-open`))
	}
	want := orders["hub-wo-seoul-2"]
	row := `#wo-open tr[data-order="` + want.ID + `"]`
	// An empty "replaced" is refused by the browser (required): the page
	// does not move and the order stays open.
	run("close without what was replaced", chromedp.Click(row+` button[type=submit]`))
	if valid, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+row+` input[name=replaced]').checkValidity()`)); err != nil || valid {
		t.Errorf("an empty 'replaced' field is valid (%v): the form would close an order without it", err)
	}
	run("close with what was replaced",
		chromedp.SendKeys(row+` input[name=replaced]`, "감지기 배터리 CR123A"),
		chromedp.Click(row+` button[type=submit]`))
	until(t, ctx, 30*time.Second, "the page after closing",
		`location.search.includes("done=") && document.readyState === "complete" && !!document.querySelector("#wo-closed")`)
	screenshot(t, ctx, "workorders-03-closed")
	closed := text(t, ctx, `#wo-closed tr[data-order="`+want.ID+`"]`)
	if !strings.Contains(closed, "감지기 배터리 CR123A") || !strings.Contains(closed, "a-seoul") {
		t.Errorf("the closed order's row: %q", closed)
	}
	if got := text(t, ctx, `#wo-open`); strings.Contains(got, "hub-wo-seoul-2") || !strings.Contains(got, "hub-wo-seoul-1") {
		t.Errorf("open orders after closing:\n%s", got)
	}
	if got, err := s.st.WorkOrders().GetOrder(bg, want.ID); err != nil || got.Status != workorder.StatusClosed || got.Replaced != "감지기 배터리 CR123A" || got.ClosedBy != "a-seoul" {
		t.Errorf("the stored order: %+v, %v", got, err)
	}

	// Closed orders only, in English.
	navigate(t, ctx, s.URL+"/admin/workorders?status=closed&lang=en")
	until(t, ctx, 30*time.Second, "the English closed orders",
		`location.search.includes("lang=en") && document.readyState === "complete" && !!document.querySelector("#wo-closed")`)
	screenshot(t, ctx, "workorders-04-english-closed")
	if got := text(t, ctx, `h1`); got != "Maintenance work orders" {
		t.Errorf("English title %q", got)
	}
	if n := count(t, ctx, `#wo-open, #wo-open-none`); n != 0 {
		t.Errorf("status=closed still lists open orders")
	}
	if got := text(t, ctx, `#wo-closed`); !strings.Contains(got, "Sensor silent") {
		t.Errorf("English closed orders:\n%s", got)
	}
}
