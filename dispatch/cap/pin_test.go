package cap_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
)

// pinTable keeps incidents' pinned 시도 in memory (the store's, in tests).
type pinTable struct {
	mu sync.Mutex
	m  map[string]string
}

func (p *pinTable) PinnedRoute(_ context.Context, inc string) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.m[inc]
	return s, ok, nil
}

func (p *pinTable) PinRoute(_ context.Context, inc, sido string, _ []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]string{}
	}
	if _, ok := p.m[inc]; !ok {
		p.m[inc] = sido
	}
	return nil
}

func followUp(a dispatch.Notification, typ dispatch.MessageType, n int) dispatch.Notification {
	f := a
	f.Type, f.Key = typ, a.Incident.ID+"/s0/119/cap/"+string(rune('1'+n))
	if typ == dispatch.MsgCancel {
		f.Incident.State = dispatch.StateCancelled
	}
	return f
}

// The resident moves from 서울 to 부산 between the Alert and the Cancel:
// the Update and the Cancel still go to the Seoul centre that holds the
// Alert (two real mock-119 receivers); the resident's next incident goes
// to Busan.
func TestCancelFollowsThePinnedRoute(t *testing.T) {
	seoul, busan, router := seoulAndBusan(t)
	pins := &pinTable{}
	n := cap.NewNotifier(cap.NotifierOptions{Routes: router, Pins: pins, SenderID: "gateway@dolbom.local"})
	ctx := context.Background()
	res := devices.Resident{ID: "res-1", Name: "김영희", DistrictCode: "11110", Address: devices.Address{Line1: "서울특별시 종로구 세종대로 209"}}
	alert := alertFor(res, "inc-move")
	if _, _, err := n.Notify(ctx, alert); err != nil {
		t.Fatal(err)
	}
	if s, ok, _ := pins.PinnedRoute(ctx, "inc-move"); !ok || s != "11" {
		t.Fatalf("pinned 시도 after the Alert = %q, %v; want 11", s, ok)
	}
	// The resident moves to 부산 해운대구 while the incident is open.
	moved := res
	moved.DistrictCode, moved.Address.Line1 = "26350", "부산광역시 해운대구 해운대로 1"
	upd := followUp(alert, dispatch.MsgUpdate, 1)
	upd.Resident = moved
	cancel := followUp(alert, dispatch.MsgCancel, 2)
	cancel.Resident = moved
	for _, m := range []dispatch.Notification{upd, cancel} {
		if _, _, err := n.Notify(ctx, m); err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
	}
	st, bt := seoul.rx.Stats(), busan.rx.Stats()
	if st.Received != 3 || st.ByType[cap.MsgCancel] != 1 || bt.Received != 0 {
		t.Errorf("Seoul received %d (%v), Busan %d; want the Alert, Update and Cancel all in Seoul", st.Received, st.ByType, bt.Received)
	}
	if _, _, err := n.Notify(ctx, alertFor(moved, "inc-next")); err != nil {
		t.Fatal(err)
	}
	if got := busan.rx.Stats().Received; got != 1 {
		t.Errorf("the moved resident's next incident: Busan received %d, want 1", got)
	}
}

// A message without a route is retryable (kept in the outbox), logged at
// error level with its 시도 and incident once, listed as stuck until it
// goes out, and counted on every try.
func TestNoRouteIsLoudAndKept(t *testing.T) {
	seoul := newCentre(t)
	table := routeTable{"11": {Sido: "11", Endpoints: []string{seoul.url}}}
	router, err := cap.NewRouter(cap.RouterOptions{Source: table})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	stuck := cap.NewStuck()
	n := cap.NewNotifier(cap.NotifierOptions{Routes: router, Pins: &pinTable{}, Stuck: stuck, SenderID: "gateway@dolbom.local",
		Logger: zerolog.New(&logs).Level(zerolog.InfoLevel)})
	ctx := context.Background()
	a := alertFor(devices.Resident{ID: "res-2", Name: "박민수", DistrictCode: "26350", Address: devices.Address{Line1: "부산광역시 해운대구 해운대로 1"}}, "inc-busan")
	for range 3 {
		if _, retry, err := n.Notify(ctx, a); err == nil || !retry {
			t.Fatalf("Notify without a route: retry %v, %v; want a retryable error", retry, err)
		}
	}
	if got := strings.Count(logs.String(), `"level":"error"`); got != 1 {
		t.Errorf("%d error lines for one stuck incident retried 3 times, want 1:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), `"incident_id":"inc-busan"`) || !strings.Contains(logs.String(), `"sido":"26"`) {
		t.Errorf("the error log names neither the incident nor the 시도: %s", logs.String())
	}
	list := stuck.List()
	if len(list) != 1 || list[0].Incident != "inc-busan" || list[0].Sido.Code != "26" || stuck.Total() != 3 {
		t.Fatalf("stuck = %+v, total %d; want inc-busan in 26, 3 tries", list, stuck.Total())
	}
	// The route is set: the retry goes out and the incident is no longer stuck.
	busan := newCentre(t)
	table["26"] = cap.Route{Sido: "26", Endpoints: []string{busan.url}}
	if _, _, err := n.Notify(ctx, a); err != nil {
		t.Fatal(err)
	}
	if stuck.Len() != 0 || busan.rx.Stats().Received != 1 {
		t.Errorf("after the route was set: %d stuck, Busan received %d; want 0 and 1", stuck.Len(), busan.rx.Stats().Received)
	}
}
