package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/workorder"
)

// testWorkOrders: one open order per hub and fault, a detection of the
// same fault adds to it (once per incident), a closed order stays as
// history and the next detection opens a new one; lists by resident and
// region; technicians.
func testWorkOrders(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	w := s.WorkOrders()
	at := base
	det := func(hub devices.HubID, fault workorder.Fault, incident string) (workorder.Order, bool) {
		t.Helper()
		at = at.Add(time.Minute)
		o, created, err := w.OpenOrder(ctx, workorder.Order{Hub: hub, ResidentID: "r-" + devices.ResidentID(hub), Fault: fault,
			Region: map[devices.HubID]string{"h-seoul": "11110", "h-busan": "26350"}[hub], LastIncident: incident, OpenedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return o, created
	}
	first, created := det("h-seoul", workorder.FaultBatteryLow, "inc-1")
	if !created || first.Status != workorder.StatusOpen || first.Detections != 1 || first.Region != "11110" {
		t.Fatalf("first = %+v, created %v", first, created)
	}
	if o, created := det("h-seoul", workorder.FaultBatteryLow, "inc-1"); created || o.ID != first.ID || o.Detections != 1 {
		t.Errorf("same incident again = %+v, created %v; want the same order, 1 detection", o, created)
	}
	if o, created := det("h-seoul", workorder.FaultBatteryLow, "inc-2"); created || o.ID != first.ID || o.Detections != 2 {
		t.Errorf("second detection = %+v, created %v; want the same order, 2 detections", o, created)
	}
	other, created := det("h-seoul", workorder.FaultTamper, "inc-3")
	if !created || other.ID == first.ID {
		t.Errorf("another fault = %+v, created %v; want its own order", other, created)
	}
	busan, _ := det("h-busan", workorder.FaultBatteryLow, "inc-4")

	un, err := w.ClaimDue(ctx, "gw-a", at, time.Minute, 10)
	if err != nil || len(un) != 3 || un[0].ID != first.ID || un[0].Notice != workorder.NoticePending {
		t.Fatalf("ClaimDue = %+v, %v", un, err)
	}
	if err := w.MarkNotified(ctx, first.ID, "tech-seoul", "SM1", at); err != nil {
		t.Fatal(err)
	}
	// The other two stay claimed until their claim expires.
	if un, _ := w.ClaimDue(ctx, "gw-b", at, time.Minute, 10); len(un) != 0 {
		t.Errorf("claimed again while held: %+v", un)
	}
	if un, _ := w.ClaimDue(ctx, "gw-b", at.Add(time.Minute), time.Minute, 10); len(un) != 2 {
		t.Errorf("after MarkNotified and the claims' expiry: %d due, want 2", len(un))
	}
	if o, _ := w.GetOrder(ctx, first.ID); o.Notice != workorder.NoticeSent || o.NoticeAttempts != 1 {
		t.Errorf("told = %+v", o)
	}
	wantErr(t, "mark nobody", w.MarkNotified(ctx, "wo-none", "t", "SM", at), devices.ErrNotFound)

	if _, err := w.CloseOrder(ctx, first.ID, "tech-seoul", "", at); !errors.Is(err, devices.ErrInvalid) {
		t.Errorf("close without what was replaced: %v", err)
	}
	closed, err := w.CloseOrder(ctx, first.ID, "tech-seoul", "battery CR123A", at)
	if err != nil || closed.Status != workorder.StatusClosed || closed.Replaced != "battery CR123A" || closed.ClosedBy != "tech-seoul" ||
		closed.Technician != "tech-seoul" || closed.NoticeSID != "SM1" || !closed.ClosedAt.Equal(at) {
		t.Errorf("CloseOrder = %+v, %v", closed, err)
	}
	if _, err := w.CloseOrder(ctx, first.ID, "x", "y", at); !errors.Is(err, workorder.ErrClosed) {
		t.Errorf("closing twice: %v, want ErrClosed", err)
	}
	again, created := det("h-seoul", workorder.FaultBatteryLow, "inc-9")
	if !created || again.ID == first.ID {
		t.Errorf("after close = %+v, created %v; want a new order", again, created)
	}

	hist, err := w.ListOrders(ctx, workorder.Query{ResidentID: "r-h-seoul"})
	if err != nil || len(hist) != 3 || hist[0].ID != again.ID || hist[2].ID != first.ID {
		t.Errorf("resident's history = %+v, %v", hist, err)
	}
	if l, _ := w.ListOrders(ctx, workorder.Query{Regions: []string{"26"}}); len(l) != 1 || l[0].ID != busan.ID {
		t.Errorf("Busan's orders = %+v", l)
	}
	if l, _ := w.ListOrders(ctx, workorder.Query{Status: workorder.StatusOpen, Regions: []string{"11"}}); len(l) != 2 {
		t.Errorf("Seoul's open orders = %+v", l)
	}
	if l, _ := w.ListOrders(ctx, workorder.Query{Regions: []string{}}); len(l) != 0 {
		t.Errorf("no region: %+v", l)
	}

	for _, tc := range []workorder.Technician{{ID: "tech-seoul", Name: "김기사", Phone: "+821011112222", Region: "11"},
		{ID: "tech-jongno", Name: "이기사", Phone: "+821033334444", Region: "11110", Lang: "en"}} {
		if err := w.PutTechnician(ctx, tc); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "technician without region", w.PutTechnician(ctx, workorder.Technician{ID: "t", Phone: "+82101"}), devices.ErrInvalid)
	techs, err := w.ListTechnicians(ctx)
	if err != nil || len(techs) != 2 || techs[0].ID != "tech-jongno" || techs[0].Lang != "en" || techs[1].Lang != "ko" {
		t.Errorf("ListTechnicians = %+v, %v", techs, err)
	}
}

// testWorkOrderNotices: an order not told waits its own next try and is
// skipped until then; a parked one waits for a technician; a failed one is
// never claimed again; a delivery report applies only to the SMS it names.
func testWorkOrderNotices(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	w := s.WorkOrders()
	var ids []string
	for i, hub := range []devices.HubID{"h-1", "h-2", "h-3"} {
		o, _, err := w.OpenOrder(ctx, workorder.Order{Hub: hub, Fault: workorder.FaultBatteryLow, Region: "11110",
			LastIncident: "inc-" + string(hub), OpenedAt: base.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	claim := func(at time.Time) []string {
		t.Helper()
		l, err := w.ClaimDue(ctx, "gw", at, time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range l {
			got = append(got, o.ID)
		}
		return got
	}
	record := func(id string, r workorder.NoticeRecord) bool {
		t.Helper()
		ok, err := w.RecordNotice(ctx, id, r)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if got := claim(base); len(got) != 3 {
		t.Fatalf("claimed %v, want all 3", got)
	}
	record(ids[0], workorder.NoticeRecord{State: workorder.NoticePending, Due: base.Add(time.Hour), Error: "twilio 503", Attempted: true})
	record(ids[1], workorder.NoticeRecord{State: workorder.NoticeParked, Due: base.Add(6 * time.Hour), Error: "no technician"})
	record(ids[2], workorder.NoticeRecord{State: workorder.NoticeFailed, Error: "21211 invalid number", Attempted: true})
	if got := claim(base.Add(time.Minute)); len(got) != 0 {
		t.Errorf("claimed %v before anything is due", got)
	}
	if got := claim(base.Add(time.Hour)); len(got) != 1 || got[0] != ids[0] {
		t.Errorf("claimed %v at its next try, want %s", got, ids[0])
	}
	if o, _ := w.GetOrder(ctx, ids[0]); o.NoticeAttempts != 1 || o.NoticeError != "twilio 503" || !o.NoticeDue.Equal(base.Add(time.Hour)) {
		t.Errorf("retried order = %+v", o)
	}
	if o, _ := w.GetOrder(ctx, ids[2]); o.Notice != workorder.NoticeFailed || o.NoticeError != "21211 invalid number" {
		t.Errorf("failed order = %+v", o)
	}
	// A technician added: the parked order is due at once.
	if err := w.PutTechnician(ctx, workorder.Technician{ID: "tech", Phone: "+821011112222", Region: "11"}); err != nil {
		t.Fatal(err)
	}
	if got := claim(base.Add(2 * time.Minute)); len(got) != 1 || got[0] != ids[1] {
		t.Errorf("claimed %v after a technician was added, want the parked %s", got, ids[1])
	}
	if err := w.MarkNotified(ctx, ids[1], "tech", "SM1", base); err != nil {
		t.Fatal(err)
	}
	// An undelivered report for another SMS changes nothing; for this one,
	// the order is due again.
	if record(ids[1], workorder.NoticeRecord{State: workorder.NoticePending, Undelivered: true, IfSID: "SM0", Due: base}) {
		t.Error("a report of another SMS applied")
	}
	if !record(ids[1], workorder.NoticeRecord{State: workorder.NoticePending, Undelivered: true, IfSID: "SM1", Due: base}) {
		t.Error("the report of the SMS sent did not apply")
	}
	if record(ids[1], workorder.NoticeRecord{State: workorder.NoticePending, Undelivered: true, IfSID: "SM1", Due: base}) {
		t.Error("a repeated report applied twice")
	}
	if o, _ := w.GetOrder(ctx, ids[1]); o.Notice != workorder.NoticePending || o.NoticeUndelivered != 1 || !o.NotifiedAt.IsZero() {
		t.Errorf("undelivered order = %+v", o)
	}
	if _, err := w.RecordNotice(ctx, ids[1], workorder.NoticeRecord{State: "sent"}); !errors.Is(err, devices.ErrInvalid) {
		t.Errorf("record 'sent': %v, want invalid", err)
	}
	wantErr(t, "record nobody", func() error {
		_, err := w.RecordNotice(ctx, "wo-none", workorder.NoticeRecord{State: workorder.NoticeFailed})
		return err
	}(), devices.ErrNotFound)
}
