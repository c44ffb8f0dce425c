package gateway

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/dolbom/dolbom/store"
)

// TestGatewayKeepsHeldHubsAcrossRestart: a gateway that stops with a hub
// connected leaves the set of hubs it held in its store (one, under its
// node's name: the host name by default) for the next start, whose load
// guard lets them in (broker.HeldHubs; the broker's own tests cover the
// admission).
func TestGatewayKeepsHeldHubsAcrossRestart(t *testing.T) {
	node, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		sc := cfg(t)
		c := startChain(t, sc, 2*time.Second)
		c.connect(t)
		c.stop()

		next, _, cancel := newChain(t, sc, 2*time.Second, nil)
		defer cancel()
		defer next.g.Store.Close()
		hubs, at, err := next.g.Store.State().LoadHeldHubs(context.Background(), node)
		if err != nil || len(hubs) != 1 || at.IsZero() {
			t.Fatalf("held hubs after the stop = %d, saved %v, %v; want the one hub connected at the stop", len(hubs), at, err)
		}
	})
}
