package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// BenchmarkEventInsertFenced: one group commit of 1,000 events from 1,000
// hubs on PostgreSQL, plain (a single gateway) and fenced (cluster mode:
// the hubs' owner rows read FOR SHARE in the insert). writers=2 runs two
// such groups at once on the same hubs, as two event writers do: their
// share locks on one row then make a multixact, written to disk. One op is
// one round (writers groups); events/s counts every event.
//
//	go test ./store -run XXX -bench EventInsertFenced -benchtime 30x
func BenchmarkEventInsertFenced(b *testing.B) {
	url := os.Getenv("DOLBOM_TEST_DATABASE_URL")
	if url == "" {
		b.Skip("DOLBOM_TEST_DATABASE_URL not set")
	}
	const group = 1000
	for _, fenced := range []bool{false, true} {
		for _, writers := range []int{1, 2} {
			b.Run(fmt.Sprintf("fenced=%v/writers=%d/events=%d", fenced, writers, group), func(b *testing.B) {
				ctx := context.Background()
				s, err := Open(ctx, Config{DatabaseURL: pgSchema(b, url, "fencebench"), SecretKey: make([]byte, 32),
					Logger: zerolog.Nop(), Cluster: fenced})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				hubs := make([]devices.HubID, group)
				for i := range hubs {
					hubs[i] = devices.HubID(fmt.Sprintf("hub-%05d", i))
				}
				epoch := devices.Epoch(0)
				if fenced {
					l, err := s.Cluster().Join(ctx, "n1", "", time.Hour, false)
					if err != nil {
						b.Fatal(err)
					}
					owned, err := s.Cluster().ClaimHubs(ctx, l.Member, hubs)
					if err != nil {
						b.Fatal(err)
					}
					epoch = owned[hubs[0]].Epoch
				}
				round := 0
				events := func(w int) []*devices.Event {
					evs := make([]*devices.Event, group)
					now := time.Now()
					for i := range evs {
						evs[i] = &devices.Event{Hub: hubs[i], ID: devices.EventID(fmt.Sprintf("e-%d-%d", round, w)),
							Kind: devices.EventMotion, At: now, Received: now, Epoch: epoch}
					}
					return evs
				}
				b.ReportAllocs()
				for b.Loop() {
					round++
					var wg sync.WaitGroup
					for w := range writers {
						evs := events(w)
						wg.Go(func() {
							fresh, _, err := s.be.insertEvents(ctx, evs, nil)
							if err != nil || !fresh[group-1] {
								b.Errorf("insert: %v", err)
							}
						})
					}
					wg.Wait()
				}
				b.ReportMetric(float64(b.N*writers*group)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
