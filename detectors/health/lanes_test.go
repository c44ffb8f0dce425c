package health

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// While the health monitor's saved state loads, its shards take events off
// their lane too (parked with the rest), so a hub's event does not wait for
// the load, and with it the PUBACK of the broker worker handing it on.
func TestHealthTakesEventsWhileItsStateLoads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		fleet := detectors.FleetFunc(func(ctx context.Context, visit func(devices.Hub, []devices.Sensor) error) error {
			<-gate
			return nil
		})
		const queue = 4
		h := startMonitor(t, Config{Fleet: fleet, Shards: 1, QueueSize: queue})
		defer h.stop()
		now := time.Now()
		var handed atomic.Int64
		go func() {
			for i := range 3 * queue {
				h.m.Ingest(event("hub-1", devices.EventMotion, "hall-pir", now.Add(time.Duration(i)*time.Second)))
				handed.Add(1)
			}
		}()
		synctest.Wait()
		if n := handed.Load(); n != 3*queue {
			t.Fatalf("%d of %d events handed on while the state loads: the event lane was not read", n, 3*queue)
		}
		close(gate)
		synctest.Wait()
		hh, ok := h.m.Health("hub-1")
		if !ok || hh.LastSeen.IsZero() {
			t.Errorf("after the load: hub-1 %+v %v; want it seen through its parked events", hh, ok)
		}
	})
}
