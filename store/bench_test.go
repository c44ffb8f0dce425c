package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
)

// backends are the back ends a benchmark runs on; PostgreSQL only when
// DOLBOM_TEST_DATABASE_URL is set.
func backends(b *testing.B) []struct {
	name  string
	fresh func(testing.TB) store.Config
} {
	list := []struct {
		name  string
		fresh func(testing.TB) store.Config
	}{{"sqlite", storetest.SQLite}}
	if os.Getenv(storetest.EnvDatabaseURL) != "" {
		list = append(list, struct {
			name  string
			fresh func(testing.TB) store.Config
		}{"postgres", storetest.Postgres})
	} else {
		b.Logf("postgres benchmarks skipped: set %s", storetest.EnvDatabaseURL)
	}
	return list
}

func runStore(b *testing.B, cfg store.Config) (*store.Store, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	cfg.FlushInterval = 0 // the default, 200 ms
	s, _ := startStore(b, cfg)
	return s, reg
}

// BenchmarkReadings feeds 1,000 batches of 50 readings per iteration from
// 100 hubs' goroutines and waits until they are written.
func BenchmarkReadings(b *testing.B) {
	for _, be := range backends(b) {
		b.Run("backend="+be.name+"/batches=1000/readings=50", func(b *testing.B) {
			s, _ := runStore(b, be.fresh(b))
			ctx := context.Background()
			const hubs, perHub, perBatch = 100, 10, 50
			at := time.Now().Add(-time.Hour)
			batches := make([]*devices.ReadingBatch, hubs*perHub)
			for i := range batches {
				rb := &devices.ReadingBatch{Hub: devices.HubID(fmt.Sprintf("hub-%06d", i%hubs)), Received: at}
				for j := range perBatch {
					rb.Readings = append(rb.Readings, devices.Reading{Sensor: devices.SensorID(fmt.Sprintf("s%d", j%5)),
						Metric: devices.MetricTemperature, At: at.Add(time.Duration(i*perBatch+j) * time.Millisecond), Value: 21.5, Quality: -1})
				}
				batches[i] = rb
			}
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				var wg sync.WaitGroup
				for h := range hubs {
					wg.Go(func() {
						for k := range perHub {
							if err := s.Journal().AppendReadings(ctx, batches[h*perHub+k]); err != nil {
								b.Error(err)
							}
						}
					})
				}
				wg.Wait()
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*hubs*perHub*perBatch)/time.Since(start).Seconds(), "readings/s")
		})
	}
}

// BenchmarkAppendEvent offers events at a steady rate from many hubs'
// goroutines and reports the latency of AppendEvent (until durable) and the
// events per group commit. One iteration is 2 s of load.
func BenchmarkAppendEvent(b *testing.B) {
	for _, be := range backends(b) {
		for _, rate := range []int{1000, 5000} {
			b.Run(fmt.Sprintf("backend=%s/rate=%d/hubs=200", be.name, rate), func(b *testing.B) {
				s, reg := runStore(b, be.fresh(b))
				ctx := context.Background()
				const hubs = 200
				var seq atomic.Int64
				var mu sync.Mutex
				var lat []time.Duration
				b.ReportAllocs()
				for b.Loop() {
					total := 2 * rate
					interval := time.Second / time.Duration(rate)
					tick := time.NewTicker(interval)
					work := make(chan struct{}, total)
					var wg sync.WaitGroup
					for h := range hubs {
						wg.Go(func() {
							local := make([]time.Duration, 0, total/hubs+1)
							for range work {
								n := seq.Add(1)
								e := &devices.Event{Hub: devices.HubID(fmt.Sprintf("hub-%06d", h)), ID: devices.EventID(fmt.Sprintf("e-%d", n)),
									Kind: devices.EventSOS, At: time.Now(), Received: time.Now()}
								t0 := time.Now()
								if _, err := s.Journal().AppendEvent(ctx, e); err != nil {
									b.Error(err)
								}
								local = append(local, time.Since(t0))
							}
							mu.Lock()
							lat = append(lat, local...)
							mu.Unlock()
						})
					}
					for range total {
						<-tick.C
						work <- struct{}{}
					}
					close(work)
					tick.Stop()
					wg.Wait()
				}
				slices.Sort(lat)
				pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
				b.ReportMetric(pct(0.50), "p50-ms")
				b.ReportMetric(pct(0.99), "p99-ms")
				b.ReportMetric(pct(1), "max-ms")
				b.ReportMetric(meanBatch(b, reg), "events/commit")
			})
		}
	}
}

func meanBatch(b *testing.B, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "dolbom_store_event_commit_batch_size" {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleSum() / float64(h.GetSampleCount())
		}
	}
	return 0
}

// BenchmarkLoadHome is the cost of reading one home's engine state on its
// own, as the engine does for an event that comes while the saved state is
// still loading: alone, and while LoadHomes reads every home in a loop.
// homes_per_s of the bulk load is reported with it.
func BenchmarkLoadHome(b *testing.B) {
	const homes = 50000
	blob := make([]byte, 1550) // the average saved home (docs/performance.md)
	for _, be := range backends(b) {
		s, _ := runStore(b, be.fresh(b))
		ctx := context.Background()
		for i := 0; i < homes; i += 1000 {
			batch := make([]detectors.HomeSnapshot, 0, 1000)
			for j := i; j < i+1000; j++ {
				batch = append(batch, detectors.HomeSnapshot{Hub: devices.HubID(fmt.Sprintf("hub-%06d", j)), Data: blob})
			}
			if err := s.State().SaveHomes(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		for _, bulk := range []bool{false, true} {
			b.Run(fmt.Sprintf("backend=%s/homes=%d/bulk=%t", be.name, homes, bulk), func(b *testing.B) {
				stop := make(chan struct{})
				var wg sync.WaitGroup
				var loaded atomic.Int64
				start := time.Now()
				if bulk {
					wg.Go(func() {
						for {
							select {
							case <-stop:
								return
							default:
							}
							snaps, err := s.State().LoadHomes(ctx)
							if err != nil {
								b.Error(err)
								return
							}
							loaded.Add(int64(len(snaps)))
						}
					})
				}
				i := 0
				for b.Loop() {
					hub := devices.HubID(fmt.Sprintf("hub-%06d", (i*7919)%homes))
					if _, ok, err := s.State().LoadHome(ctx, hub); err != nil || !ok {
						b.Fatalf("LoadHome(%s) = %v, %v", hub, ok, err)
					}
					i++
				}
				close(stop)
				wg.Wait()
				if bulk {
					b.ReportMetric(float64(loaded.Load())/time.Since(start).Seconds(), "bulk_homes/s")
				}
			})
		}
	}
}
