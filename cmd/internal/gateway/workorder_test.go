package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/dispatch/workorder"
	"github.com/dolbom/dolbom/store/storetest"
)

// The gateway routes the delivery report of a work order's SMS (ref wo-...)
// to the work-order desk, not to dispatch, which knows no such row: an
// undelivered SMS puts the order back to be texted again after its backoff.
func TestGatewayRoutesAWorkOrdersUndeliveredSMSToTheDesk(t *testing.T) {
	const techPhone = "+821011112222"
	c := startChain(t, storetest.SQLite(t), 5*time.Second)
	ctx := context.Background()
	st := c.g.Store
	res, err := st.Registry().CreateResident(ctx, devices.Resident{Name: "김영희", BirthDate: "1941-03-05",
		Address: devices.Address{Line1: "서울특별시 종로구 세종대로 175"}, DistrictCode: "11110"})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := st.Registry().CreateHub(ctx, devices.Hub{ResidentID: res.ID, SecretHash: devices.HashHubSecret(devices.NewSecret()), InstalledAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WorkOrders().PutTechnician(ctx, workorder.Technician{ID: "tech-seoul", Phone: techPhone, Region: "11"}); err != nil {
		t.Fatal(err)
	}
	c.g.FakeTwilio.SetBehaviour(techPhone, fake.Behaviour{SMSStatus: "undelivered"})
	at := time.Now()
	if _, err := c.g.Dispatch.HandleDetection(ctx, detectors.Detection{Fingerprint: detectors.Fingerprint(hub.ID, detectors.CauseBatteryLow, "", at),
		Hub: hub.ID, Class: detectors.ClassDeviceHealth, Cause: detectors.CauseBatteryLow, Priority: detectors.PriorityLow,
		State: detectors.Firing, Episode: at, At: at}); err != nil {
		t.Fatal(err)
	}
	var o workorder.Order
	waitFor(t, 10*time.Second, "the order's SMS reported undelivered", func() bool {
		l, err := st.WorkOrders().ListOrders(ctx, workorder.Query{Hub: hub.ID})
		if err != nil || len(l) != 1 {
			return false
		}
		o = l[0]
		return o.NoticeUndelivered == 1
	})
	if o.Notice != workorder.NoticePending || o.NoticeAttempts != 1 || !o.NoticeDue.After(time.Now()) || o.NoticeError == "" {
		t.Errorf("order = %+v; want pending again, due after its backoff", o)
	}
}
