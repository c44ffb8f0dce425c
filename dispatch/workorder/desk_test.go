package workorder_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/twilio"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/dispatch/workorder"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "f00dfeedf00dfeedf00dfeedf00dfeed"
	ourNumber  = "+8215880000"
	techPhone  = "+821011112222"
)

// rig is the desk over a real SQLite store and dispatcher, texting through
// the real twilio-go client against the fake Twilio, whose delivery
// reports come back through the real webhooks.
type rig struct {
	s      *store.Store
	d      *dispatch.Dispatcher
	fake   *fake.Server
	client *twilio.Client
	desk   *workorder.Desk
	at     time.Time
	ctx    context.Context
	done   chan struct{}
	// texts gets the delivery reports of the orders' SMS: the desk, once
	// started.
	texts atomic.Pointer[workorder.Desk]
}

// rigOptions: api wraps the fake Twilio's API (a slow Twilio).
type rigOptions struct {
	api func(http.Handler) http.Handler
}

func newRig(t *testing.T) *rig {
	r := newRigWith(t, rigOptions{})
	r.startDesk(t, nil)
	return r
}

func (r *rig) Undelivered(ctx context.Context, ref, sid, reason string) error {
	if d := r.texts.Load(); d != nil {
		return d.Undelivered(ctx, ref, sid, reason)
	}
	return nil
}

