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
