package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/cmd/internal/webconsole"
	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// deskSite is the web console with a running dispatcher over a fresh
// store; its channels (119, SMS, voice) are fakes that accept everything.
type deskSite struct {
	site
	d *dispatch.Dispatcher
}

func startDeskSite(t *testing.T) *deskSite {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	dir := t.TempDir()
	key, err := store.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Config{DataDir: dir, SecretKey: key, Logger: log, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	accept := dispatch.NotifierFunc(func(_ context.Context, n dispatch.Notification) (string, bool, error) {
		return "ref-" + n.Key, false, nil
	})
	d, err := dispatch.New(dispatch.Config{Store: st, Directory: st, Logger: log,
		Notifiers: map[string]dispatch.Notifier{"cap": accept, "sms": accept, "voice": accept, "console": accept}})
	if err != nil {
		t.Fatal(err)
	}
	stDone, dDone := make(chan error, 1), make(chan error, 1)
	go func() { stDone <- st.Run(ctx) }()
	dCtx, stopD := context.WithCancel(ctx)
	go func() { dDone <- d.Run(dCtx) }()
	t.Cleanup(func() { stopD(); <-dDone; cancel(); <-stDone; st.Close() })
	web, err := webconsole.New(console.WebConfig{}, st, webconsole.StoreHealth{St: st}, webconsole.DispatchPorts(d, st), log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web)
	t.Cleanup(srv.Close)
	return &deskSite{site: site{URL: srv.URL, st: st}, d: d}
}

// A dispatcher signs in, a fall appears in the live queue within 2 s (with
// an SOS already sounding the P1 alarm), they open it, see the accelerometer
// chart of the impact, acknowledge and resolve it.
func TestDispatcher(t *testing.T) {
	s := startDeskSite(t)
	ctx := context.Background()
	if _, err := s.st.CreateAccount(ctx, store.Account{ID: "d-park", Name: "박상황", Role: "dispatcher", PasswordHash: console.HashPassword(password)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var hubs []devices.HubID
	for i, name := range []string{"김영희", "박순자"} {
		r, err := s.st.CreateResident(ctx, devices.Resident{
			Name: name, BirthDate: fmt.Sprintf("194%d-03-1%d", i+1, i), Phone: fmt.Sprintf("+82102345678%d", i), Language: "ko",
			Address: devices.Address{Line1: "서울특별시 종로구 세종대로 " + fmt.Sprint(209+i), Building: "101동", Floor: "3", Unit: "30" + fmt.Sprint(i+1),
				District: "종로구", Lat: 37.5725 + float64(i)/1000, Lon: 126.9769},
			MedicalNotes: "고혈압, 심방세동", Medications: []string{"와파린", "암로디핀"}, Allergies: []string{"페니실린"},
			Access:    devices.Access{KeyHolder: "관리사무소 02-123-4567", KeySafeCode: "4821", DoorCode: "*8812#"},
			Guardians: []devices.Guardian{{Name: "김민수", Relation: "아들", Phone: "+821099998888", Order: 1}},
			Consent:   devices.Consent{ShareMedicalWith119: true, NotifyGuardians: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		hub := devices.HubID(fmt.Sprintf("hub-desk-%d", i))
		if _, err := s.st.CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: now.AddDate(-1, 0, 0), Model: "DG-200", SecretHash: "$argon2id$unused"}); err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, hub)
	}

	b := browser(t, 1366, 900)
	err := chromedp.Do(b,
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(`input[name=username]`),
		chromedp.SendKeys(`input[name=username]`, "d-park"),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`#queue`),
		chromedp.WaitVisible(`#live:not(.off)`),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}

	// An SOS first: the P1 alarm (tone and flash).
	sosAt := time.Now().Add(-40 * time.Second)
	if _, err := s.d.HandleDetection(ctx, detection(hubs[1], detectors.CauseSOS, detectors.PriorityCritical, "button-1", sosAt,
		"비상 버튼이 눌렸습니다.", "The emergency button was pressed.")); err != nil {
		t.Fatal(err)
	}

	// The fall: a wearable's accelerometer around the impact, stored as
	// hubs' chunks are, then the detection handed to the dispatcher.
	impact := time.Now().Add(-3 * time.Second)
	if err := s.st.AppendAccel(ctx, fallChunk(hubs[0], impact)); err != nil {
		t.Fatal(err)
	}
	if err := s.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fall, err := s.d.HandleDetection(ctx, detection(hubs[0], detectors.CauseFall, detectors.PriorityHigh, "wearable-1", impact,
		"낙상 후 30초 동안 일어나지 않았습니다 (충격 3.6g, 누운 자세).", "A fall: not up after 30 s (impact 3.6 g, lying)."))
	if err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	if _, err := chromedp.Run(b, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector('tr[data-id=%q]') !== null`, fall.ID), chromedp.WithPollingTimeout(2*time.Second))); err != nil {
		t.Fatalf("the fall did not appear in the queue within 2 s: %v", err)
	}
	t.Logf("fall in the queue %v after it was committed", time.Since(committed).Round(time.Millisecond))
	alarms, err := chromedp.Run(b, chromedp.Evaluate[string](`document.body.getAttribute("data-alarms") || "0"`))
	if err != nil || alarms == "0" {
		t.Errorf("no P1 alarm raised for the SOS (alarms=%q, %v)", alarms, err)
	}
	rows := text(t, b, `#queue-rows`)
	if strings.Index(rows, "응급 호출") > strings.Index(rows, "낙상") {
		t.Errorf("the P1 SOS is not above the fall: %q", rows)
	}
	time.Sleep(300 * time.Millisecond) // let the rows settle for the picture
	screenshot(t, b, "06-queue")

	// Open the fall, see the evidence.
	err = chromedp.Do(b,
		chromedp.Click(fmt.Sprintf(`tr[data-id=%q] a.cause`, fall.ID)),
		chromedp.WaitVisible(`svg.evidence[data-metric="accel_g"]`),
	)
	if err != nil {
		t.Fatalf("open the fall: %v", err)
	}
	page := text(t, b, `main`)
	for _, want := range []string{"낙상", "김영희", "고혈압", "와파린", "페니실린", "*8812#", "4821", "김민수"} {
		if !strings.Contains(page, want) {
			t.Errorf("incident page misses %q", want)
		}
	}
	screenshot(t, b, "07-incident")

	// Acknowledge, then resolve.
	err = chromedp.Do(b,
		chromedp.Click(`#ack`),
		chromedp.WaitVisible(`.incident-head .badge.st.acknowledged`),
		chromedp.SetValue(`#resolve select[name=disposition]`, "real_emergency"),
		chromedp.SendKeys(`#resolve input[name=text]`, "119 이송 완료"),
		chromedp.Click(`#resolve button[type=submit]`),
		chromedp.WaitVisible(`.incident-head .badge.st.resolved`),
	)
	if err != nil {
		t.Fatalf("acknowledge and resolve: %v", err)
	}
	inc, _, err := s.d.Incident(ctx, fall.ID)
	if err != nil || inc.State != dispatch.StateResolved || inc.AcknowledgedBy != "d-park" || inc.Disposition != dispatch.DispositionRealEmergency {
		t.Errorf("after the browser's actions: %+v, %v", inc, err)
	}
	screenshot(t, b, "08-incident-resolved")

	// The tablet layout of the queue.
	tablet := browser(t, 820, 1180)
	err = chromedp.Do(tablet,
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(`input[name=username]`),
		chromedp.SendKeys(`input[name=username]`, "d-park"),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`#queue`),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, tablet, "09-queue-tablet")
}

func detection(hub devices.HubID, cause detectors.Cause, prio detectors.Priority, sensor devices.SensorID, at time.Time, ko, en string) detectors.Detection {
	return detectors.Detection{Fingerprint: detectors.Fingerprint(hub, cause, sensor, at), Hub: hub, Sensor: sensor,
		Class: detectors.ClassEmergency, Cause: cause, Priority: prio, State: detectors.Firing, Episode: at, At: at,
		Explanation: detectors.Explanation{Ko: ko, En: en},
		Evidence:    detectors.Evidence{Facts: []detectors.Fact{{Name: "peak", Value: 3.6, Unit: "g"}}}}
}

// fallChunk is 20 s of a waist accelerometer at 50 Hz: walking upright, a
// 3.6 g impact at `impact`, then lying on the side.
func fallChunk(hub devices.HubID, impact time.Time) *devices.AccelChunk {
	const hz = 50
	c := &devices.AccelChunk{Hub: hub, Sensor: "wearable-1", At: impact.Add(-10 * time.Second), Received: impact, RateHz: hz}
	for i := range 20 * hz {
		t := float64(i)/hz - 10
		var x, y, z float64
		switch {
		case t < -0.6:
			y = 1 + 0.15*math.Sin(t*2*math.Pi*1.8)
			x = 0.1 * math.Sin(t*2*math.Pi*0.9)
		case t < 0:
			y = 0.4 // falling
		case t < 0.3:
			x, y, z = 2.4, 2.2, 1.2*math.Cos(t*20)
		default:
			x, y, z = 0.98+0.02*math.Sin(t*3), 0.05, 0.1
		}
		c.X, c.Y, c.Z = append(c.X, float32(x)), append(c.Y, float32(y)), append(c.Z, float32(z))
	}
	return c
}
