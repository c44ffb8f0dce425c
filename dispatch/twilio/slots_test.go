package twilio_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/twilio"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
)

// A call that cannot get a voice slot soon gives up with retry=true instead
// of holding the dispatcher's worker: in a burst, 119 alerts must not wait
// behind calls queued for the account's 1-per-second rate.
func TestCallGivesUpQuicklyWhenSlotsAreBusy(t *testing.T) {
	fk := fake.New(fake.Options{AccountSID: "ACslot", AuthToken: "tok"})
	srv := httptest.NewServer(fk)
	defer srv.Close()
	c, err := twilio.New(twilio.Config{AccountSID: "ACslot", AuthToken: "tok", From: "+821000000000", APIURL: srv.URL,
		PublicBaseURL: "http://127.0.0.1:1/twilio", CallInterval: time.Hour, MaxSlotWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	n := twilio.Notice{Ref: "r1", To: "+821012345678", Lang: "ko", Cause: dispatch.CategorySOS, Priority: 1}
	if _, _, err := c.Call(ctx, n); err != nil { // takes the hour's only slot
		t.Fatalf("first call: %v", err)
	}
	began := time.Now()
	n.Ref = "r2"
	_, retry, err := c.Call(ctx, n)
	if err == nil || !retry {
		t.Fatalf("second call within the hour: err %v, retry %v; want a retryable refusal", err, retry)
	}
	if waited := time.Since(began); waited > time.Second {
		t.Errorf("the refused call held its caller for %s", waited)
	}
}

// sharedSlots is the schedule gateways sharing an account reserve call
// starts on (the store's, in a cluster): here it grants the first
// reservation at once and has no slot for the next.
type sharedSlots struct {
	asked []string
}

func (s *sharedSlots) ReserveVoiceSlot(_ context.Context, account string, interval, maxWait time.Duration) (time.Duration, bool, error) {
	s.asked = append(s.asked, account+" "+interval.String()+" "+maxWait.String())
	return 0, len(s.asked) == 1, nil
}

// Gateways sharing a Twilio account pace their calls together: each call
// reserves its start on the shared schedule, with the account and its
// rate, and a call that finds no shared slot soon is refused for a retry
// (another gateway took the account's rate), never placed over it.
func TestCallsReserveTheAccountsSharedSlot(t *testing.T) {
	fk := fake.New(fake.Options{AccountSID: "ACslot", AuthToken: "tok"})
	srv := httptest.NewServer(fk)
	defer srv.Close()
	slots := &sharedSlots{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var gateways []*twilio.Client
	for range 2 {
		c, err := twilio.New(twilio.Config{AccountSID: "ACslot", AuthToken: "tok", From: "+821000000000", APIURL: srv.URL,
			PublicBaseURL: "http://127.0.0.1:1/twilio", CallInterval: time.Millisecond, MaxSlotWait: time.Second, Slots: slots})
		if err != nil {
			t.Fatal(err)
		}
		go c.Run(ctx)
		gateways = append(gateways, c)
	}
	n := twilio.Notice{Ref: "r1", To: "+821012345678", Lang: "ko", Cause: dispatch.CategorySOS, Priority: 1}
	if _, _, err := gateways[0].Call(ctx, n); err != nil {
		t.Fatalf("gateway A's call: %v", err)
	}
	n.Ref = "r2"
	_, retry, err := gateways[1].Call(ctx, n)
	if err == nil || !retry {
		t.Fatalf("gateway B's call with the account's slot taken: err %v, retry %v; want a retryable refusal", err, retry)
	}
	if calls := fk.Calls(); len(calls) != 1 {
		t.Errorf("%d calls placed, want 1: the refused one must not reach Twilio", len(calls))
	}
	want := []string{"ACslot 1ms 1s", "ACslot 1ms 1s"}
	if len(slots.asked) != 2 || slots.asked[0] != want[0] || slots.asked[1] != want[1] {
		t.Errorf("shared slots asked %q, want %q (the account and its rate, by each gateway)", slots.asked, want)
	}
}
