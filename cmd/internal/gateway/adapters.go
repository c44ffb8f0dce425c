package gateway

// Adapters between the store's concrete API and the ports the other stages
// declare. Only cmd knows both sides.

import (
	"context"
	"errors"
	"time"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// registry adapts *store.Store to console.Registry: pointer-filling
// creates, console's query type, and the change notifications.
type registry struct {
	st *store.Store
	// changed is told about every successful change to a hub or its
	// sensors, so the health monitor follows the registry.
	changed func(ctx context.Context, hub devices.HubID)
	// residentChanged is told about every change to a resident, so that
	// dispatch stops using a cached copy (guardians, consent, address).
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

var _ console.Registry = registry{}

// The broker keeps the hubs it holds across a restart in the store (its
// directory), which its load guard lets back in.
var _ broker.HeldHubs = (*store.Store)(nil)

// registry is the one registry adapter of the admin API and the admin
// pages: every change reaches the health monitor and dispatch's cache.
func (g *Gateway) registry() registry {
	return registry{st: g.Store, changed: g.refreshHub, residentChanged: func() { g.Dispatch.InvalidateResidents() }}
}

func listQuery(q console.ListQuery) store.ListQuery {
	return store.ListQuery{Limit: q.Limit, After: q.After, Search: q.Search, SocialWorkerID: q.SocialWorkerID, IncludeDisabled: q.IncludeDisabled}
}

func (r registry) CreateResident(ctx context.Context, res *devices.Resident) error {
	out, err := r.st.CreateResident(ctx, *res)
	if err == nil {
		*res = out
	}
	return err
}

func (r registry) GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error) {
	res, err := r.st.GetResident(ctx, id)
	return res, err
}

func (r registry) ListResidents(ctx context.Context, q console.ListQuery) ([]devices.Resident, error) {
	list, err := r.st.ListResidents(ctx, listQuery(q))
	return list, err
}

func (r registry) UpdateResident(ctx context.Context, res devices.Resident) error {
	_, err := r.st.UpdateResident(ctx, res)
	return r.residentNotify(err)
}

func (r registry) SetResidentDisabled(ctx context.Context, id devices.ResidentID, disabled bool) error {
	return r.residentNotify(r.st.SetResidentDisabled(ctx, id, disabled))
}

func (r registry) CreateHub(ctx context.Context, h *devices.Hub) error {
	out, err := r.st.CreateHub(ctx, *h)
	if err == nil {
		*h = out
	}
	return r.notify(ctx, h.ID, err)
}

func (r registry) GetHub(ctx context.Context, id devices.HubID) (devices.Hub, error) {
	h, err := r.st.GetHub(ctx, id)
	return h, err
}

func (r registry) ListHubs(ctx context.Context, q console.ListQuery) ([]devices.Hub, error) {
	list, err := r.st.ListHubs(ctx, store.HubQuery{ListQuery: listQuery(q), ResidentID: q.ResidentID})
	return list, err
}

func (r registry) UpdateHub(ctx context.Context, h devices.Hub) error {
	_, err := r.st.UpdateHub(ctx, h)
	return r.notify(ctx, h.ID, err)
}

func (r registry) SetHubSecretHash(ctx context.Context, id devices.HubID, hash string) error {
	return r.st.SetHubSecretHash(ctx, id, hash)
}

func (r registry) SetHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error {
	return r.notify(ctx, id, r.st.SetHubDisabled(ctx, id, disabled))
}

func (r registry) CreateSensor(ctx context.Context, s *devices.Sensor) error {
	out, err := r.st.CreateSensor(ctx, *s)
	if err == nil {
		*s = out
	}
	return r.notify(ctx, s.Hub, err)
}

func (r registry) GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error) {
	s, err := r.st.GetSensor(ctx, hub, id)
	return s, err
}

func (r registry) ListSensors(ctx context.Context, hub devices.HubID) ([]devices.Sensor, error) {
	list, err := r.st.ListSensors(ctx, hub)
	return list, err
}

func (r registry) UpdateSensor(ctx context.Context, s devices.Sensor) error {
	_, err := r.st.UpdateSensor(ctx, s)
	return r.notify(ctx, s.Hub, err)
}

func (r registry) SetSensorDisabled(ctx context.Context, hub devices.HubID, id devices.SensorID, disabled bool) error {
	return r.notify(ctx, hub, r.st.SetSensorDisabled(ctx, hub, id, disabled))
}

// GetAccount answers the social worker check of a resident's
// social_worker_id from the console's accounts.
func (r registry) GetAccount(ctx context.Context, id string) (console.Account, error) {
	return r.st.GetAccount(ctx, id)
}

// fleet adapts the store's paged hub inventory to detectors.Fleet.
type fleet struct{ st *store.Store }

func (f fleet) FleetSnapshot(ctx context.Context, visit func(devices.Hub, []devices.Sensor) error) error {
	return f.st.EachHub(ctx, func(inv store.HubInventory) error {
		return visit(devices.Hub{ID: inv.Hub, ResidentID: inv.ResidentID, EndOfLife: inv.EndOfLife, Disabled: inv.Disabled}, inv.Sensors)
	})
}

// healthReader answers the API from the live monitor, falling back to the
// stored record for a hub the monitor has not seen since the start.
type healthReader struct {
	live *detectors.HealthMonitor
	st   *store.Store
}

func (h healthReader) HubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealth, error) {
	if hh, ok := h.live.Health(hub); ok {
		return hh, nil
	}
	if _, err := h.st.GetHub(ctx, hub); err != nil {
		return devices.HubHealth{}, err
	}
	rec, err := h.st.GetHubHealth(ctx, hub)
	if errors.Is(err, devices.ErrNotFound) {
		return devices.HubHealth{Hub: hub, Battery: -1, Faults: []devices.Fault{}, Sensors: []devices.SensorHealth{}}, nil
	}
	return rec.HubHealth, err
}

// eventLog serves the API's event list from the journal.
type eventLog struct{ st *store.Store }

func (e eventLog) HubEvents(ctx context.Context, hub devices.HubID, since time.Time, limit int) ([]devices.Event, error) {
	return e.st.ListEvents(ctx, store.EventQuery{Hub: hub, Since: since, Limit: limit})
}

// fanout hands what the broker accepted to every detector stage.
type fanout []broker.Ingester

func (f fanout) Ingest(m *devices.Message) {
	for _, in := range f {
		in.Ingest(m)
	}
}

// SharesReadingBatches: a batch may come from the pool only if every
// stage retains what it keeps.
func (f fanout) SharesReadingBatches() bool {
	for _, in := range f {
		if s, ok := in.(broker.BatchSharer); !ok || !s.SharesReadingBatches() {
			return false
		}
	}
	return true
}

func (f fanout) Connection(c devices.ConnectionEvent) {
	for _, in := range f {
		in.Connection(c)
	}
}
