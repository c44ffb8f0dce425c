package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// TestFleetPageInBrowser: a Busan admin opens 기기 현황 from the menu, sees
// Busan's hubs and counts only, filters by battery, downloads the CSV in
// the page's session (Busan's only, with a byte order mark), and reads the
// page in English. Screenshots fleet-01..03.
func TestFleetPageInBrowser(t *testing.T) {
	s := startSite(t)
	bg := context.Background()
	s.accounts(t, console.Account{ID: "a-busan", Name: "부산관리", Role: console.RoleAdmin, Regions: []string{"26"}})
	now := time.Now().UTC()
	for _, h := range []struct {
		district string
		hub      devices.HubID
		battery  float64
		online   bool
	}{
		{"11110", "hub-seoul-1", 90, true},
		{"26350", "hub-busan-1", 80, true},
		{"26350", "hub-busan-2", 9, false},
	} {
		r, err := s.st.Registry().CreateResident(bg, devices.Resident{Name: "주민", DistrictCode: h.district})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.st.Registry().CreateHub(bg, devices.Hub{ID: h.hub, ResidentID: r.ID, Model: "DG-100", Firmware: "1.0"}); err != nil {
			t.Fatal(err)
		}
		rec := devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: h.hub, Online: h.online, LastSeen: now.Add(-time.Hour), PowerKnown: true, OnMains: h.online, Battery: h.battery, Firmware: "1.1"}}
		if err := s.st.State().SaveHubHealth(bg, []devices.HubHealthRecord{rec}); err != nil {
			t.Fatal(err)
		}
	}

	ctx := browser(t, 1366, 900)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		act(t, ctx, what, actions...)
	}
	signInUntil(t, ctx, s.URL, "a-busan", `nav a[href="/admin/fleet"]`)
	run("open 기기 현황", chromedp.Click(`nav a[href="/admin/fleet"]`), chromedp.WaitVisible(`#fleet-hubs`))
	screenshot(t, ctx, "fleet-01-busan")
	if got := text(t, ctx, `h1`); got != "기기 현황" {
		t.Errorf("title %q", got)
	}
	hubs := text(t, ctx, `#fleet-hubs`)
	if !strings.Contains(hubs, "hub-busan-1") || !strings.Contains(hubs, "hub-busan-2") || strings.Contains(hubs, "hub-seoul") {
		t.Errorf("the Busan admin's hubs:\n%s", hubs)
	}
	if got := text(t, ctx, `#by-sido`); strings.Contains(got, "서울") || !strings.Contains(got, "부산광역시") {
		t.Errorf("counts by 시도:\n%s", got)
	}
	if got := text(t, ctx, `#fleet-total .tile:first-child .count`); got != "2" {
		t.Errorf("hubs in total %q, want 2 (Busan's)", got)
	}

	run("filter battery below 20",
		chromedp.SendKeys(`#fleet-filter input[name=battery_below]`, "20"),
		chromedp.Click(`#fleet-filter button[type=submit]`),
	)
	// The list of the page before the submit is visible too: wait for the
	// filtered page to have loaded (a screenshot taken mid-navigation
	// waited out the test's 300 s on a busy machine).
	until(t, ctx, 30*time.Second, "the filtered page",
		`location.search.includes("battery_below=20") && document.readyState === "complete" && !!document.querySelector("#fleet-hubs")`)
	screenshot(t, ctx, "fleet-02-low-battery")
	if hubs := text(t, ctx, `#fleet-hubs`); !strings.Contains(hubs, "hub-busan-2") || strings.Contains(hubs, "hub-busan-1") {
		t.Errorf("battery below 20:\n%s", hubs)
	}
	// The CSV link carries the filters and the session: fetch it as the
	// browser would download it.
	csv, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector("#fleet-csv").href).then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	// fetch's text() drops a byte order mark (the Encoding standard's UTF-8
	// decode): its bytes are read apart.
	bom, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector("#fleet-csv").href).then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b.slice(0, 3))).join(","))`,
		chromedp.EvalAwaitPromise))
	if err != nil || bom != "239,187,191" {
		t.Errorf("the CSV starts with bytes %s, %v; want the UTF-8 byte order mark 239,187,191", bom, err)
	}
	if !strings.HasPrefix(csv, "hub_id,") || !strings.Contains(csv, "hub-busan-2") || strings.Contains(csv, "hub-busan-1") || strings.Contains(csv, "seoul") || !strings.Contains(csv, "부산광역시") {
		t.Errorf("the page's CSV:\n%q", csv)
	}
	all, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/console/api/fleet.csv?region=11").then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(all, "seoul") {
		t.Errorf("a Busan admin exported Seoul's hubs:\n%s", all)
	}

	navigate(t, ctx, s.URL+"/admin/fleet?lang=en")
	run("English", chromedp.WaitVisible(`#fleet-hubs`))
	screenshot(t, ctx, "fleet-03-english")
	if got := text(t, ctx, `h1`); got != "Fleet" {
		t.Errorf("English title %q", got)
	}
}
