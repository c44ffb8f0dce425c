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

	un, err := w.Unnotified(ctx, 10)
	if err != nil || len(un) != 3 || un[0].ID != first.ID {
		t.Fatalf("Unnotified = %+v, %v", un, err)
	}
	if err := w.MarkNotified(ctx, first.ID, "tech-seoul", "SM1", at); err != nil {
		t.Fatal(err)
	}
	if un, _ := w.Unnotified(ctx, 10); len(un) != 2 {
		t.Errorf("after MarkNotified: %d unnotified, want 2", len(un))
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
