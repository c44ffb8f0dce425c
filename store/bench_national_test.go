package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// nationalSeries are the 17 (sensor, metric) pairs of a simulated home's
// minute batch (firmware-sim/home.go Readings), with their typical values.
var nationalSeries = []struct {
	sensor  devices.SensorID
	metric  devices.Metric
	value   float64
	quality bool
}{
	{"kitchen-smoke", devices.MetricSmoke, 0.02, false},
	{"kitchen-smoke", devices.MetricTemperature, 22, false},
	{"kitchen-smoke", devices.MetricHumidity, 45, false},
	{"kitchen-heat", devices.MetricTemperature, 22, false},
	{"hall-smoke", devices.MetricSmoke, 0.02, false},
	{"hall-smoke", devices.MetricTemperature, 22, false},
	{"hall-smoke", devices.MetricHumidity, 50, false},
	{"co", devices.MetricCO, 1, false},
	{"motion-living", devices.MetricMotion, 2, false},
	{"motion-kitchen", devices.MetricMotion, 1, false},
	{"motion-bedroom", devices.MetricMotion, 0, false},
	{"motion-bath", devices.MetricMotion, 0, false},
	{"door", devices.MetricDoor, 0, false},
	{"radar", devices.MetricPresence, 1, false},
	{"radar", devices.MetricHeartRate, 68, true},
	{"radar", devices.MetricRespiration, 15, true},
	{"wearable", devices.MetricHeartRate, 69, true},
}

// nationalBatch is hub h's batch of minute m: 17 readings spread over the
// minute, values to one decimal as hubs send them.
func nationalBatch(r *rand.Rand, t0 time.Time, h, m int) *devices.ReadingBatch {
	at := t0.Add(time.Duration(m) * time.Minute)
	b := &devices.ReadingBatch{Hub: devices.HubID(fmt.Sprintf("hub-%06d", h)), Received: at.Add(time.Minute),
		Readings: make([]devices.Reading, len(nationalSeries))}
	for i, s := range nationalSeries {
		q := float32(-1)
		if s.quality {
			q = 0.75 + 0.2*r.Float32()
		}
		b.Readings[i] = devices.Reading{Sensor: s.sensor, Metric: s.metric, At: at.Add(time.Duration(r.IntN(59000)) * time.Millisecond),
			Value: math.Round((s.value+r.NormFloat64()*0.5)*10) / 10, Quality: q}
	}
	return b
}

// BenchmarkReadingsNational measures the sustained rate of the readings
// path at national scale: 17-reading batches from 300,000 hubs in random
// order, into tables that already hold DOLBOM_BENCH_PREFILL_MINUTES
// (default 10) minutes of national data, so that the B-trees are large. One
// iteration is 60,000 batches (12 s of national load) appended by 4
// goroutines and flushed; batches/s is the median over the iterations
// (-benchtime=3x for a median of 3). DOLBOM_BENCH_FLUSH_ROWS sets
// Config.FlushRows (default: the store's default). Uses only the public API, so the same
// file measures older versions of the store.
func BenchmarkReadingsNational(b *testing.B) {
	prefill := 10
	if v := os.Getenv("DOLBOM_BENCH_PREFILL_MINUTES"); v != "" {
		prefill, _ = strconv.Atoi(v)
	}
	for _, be := range backends(b) {
		b.Run(fmt.Sprintf("backend=%s/hubs=300000/readings=17/prefill=%dm", be.name, prefill), func(b *testing.B) {
			const hubs, perIter, producers = 300000, 60000, 4
			cfg := be.fresh(b)
			cfg.FlushRows, _ = strconv.Atoi(os.Getenv("DOLBOM_BENCH_FLUSH_ROWS")) // 0: the default
			s, _ := runStore(b, cfg)
			ctx := context.Background()
			// The current hour, as live hubs send: an hour that may be
			// sealed already would make every row a late-data marker.
			t0 := time.Now().Truncate(time.Hour)
			order := rand.New(rand.NewPCG(1, 2)).Perm(hubs)
			next := 0 // batches sent so far: minute next/hubs, hub order[next%hubs]
			send := func(n int) {
				start := next
				var wg sync.WaitGroup
				for p := range producers {
					wg.Go(func() {
						r := rand.New(rand.NewPCG(uint64(start), uint64(p)))
						for i := start + p; i < start+n; i += producers {
							if err := s.Journal().AppendReadings(ctx, nationalBatch(r, t0, order[i%hubs], i/hubs)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				next += n
			}
			fillStart := time.Now()
			for range prefill {
				send(hubs)
			}
			b.Logf("prefill: %d batches in %s (%.0f batches/s)", next, time.Since(fillStart).Round(time.Second),
				float64(next)/time.Since(fillStart).Seconds())
			var rates []float64
			b.ReportAllocs()
			for b.Loop() {
				t := time.Now()
				send(perIter)
				rates = append(rates, perIter/time.Since(t).Seconds())
			}
			slices.Sort(rates)
			b.ReportMetric(rates[len(rates)/2], "batches/s")
			b.ReportMetric(rates[len(rates)/2]*float64(len(nationalSeries)), "readings/s")
			b.Logf("batches/s per iteration (sorted): %.0f", rates)
		})
	}
}
