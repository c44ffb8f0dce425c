package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// TestHourRollupsTwoGateways: two gateways sharing one PostgreSQL database
// write readings of the same hubs and hours at once (a hub moving between
// them); the hourly blobs must count every reading, none merged over. The
// readings are months old, past RawRetention, so the flushes merge them
// into the blobs directly (sampleBatch.planLate), concurrently.
func TestHourRollupsTwoGateways(t *testing.T) {
	cfg := storetest.Postgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stores []*store.Store
	var running sync.WaitGroup
	for range 2 {
		s, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
		running.Go(func() { _ = s.Run(ctx) })
	}
	defer func() {
		cancel()
		running.Wait()
		for _, s := range stores {
			s.Close()
		}
	}()
	base := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	const hubs, rounds = 20, 30
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for r := range rounds {
				for h := range hubs {
					b := &devices.ReadingBatch{Hub: devices.HubID(fmt.Sprintf("hub-%02d", h)), Readings: []devices.Reading{
						{Sensor: "m", Metric: devices.MetricMotion, At: base.Add(time.Duration(r*2+i) * time.Second), Value: 1, Quality: -1}}}
					if err := s.Journal().AppendReadings(ctx, b); err != nil {
						t.Error(err)
						return
					}
				}
				if err := s.Flush(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for h := range hubs {
		got, err := stores[0].Journal().Rollups(ctx, devices.HubID(fmt.Sprintf("hub-%02d", h)), "m", devices.MetricMotion, time.Hour, base, base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Count != 2*rounds || got[0].Sum != 2*rounds {
			t.Errorf("hub-%02d hourly rollup = %+v, want count and sum %d", h, got, 2*rounds)
		}
	}
}
