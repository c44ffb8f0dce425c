package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/store"
)

// newCentre is a real mock 119 (dolbom-119's receiver) on a real HTTP
// server; it returns its CAP URL.
func newCentre(t *testing.T) (*receiver.Receiver, string) {
	t.Helper()
	rx := receiver.New(receiver.Options{Logger: zerolog.Nop()})
	srv := httptest.NewServer(rx.Handler())
	t.Cleanup(srv.Close)
	return rx, srv.URL + "/cap"
}

// Issue 18: each 시도 has its own 119. A Seoul resident's SOS reaches the
// Seoul centre only (two real mock-119 receivers besides the --cap-url one,
// the real CAP client); the resident moves to 부산 through the admin API
// (the address alone: the district follows), and the next emergency
// reaches the Busan centre only.
func TestChainRoutesBySido(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
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
		if err != nil || res.DistrictCode != "11110" {
			t.Fatalf("resident's district %q, %v; want 11110 (서울 종로구) from the address", res.DistrictCode, err)
		}
		cl := c.connect(t)
		c.publishEvent(t, cl, devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()})
		waitFor(t, 10*time.Second, "the alert at the Seoul 119", func() bool { return seoul.Stats().Received >= 1 })
		inc, _ := c.incident(t, detectors.CauseSOS)
		if _, err := c.g.Dispatch.Resolve(ctx, inc.ID, dispatch.DispositionTest, "admin", "시험"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the Cancel at the Seoul 119", func() bool { return seoul.Stats().Received >= 2 })

		// The move, as an admin makes it.
		moved := adminPatch(t, c.g, "residents/"+string(res.ID), `{"address": {"line1": "부산광역시 해운대구 해운대로 1", "floor": "2"}}`)
		if moved["district_code"] != "26350" {
			t.Fatalf("after the move the district is %v, want 26350 (부산 해운대구)", moved["district_code"])
		}
		c.publishEvent(t, cl, devices.Event{ID: "sos-2", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()})
		waitFor(t, 10*time.Second, "the alert at the Busan 119", func() bool { return busan.Stats().Received >= 1 })
		time.Sleep(300 * time.Millisecond) // room for a stray message to show up
		for _, a := range seoul.Alerts() {
			if a.IncidentID != inc.ID {
				t.Errorf("the Seoul 119 got %s %s of incident %s, after the resident moved to 부산", a.MsgType, a.Identifier, a.IncidentID)
			}
		}
		for _, a := range busan.Alerts() {
			if a.IncidentID == inc.ID {
				t.Errorf("the Busan 119 got %s %s of the Seoul incident %s", a.MsgType, a.Identifier, a.IncidentID)
			}
		}
		if n := c.mock119.Stats().Received; n != 0 {
			t.Errorf("the --cap-url centre got %d messages; every 시도 with residents has its own route", n)
		}
	})
}

// adminPatch sends PATCH /api/v1/<path> to g's admin API and returns the
// answer, failing the test unless it is 200.
func adminPatch(t *testing.T, g *Gateway, path, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, "http://"+g.HTTPAddr()+"/api/v1/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH %s: %d %s", path, resp.StatusCode, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A gateway whose residents live in a 시도 without a 119 route refuses to
// start, naming the 시도 and how many residents live there; with a route
// for it, it starts.
func TestGatewayRefusesResidentsWithoutRoute(t *testing.T) {
	dir := t.TempDir()
	_, seoulURL := newCentre(t)
	open := func(capURLs []string) (*Gateway, error) {
		return New(context.Background(), Options{
			DataDir: dir, MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener(),
			AdminToken: "regions-test-admin-token-0123456789", Channels: ChannelOptions{CAPURLs: capURLs, FakeTwilio: true},
		}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	}
	// First start: no route at all is today's "no 119 configured" (a
	// warning), so the gateway starts; the registry is filled meanwhile.
	g, err := open(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, line1 := range []string{"서울특별시 종로구 세종대로 209", "부산광역시 해운대구 해운대로 1", "부산광역시 중구 중앙대로 1"} {
		if _, err := g.Store.Registry().CreateResident(ctx, devices.Resident{Name: "대상자", Language: "ko", Address: devices.Address{Line1: line1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Store.Routes().PutCAPRoute(ctx, cap.Route{Sido: "11", Endpoints: []string{seoulURL}}); err != nil {
		t.Fatal(err)
	}
	g.closeOnError()

	_, err = open(nil)
	if err == nil || !strings.Contains(err.Error(), "부산광역시 (26): 대상자 2명") || strings.Contains(err.Error(), "서울특별시 (11)") {
		t.Fatalf("start with residents in 부산 and a route for 서울 only: %v; want a refusal naming 부산광역시 and its 2 residents", err)
	}

	// The way out the error names: start with --cap-url meanwhile, set the
	// route, start without it.
	_, busanURL := newCentre(t)
	g, err = open([]string{seoulURL})
	if err != nil {
		t.Fatalf("start with --cap-url: %v", err)
	}
	if _, err := g.Store.Routes().PutCAPRoute(ctx, cap.Route{Sido: "부산", Endpoints: []string{busanURL}}); err != nil {
		t.Fatal(err)
	}
	g.closeOnError()
	g, err = open(nil)
	if err != nil {
		t.Fatalf("start with a route for every 시도 that has residents: %v", err)
	}
	g.closeOnError()
}
