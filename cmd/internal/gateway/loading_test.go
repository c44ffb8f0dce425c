package gateway

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// heldEngineStore is the engine's store with a bulk load that waits until
// release is closed: 300,000 homes take 6-12 s to load.
type heldEngineStore struct {
	detectors.EngineStore
	release    chan struct{}
	pointLoads *atomic.Int32
}

func (s heldEngineStore) LoadHomes(ctx context.Context) ([]detectors.HomeSnapshot, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.EngineStore.LoadHomes(ctx)
}

func (s heldEngineStore) LoadHome(ctx context.Context, hub devices.HubID) (detectors.HomeSnapshot, bool, error) {
	s.pointLoads.Add(1)
	return s.EngineStore.LoadHome(ctx, hub)
}

// After a restart, /readyz says not ready while the engine loads its saved
// state, and an SOS sent meanwhile becomes an incident without waiting for
// the load: its home is loaded on its own.
func TestSOSWhileEngineStateLoads(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		sc := cfg(t)
		first := startChain(t, sc, 2*time.Second)
		cl := first.connect(t)
		first.publishEvent(t, cl, devices.Event{ID: "motion-1", Kind: devices.EventMotion, Sensor: "pir-1", At: time.Now()})
		cl.Disconnect(100)
		first.stop() // saves the home's state

		release := make(chan struct{})
		var pointLoads atomic.Int32
		c, ctx, cancel := newChain(t, sc, 2*time.Second, func(ec *detectors.EngineConfig) {
			ec.Store = heldEngineStore{EngineStore: ec.Store, release: release, pointLoads: &pointLoads}
		})
		c.hub, c.secret = first.hub, first.secret
		released := false
		defer func() {
			if !released {
				close(release)
			}
		}()
		c.stop = runGateway(t, ctx, cancel, c.g, 0)
		waitFor(t, 10*time.Second, "the broker listening while the engine loads", func() bool {
			err := c.g.Ready(ctx)
			return err != nil && strings.Contains(err.Error(), "loading saved state: engine")
		})
		cl = c.connect(t)
		c.publishEvent(t, cl, devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()})
		waitFor(t, 10*time.Second, "an SOS incident while the engine's state loads", func() bool {
			_, ok := c.incident(t, detectors.CauseSOS)
			return ok
		})
		if err := c.g.Ready(ctx); err == nil {
			t.Fatal("ready before the engine's saved state is loaded")
		}
		if n := pointLoads.Load(); n != 1 {
			t.Errorf("the SOS's home was loaded on its own %d times, want 1", n)
		}
		released = true
		close(release)
		waitFor(t, 10*time.Second, "ready once the state is loaded", func() bool { return c.g.Ready(ctx) == nil })
	})
}
