package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkEventCommitBesideReadings measures what an emergency's commit
// waits for while the readings flow beside it (issue 14: at 300,000 homes
// the emergency PUBACK p50 was 5 ms against 0.4 ms with no readings). Each
// iteration is 5 s: SOS events at 200 a second from 50 hubs' goroutines,
// and, with readings=5000, national readings beside them (300,000 hubs'
// minute batches of 17 readings, 5,000 batches a second, flushed by the
// store's readings writer as the gateway's are). Uses only the public API,
// so the same file measures older versions of the store.
func BenchmarkEventCommitBesideReadings(b *testing.B) {
	for _, be := range backends(b) {
		for _, readingsRate := range []int{0, 5000} {
			b.Run(fmt.Sprintf("backend=%s/events=200/readings=%d", be.name, readingsRate), func(b *testing.B) {
				const eventRate, hubs, homes, seconds = 200, 50, 300000, 5
				s, reg := runStore(b, be.fresh(b))
				ctx := context.Background()
				t0 := time.Now().Truncate(time.Hour)
				var lat []time.Duration
				var mu sync.Mutex
				sent := 0 // reading batches so far
				b.ReportAllocs()
				for b.Loop() {
					stop := make(chan struct{})
					var feeders sync.WaitGroup
					if readingsRate > 0 {
						// 50 batches every 10 ms: the gateway's hubs publish
						// all the time, not in bursts.
						feeders.Go(func() {
							r := rand.New(rand.NewPCG(uint64(sent), 7))
							tick := time.NewTicker(10 * time.Millisecond)
							defer tick.Stop()
							for {
								select {
								case <-stop:
									return
								case <-tick.C:
								}
								for range readingsRate / 100 {
									if err := s.Journal().AppendReadings(ctx, nationalBatch(r, t0, sent%homes, sent/homes)); err != nil {
										b.Error(err)
										return
									}
									sent++
								}
							}
						})
					}
					work := make(chan struct{}, eventRate*seconds)
					var wg sync.WaitGroup
					for h := range hubs {
						wg.Go(func() {
							var local []time.Duration
							for range work {
								e := &devices.Event{Hub: devices.HubID(fmt.Sprintf("hub-%06d", h)),
									ID:   devices.EventID(fmt.Sprintf("sos-%d", time.Now().UnixNano())),
									Kind: devices.EventSOS, Sensor: "pendant", At: time.Now(), Received: time.Now()}
								start := time.Now()
								if _, err := s.Journal().AppendEvent(ctx, e); err != nil {
									b.Error(err)
								}
								local = append(local, time.Since(start))
							}
							mu.Lock()
							lat = append(lat, local...)
							mu.Unlock()
						})
					}
					tick := time.NewTicker(time.Second / eventRate)
					for range eventRate * seconds {
						<-tick.C
						work <- struct{}{}
					}
					tick.Stop()
					close(work)
					wg.Wait()
					close(stop)
					feeders.Wait()
				}
				slices.Sort(lat)
				pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
				b.ReportMetric(pct(0.50), "p50-ms")
				b.ReportMetric(pct(0.99), "p99-ms")
				b.ReportMetric(pct(1), "max-ms")
				b.ReportMetric(float64(sent)/(float64(b.N)*seconds), "batches/s")
				// Where the time went: the events' wait for the write lock
				// and the readings flushes' own duration, means in ms.
				b.ReportMetric(1000*histogramMean(b, reg, "dolbom_store_event_stage_seconds", "stage", "lock"), "lock-wait-mean-ms")
				b.ReportMetric(1000*histogramMean(b, reg, "dolbom_store_commit_seconds", "kind", "readings"), "flush-mean-ms")
			})
		}
	}
}

// histogramMean is the mean of the histogram name{label=value} in reg, 0
// when it has no observations.
func histogramMean(b *testing.B, reg *prometheus.Registry, name, label, value string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value && m.GetHistogram().GetSampleCount() > 0 {
					return m.GetHistogram().GetSampleSum() / float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return 0
}
