package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// caseloadHome registers a resident of sw-park, with a hub that has
// hours of hourly motion (value(h) for h hours ago) unless hours < 0 (no
// hub at all).
func caseloadHome(t *testing.T, s *site, name string, hours int, value func(h int) float64) devices.Resident {
	t.Helper()
	ctx := context.Background()
	r, err := s.st.Registry().CreateResident(ctx, devices.Resident{Name: name, BirthDate: "1936-04-02", Phone: "+821055556666", Language: "ko",
		Address:        devices.Address{Line1: "서울특별시 종로구 세종대로 209", Building: "101동", Floor: "7", Unit: "703", District: "종로구"},
		SocialWorkerID: "sw-park"})
	if err != nil {
		t.Fatal(err)
	}
	if hours < 0 {
		return r
	}
	hub := devices.HubID("hub-" + string(r.ID))
	now := time.Now()
	if _, err := s.st.Registry().CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: now.AddDate(0, 0, -hours/24-1), Model: "DG-200", SecretHash: "$argon2id$unused"}); err != nil {
		t.Fatal(err)
	}
	var rs []devices.Reading
	for h := 1; h <= hours; h++ {
		rs = append(rs, devices.Reading{Sensor: "pir-living", Metric: devices.MetricMotion, At: now.Add(-time.Duration(h) * time.Hour), Value: value(h), Quality: -1})
	}
	if err := s.st.Journal().AppendReadings(ctx, &devices.ReadingBatch{Hub: hub, Received: now, Readings: rs}); err != nil {
		t.Fatal(err)
	}
	if err := s.st.State().SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: devices.HubHealth{Hub: hub, Online: true, LastSeen: now,
		PowerKnown: true, OnMains: true, Battery: 95, Faults: []devices.Fault{}}}}); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSocialWorkerToday: a social worker's Today ranks the caseload by
