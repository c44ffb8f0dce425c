package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/ota"
)

// TestRolloutsPageInBrowser: four hubs of a model connected over MQTT; a
// first rollout halts by itself when a canary hub acknowledges a failed
// install, a second runs. A national admin opens 펌웨어 배포 from the menu,
// reads both rollouts with their counts, the first one's page with its
// stages and the failed hub and its reason (no buttons: it is not the
// current rollout), halts the second from its button, and reads the page
// in English. A Busan admin has no menu entry, gets 403 on the page
// without buttons, and 403 on a rollback posted with their own session's
// CSRF token (the rollout is untouched). Screenshots rollouts-01..05.
func TestRolloutsPageInBrowser(t *testing.T) {
	s := startSite(t)
	bg := context.Background()
	s.accounts(t,
		console.Account{ID: "a-nat", Name: "전국관리", Role: console.RoleAdmin},
		console.Account{ID: "a-busan", Name: "부산관리", Role: console.RoleAdmin, Regions: []string{"26"}})
	const model = "DG-300"
	clients := map[devices.HubID]mqtt.Client{}
	for i := range 4 {
		// These hubs answer their commands by hand below.
		h, cl := s.modelHub(t, model, devices.HubID(fmt.Sprintf("hub-ota-%d", i)), fmt.Sprintf("주민%d", i), true)
		clients[h] = cl
	}
	s.publishImages(t, model, "1.1", "1.2")
	rollouts := s.st.Rollouts()
	counts := func(id int64) ota.Counts {
		m, err := rollouts.RolloutCounts(bg, []int64{id})
		if err != nil || len(m[id]) == 0 {
			return ota.Counts{}
		}
		return m[id][0]
	}

	// The first rollout: a canary of two; one acknowledges a failed
	// install, which is over its 20% and halts it.
	first, err := s.g.OTA.Start(bg, model, "1.1", ota.Plan{Canary: 0.5, HaltOn: 0.2, StageTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the canary commanded", func() bool { return counts(first.ID).Sent == 2 })
	targets, err := rollouts.RolloutTargets(bg, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	var failing devices.HubID
	for _, tg := range targets {
		if tg.Stage == 0 {
			failing = tg.Hub
			break
		}
	}
	publish(t, clients[failing], failing, devices.ChanCmdAck, devices.EncodeCmdAck(devices.CommandAck{Hub: failing, ID: ota.CommandID(first.ID),
		Status: devices.AckFailed, Detail: "hash_mismatch", At: time.Now()}))
	waitFor(t, 20*time.Second, "the first rollout halted by itself", func() bool {
		r, err := rollouts.Rollout(bg, first.ID)
		return err == nil && r.State == ota.Halted
	})
	// The second rollout runs: its canary is commanded and says nothing.
	second, err := s.g.OTA.Start(bg, model, "1.2", ota.Plan{Canary: 0.25, HaltOn: 0.5, StageTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the second canary commanded", func() bool { return counts(second.ID).Sent == 1 })

	ctx := browser(t, 1366, 900)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		act(t, ctx, what, actions...)
	}
	signInUntil(t, ctx, s.URL, "a-nat", `nav a[href="/admin/rollouts"]`)
	run("open 펌웨어 배포", chromedp.Click(`nav a[href="/admin/rollouts"]`))
	until(t, ctx, 30*time.Second, "the rollouts list",
		`location.pathname === "/admin/rollouts" && document.readyState === "complete" && !!document.querySelector("#ro-list")`)
	screenshot(t, ctx, "rollouts-01-list")
	if got := text(t, ctx, `h1`); got != "펌웨어 배포" {
		t.Errorf("title %q", got)
	}
	row := func(id int64, cell string) string {
		t.Helper()
		return strings.TrimSpace(text(t, ctx, fmt.Sprintf(`#ro-list tr[data-rollout="%d"] %s`, id, cell)))
	}
	if st, sent, failed, reason := row(first.ID, "td.state"), row(first.ID, "td.sent"), row(first.ID, "td.failed"), row(first.ID, "td.reason"); st != "중단됨" || sent != "2" || failed != "1" || !strings.Contains(reason, "stage 0: 1 of 2") {
		t.Errorf("the first rollout's row: state %q, sent %q, failed %q, reason %q", st, sent, failed, reason)
	}
	if st, sent := row(second.ID, "td.state"), row(second.ID, "td.sent"); st != "진행 중" || sent != "1" {
		t.Errorf("the second rollout's row: state %q, sent %q", st, sent)
	}

	// The halted rollout's page: its stages and the failed hub, no buttons.
	run("open the first rollout", chromedp.Click(fmt.Sprintf(`#ro-list tr[data-rollout="%d"] a`, first.ID)))
	until(t, ctx, 30*time.Second, "the first rollout's page",
		fmt.Sprintf(`location.pathname === "/admin/rollouts/%d" && document.readyState === "complete" && !!document.querySelector("#ro-failures")`, first.ID))
	screenshot(t, ctx, "rollouts-02-halted-by-itself")
	if got := text(t, ctx, fmt.Sprintf(`#ro-failures tr[data-hub="%s"]`, failing)); !strings.Contains(got, "설치 실패") || !strings.Contains(got, "hash_mismatch") || !strings.Contains(got, "1.0") {
		t.Errorf("the failed hub's row: %q", got)
	}
	if got := text(t, ctx, `#ro-stages tr[data-stage="0"]`); !strings.Contains(got, "카나리") {
		t.Errorf("the canary stage: %q", got)
	}
	if n := count(t, ctx, `#ro-halt, #ro-rollback`); n != 0 {
		t.Errorf("an older rollout's page has %d buttons, want none (the engine acts on the newest only)", n)
	}

	// The running rollout: halt it from its button.
	navigate(t, ctx, fmt.Sprintf("%s/admin/rollouts/%d", s.URL, second.ID))
	run("halt", chromedp.WaitVisible(`#ro-halt button`), chromedp.WaitVisible(`#ro-rollback button`),
		chromedp.SendKeys(`#ro-halt input[name=reason]`, "현장 점검"),
		chromedp.Click(`#ro-halt button`))
	until(t, ctx, 30*time.Second, "the halted rollout's page",
		`location.search.includes("done=halted") && document.readyState === "complete" && !!document.querySelector("#ro-done")`)
	screenshot(t, ctx, "rollouts-03-halted")
	if got := text(t, ctx, `#ro-state`); got != "중단됨" {
		t.Errorf("state after halting: %q", got)
	}
	if r, err := rollouts.Rollout(bg, second.ID); err != nil || r.State != ota.Halted || !strings.Contains(r.Reason, "현장 점검") || !strings.Contains(r.Reason, "a-nat") {
		t.Errorf("the second rollout after the button: %+v, %v", r, err)
	}
	if n := count(t, ctx, `#ro-halt`); n != 0 {
		t.Errorf("a halted rollout still offers halt")
	}

	navigate(t, ctx, s.URL+"/admin/rollouts?lang=en")
	until(t, ctx, 30*time.Second, "the English list",
		`location.search.includes("lang=en") && document.readyState === "complete" && !!document.querySelector("#ro-list")`)
	screenshot(t, ctx, "rollouts-04-english")
	if got := text(t, ctx, `h1`); got != "Firmware rollouts" {
		t.Errorf("English title %q", got)
	}
	navigate(t, ctx, s.URL+"/admin/rollouts?lang=ko")

	// A regional admin: no menu entry, 403 on the page without buttons,
	// 403 on a rollback posted with a valid CSRF token.
	run("sign out", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible(`input[name=username]`))
	signInUntil(t, ctx, s.URL, "a-busan", `nav a[href="/admin/fleet"]`)
	if n := count(t, ctx, `nav a[href="/admin/rollouts"]`); n != 0 {
		t.Errorf("a Busan admin's menu offers 펌웨어 배포")
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch("/admin/rollouts/%d").then(r => r.status)`, second.ID), chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Errorf("a Busan admin's GET of the rollout page: %d, %v; want 403", status, err)
	}
	navigate(t, ctx, fmt.Sprintf("%s/admin/rollouts/%d", s.URL, second.ID))
	until(t, ctx, 30*time.Second, "the refusal",
		fmt.Sprintf(`location.pathname === "/admin/rollouts/%d" && document.readyState === "complete" && !!document.querySelector("main h1")`, second.ID))
	screenshot(t, ctx, "rollouts-05-regional-403")
	if body := text(t, ctx, `main`); !strings.Contains(body, "전국 관리자만") || strings.Contains(body, "hub-ota") {
		t.Errorf("a Busan admin's rollout page: %q", body)
	}
	if n := count(t, ctx, `#ro-halt, #ro-rollback, #ro-list`); n != 0 {
		t.Errorf("a Busan admin sees %d of the rollouts' list and buttons", n)
	}
	answer, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch("/admin/rollouts/%d/rollback", {method: "POST",
		body: new URLSearchParams({csrf: document.querySelector('form[action="/logout"] input[name=csrf]').value})}).then(r => r.text().then(b => r.status + " " + b))`, second.ID),
		chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(answer, "403 ") || !strings.Contains(answer, "전국 관리자만") {
		t.Errorf("a Busan admin's rollback: %.200q, %v; want 403 for national admins only (not a CSRF refusal)", answer, err)
	}
	if list, err := rollouts.Rollouts(bg, 5); err != nil || len(list) != 2 || list[0].State != ota.Halted {
		t.Errorf("after the Busan admin's rollback the rollouts are %+v, %v; want the two, the second halted", list, err)
	}
}

// count is the number of elements sel matches in the page.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// modelHub registers a resident in 종로구 and a hub of model on firmware
// 1.0, and connects it; with subscribe, to its commands too (the broker
// refuses to send a command to a hub that has not subscribed).
func (s *site) modelHub(t *testing.T, model string, id devices.HubID, name string, subscribe bool) (devices.HubID, mqtt.Client) {
	t.Helper()
	bg := context.Background()
	r, err := s.st.Registry().CreateResident(bg, devices.Resident{Name: name, DistrictCode: "11110"})
	if err != nil {
		t.Fatal(err)
	}
	h := home{resident: r, hub: id, secret: devices.NewSecret()}
	if _, err := s.st.Registry().CreateHub(bg, devices.Hub{ID: h.hub, ResidentID: r.ID, Model: model, Firmware: "1.0",
		InstalledAt: time.Now().AddDate(-1, 0, 0), SecretHash: devices.HashHubSecret(h.secret)}); err != nil {
		t.Fatal(err)
	}
	cl := s.connect(t, h)
	if subscribe {
		if tok := cl.Subscribe(devices.Topic(h.hub, devices.ChanCmd), 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", h.hub, tok.Error())
		}
	}
	return h.hub, cl
}

// publishImages publishes an image of model for each version, signed by
// one vendor key.
func (s *site) publishImages(t *testing.T, model string, versions ...string) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	for _, v := range versions {
		data := []byte("firmware " + model + " " + v)
		sum := sha256.Sum256(data)
		sig := ed25519.Sign(key, devices.FirmwareManifest(model, v, int64(len(data)), hex.EncodeToString(sum[:])))
		if _, err := s.g.OTA.Publish(context.Background(), ota.Image{Model: model, Version: v, Signature: base64.StdEncoding.EncodeToString(sig)}, data); err != nil {
			t.Fatal(err)
		}
	}
}
