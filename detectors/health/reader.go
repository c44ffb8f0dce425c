package health

import (
	"context"
	"errors"

	"github.com/dolbom/dolbom/devices"
)

// HubGetter finds a registered hub; an unknown one wraps
// devices.ErrNotFound (store.Registry).
type HubGetter interface {
	GetHub(ctx context.Context, id devices.HubID) (devices.Hub, error)
}

// SavedHealth reads a hub's saved health; none saved wraps
// devices.ErrNotFound (store.State).
type SavedHealth interface {
	GetHubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealthRecord, error)
}

// Reader is how the consoles and the admin API see a hub's health: the
// live monitor's, else the record saved last (a hub this monitor has not
// seen since the start, or one that another gateway of a cluster watches),
// else, for a registered hub never seen, nothing known yet: battery
// unknown (-1), no faults, no sensors.
type Reader struct {
	Live  *Monitor
	Hubs  HubGetter
	Saved SavedHealth
}

// HubHealth answers for one hub; an unregistered one wraps
// devices.ErrNotFound.
func (r Reader) HubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealth, error) {
	if hh, ok := r.Live.Health(hub); ok {
		return hh, nil
	}
	if _, err := r.Hubs.GetHub(ctx, hub); err != nil {
		return devices.HubHealth{}, err
	}
	rec, err := r.Saved.GetHubHealth(ctx, hub)
	if errors.Is(err, devices.ErrNotFound) {
		return devices.HubHealth{Hub: hub, Battery: -1, Faults: []devices.Fault{}, Sensors: []devices.SensorHealth{}}, nil
	}
	return rec.HubHealth, err
}
