// Package consoletest provides in-memory implementations of the admin API's
// ports (console.Registry, console.HealthReader, console.HubControl) for
// tests of the API and of its clients. It is not for production: nothing
// is persisted.
package consoletest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// Error is how a store tells the API what kind of failure it had (see
// console.Registry); the fake uses it as the real stores will.
type Error struct {
	Msg          string
	IsConflict   bool
	IsInvalid    bool
	InvalidField string
}

func (e *Error) Error() string  { return e.Msg }
func (e *Error) Conflict() bool { return e.IsConflict }
func (e *Error) Invalid() bool  { return e.IsInvalid }
func (e *Error) Field() string  { return e.InvalidField }

type sensorKey struct {
	hub devices.HubID
	id  devices.SensorID
}

// Registry is an in-memory console.Registry. Lists are ordered by id.
type Registry struct {
	mu        sync.Mutex
	residents map[devices.ResidentID]devices.Resident
	hubs      map[devices.HubID]devices.Hub
	sensors   map[sensorKey]devices.Sensor
	nextID    int
	failNext  error
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		residents: map[devices.ResidentID]devices.Resident{},
		hubs:      map[devices.HubID]devices.Hub{},
		sensors:   map[sensorKey]devices.Sensor{},
	}
}

func notFound(what string) error { return fmt.Errorf("consoletest: %s: %w", what, devices.ErrNotFound) }

// FailNext makes the next call return err instead of doing anything, for
// testing how the API maps store failures.
func (f *Registry) FailNext(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = err
}

func (f *Registry) injected() error {
	err := f.failNext
	f.failNext = nil
	return err
}

func cloneResident(r devices.Resident) devices.Resident {
	r.Medications = slices.Clone(r.Medications)
	r.Allergies = slices.Clone(r.Allergies)
	r.Guardians = slices.Clone(r.Guardians)
	return r
}

func (f *Registry) CreateResident(ctx context.Context, r *devices.Resident) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	if r.ID == "" {
		f.nextID++
		r.ID = devices.ResidentID(fmt.Sprintf("r-%06d", f.nextID))
	}
	if _, ok := f.residents[r.ID]; ok {
		return &Error{Msg: fmt.Sprintf("consoletest: resident %q already exists", r.ID), IsConflict: true}
	}
	f.residents[r.ID] = cloneResident(*r)
	return nil
}

func (f *Registry) GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return devices.Resident{}, err
	}
	r, ok := f.residents[id]
	if !ok {
		return r, notFound("resident " + string(id))
	}
	return cloneResident(r), nil
}

func (f *Registry) ListResidents(ctx context.Context, q console.ListQuery) ([]devices.Resident, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return nil, err
	}
	var out []devices.Resident
	for _, r := range f.residents {
		switch {
		case string(r.ID) <= q.After && q.After != "",
			r.Disabled && !q.IncludeDisabled,
			q.SocialWorkerID != "" && r.SocialWorkerID != q.SocialWorkerID,
			q.Search != "" && !strings.Contains(r.Name, q.Search) && !strings.Contains(r.Phone, q.Search):
			continue
		}
		out = append(out, cloneResident(r))
	}
	slices.SortFunc(out, func(a, b devices.Resident) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(len(out), q.Limit)], nil
}

func (f *Registry) UpdateResident(ctx context.Context, r devices.Resident) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	cur, ok := f.residents[r.ID]
	if !ok {
		return notFound("resident " + string(r.ID))
	}
	r.Disabled, r.CreatedAt = cur.Disabled, cur.CreatedAt
	f.residents[r.ID] = cloneResident(r)
	return nil
}

func (f *Registry) SetResidentDisabled(ctx context.Context, id devices.ResidentID, disabled bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	r, ok := f.residents[id]
	if !ok {
		return notFound("resident " + string(id))
	}
	r.Disabled = disabled
	f.residents[id] = r
	return nil
}

func (f *Registry) CreateHub(ctx context.Context, h *devices.Hub) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	if h.ID == "" {
		f.nextID++
		h.ID = devices.HubID(fmt.Sprintf("hub-%06d", f.nextID))
	}
	if _, ok := f.hubs[h.ID]; ok {
		return &Error{Msg: fmt.Sprintf("consoletest: hub %q already exists", h.ID), IsConflict: true}
	}
	f.hubs[h.ID] = *h
	return nil
}

