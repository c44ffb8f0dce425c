package dispatch_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// benchBackends runs fn on SQLite and, when DOLBOM_TEST_DATABASE_URL is
// set, PostgreSQL.
func benchBackends(b *testing.B, fn func(b *testing.B, cfg store.Config)) {
	b.Run("backend=sqlite", func(b *testing.B) { fn(b, storetest.SQLite(b)) })
	b.Run("backend=postgres", func(b *testing.B) { fn(b, storetest.Postgres(b)) })
}

// BenchmarkDetectionCommitted measures detection -> incident committed
// (HandleDetection returns after the commit) while the incidents opened
// before are being delivered (each SOS queues 119 and a guardian SMS, a
// second attempt and a later step), so the writer is shared as in
// production.
func BenchmarkDetectionCommitted(b *testing.B) {
	benchBackends(b, func(b *testing.B, cfg store.Config) {
		h := start(b, cfg, fastPolicies, manyHomes)
		ctx := context.Background()
		episode := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		var lat []time.Duration
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			begin := time.Now()
			if _, err := h.d.HandleDetection(ctx, det(homeN(i), detectors.CauseSOS, 1, detectors.Firing, episode)); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(begin))
			i++
		}
		reportPercentiles(b, lat)
	})
}

// reportPercentiles reports the median and 99th percentile of lat in ms.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}

// BenchmarkBurst opens 1,000 SOS incidents within one second (Detect, as
// the detectors do) and waits until the local 119 receiver has every one;
// it reports the time from the first detection to the last delivery.
func BenchmarkBurst(b *testing.B) {
	for b.Loop() {
		rc := &receiver{count: map[string]int{}}
		srv := httptest.NewServer(rc)
		h := start(b, storetest.SQLite(b), crashPolicies, func(c *dispatch.Config) {
			c.Notifiers = map[dispatch.Channel]dispatch.Notifier{dispatch.Channel119: httpNotifier{url: srv.URL}}
		})
		episode := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		begin := time.Now()
		for i := range 1000 {
			h.d.Detect(det(homeN(i), detectors.CauseSOS, 1, detectors.Firing, episode))
			if i%100 == 99 {
				time.Sleep(time.Until(begin.Add(time.Duration(i+1) * time.Millisecond)))
			}
		}
		for d, _ := rc.stats(); d < 1000; d, _ = rc.stats() {
			if time.Since(begin) > 60*time.Second {
				b.Fatalf("only %d of 1000 delivered", d)
			}
			time.Sleep(time.Millisecond)
		}
		took := time.Since(begin)
		if d, dups := rc.stats(); d != 1000 || dups != 0 {
			b.Fatalf("delivered %d with %d duplicates", d, dups)
		}
		b.ReportMetric(took.Seconds(), "s_to_deliver_1000")
		srv.Close()
	}
}

// BenchmarkDetectionCommittedSteady measures detection -> incident
// committed at a steady rate, as production sees it (far from the writer's
// saturation that BenchmarkDetectionCommitted measures): each iteration is
// one SOS, started on schedule from one of several goroutines (detectors
// run on many), while the deliveries the earlier ones caused (119, a
// guardian SMS, its second attempt, the next step's voice call and the
// timers, each a claim and a completion) run beside them.
func BenchmarkDetectionCommittedSteady(b *testing.B) {
	for _, rate := range []int{20, 100} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			benchBackends(b, func(b *testing.B, cfg store.Config) {
				h := start(b, cfg, fastPolicies, manyHomes)
				ctx := context.Background()
				episode := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
				const senders = 4
				jobs := make(chan int)
				var mu sync.Mutex
				var lat []time.Duration
				var wg sync.WaitGroup
				errs := make(chan error, senders)
				for range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range jobs {
							begin := time.Now()
							_, err := h.d.HandleDetection(ctx, det(homeN(i), detectors.CauseSOS, 1, detectors.Firing, episode))
							took := time.Since(begin)
							if err != nil {
								errs <- err
								return
							}
							mu.Lock()
							lat = append(lat, took)
							mu.Unlock()
						}
					}()
				}
				interval := time.Second / time.Duration(rate)
				b.ReportAllocs()
				cpu0 := processCPU()
				next := time.Now()
				i := 0
				for b.Loop() {
					time.Sleep(time.Until(next))
					next = next.Add(interval)
					select {
					case jobs <- i:
					case err := <-errs:
						b.Fatal(err)
					}
					i++
				}
				close(jobs)
				wg.Wait()
				select {
				case err := <-errs:
					b.Fatal(err)
				default:
				}
				// The process's CPU per detection, the deliveries it caused
				// included: steadier than latency on a shared machine.
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(len(lat)), "cpu_us/op")
				reportPercentiles(b, lat)
			})
		})
	}
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