// need with the reasons in words (the resident with a fire and two falls
// today first), says "not enough data yet" for a new home, flags a
// resident without a hub; the monthly caseload report prints on A4 (print
// media emulated, and a PDF), in Korean and in English.
func TestSocialWorkerToday(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	s.accounts(t, console.Account{ID: "sw-park", Name: "박복지", Role: "social_worker"})
	steady := func(int) float64 { return 8 }
	busy := caseloadHome(t, s, "한화재", 30*24, steady)
	caseloadHome(t, s, "오조용", 5*24, func(h int) float64 {
		if h <= 48 {
			return 2 // 75% less since two days ago
		}
		return 8
	})
	caseloadHome(t, s, "신새집", 20, steady)
	caseloadHome(t, s, "무허브", -1, nil)
	calm := caseloadHome(t, s, "정평온", 30*24, steady)
	if err := s.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, v := range []console.Visit{
		{ResidentID: calm.ID, Kind: "visit", At: time.Now().Add(-3 * 24 * time.Hour), Notes: "잘 지내심"},
		{ResidentID: busy.ID, Kind: "visit", At: time.Now().Add(-10 * 24 * time.Hour)},
	} {
		v.AccountID = "sw-park"
		if err := s.st.Casework().AddVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	// A fire and two falls today in 한화재's home, each handled.
	hub := devices.HubID("hub-" + string(busy.ID))
	for i, c := range []struct {
		cause  detectors.Cause
		prio   detectors.Priority
		sensor devices.SensorID
	}{{detectors.CauseFireConfirmed, detectors.PriorityCritical, "kitchen-smoke"}, {detectors.CauseFall, detectors.PriorityHigh, "wearable-1"}, {detectors.CauseFall, detectors.PriorityHigh, "wearable-1"}} {
		at := time.Now().Add(time.Duration(i-3) * time.Hour)
		inc, err := s.g.Dispatch.HandleDetection(ctx, detectors.Detection{Fingerprint: detectors.Fingerprint(hub, c.cause, c.sensor, at), Hub: hub, Sensor: c.sensor,
			Class: detectors.ClassEmergency, Cause: c.cause, Priority: c.prio, State: detectors.Firing, Episode: at, At: at,
			Explanation: detectors.Explanation{Ko: "시험", En: "test"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.g.Dispatch.Resolve(ctx, inc.ID, dispatch.DispositionRealEmergency, "d-park", "출동 후 귀가"); err != nil {
			t.Fatal(err)
		}
	}

	b := browser(t, 1366, 900)
	signIn(t, b, s.URL, "sw-park")
	rankedNames := `[...document.querySelectorAll('#ranked tr.need td:nth-child(2) a')].map(a => a.textContent).join(",")`
	names, err := chromedp.Run(b, chromedp.Evaluate[string](rankedNames))
	if err != nil {
		t.Fatal(err)
	}
	ranked := text(t, b, `#ranked`)
	screenshot(t, b, "sw-01-today-ranked-ko")
	if names != "한화재,오조용,무허브,신새집" {
		t.Errorf("Today's order: %s, want 한화재,오조용,무허브,신새집 (정평온 has nothing to report)", names)
	}
	for _, want := range []string{"오늘 응급상황 3건", "최근 30일 낙상 2회 (반복 낙상)", "활동량 평소의 25% (최근 2일)", "허브 없음", "아직 데이터 부족 (20시간치", "긴급"} {
		if !strings.Contains(ranked, want) {
			t.Errorf("Today's reasons miss %q: %s", want, ranked)
		}
	}
	if activity := text(t, b, `#activity`); !strings.Contains(activity, "신새집") || !strings.Contains(activity, "아직 데이터 부족") {
		t.Errorf("activity: %q", activity)
	}
	if devs := text(t, b, `#devices`); !strings.Contains(devs, "무허브") || !strings.Contains(devs, "허브 없음") {
		t.Errorf("devices: %q", devs)
	}
	if visits := text(t, b, `#visits`); !strings.Contains(visits, "예정일") || !strings.Contains(visits, "응급상황 후속") {
		t.Errorf("visits: %q", visits)
	}

	navigate(t, b, s.URL+"/today?lang=en")
	ranked = text(t, b, `#ranked`)
	screenshot(t, b, "sw-02-today-ranked-en")
	for _, want := range []string{"3 incidents today", "2 falls in the last 30 days (repeated falls)", "Activity 25% of usual", "No hub installed", "not enough data yet", "urgent"} {
		if !strings.Contains(ranked, want) {
			t.Errorf("Today in English misses %q: %s", want, ranked)
		}
	}

	month := time.Now().In(time.FixedZone("KST", 9*3600))
	for _, lang := range []struct{ code, title, worker, name string }{
		{"ko", fmt.Sprintf("월간 사례관리 보고서 · %d년 %d월", month.Year(), int(month.Month())), "담당 응급관리요원: 박복지 (sw-park)", "한화재"},
		{"en", "Monthly caseload report · " + month.Format("January 2006"), "Social worker: 박복지 (sw-park)", "한화재"},
	} {
		navigate(t, b, s.URL+"/reports/caseload?lang="+lang.code)
		err := chromedp.Do(b, chromedp.WaitVisible(`#caseload`), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
			return err
		}))
		if err != nil {
			t.Fatal(err)
		}
		hidden, err := chromedp.Run(b, chromedp.Evaluate[string](`[getComputedStyle(document.querySelector('header')).display, getComputedStyle(document.querySelector('form.filters')).display, getComputedStyle(document.querySelector('.sign')).display].join(",")`))
		if err != nil {
			t.Fatal(err)
		}
		report := text(t, b, `#caseload`)
		screenshot(t, b, "sw-03-caseload-print-"+lang.code)
		if hidden != "none,none,block" {
			t.Errorf("%s: printed header, filters, signature line display %q, want none,none,block", lang.code, hidden)
		}
		for _, want := range []string{lang.title, lang.worker, lang.name, "무허브", "신새집"} {
			if !strings.Contains(report, want) {
				t.Errorf("%s: the printed report misses %q: %s", lang.code, want, report)
			}
		}
		pdf, err := chromedp.Run(b, func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
			prefer := true
			res, err := cdp.Call(ctx, tg, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &prefer})
			return res.Data, err
		})
		if err != nil {
			t.Fatal(err)
		}
		writeArtifact(t, "sw-04-caseload-"+lang.code+".pdf", pdf)
		// A4 is 210 x 297 mm: 595.3 x 841.9 points (Chromium writes 594.96 x 841.92).
		if !a4.Match(pdf) {
			t.Errorf("%s: the PDF's pages are not A4: %q", lang.code, regexp.MustCompile(`/MediaBox \[[^]]*\]`).Find(pdf))
		}
		if err := chromedp.Do(b, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
			return err
		})); err != nil {
			t.Fatal(err)
		}
	}
}

var a4 = regexp.MustCompile(`/MediaBox \[0 0 59[45]\.\d+ 84[12]\.\d+\]`)
