package gateway

// 119 routing at start: a 시도 whose residents have no route stops the
// gateway before it serves (docs/operations.md).

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/store"
)

// checkRoutes refuses a routing table that leaves residents of a 시도
// without a route, naming each such 시도 and how many residents live there
// (counts: enabled residents per 시도). No route at all is today's "no 119
// configured" (a loud warning; alerts wait in the outbox), not an error.
func checkRoutes(ctx context.Context, routes *cap.Router, counts map[string]int, log zerolog.Logger) error {
	empty, err := routes.Empty(ctx)
	if err != nil {
		return fmt.Errorf("gateway: 119 routes: %w", err)
	}
	if empty {
		log.Warn().Msg("no 119 route (--cap-url, or dolbomctl region route set): CAP alerts wait in the outbox until one is configured")
		return nil
	}
	table, err := routes.Table(ctx)
	if err != nil {
		return fmt.Errorf("gateway: 119 routes: %w", err)
	}
	var missing []string
	for _, e := range table {
		if n := counts[string(e.Sido.Code)]; e.Source == cap.RouteNone && n > 0 {
			missing = append(missing, fmt.Sprintf("%s: 대상자 %d명 (%d residents)", e.Sido, n, n))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("gateway: 119 경로가 없는 시도에 대상자가 있습니다 (residents live in a 시도 without a 119 route): %s; "+
			"set each route (dolbomctl region route set SIDO --endpoint URL, on a gateway started with --cap-url meanwhile) "+
			"or give --cap-url, the route of every 시도 without one", strings.Join(missing, "; "))
	}
	return nil
}

// routeAdmin is the admin API's routing table: the effective routes from
// the router, the stored ones from the store.
type routeAdmin struct {
	*cap.Router
	store.Routes
	residents store.Registry
}

func (r routeAdmin) ResidentsBySido(ctx context.Context) (map[string]int, error) {
	return r.residents.ResidentsBySido(ctx)
}

// registerNoRoute exports the 119 messages without a route: an alert
// rule on dolbom_cap_no_route_incidents > 0 pages the operator, beside the
// dispatcher's banner.
func registerNoRoute(reg prometheus.Registerer, stuck *cap.Stuck) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dolbom_cap_no_route_incidents",
		Help: "Incidents whose 119 (CAP) message waits in the outbox because it has no route (119 경로 없음): a 시도 without a route, or a resident without a district while routes differ by 시도.",
	}, func() float64 { return float64(stuck.Len()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dolbom_cap_no_route_total",
		Help: "Attempts to send a 119 (CAP) message that found no route, retries included.",
	}, func() float64 { return float64(stuck.Total()) }))
}

// checkNoDistrict refuses to start while enabled residents have no
// district and the routes are not one route for every 시도: their 119
// messages would have nowhere to go. It names up to ten of them. allow
// (--allow-residents-without-district) starts anyway, with an error log:
// the way to set their districts through the admin API.
func checkNoDistrict(ctx context.Context, routes *cap.Router, without int, reg store.Registry, allow bool, log zerolog.Logger) error {
	if without == 0 {
		return nil
	}
	if empty, err := routes.Empty(ctx); err != nil || empty {
		return err // no 119 at all: checkRoutes warned
	}
	if _, err := routes.RouteOf(ctx, "", ""); err == nil {
		return nil // one route for every 시도 reaches them
	} else if !errors.As(err, new(*cap.NoRouteError)) {
		return fmt.Errorf("gateway: 119 routes: %w", err)
	}
	ids, err := reg.ResidentsWithoutDistrict(ctx, 10)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = string(id)
	}
	msg := fmt.Sprintf("시군구가 없는 대상자 %d명: 119 경로가 시도마다 달라 보낼 곳이 없습니다 (%d residents without a district, and the 119 routes differ by 시도): %s",
		without, without, strings.Join(names, ", "))
	if allow {
		log.Error().Int("residents", without).Strs("sample", names).
			Msg(msg + "; started with --allow-residents-without-district: their 119 messages wait in the outbox until their district is set")
		return nil
	}
	return fmt.Errorf("gateway: %s; set each one's district (dolbomctl resident update ID --district-code CODE) on a gateway started "+
		"with --allow-residents-without-district meanwhile", msg)
}
