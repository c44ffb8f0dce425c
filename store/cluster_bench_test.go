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

// BenchmarkClusterClaim: one claim batch of 1,000 hubs on PostgreSQL (the
// claim batcher's largest query; target under 20 ms, docs/performance.md,
// "Cluster"):
//
//   - case=new: hubs that have no owner row yet (inserted at epoch 1);
//
//   - case=reconnect: hubs the member owns already (epoch kept);
//
//   - case=moved: hubs taken from the other member (epoch bumped, NOTIFY);
//
//   - case=wave: 1,000 concurrent Claim calls through the batcher, as a
//     connect wave makes them (a few batches, at most 2 in flight).
//
//     go test ./store -run XXX -bench ClusterClaim -benchtime 50x
func BenchmarkClusterClaim(b *testing.B) {
	s, err := store.Open(context.Background(), storetest.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	c := s.Cluster()
	ctx := context.Background()
	n1, err := c.Join(ctx, "n1", "", time.Hour, false)
	if err != nil {
		b.Fatal(err)
	}
	n2, err := c.Join(ctx, "n2", "", time.Hour, false)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	round := 0
	hubs := func(prefix string, round int) []devices.HubID {
		out := make([]devices.HubID, batch)
		for i := range out {
			out[i] = devices.HubID(fmt.Sprintf("%s-%d-%04d", prefix, round, i))
		}
		return out
	}
	b.Run(fmt.Sprintf("hubs=%d/case=new", batch), func(b *testing.B) {
		for b.Loop() {
			round++
			if _, err := c.ClaimHubs(ctx, n1.Member, hubs("new", round)); err != nil {
				b.Fatal(err)
			}
		}
	})
	same := hubs("same", 0)
	if _, err := c.ClaimHubs(ctx, n1.Member, same); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("hubs=%d/case=reconnect", batch), func(b *testing.B) {
		for b.Loop() {
			if _, err := c.ClaimHubs(ctx, n1.Member, same); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("hubs=%d/case=moved", batch), func(b *testing.B) {
		members := [2]int{}
		for b.Loop() {
			members[0]++
			m := n1.Member
			if members[0]%2 == 1 {
				m = n2.Member
			}
			if _, err := c.ClaimHubs(ctx, m, same); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("hubs=%d/case=wave", batch), func(b *testing.B) {
		for b.Loop() {
			round++
			var wg sync.WaitGroup
			for _, h := range hubs("wave", round) {
				wg.Go(func() {
					if _, err := c.Claim(ctx, n2.Member, h); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		}
	})
}
