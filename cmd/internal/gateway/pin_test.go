package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
)

// The resident moves from 서울 to 부산 while their incident is open: the
// incident's Cancel still reaches the Seoul 119 that holds its Alert (two
// real mock-119 receivers, the whole gateway), and the Busan 119 gets
// nothing of it.
func TestChainCancelFollowsTheAlertAfterAMove(t *testing.T) {
	for name, cfg := range chainBackends() {
		t.Run(name, func(t *testing.T) {
			c := startChain(t, cfg(t), 2*time.Second)
			seoul, seoulURL := newCentre(t)
			busan, busanURL := newCentre(t)
			ctx := context.Background()
			for sido, url := range map[string]string{"11": seoulURL, "26": busanURL} {
				if _, err := c.g.Store.Routes().PutCAPRoute(ctx, cap.Route{Sido: sido, Endpoints: []string{url}}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := c.g.Store.Registry().ResidentOfHub(ctx, c.hub)
			if err != nil {
				t.Fatal(err)
			}
			cl := c.connect(t)
			c.publishEvent(t, cl, devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()})
			waitFor(t, 10*time.Second, "the alert at the Seoul 119", func() bool { return seoul.Stats().Received >= 1 })
			inc, _ := c.incident(t, detectors.CauseSOS)
			if sido, ok, err := c.g.Store.Routes().PinnedRoute(ctx, inc.ID); err != nil || !ok || sido != "11" {
				t.Fatalf("the incident's 119 시도 = %q, %v, %v; want 11", sido, ok, err)
			}

			// The move, while the incident is open.
			if moved := adminPatch(t, c.g, "residents/"+string(res.ID), `{"address": {"line1": "부산광역시 해운대구 해운대로 1"}}`); moved["district_code"] != "26350" {
				t.Fatalf("after the move the district is %v", moved["district_code"])
			}
			if _, err := c.g.Dispatch.Resolve(ctx, inc.ID, dispatch.DispositionTest, "admin", "시험"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the Cancel at the Seoul 119", func() bool { return seoul.Stats().ByType[cap.MsgCancel] >= 1 })
			for _, a := range busan.Alerts() {
				if a.IncidentID == inc.ID {
					t.Errorf("the Busan 119 got %s of the incident whose Alert went to Seoul", a.MsgType)
				}
			}
		})
	}
}
