package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/cap"
)

// Residents without a district while the routes differ by 시도: the
// gateway refuses to start naming them; --allow-residents-without-district
// starts it (to set their districts), and one route for every 시도 reaches
// them.
func TestGatewayRefusesResidentsWithoutDistrict(t *testing.T) {
	dir := t.TempDir()
	_, seoulURL := newCentre(t)
	_, busanURL := newCentre(t)
	open := func(capURLs []string, allow bool) (*Gateway, error) {
		return New(context.Background(), Options{
			DataDir: dir, MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener(),
			AdminToken: "regions-test-admin-token-0123456789",
			Channels:   ChannelOptions{CAPURLs: capURLs, FakeTwilio: true, AllowNoDistrict: allow},
		}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	}
	g, err := open([]string{seoulURL}, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lost, err := g.Store.Registry().CreateResident(ctx, devices.Resident{Name: "주소 없음", Language: "ko"})
	if err != nil {
		t.Fatal(err)
	}
	g.closeOnError()

	// --cap-url alone is one route for every 시도: it reaches them.
	if g, err = open([]string{seoulURL}, false); err != nil {
		t.Fatalf("one route for every 시도, a resident without a district: %v", err)
	}
	if _, err := g.Store.Routes().PutCAPRoute(ctx, cap.Route{Sido: "26", Endpoints: []string{busanURL}}); err != nil {
		t.Fatal(err)
	}
	g.closeOnError()

	_, err = open([]string{seoulURL}, false)
	if err == nil || !strings.Contains(err.Error(), "시군구가 없는 대상자 1명") || !strings.Contains(err.Error(), string(lost.ID)) {
		t.Fatalf("start with routes differing by 시도 and a resident without a district: %v; want a refusal naming %s", err, lost.ID)
	}
	g, err = open([]string{seoulURL}, true)
	if err != nil {
		t.Fatalf("start with --allow-residents-without-district: %v", err)
	}
	g.closeOnError()
}
