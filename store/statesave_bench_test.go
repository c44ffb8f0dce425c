package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store/storetest"
)

// BenchmarkSOSDuringStateSaves: one SOS event every 10 ms appended to the
// embedded store's journal (each waiting for its commit, as a PUBACK does),
// alone and while the engine's state of 4,200 homes (a 50,000-home node's
// round: its seen slot, 1,550 bytes a home) is saved every 500 ms, ten
// times the gateway's pace, so that a 3 s run meets 6 rounds. p99 and max
// say how long a save round held an SOS's commit back
// (docs/performance.md, "Where a slow SOS spends its time").
func BenchmarkSOSDuringStateSaves(b *testing.B) {
	for _, saves := range []bool{false, true} {
		b.Run(fmt.Sprintf("backend=sqlite/saves=%t", saves), func(b *testing.B) {
			s, _ := runStore(b, storetest.SQLite(b))
			ctx := context.Background()
			blob := make([]byte, 1550)
			homes := make([]detectors.HomeSnapshot, 50_000)
			for i := range homes {
				homes[i] = detectors.HomeSnapshot{Hub: devices.HubID(fmt.Sprintf("hub-%06d", i)), Data: blob}
			}
			if err := s.State().SaveHomes(ctx, homes); err != nil {
				b.Fatal(err)
			}
			// The checkpoints copy the 80 MB just written back (and
			// truncate the WAL) in the next seconds: not what is measured.
			time.Sleep(5 * time.Second)
			var lat []time.Duration
			n := 0
			for b.Loop() {
				sctx, stop := context.WithCancel(ctx)
				saved := make(chan struct{})
				go func() {
					defer close(saved)
					if !saves {
						return
					}
					t := time.NewTicker(500 * time.Millisecond)
					defer t.Stop()
					for round := 0; ; round++ {
						select {
						case <-sctx.Done():
							return
						case <-t.C:
						}
						part := homes[(round*4200)%45_000:][:4200]
						if err := s.State().SaveHomes(sctx, part); err != nil && sctx.Err() == nil {
							b.Error(err)
						}
					}
				}()
				tick := time.NewTicker(10 * time.Millisecond)
				for range 300 {
					<-tick.C
					n++
					e := &devices.Event{Hub: devices.HubID(fmt.Sprintf("hub-%06d", n%50_000)), ID: devices.EventID(fmt.Sprintf("sos-%d", n)),
						Kind: devices.EventSOS, At: time.Now(), Received: time.Now()}
					t0 := time.Now()
					if _, err := s.Journal().AppendEvent(ctx, e); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				tick.Stop()
				stop()
				<-saved
			}
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1), "max-ms")
		})
	}
}