// newRigWith is the rig with its desk not started yet (startDesk).
func newRigWith(t *testing.T, o rigOptions) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Config{Store: s.Incidents(), Directory: s.Registry(), Logger: zerolog.Nop(), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{s: s, d: d, at: time.Now().Add(-time.Hour), ctx: ctx, done: make(chan struct{}, 2)}
	var hooks http.Handler = http.NotFoundHandler()
	public := httptest.NewServer(http.StripPrefix("/twilio", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { hooks.ServeHTTP(w, req) })))
	r.fake = fake.New(fake.Options{AccountSID: accountSID, AuthToken: authToken, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	var api http.Handler = r.fake
	if o.api != nil {
		api = o.api(api)
	}
	apiServer := httptest.NewServer(api)
	r.client, err = twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: ourNumber,
		APIURL: apiServer.URL, PublicBaseURL: public.URL + "/twilio", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	// As the gateway routes them: the orders' reports to the desk, the
	// rest to dispatch (nobody here).
	hooks = twilio.Webhooks(authToken, public.URL+"/twilio", twilio.RefPrefixes{Rest: twilio.EventFuncs{},
		Routes: map[string]twilio.Events{workorder.IDPrefix: twilio.TextEvents{Texts: r}}}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	go func() { _ = d.Run(ctx); r.done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-r.done
		if r.desk != nil {
			<-r.done
		}
		r.fake.Wait()
		apiServer.Close()
		public.Close()
		s.Close()
	})

	if _, err := s.Registry().CreateResident(ctx, devices.Resident{ID: "r-1", Name: "김영희", BirthDate: "1941-03-05", Phone: "+821012345678",
		Address:      devices.Address{Line1: "서울특별시 종로구 세종대로 175", Floor: "3", Unit: "301"},
		DistrictCode: "11110",
		Medications:  []string{"amlodipine 5mg"}, Allergies: []string{"penicillin"}, MedicalNotes: "심부전",
		Access: devices.Access{KeyHolder: "관리사무소 02-123-4567", KeySafeCode: "4711", DoorCode: "1234*", Notes: "비밀번호는 1234*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: "hub-1", ResidentID: "r-1", InstalledAt: time.Now().Add(-time.Hour), EndOfLife: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.WorkOrders().PutTechnician(ctx, workorder.Technician{ID: "tech-seoul", Name: "박기사", Phone: techPhone, Region: "11"}); err != nil {
		t.Fatal(err)
	}
	return r
}

// startDesk runs the desk (short intervals), with tune's changes.
func (r *rig) startDesk(t *testing.T, tune func(*workorder.Config)) {
	t.Helper()
	cfg := workorder.Config{Store: r.s.WorkOrders(), Feed: r.d, Residents: r.s.Registry(), Sender: r.client,
		Interval: 50 * time.Millisecond, Backoff: 50 * time.Millisecond, Logger: zerolog.New(zerolog.NewTestWriter(t))}
	if tune != nil {
		tune(&cfg)
	}
	desk, err := workorder.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.desk = desk
	r.texts.Store(desk)
	go func() { _ = desk.Run(r.ctx); r.done <- struct{}{} }()
}

// detect feeds dispatch a device-health detection of a new episode.
func (r *rig) detect(t *testing.T, cause detectors.Cause) dispatch.Incident {
	t.Helper()
	r.at = r.at.Add(time.Minute)
	inc, err := r.d.HandleDetection(context.Background(), detectors.Detection{
		Fingerprint: detectors.Fingerprint("hub-1", cause, "", r.at), Hub: "hub-1", Class: detectors.ClassDeviceHealth,
		Cause: cause, Priority: detectors.PriorityLow, State: detectors.Firing, Episode: r.at, At: r.at})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

func (r *rig) waitMessages(t *testing.T, n int) []fake.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := r.fake.Messages()
		if len(msgs) >= n || time.Now().After(deadline) {
			if len(msgs) != n {
				t.Fatalf("%d messages, want %d: %+v", len(msgs), n, msgs)
			}
			return msgs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) orders(t *testing.T) []workorder.Order {
	t.Helper()
	l, err := r.s.WorkOrders().ListOrders(context.Background(), workorder.Query{ResidentID: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBatteryLowTextsTheTechnicianOnce(t *testing.T) {
	r := newRig(t)
	first := r.detect(t, detectors.CauseBatteryLow)
	m := r.waitMessages(t, 1)[0]
	if m.To != techPhone {
		t.Errorf("sms to %s, want the technician %s", m.To, techPhone)
	}
	for _, want := range []string{"배터리 부족", "hub-1", "서울특별시 종로구 세종대로 175", "3층", "301호", "관리사무소 02-123-4567", "김영희"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("sms %q lacks %q", m.Body, want)
		}
	}
	for _, never := range []string{"4711", "1234*", "amlodipine", "penicillin", "심부전", "비밀번호"} {
		if strings.Contains(m.Body, never) {
			t.Errorf("sms %q tells the technician %q", m.Body, never)
		}
	}

	// The same fault again, in an incident of its own: the order counts
	// it; nobody is texted again.
	if _, err := r.d.Resolve(context.Background(), first.ID, dispatch.DispositionNoAction, "test", ""); err != nil {
		t.Fatal(err)
	}
	r.detect(t, detectors.CauseBatteryLow)
	deadline := time.Now().Add(5 * time.Second)
	for o := r.orders(t); len(o) != 1 || o[0].Detections != 2; o = r.orders(t) {
		if time.Now().After(deadline) {
			t.Fatalf("orders after a second detection: %+v; want one with 2 detections", o)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // four notify rounds
	r.waitMessages(t, 1)
	o := r.orders(t)[0]
	if o.Technician != "tech-seoul" || o.NoticeSID != m.SID || o.Region != "11110" {
		t.Errorf("order = %+v", o)
	}

	// Closed with what was replaced, the next detection opens a new order
	// and texts again; the resident's history keeps both.
	if _, err := r.s.WorkOrders().CloseOrder(context.Background(), o.ID, "tech-seoul", "battery CR123A", time.Now()); err != nil {
		t.Fatal(err)
	}
	r.detect(t, detectors.CauseBatteryLow)
	r.waitMessages(t, 2)
	if h := r.orders(t); len(h) != 2 || h[1].Replaced != "battery CR123A" || h[0].Status != workorder.StatusOpen {
		t.Errorf("history = %+v", h)
	}
}

// A hub offline is not a technician's first call: no order.
func TestHubOfflineOpensNoOrder(t *testing.T) {
	r := newRig(t)
	r.detect(t, detectors.CauseHubOffline)
	r.detect(t, detectors.CauseEndOfLife)
	r.waitMessages(t, 1)
	if o := r.orders(t); len(o) != 1 || o[0].Fault != workorder.FaultEndOfLife {
		t.Errorf("orders = %+v; want end of life only", o)
	}
}
