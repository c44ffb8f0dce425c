// Package e2e drives the consoles in a real browser (Debian's Chromium,
// headless, through chromedp) against an in-process dolbomd, and writes
// screenshots to screenshots/ at the top of the repository (git-ignored;
// DOLBOM_SCREENSHOTS overrides) for people to review. It lives under cmd/
// because it wires the gateway, which is internal to cmd.
package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

const (
	chromium = "/usr/bin/chromium"
	password = "e2e-password-1234"
)

// browser starts a fresh headless Chromium with its own profile.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("DOLBOM_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s missing (scripts/ensure-tools.sh installs it): %v", chromium, err)
		}
		t.Skipf("%s missing: run scripts/ensure-tools.sh", chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "ko-KR"),
		// The queue's alarm tone may play without a click (a person clicks once).
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelCtx := chromedp.NewContext(actx)
	// The first action starts the browser, which lives as long as that
	// action's context: no timeout on it, only on what follows.
	if err := chromedp.Do(browserCtx, chromedp.Navigate("about:blank")); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	// One budget for everything a test does in this browser: generous,
	// because a busy machine (make test runs packages side by side) can
	// take a minute and more over what a quiet one needs.
	ctx, cancelTimeout := context.WithTimeout(browserCtx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// accounts creates console accounts that sign in with the tests' password.
func (s *site) accounts(t *testing.T, as ...console.Account) {
	t.Helper()
	for _, a := range as {
		a.PasswordHash = console.HashPassword(password)
		if err := s.st.Accounts().CreateAccount(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

type seeded struct {
	mine   []devices.Resident
	theirs devices.Resident
}

// seed makes two social workers, residents for each, and 30 days of hourly
// motion, heart rate and breathing through the store's journal.
func seed(t *testing.T, s *site) seeded {
	t.Helper()
	ctx := context.Background()
	s.accounts(t,
		console.Account{ID: "sw-kim", Name: "김민지", Role: "social_worker"},
		console.Account{ID: "sw-lee", Name: "이서준", Role: "social_worker"})
	people := []struct {
		name, worker string
		priority     bool
		quiet        bool // activity fell over the last 3 days
		onBattery    bool
	}{
		{"김영희", "sw-kim", true, false, false},
		{"박순자", "sw-kim", false, true, false},
		{"최말순", "sw-kim", false, false, true},
		{"정다른", "sw-lee", false, false, false},
	}
	now := time.Now()
	var out seeded
	for i, p := range people {
		r, err := s.st.Registry().CreateResident(ctx, devices.Resident{
			Name: p.name, BirthDate: fmt.Sprintf("194%d-0%d-1%d", i, i+1, i), Phone: "+8210" + fmt.Sprintf("%08d", 12345670+i), Language: "ko",
			Address:      devices.Address{Line1: "서울특별시 종로구 세종대로 " + fmt.Sprint(200+i), Building: "101동", Floor: "3", Unit: "30" + fmt.Sprint(i), District: "종로구"},
			MedicalNotes: "고혈압", Medications: []string{"암로디핀"},
			SocialWorkerID: p.worker, Priority: p.priority,
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.worker == "sw-kim" {
			out.mine = append(out.mine, r)
		} else {
			out.theirs = r
		}
		hub := devices.HubID(fmt.Sprintf("hub-e2e-%d", i))
		if _, err := s.st.Registry().CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: now.AddDate(-1, 0, 0), Model: "DG-200", SecretHash: "$argon2id$unused"}); err != nil {
			t.Fatal(err)
		}
		var rs []devices.Reading
		for h := 1; h <= 30*24; h++ {
			at := now.Add(-time.Duration(h) * time.Hour)
			local := at.In(time.FixedZone("KST", 9*3600)).Hour()
			motion := 0.0
			switch {
			case local >= 7 && local < 12, local >= 14 && local < 21:
				motion = 6 + float64((h*7+i*3)%9)
			case local >= 12 && local < 14:
				motion = 3
			case local == 2 && h%3 == 0:
				motion = 1 // a night-time trip
			}
			if p.quiet && h <= 72 {
				motion *= 0.2
			}
			hr := 66 + 6*math.Sin(float64(h)/9) + float64(i)
			if local < 6 {
				hr -= 8
			}
			rs = append(rs,
				devices.Reading{Sensor: "pir-living", Metric: devices.MetricMotion, At: at, Value: motion, Quality: -1},
				devices.Reading{Sensor: "radar-bed", Metric: devices.MetricHeartRate, At: at, Value: math.Round(hr), Quality: 0.9},
				devices.Reading{Sensor: "radar-bed", Metric: devices.MetricRespiration, At: at, Value: math.Round(15 + 2*math.Cos(float64(h)/13)), Quality: 0.9},
			)
		}
		if err := s.st.Journal().AppendReadings(ctx, &devices.ReadingBatch{Hub: hub, Received: now, Readings: rs}); err != nil {
			t.Fatal(err)
		}
		health := devices.HubHealth{Hub: hub, Online: true, LastSeen: now.Add(-time.Minute), PowerKnown: true, OnMains: true, Battery: 95, Faults: []devices.Fault{}}
		if p.onBattery {
			health.OnMains, health.Battery, health.Faults = false, 41, []devices.Fault{devices.FaultPowerLost}
		}
		if err := s.st.State().SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: health}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.st.Casework().AddVisit(ctx, &console.Visit{ResidentID: out.mine[0].ID, Kind: "visit", At: now.AddDate(0, 0, -12), AccountID: "sw-kim", Notes: "건강 양호, 식사 잘 하심", Next: now.AddDate(0, 0, 18)}); err != nil {
		t.Fatal(err)
	}
	return out
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// Bounded and tried again, as navigate: a capture that meets the
	// page's own reload can wait for ever.
	var buf []byte
	var err error
	for range 2 {
		actx, cancel := context.WithTimeout(ctx, 40*time.Second)
		buf, err = chromedp.Run(actx, chromedp.FullScreenshot(100))
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	writeArtifact(t, name+".png", buf)
}

// writeArtifact writes a file for people to review into screenshots/ (or
// DOLBOM_SCREENSHOTS).
func writeArtifact(t *testing.T, file string, data []byte) {
	t.Helper()
	dir := os.Getenv("DOLBOM_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signIn(t *testing.T, ctx context.Context, url, user string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/login"),
		chromedp.WaitVisible(`input[name=username]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "01-login")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(`input[name=username]`, user),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`#incidents`),
	)
	if err != nil {
		t.Fatalf("sign in as %s: %v", user, err)
	}
}

func TestSocialWorker(t *testing.T) {
	s := startSite(t)
	data := seed(t, s)
	ctx := browser(t, 1366, 900)
	signIn(t, ctx, s.URL, "sw-kim")

	title, activity, devicesText, visits := text(t, ctx, `h1`), text(t, ctx, `#activity`), text(t, ctx, `#devices`), text(t, ctx, `#visits`)
	screenshot(t, ctx, "02-today")
	if !strings.Contains(title, "오늘 확인할 일") {
		t.Errorf("Today title: %q", title)
	}
	if !strings.Contains(activity, "박순자") || strings.Contains(activity, "김영희") {
		t.Errorf("activity dropping: %q, want 박순자 only", activity)
	}
	if !strings.Contains(devicesText, "최말순") || !strings.Contains(devicesText, "정전") {
		t.Errorf("devices: %q, want 최말순 on battery", devicesText)
	}
	for _, r := range append(data.mine, data.theirs) {
		if strings.Contains(visits, r.Name) != (r.Name == "박순자" || r.Name == "최말순") {
			t.Errorf("visits due: %q; %s listed wrongly", visits, r.Name)
		}
	}

	navigate(t, ctx, s.URL+"/residents")
	list := text(t, ctx, `table.list tbody`)
	screenshot(t, ctx, "03-residents")
	for _, r := range data.mine {
		if !strings.Contains(list, r.Name) {
			t.Errorf("resident list misses %s: %q", r.Name, list)
		}
	}
	if strings.Contains(list, data.theirs.Name) {
		t.Errorf("resident list shows another worker's resident %s", data.theirs.Name)
	}

	navigate(t, ctx, s.URL+"/residents/"+string(data.mine[1].ID))
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`svg.heatmap`)); err != nil {
		t.Fatal(err)
	}
	heading := text(t, ctx, `#activity h2`)
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.heatmap rect").length`))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "04-resident")
	if cells != 30*24 || !strings.Contains(heading, "최근 30일") {
		t.Errorf("heatmap: %d cells under %q, want 720 under the 30-day heading", cells, heading)
	}

	// Another worker's resident does not exist for this one.
	navigate(t, ctx, s.URL+"/residents/"+string(data.theirs.ID))
	body := text(t, ctx, `main`)
	if !strings.Contains(body, "찾을 수 없습니다") || strings.Contains(body, data.theirs.Name) {
		t.Errorf("another worker's resident: %q", body)
	}

	// A visit recorded through the form appears in the log.
	navigate(t, ctx, s.URL+"/residents/"+string(data.mine[1].ID))
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(`.visit-form`),
		chromedp.SendKeys(`.visit-form textarea`, "활동량 감소로 방문, 감기 기운 있음"),
		chromedp.Click(`.visit-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The form posts and the page comes back with the visit: wait for it.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if body, _ = chromedp.Run(ctx, chromedp.Text(`#visits table`)); strings.Contains(body, "감기 기운") {
			break
		}
	}
	if !strings.Contains(body, "감기 기운") {
		t.Errorf("visit log after adding: %q", body)
	}

	// The tablet layout of Today.
	tablet := browser(t, 820, 1180)
	signIn(t, tablet, s.URL, "sw-kim")
	screenshot(t, tablet, "05-today-tablet")
}

// act runs actions in the browser, failing the test with what they were
// for.
func act(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// signInUntil signs user in through the login form and waits for sel on
// the page it lands on.
func signInUntil(t *testing.T, ctx context.Context, url, user, sel string) {
	t.Helper()
	act(t, ctx, "sign in as "+user,
		chromedp.Navigate(url+"/login"),
		chromedp.WaitVisible(`input[name=username]`),
		chromedp.SendKeys(`input[name=username]`, user),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(sel),
	)
}

// navigate loads url, trying again when a load fails or hangs: a page that
// reloads itself while its incident changes (119 answering) can cut a
// navigation short, and Chromium then may never send the load event the
// navigation waits for, which spent the browser's whole budget.
func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	var err error
	for range 3 {
		actx, cancel := context.WithTimeout(ctx, 40*time.Second)
		err = chromedp.Do(actx, chromedp.Navigate(url))
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}
