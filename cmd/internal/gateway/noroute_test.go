package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/cap"
)

// A 119 message with no route at send time (a resident without a district
// while the routes differ by 시도) stays in the outbox, is counted by
// dolbom_cap_no_route_incidents and listed for the dispatchers' banner,
// and goes out once it has a route again.
func TestChainNoRouteIsKeptAndLoud(t *testing.T) {
	c := startChain(t, chainBackends()["sqlite"](t), 2*time.Second)
	ctx := context.Background()
	// The home's resident has no district (no address), and 부산 has its
	// own route: the routes differ by 시도.
	lost, err := c.g.Store.Registry().CreateResident(ctx, devices.Resident{Name: "주소 없음", Language: "ko"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.g.Store.Registry().GetHub(ctx, c.hub)
	if err != nil {
		t.Fatal(err)
	}
	h.ResidentID = lost.ID
	if _, err := c.g.Store.Registry().UpdateHub(ctx, h); err != nil {
		t.Fatal(err)
	}
	c.g.Dispatch.InvalidateResidents()
	_, busanURL := newCentre(t)
	if _, err := c.g.Store.Routes().PutCAPRoute(ctx, cap.Route{Sido: "26", Endpoints: []string{busanURL}}); err != nil {
		t.Fatal(err)
	}

	cl := c.connect(t)
	c.publishEvent(t, cl, devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()})
	waitFor(t, 10*time.Second, "the incident listed as without a 119 route", func() bool { return c.g.channels.stuck.Len() == 1 })
	inc, _ := c.incident(t, detectors.CauseSOS)
	if got := c.g.channels.stuck.List(); got[0].Incident != inc.ID || got[0].Resident != string(lost.ID) {
		t.Errorf("stuck = %+v; want incident %s of resident %s", got, inc.ID, lost.ID)
	}
	if v := gauge(t, c.g, "dolbom_cap_no_route_incidents"); v != 1 {
		t.Errorf("dolbom_cap_no_route_incidents = %v, want 1", v)
	}
	if n := c.mock119.Stats().Received; n != 0 {
		t.Errorf("the --cap-url centre received %d messages of a resident without a route", n)
	}

	// One route for every 시도 again: the kept message goes out.
	if err := c.g.Store.Routes().DeleteCAPRoute(ctx, "26"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the kept alert at the 119", func() bool { return c.mock119.Stats().Received >= 1 })
	waitFor(t, 10*time.Second, "the stuck list emptied", func() bool { return c.g.channels.stuck.Len() == 0 })
	if v := gauge(t, c.g, "dolbom_cap_no_route_incidents"); v != 0 {
		t.Errorf("dolbom_cap_no_route_incidents = %v after the alert went out, want 0", v)
	}
}

func gauge(t *testing.T, g *Gateway, name string) float64 {
	t.Helper()
	families, err := g.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
