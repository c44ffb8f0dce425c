package workorder_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
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
	busanTechPhone = "+821055556666"
	badPhone       = "+82100" // Twilio refuses it for good
)

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func messagesTo(f *fake.Server, to string) int {
	n := 0
	for _, m := range f.Messages() {
		if m.To == to {
			n++
		}
	}
	return n
}

// (e) 100 orders of a region nobody covers and 100 whose technician's
// number Twilio refuses are older than an order of Seoul: the Seoul one is
// texted all the same, the first are parked until a technician is added,
// the second failed, once each.
func TestOrdersThatCannotBeToldDoNotHoldUpTheRest(t *testing.T) {
	r := newRigWith(t, rigOptions{})
	ctx := context.Background()
	w := r.s.WorkOrders()
	r.fake.SetBehaviour(badPhone, fake.Behaviour{Refuse: true})
	if err := w.PutTechnician(ctx, workorder.Technician{ID: "tech-daegu", Phone: badPhone, Region: "27"}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	open := func(hub, region string) workorder.Order {
		t.Helper()
		old = old.Add(time.Second)
		o, _, err := w.OpenOrder(ctx, workorder.Order{Hub: devices.HubID(hub), Fault: workorder.FaultBatteryLow, Region: region,
			LastIncident: "inc-" + hub, OpenedAt: old})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	for i := range 100 {
		open(fmt.Sprintf("hub-busan-%03d", i), "26350")
		open(fmt.Sprintf("hub-daegu-%03d", i), "27110")
	}
	seoul := open("hub-seoul", "11110")
	r.startDesk(t, nil)

	waitFor(t, "the Seoul order texted", func() bool { return messagesTo(r.fake, techPhone) == 1 })
	waitFor(t, "200 orders parked or failed", func() bool { s := r.desk.Stats(); return s.Parked == 100 && s.Failed == 100 })
	time.Sleep(300 * time.Millisecond) // six more rounds: nothing is tried again
	if s := r.desk.Stats(); s.Parked != 100 || s.Failed != 100 || s.Sent != 1 || s.Retried != 0 {
		t.Errorf("stats = %+v; want 100 parked, 100 failed, 1 sent, each once", s)
	}
	if o, _ := w.GetOrder(ctx, seoul.ID); o.Notice != workorder.NoticeSent || o.Technician != "tech-seoul" {
		t.Errorf("Seoul's order = %+v", o)
	}
	orders, err := w.ListOrders(ctx, workorder.Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		switch {
		case o.Region == "26350" && (o.Notice != workorder.NoticeParked || o.NoticeDue.Before(time.Now().Add(5*time.Hour))):
			t.Fatalf("Busan's order = %+v; want parked for hours", o)
		case o.Region == "27110" && (o.Notice != workorder.NoticeFailed || o.NoticeAttempts != 1 || o.NoticeError == ""):
			t.Fatalf("Daegu's order = %+v; want failed after one try, with why", o)
		}
	}

	// A technician for Busan: its parked orders are texted at once.
	if err := w.PutTechnician(ctx, workorder.Technician{ID: "tech-busan", Phone: busanTechPhone, Region: "26"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Busan's 100 orders texted", func() bool { return messagesTo(r.fake, busanTechPhone) == 100 })
}

// (h) An SMS Twilio reports undelivered is sent again, after a backoff, up
// to MaxUndelivered times; then the order's notice is failed. The reports
// come through the real webhooks, as the gateway routes them.
func TestUndeliveredOrderSMSIsSentAgainThenFails(t *testing.T) {
	r := newRigWith(t, rigOptions{})
	r.fake.SetBehaviour(techPhone, fake.Behaviour{SMSStatus: "undelivered"})
	r.startDesk(t, func(c *workorder.Config) { c.MaxUndelivered = 3 })
	r.detect(t, detectors.CauseBatteryLow)
	waitFor(t, "the order's notice failed", func() bool {
		o := r.orders(t)
		return len(o) == 1 && o[0].Notice == workorder.NoticeFailed
	})
	time.Sleep(300 * time.Millisecond) // nothing more is sent
	if n := messagesTo(r.fake, techPhone); n != 3 {
		t.Errorf("%d SMS, want 3 (the first and two more)", n)
	}
	o := r.orders(t)[0]
	if o.NoticeUndelivered != 3 || o.NoticeAttempts != 3 || o.NoticeError == "" || !o.NotifiedAt.IsZero() {
		t.Errorf("order = %+v", o)
	}
	if s := r.desk.Stats(); s.Undelivered != 3 || s.Failed != 1 || s.Sent != 3 {
		t.Errorf("stats = %+v", s)
	}

	// Delivered the next time: told once, and it stays so.
	r.fake.SetBehaviour(techPhone, fake.Behaviour{SMSStatus: "delivered"})
	if _, err := r.s.WorkOrders().CloseOrder(context.Background(), o.ID, "test", "nothing: number fixed", time.Now()); err != nil {
		t.Fatal(err)
	}
	r.detect(t, detectors.CauseBatteryLow)
	waitFor(t, "the next order texted", func() bool { return messagesTo(r.fake, techPhone) == 4 })
	time.Sleep(300 * time.Millisecond)
	if n := messagesTo(r.fake, techPhone); n != 4 {
		t.Errorf("%d SMS, want 4", n)
	}
	if o := r.orders(t)[0]; o.Notice != workorder.NoticeSent {
		t.Errorf("delivered order = %+v", o)
	}
}

// detectOn opens a device-health incident on another hub.
func (r *rig) detectOn(t *testing.T, hub devices.HubID, cause detectors.Cause, p detectors.Priority) {
	t.Helper()
	r.at = r.at.Add(time.Millisecond)
	if _, err := r.d.HandleDetection(context.Background(), detectors.Detection{
		Fingerprint: detectors.Fingerprint(hub, cause, "", r.at), Hub: hub, Class: detectors.ClassDeviceHealth,
		Cause: cause, Priority: p, State: detectors.Firing, Episode: r.at, At: r.at}); err != nil {
		t.Fatal(err)
	}
}

// (g) A battery low that the gateway missed while down, behind more
// active incidents than the feed's snapshot holds (and older than its
// recent changes): the desk opens its order when it starts.
func TestRestartOpensOrdersBeyondTheFeedSnapshot(t *testing.T) {
	r := newRigWith(t, rigOptions{})
	r.detect(t, detectors.CauseBatteryLow)
	for i := range dispatch.WatchActive + dispatch.WatchRecent + 10 {
		r.detectOn(t, devices.HubID(fmt.Sprintf("hub-x-%04d", i)), detectors.CauseHubOffline, detectors.PriorityMedium)
	}
	r.startDesk(t, nil)
	waitFor(t, "the battery low's order", func() bool { return len(r.orders(t)) == 1 })
	r.waitMessages(t, 1)
}

// (g) A Twilio that takes seconds to answer does not make the desk a slow
// reader that the dispatcher's feed drops: every change is read live.
func TestSlowTwilioDoesNotGetTheFeedDropped(t *testing.T) {
	const slow = 5 * time.Second
	var sending sync.WaitGroup
	r := newRigWith(t, rigOptions{api: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			sending.Add(1)
			defer sending.Done()
			time.Sleep(slow)
			next.ServeHTTP(w, req)
		})
	}})
	r.startDesk(t, nil)
	r.detect(t, detectors.CauseBatteryLow)
	waitFor(t, "the order opened", func() bool { return len(r.orders(t)) == 1 })
	time.Sleep(100 * time.Millisecond) // the SMS is on its way, for 3 s
	start := time.Now()
	// Far more changes than the feed holds for a subscriber.
	for i := range 1500 {
		r.detectOn(t, devices.HubID(fmt.Sprintf("hub-x-%04d", i)), detectors.CauseHubOffline, detectors.PriorityMedium)
	}
	if time.Since(start) > slow {
		t.Logf("the changes took %v, longer than Twilio's %v: the test may not have attacked", time.Since(start), slow)
	}
	r.detectOn(t, "hub-last", detectors.CauseSensorSilent, detectors.PriorityLow)
	waitFor(t, "the last order opened", func() bool {
		l, _ := r.s.WorkOrders().ListOrders(context.Background(), workorder.Query{Hub: "hub-last"})
		return len(l) == 1
	})
	r.waitMessages(t, 1)
	if n := r.desk.Stats().Resubscribed; n != 0 {
		t.Errorf("the desk's feed was dropped %d times while Twilio was slow; want 0", n)
	}
}

// (f) Two gateways share one PostgreSQL database and both run the desk:
// each order is texted exactly once.
func TestTwoDesksOnOneDatabaseTextEachOrderOnce(t *testing.T) {
	cfg := storetest.Postgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := fake.New(fake.Options{AccountSID: accountSID, AuthToken: authToken, Logger: zerolog.Nop()})
	// A Twilio that takes a little while, so that the two desks overlap.
	api := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(5 * time.Millisecond)
		f.ServeHTTP(w, req)
	}))
	const orders = 60
	var desks []*workorder.Desk
	for i := range 2 {
		s, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		d, err := dispatch.New(dispatch.Config{Store: s.Incidents(), Directory: s.Registry(), Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		client, err := twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: ourNumber,
			APIURL: api, PublicBaseURL: "https://gw.example.kr/twilio", Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		desk, err := workorder.New(workorder.Config{Store: s.WorkOrders(), Feed: d, Residents: s.Registry(), Sender: client,
			Instance: fmt.Sprintf("gw-%d", i), Logger: zerolog.New(zerolog.NewTestWriter(t))})
		if err != nil {
			t.Fatal(err)
		}
		desks = append(desks, desk)
		if i == 0 {
			if err := s.WorkOrders().PutTechnician(ctx, workorder.Technician{ID: "tech-seoul", Phone: techPhone, Region: "11"}); err != nil {
				t.Fatal(err)
			}
			for j := range orders {
				if _, _, err := s.WorkOrders().OpenOrder(ctx, workorder.Order{Hub: devices.HubID(fmt.Sprintf("hub-%02d", j)),
					Fault: workorder.FaultBatteryLow, Region: "11110", LastIncident: fmt.Sprintf("inc-%02d", j), OpenedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	var wg sync.WaitGroup
	for _, d := range desks {
		wg.Go(func() {
			for range 5 {
				d.Notify(ctx)
			}
		})
	}
	wg.Wait()
	f.Wait()
	byOrder := map[string]int{}
	for _, m := range f.Messages() {
		u, err := url.Parse(m.StatusCallback)
		if err != nil {
			t.Fatal(err)
		}
		byOrder[u.Query().Get("ref")]++
	}
	for ref, n := range byOrder {
		if n != 1 {
			t.Errorf("order %s texted %d times", ref, n)
		}
	}
	if len(byOrder) != orders {
		t.Errorf("%d orders texted, want %d", len(byOrder), orders)
	}
	a, b := desks[0].Stats().Sent, desks[1].Stats().Sent
	t.Logf("gateway 0 texted %d, gateway 1 %d", a, b)
}

// httptestServer serves h for the test and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

// Backoff doubles from the base to the ceiling, and never overflows.
func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		attempts int
		want     time.Duration
	}{{0, 30 * time.Second}, {1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {8, time.Hour}, {1000, time.Hour}} {
		if got := workorder.Backoff(c.attempts, 30*time.Second, time.Hour); got != c.want {
			t.Errorf("Backoff(%d) = %v, want %v", c.attempts, got, c.want)
		}
	}
}