func (f *Registry) GetHub(ctx context.Context, id devices.HubID) (devices.Hub, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return devices.Hub{}, err
	}
	h, ok := f.hubs[id]
	if !ok {
		return h, notFound("hub " + string(id))
	}
	return h, nil
}

func (f *Registry) ListHubs(ctx context.Context, q console.ListQuery) ([]devices.Hub, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return nil, err
	}
	var out []devices.Hub
	for _, h := range f.hubs {
		switch {
		case string(h.ID) <= q.After && q.After != "",
			h.Disabled && !q.IncludeDisabled,
			q.ResidentID != "" && h.ResidentID != q.ResidentID:
			continue
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b devices.Hub) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(len(out), q.Limit)], nil
}

func (f *Registry) UpdateHub(ctx context.Context, h devices.Hub) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	cur, ok := f.hubs[h.ID]
	if !ok {
		return notFound("hub " + string(h.ID))
	}
	h.SecretHash, h.Disabled, h.CreatedAt = cur.SecretHash, cur.Disabled, cur.CreatedAt
	f.hubs[h.ID] = h
	return nil
}

func (f *Registry) SetHubSecretHash(ctx context.Context, id devices.HubID, hash string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	h, ok := f.hubs[id]
	if !ok {
		return notFound("hub " + string(id))
	}
	h.SecretHash = hash
	f.hubs[id] = h
	return nil
}

func (f *Registry) SetHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	h, ok := f.hubs[id]
	if !ok {
		return notFound("hub " + string(id))
	}
	h.Disabled = disabled
	f.hubs[id] = h
	return nil
}

func (f *Registry) CreateSensor(ctx context.Context, s *devices.Sensor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	k := sensorKey{s.Hub, s.ID}
	if _, ok := f.hubs[s.Hub]; !ok {
		return notFound("hub " + string(s.Hub))
	}
	if _, ok := f.sensors[k]; ok {
		return &Error{Msg: fmt.Sprintf("consoletest: sensor %q of hub %q already exists", s.ID, s.Hub), IsConflict: true}
	}
	f.sensors[k] = *s
	return nil
}

func (f *Registry) GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return devices.Sensor{}, err
	}
	s, ok := f.sensors[sensorKey{hub, id}]
	if !ok {
		return s, notFound("sensor " + string(id))
	}
	return s, nil
}

func (f *Registry) ListSensors(ctx context.Context, hub devices.HubID) ([]devices.Sensor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return nil, err
	}
	var out []devices.Sensor
	for k, s := range f.sensors {
		if k.hub == hub {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b devices.Sensor) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *Registry) UpdateSensor(ctx context.Context, s devices.Sensor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	k := sensorKey{s.Hub, s.ID}
	cur, ok := f.sensors[k]
	if !ok {
		return notFound("sensor " + string(s.ID))
	}
	s.Disabled = cur.Disabled
	f.sensors[k] = s
	return nil
}

func (f *Registry) SetSensorDisabled(ctx context.Context, hub devices.HubID, id devices.SensorID, disabled bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		return err
	}
	k := sensorKey{hub, id}
	s, ok := f.sensors[k]
	if !ok {
		return notFound("sensor " + string(id))
	}
	s.Disabled = disabled
	f.sensors[k] = s
	return nil
}

// Health answers from a map; a missing hub is devices.ErrNotFound.
type Health map[devices.HubID]devices.HubHealth

func (f Health) HubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealth, error) {
	h, ok := f[hub]
	if !ok {
		return h, notFound("health of " + string(hub))
	}
	return h, nil
}

// Hubs records revocations; Connected returns ConnectedHubs.
type Hubs struct {
	mu            sync.Mutex
	revoked       []devices.HubID
	ConnectedHubs int
}

func (f *Hubs) Revoke(hub devices.HubID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, hub)
}

func (f *Hubs) Connected() int { return f.ConnectedHubs }

// Revoked returns the hubs revoked so far, in order.
func (f *Hubs) Revoked() []devices.HubID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.revoked)
}

var (
	_ console.Registry     = (*Registry)(nil)
	_ console.HealthReader = Health(nil)
	_ console.HubControl   = (*Hubs)(nil)
)
