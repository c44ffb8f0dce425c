package cap_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
)

// routeTable is a stored routing table in memory.
type routeTable map[string]cap.Route

func (t routeTable) CAPRoute(_ context.Context, sido string) (cap.Route, bool, error) {
	r, ok := t[sido]
	return r, ok, nil
}

func (t routeTable) CAPRoutes(context.Context) ([]cap.Route, error) {
	var out []cap.Route
	for _, r := range t {
		out = append(out, r)
	}
	return out, nil
}

// centre is a real mock 119 (the receiver dolbom-119 serves) on a real
// HTTP server.
type centre struct {
	rx  *receiver.Receiver
	url string
}

func newCentre(t *testing.T) centre {
	t.Helper()
	rx := receiver.New(receiver.Options{Logger: zerolog.Nop()})
	srv := httptest.NewServer(rx.Handler())
	t.Cleanup(srv.Close)
	return centre{rx: rx, url: srv.URL + "/cap"}
}

func alertFor(res devices.Resident, id string) dispatch.Notification {
	return dispatch.Notification{Key: id + "/s0/119/cap/1", Type: dispatch.MsgAlert, Channel: dispatch.Channel119,
		Incident: dispatch.IncidentSnapshot{ID: id, Hub: "hub-1", Cause: detectors.CauseFireConfirmed, Priority: 1,
			Explanation: detectors.Explanation{Ko: "주방 화재", En: "kitchen fire"}, OpenedAt: time.Now()},
		HasResident: true, Resident: res}
}

// seoulAndBusan is two real mock-119 centres and a router sending 서울's
// messages to the first, 부산's to the second.
func seoulAndBusan(t *testing.T) (seoul, busan centre, router *cap.Router) {
	t.Helper()
	seoul, busan = newCentre(t), newCentre(t)
	router, err := cap.NewRouter(cap.RouterOptions{Source: routeTable{
		"11": {Sido: "11", Endpoints: []string{seoul.url}},
		"26": {Sido: "26", Endpoints: []string{busan.url}},
	}, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return seoul, busan, router
}

// A Seoul fire reaches the Seoul centre only: two real receivers, the real
// CAP client, routed by the resident's 시도.
func TestSeoulFireReachesOnlySeoul(t *testing.T) {
	seoul, busan, router := seoulAndBusan(t)
	n := cap.NewNotifier(cap.NotifierOptions{Routes: router, SenderID: "gateway@dolbom.local"})
	ctx := context.Background()
	res := devices.Resident{ID: "res-1", Name: "김영희", DistrictCode: "11110",
		Address: devices.Address{Line1: "서울특별시 종로구 세종대로 209"}}
	if _, _, err := n.Notify(ctx, alertFor(res, "inc-seoul")); err != nil {
		t.Fatal(err)
	}
	if got := seoul.rx.Stats().Received; got != 1 {
		t.Errorf("the Seoul centre received %d messages, want 1", got)
	}
	if got := busan.rx.Stats().Received; got != 0 {
		t.Errorf("the Busan centre received %d messages of a Seoul fire, want 0", got)
	}

	// The resident moved to 부산 해운대구: the next emergency goes there.
	res.DistrictCode, res.Address.Line1 = "26350", "부산광역시 해운대구 해운대로 1"
	if _, _, err := n.Notify(ctx, alertFor(res, "inc-busan")); err != nil {
		t.Fatal(err)
	}
	if s, b := seoul.rx.Stats().Received, busan.rx.Stats().Received; s != 1 || b != 1 {
		t.Errorf("after the move: Seoul %d, Busan %d messages; want 1 and 1", s, b)
	}
}

// A 시도 without a route is an error naming it, retried from the outbox:
// never a silent default. A resident without a district has a route only
// while every 시도 has the same one.
func TestNoRouteIsAnError(t *testing.T) {
	seoul, national := newCentre(t), newCentre(t)
	router, err := cap.NewRouter(cap.RouterOptions{Source: routeTable{"11": {Sido: "11", Endpoints: []string{seoul.url}}}})
	if err != nil {
		t.Fatal(err)
	}
	n := cap.NewNotifier(cap.NotifierOptions{Routes: router, SenderID: "gateway@dolbom.local"})
	ctx := context.Background()
	_, retry, err := n.Notify(ctx, alertFor(devices.Resident{ID: "res-2", Name: "박민수", DistrictCode: "26350", Address: devices.Address{Line1: "부산광역시 해운대구 해운대로 1"}}, "inc-2"))
	var nr *cap.NoRouteError
	if !errors.As(err, &nr) || !retry || nr.Sido.Code != "26" || !strings.Contains(err.Error(), "부산광역시의 119 경로가 없습니다") {
		t.Fatalf("Notify to a 시도 without a route: retry %v, %v; want a retryable NoRouteError naming 부산광역시", retry, err)
	}
	_, _, err = n.Notify(ctx, alertFor(devices.Resident{ID: "res-3", Name: "최순자", Address: devices.Address{Line1: "서울특별시 종로구 세종대로 209"}}, "inc-3"))
	if !errors.As(err, &nr) || nr.Resident != "res-3" {
		t.Fatalf("Notify for a resident without a district under per-시도 routes: %v, want a NoRouteError naming the resident", err)
	}
	if got := seoul.rx.Stats().Received; got != 0 {
		t.Errorf("the Seoul centre received %d messages meant for elsewhere", got)
	}

	// One endpoint for the whole country (--cap-url): every 시도 has the
	// same route, so a resident without a district reaches it too.
	single, err := cap.NewRouter(cap.RouterOptions{Fallback: []string{national.url}})
	if err != nil {
		t.Fatal(err)
	}
	n = cap.NewNotifier(cap.NotifierOptions{Routes: single, SenderID: "gateway@dolbom.local"})
	if _, _, err := n.Notify(ctx, alertFor(devices.Resident{ID: "res-3", Name: "최순자", Address: devices.Address{Line1: "서울특별시 종로구 세종대로 209"}}, "inc-4")); err != nil {
		t.Fatalf("single endpoint, resident without a district: %v", err)
	}
	table, err := single.Table(ctx)
	if err != nil || len(table) != 17 {
		t.Fatalf("Table: %d routes, %v; want one per 시도", len(table), err)
	}
	for _, e := range table {
		if e.Source != cap.RouteFallback || len(e.Route.Endpoints) != 1 {
			t.Errorf("%s: %s %v; want the --cap-url route", e.Sido, e.Source, e.Route.Endpoints)
		}
	}
}

func TestRouteValidate(t *testing.T) {
	r := cap.Route{Sido: "부산", Endpoints: []string{" https://119.busan.example.kr/cap ", "https://119.busan.example.kr/cap"}}
	if err := r.Validate(); err != nil || r.Sido != "26" || len(r.Endpoints) != 1 {
		t.Errorf("Validate: %v, %+v; want 시도 26 and one endpoint", err, r)
	}
	for _, bad := range []cap.Route{
		{Sido: "99", Endpoints: []string{"https://x.example"}},
		{Sido: "11"},
		{Sido: "11", Endpoints: []string{"ftp://x.example"}},
		{Sido: "11", Endpoints: []string{"https://x.example"}, BearerToken: "a b"},
	} {
		if err := bad.Validate(); !errors.Is(err, devices.ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want an ErrInvalid", bad, err)
		}
	}
	r = cap.Route{Sido: "Seoul", Endpoints: []string{"https://x.example"}}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "서울특별시 (11)") {
		t.Errorf("Validate(Seoul) = %v, want the 17 시도 as choices", err)
	}
}
