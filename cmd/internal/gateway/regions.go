package gateway

// Districts at start: residents registered before districts were kept get
// theirs from their address (docs/operations.md).

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
	"github.com/dolbom/dolbom/store"
)

// settleDistricts derives the districts the registry lacks, and counts and
// logs the residents left without one. It returns the enabled residents
// per 시도 (store.Registry.ResidentsBySido), for the routing check.
func settleDistricts(ctx context.Context, st *store.Store, reg prometheus.Registerer, log zerolog.Logger) (map[string]int, error) {
	set, unreadable, err := st.Registry().BackfillDistricts(ctx, func(a devices.Address) (string, bool) {
		d, err := region.Derive(a.Line1)
		return string(d.Code), err == nil
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: residents' districts: %w", err)
	}
	if set > 0 {
		log.Info().Int("residents", set).Msg("residents' districts (시군구) derived from their addresses")
	}
	if len(unreadable) > 0 {
		sample := make([]string, 0, 10)
		for _, id := range unreadable[:min(10, len(unreadable))] {
			sample = append(sample, string(id))
		}
		log.Warn().Int("residents", len(unreadable)).Strs("sample", sample).
			Msg("residents whose address names no 시도 and 시군구 (주소에서 시군구를 찾지 못한 대상자): set their district (dolbomctl resident update ID --district-code CODE)")
	}
	counts, err := st.Registry().ResidentsBySido(ctx)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	without := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dolbom_residents_without_district",
		Help: "Enabled residents without a district (시군구) at start (no address, or one that names none): their 119 route is known only while every 시도 has the same one.",
	})
	reg.MustRegister(without)
	without.Set(float64(counts[""]))
	return counts, nil
}
