package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// TestAdminRegistersAResidentAndAHub: an admin creates a resident (a typo
// in the phone is refused in Korean first), assigns the social worker,
// adds a hub (its secret shown once) and a sensor, all in the browser;
// then the resident is found by the phone typed another way.
// Screenshots admin-01..05.
func TestAdminRegistersAResidentAndAHub(t *testing.T) {
	s := startSite(t)
	bg := context.Background()
	s.accounts(t, console.Account{ID: "root", Name: "관리자", Role: "admin"}, console.Account{ID: "sw-kim", Name: "김민지", Role: "social_worker"})
	ctx := browser(t, 1366, 900)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		act(t, ctx, what, actions...)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	signInUntil(t, ctx, s.URL, "root", `a[href="/admin/residents/new"]`)
	run("open the new resident form",
		chromedp.Click(`nav a[href="/admin/residents/new"]`),
		chromedp.WaitVisible(`form.admin-form input[name=name]`),
	)
	screenshot(t, ctx, "admin-01-new-resident")

	run("submit with a typo in the phone",
		chromedp.SendKeys(`form.admin-form input[name=name]`, "한말순"),
		chromedp.SendKeys(`form.admin-form input[name=phone]`, "010-3333"),
		chromedp.SendKeys(`form.admin-form input[name=line1]`, "서울특별시 노원구 동일로 1414"),
		chromedp.SendKeys(`form.admin-form input[name=building]`, "103동"),
		chromedp.SendKeys(`form.admin-form input[name=floor]`, "15"),
		chromedp.SendKeys(`form.admin-form input[name=unit]`, "1502"),
		chromedp.SetValue(`form.admin-form select[name=social_worker_id]`, "sw-kim"),
		chromedp.SendKeys(`form.admin-form input[name=guardian1_name]`, "한철수"),
		chromedp.SendKeys(`form.admin-form input[name=guardian1_phone]`, "010-5555-6666"),
		chromedp.Click(`form.admin-form button[type=submit]`),
		chromedp.WaitVisible(`#problem`),
	)
	if got := text(`#problem`); !strings.Contains(got, "전화번호") || !strings.Contains(got, "010-1234-5678") {
		t.Errorf("the refusal says %q", got)
	}
	screenshot(t, ctx, "admin-02-resident-refused")
	// The form kept what was typed: only the phone is corrected.
	run("submit again",
		chromedp.SetValue(`form.admin-form input[name=phone]`, "010-3333-4444"),
		chromedp.Click(`form.admin-form button[type=submit]`),
		chromedp.WaitVisible(`.notice`),
	)
	screenshot(t, ctx, "admin-03-resident-created")

	list, err := s.st.Registry().ListResidents(bg, console.ListQuery{Search: "한말순"})
	if err != nil || len(list) != 1 {
		t.Fatalf("the resident is not stored: %v %v", list, err)
	}
	r := list[0]
	if r.Phone != "+821033334444" || r.SocialWorkerID != "sw-kim" || r.Address.Building != "103동" || len(r.Guardians) != 1 {
		t.Errorf("stored resident %+v", r)
	}

	run("add a hub",
		chromedp.SendKeys(`form[action="/admin/hubs"] input[name=id]`, "hub-admin-1"),
		chromedp.SendKeys(`form[action="/admin/hubs"] input[name=model]`, "DH-200"),
		chromedp.Click(`form[action="/admin/hubs"] button[type=submit]`),
		chromedp.WaitVisible(`#hub-secret`),
	)
	secret := text(`#hub-secret`)
	screenshot(t, ctx, "admin-04-hub-created")
	h, err := s.st.Registry().GetHub(bg, "hub-admin-1")
	if err != nil || h.ResidentID != r.ID {
		t.Fatalf("stored hub %+v (%v)", h, err)
	}
	if ok, _ := devices.VerifySecret(h.SecretHash, strings.TrimSpace(secret)); !ok {
		t.Errorf("the secret shown does not open the hub")
	}
	run("add a sensor",
		chromedp.SendKeys(`form[action="/admin/hubs/hub-admin-1/sensors"] input[name=sensor_id]`, "kitchen-smoke"),
		chromedp.SetValue(`form[action="/admin/hubs/hub-admin-1/sensors"] select[name=kind]`, "smoke"),
		chromedp.SetValue(`form[action="/admin/hubs/hub-admin-1/sensors"] select[name=location]`, "kitchen"),
		chromedp.Click(`form[action="/admin/hubs/hub-admin-1/sensors"] button[type=submit]`),
		// The sensor's own row (the page before had a notice too).
		chromedp.WaitVisible(`form[action="/admin/hubs/hub-admin-1/sensors/kitchen-smoke"]`),
	)
	screenshot(t, ctx, "admin-05-hub-sensors")
	if s, err := s.st.Registry().GetSensor(bg, "hub-admin-1", "kitchen-smoke"); err != nil || s.Kind != devices.SensorSmoke || s.Location != devices.LocKitchen {
		t.Errorf("stored sensor %+v (%v)", s, err)
	}
	if strings.Contains(text(`main`), strings.TrimSpace(secret)) {
		t.Errorf("the hub's secret is shown again")
	}

	run("search by the phone typed another way",
		chromedp.Navigate(s.URL+"/residents?q="+"01033334444"),
		chromedp.WaitVisible(`table.list`),
	)
	if got := text(`table.list tbody`); !strings.Contains(got, "한말순") {
		t.Errorf("search 01033334444 lists %q", got)
	}
}
