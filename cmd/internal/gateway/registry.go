package gateway

// What the admin API and pages change of the fleet: the store as the
// registry, telling the stages that cache it about each change. The store
// serves every other port itself; device health is health.Reader.

import (
	"context"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/detectors/health"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// registry is the store as api.Registry, telling the stages that
// cache the registry about every successful change: the health monitor
// follows hubs and sensors, dispatch drops its cached residents (guardians,
// consent, address). Reads are the store's own; creates fill in what the
// store assigned (ids, times), as the port asks.
type registry struct {
	store.Registry
	store.Accounts  // GetAccount: a resident's social worker must have an account
	changed         func(ctx context.Context, hub devices.HubID)
	residentChanged func()
}

func (r registry) residentNotify(err error) error {
	if err == nil && r.residentChanged != nil {
		r.residentChanged()
	}
	return err
}

func (r registry) notify(ctx context.Context, hub devices.HubID, err error) error {
	if err == nil && r.changed != nil {
		r.changed(ctx, hub)
	}
	return err
}

var _ api.Registry = registry{}

// brokerDirectory is the broker's directory: the hubs' credentials, and the
// hubs it holds kept across a restart (store.State), which its load guard
// lets back in.
type brokerDirectory struct {
	store.Registry
	store.State
}

var _ broker.HeldHubs = brokerDirectory{}

// registry is the one registry of the admin API and the admin pages: every
// change reaches the health monitor and dispatch's cache.
func (g *Gateway) registry() registry {
	return registry{Registry: g.Store.Registry(), Accounts: g.Store.Accounts(),
		changed: func(ctx context.Context, hub devices.HubID) {
			g.refreshHub(ctx, hub)
			g.noteChange(ctx, hub, cluster.ChangeSensors) // the gateway that owns the home refreshes it
		},
		residentChanged: func() {
			g.Dispatch.InvalidateResidents()
			g.noteChange(context.Background(), "", cluster.ChangeResident)
		}}
}

func (r registry) CreateResident(ctx context.Context, res *devices.Resident) error {
	out, err := r.Registry.CreateResident(ctx, *res)
	if err == nil {
		*res = out
	}
	return err
}

func (r registry) UpdateResident(ctx context.Context, res devices.Resident) error {
	_, err := r.Registry.UpdateResident(ctx, res)
	return r.residentNotify(err)
}

func (r registry) SetResidentDisabled(ctx context.Context, id devices.ResidentID, disabled bool) error {
	return r.residentNotify(r.Registry.SetResidentDisabled(ctx, id, disabled))
}

func (r registry) CreateHub(ctx context.Context, h *devices.Hub) error {
	out, err := r.Registry.CreateHub(ctx, *h)
	if err == nil {
		*h = out
	}
	return r.notify(ctx, h.ID, err)
}

func (r registry) UpdateHub(ctx context.Context, h devices.Hub) error {
	_, err := r.Registry.UpdateHub(ctx, h)
	return r.notify(ctx, h.ID, err)
}

func (r registry) SetHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error {
	return r.notify(ctx, id, r.Registry.SetHubDisabled(ctx, id, disabled))
}

func (r registry) CreateSensor(ctx context.Context, s *devices.Sensor) error {
	out, err := r.Registry.CreateSensor(ctx, *s)
	if err == nil {
		*s = out
	}
	return r.notify(ctx, s.Hub, err)
}

func (r registry) UpdateSensor(ctx context.Context, s devices.Sensor) error {
	_, err := r.Registry.UpdateSensor(ctx, s)
	return r.notify(ctx, s.Hub, err)
}

func (r registry) SetSensorDisabled(ctx context.Context, hub devices.HubID, id devices.SensorID, disabled bool) error {
	return r.notify(ctx, hub, r.Registry.SetSensorDisabled(ctx, hub, id, disabled))
}

// healthReader is device health as the consoles and the admin API read it:
// the live monitor, then the saved record (store.State), for a hub the
// registry knows.
func (g *Gateway) healthReader() health.Reader {
	return health.Reader{Live: g.Health, Hubs: g.Store.Registry(), Saved: g.Store.State()}
}
