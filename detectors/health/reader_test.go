package health_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/health"
	"github.com/dolbom/dolbom/devices"
)

type hubGetter func(devices.HubID) (devices.Hub, error)

func (f hubGetter) GetHub(_ context.Context, id devices.HubID) (devices.Hub, error) { return f(id) }

type savedHealth func(devices.HubID) (devices.HubHealthRecord, error)

func (f savedHealth) GetHubHealth(_ context.Context, hub devices.HubID) (devices.HubHealthRecord, error) {
	return f(hub)
}

// A hub the monitor does not watch is answered from its saved record; a
// registered hub never seen is "nothing known yet"; an unregistered one is
// not found.
func TestReaderFallsBackToSavedThenUnknown(t *testing.T) {
	m, err := health.New(health.Config{Sink: detectors.SinkFunc(func(detectors.Detection) {})}) // not running: nothing live
	if err != nil {
		t.Fatal(err)
	}
	r := health.Reader{Live: m,
		Hubs: hubGetter(func(id devices.HubID) (devices.Hub, error) {
			if id == "hub-x" {
				return devices.Hub{}, fmt.Errorf("no hub %s: %w", id, devices.ErrNotFound)
			}
			return devices.Hub{ID: id}, nil
		}),
		Saved: savedHealth(func(hub devices.HubID) (devices.HubHealthRecord, error) {
			if hub == "hub-saved" {
				return devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: hub, Battery: 80, Online: true}}, nil
			}
			return devices.HubHealthRecord{}, devices.ErrNotFound
		})}
	ctx := context.Background()
	if hh, err := r.HubHealth(ctx, "hub-saved"); err != nil || hh.Battery != 80 || !hh.Online {
		t.Errorf("saved hub: %+v, %v", hh, err)
	}
	hh, err := r.HubHealth(ctx, "hub-new")
	if err != nil || hh.Hub != "hub-new" || hh.Battery != -1 || hh.Faults == nil || len(hh.Faults) != 0 || hh.Sensors == nil {
		t.Errorf("hub never seen: %+v, %v; want battery -1 and empty (not null) lists", hh, err)
	}
	if _, err := r.HubHealth(ctx, "hub-x"); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("unregistered hub: %v, want not found", err)
	}
}
