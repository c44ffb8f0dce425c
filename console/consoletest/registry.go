// Package consoletest provides in-memory implementations of the admin API's
// ports (api.Registry, console.HealthReader, console.HubControl) for
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
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
)

// Error is how a store tells the API what kind of failure it had (see
// api.Registry); the fake uses it as the real stores will.
type Error struct {
	Msg          string
	IsConflict   bool
	IsInvalid    bool
	InvalidField string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Field() string { return e.InvalidField }

// Is answers errors.Is for the registry's sentinels, as a real store's
// wrapped errors do.
func (e *Error) Is(target error) bool {
	return e.IsConflict && target == devices.ErrConflict || e.IsInvalid && target == devices.ErrInvalid
}

type sensorKey struct {
	hub devices.HubID
	id  devices.SensorID
}

// Registry is an in-memory api.Registry. Lists are ordered by id.
type Registry struct {
	mu        sync.Mutex
	residents map[devices.ResidentID]devices.Resident
	hubs      map[devices.HubID]devices.Hub
	sensors   map[sensorKey]devices.Sensor
	accounts  map[string]console.Account
	nextID    int
	failNext  error
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		residents: map[devices.ResidentID]devices.Resident{},
		hubs:      map[devices.HubID]devices.Hub{},
		sensors:   map[sensorKey]devices.Sensor{},
		accounts:  map[string]console.Account{},
	}
}

// AddSocialWorker registers an enabled social worker's account, which a
// resident's social_worker_id must name.
func (f *Registry) AddSocialWorker(id string) {
	f.AddAccount(console.Account{ID: id, Name: id, Role: console.RoleSocialWorker})
}

// AddAccount registers an account as the console's account store would.
func (f *Registry) AddAccount(a console.Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[a.ID] = a
}

func (f *Registry) GetAccount(ctx context.Context, id string) (console.Account, error) {
	return locked(f, func() (console.Account, error) { return lookup(f.accounts, id, "account "+id) })
}

// ListAccounts returns the accounts in id order.
func (f *Registry) ListAccounts(context.Context) ([]console.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]console.Account, 0, len(f.accounts))
	for _, a := range f.accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b console.Account) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// SetAccountRegions replaces an account's regions.
func (f *Registry) SetAccountRegions(_ context.Context, id string, regions []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[id]
	if !ok {
		return notFound("account " + id)
	}
	a.Regions = regions
	f.accounts[id] = a
	return nil
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

// locked runs fn under the registry's lock, unless a failure injected with
// FailNext is pending: then it returns that failure and the zero value,
// doing nothing, as every method of the fake does.
func locked[T any](f *Registry, fn func() (T, error)) (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected(); err != nil {
		var zero T
		return zero, err
	}
	return fn()
}

// lockedDo is locked for the methods that return only an error.
func lockedDo(f *Registry, fn func() error) error {
	_, err := locked(f, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// generatedID numbers the records created without an id; the caller holds
// the lock.
func (f *Registry) generatedID(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s-%06d", prefix, f.nextID)
}

// insert stores v under key unless the key is taken, which is a conflict,
// as a unique id is in the real stores. what names the record in the error.
func insert[K comparable, V any](m map[K]V, key K, v V, what string) error {
	if _, ok := m[key]; ok {
		return &Error{Msg: "consoletest: " + what + " already exists", IsConflict: true}
	}
	m[key] = v
	return nil
}

// lookup returns the record stored under key, or a not-found error naming
// it as what.
func lookup[K comparable, V any](m map[K]V, key K, what string) (V, error) {
	v, ok := m[key]
	if !ok {
		return v, notFound(what)
	}
	return v, nil
}

// modify applies change to the record stored under key and stores the
// result: the read-modify-write every update and flag setter does.
func modify[K comparable, V any](m map[K]V, key K, what string, change func(*V)) error {
	v, err := lookup(m, key, what)
	if err != nil {
		return err
	}
	change(&v)
	m[key] = v
	return nil
}

// sortedByID returns the records keep accepts, ordered by id, as the stores
// list them.
func sortedByID[K comparable, V any, ID ~string](m map[K]V, id func(V) ID, keep func(V) bool) []V {
	var out []V
	for _, v := range m {
		if keep(v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b V) int { return cmp.Compare(id(a), id(b)) })
	return out
}

// afterCursor reports whether id comes after the page cursor (any id does
// when there is none).
func afterCursor[ID ~string](id ID, after string) bool {
	return after == "" || string(id) > after
}

func cloneResident(r devices.Resident) devices.Resident {
	r.Medications = slices.Clone(r.Medications)
	r.Allergies = slices.Clone(r.Allergies)
	r.Guardians = slices.Clone(r.Guardians)
	return r
}

func residentID(r devices.Resident) devices.ResidentID { return r.ID }
func hubID(h devices.Hub) devices.HubID                { return h.ID }
func sensorID(s devices.Sensor) devices.SensorID       { return s.ID }

func residentWhat(id devices.ResidentID) string { return "resident " + string(id) }
func hubWhat(id devices.HubID) string           { return "hub " + string(id) }
func sensorWhat(id devices.SensorID) string     { return "sensor " + string(id) }

func (f *Registry) CreateResident(ctx context.Context, r *devices.Resident) error {
	return lockedDo(f, func() error {
		if r.ID == "" {
			r.ID = devices.ResidentID(f.generatedID("r"))
		}
		return insert(f.residents, r.ID, cloneResident(*r), fmt.Sprintf("resident %q", r.ID))
	})
}

func (f *Registry) GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error) {
	return locked(f, func() (devices.Resident, error) {
		r, err := lookup(f.residents, id, residentWhat(id))
		return cloneResident(r), err
	})
}

func (f *Registry) ListResidents(ctx context.Context, q console.ListQuery) ([]devices.Resident, error) {
	return locked(f, func() ([]devices.Resident, error) {
		out := sortedByID(f.residents, residentID, func(r devices.Resident) bool {
			return afterCursor(r.ID, q.After) &&
				(!r.Disabled || q.IncludeDisabled) &&
				(q.SocialWorkerID == "" || r.SocialWorkerID == q.SocialWorkerID) &&
				inRegions(r.DistrictCode, q.Regions) &&
				devices.ParseResidentSearch(q.Search).Matches(r)
		})
		out = out[:min(len(out), q.Limit)]
		for i := range out {
			out[i] = cloneResident(out[i])
		}
		return out, nil
	})
}

// inRegions is the store's region filter: no regions keep all, else a
// district that starts with one of them.
func inRegions(district string, regions []string) bool {
	return len(regions) == 0 || slices.ContainsFunc(regions, func(r string) bool { return strings.HasPrefix(district, r) })
}

func (f *Registry) UpdateResident(ctx context.Context, r devices.Resident) error {
	return lockedDo(f, func() error {
		return modify(f.residents, r.ID, residentWhat(r.ID), func(cur *devices.Resident) {
			r.Disabled, r.CreatedAt = cur.Disabled, cur.CreatedAt
			*cur = cloneResident(r)
		})
	})
}

func (f *Registry) SetResidentDisabled(ctx context.Context, id devices.ResidentID, disabled bool) error {
	return lockedDo(f, func() error {
		return modify(f.residents, id, residentWhat(id), func(r *devices.Resident) { r.Disabled = disabled })
	})
}

func (f *Registry) CreateHub(ctx context.Context, h *devices.Hub) error {
	return lockedDo(f, func() error {
		if h.ID == "" {
			h.ID = devices.HubID(f.generatedID("hub"))
		}
		return insert(f.hubs, h.ID, *h, fmt.Sprintf("hub %q", h.ID))
	})
}

func (f *Registry) GetHub(ctx context.Context, id devices.HubID) (devices.Hub, error) {
	return locked(f, func() (devices.Hub, error) { return lookup(f.hubs, id, hubWhat(id)) })
}

func (f *Registry) ListHubs(ctx context.Context, q console.ListQuery) ([]devices.Hub, error) {
	return locked(f, func() ([]devices.Hub, error) {
		out := sortedByID(f.hubs, hubID, func(h devices.Hub) bool {
			return afterCursor(h.ID, q.After) &&
				(!h.Disabled || q.IncludeDisabled) &&
				(q.ResidentID == "" || h.ResidentID == q.ResidentID)
		})
		return out[:min(len(out), q.Limit)], nil
	})
}

func (f *Registry) UpdateHub(ctx context.Context, h devices.Hub) error {
	return lockedDo(f, func() error {
		return modify(f.hubs, h.ID, hubWhat(h.ID), func(cur *devices.Hub) {
			h.SecretHash, h.Disabled, h.CreatedAt = cur.SecretHash, cur.Disabled, cur.CreatedAt
			*cur = h
		})
	})
}

func (f *Registry) SetHubSecretHash(ctx context.Context, id devices.HubID, hash string) error {
	return lockedDo(f, func() error {
		return modify(f.hubs, id, hubWhat(id), func(h *devices.Hub) { h.SecretHash = hash })
	})
}

func (f *Registry) SetHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error {
	return lockedDo(f, func() error {
		return modify(f.hubs, id, hubWhat(id), func(h *devices.Hub) { h.Disabled = disabled })
	})
}

func (f *Registry) CreateSensor(ctx context.Context, s *devices.Sensor) error {
	return lockedDo(f, func() error {
		if _, err := lookup(f.hubs, s.Hub, hubWhat(s.Hub)); err != nil {
			return err
		}
		return insert(f.sensors, sensorKey{s.Hub, s.ID}, *s, fmt.Sprintf("sensor %q of hub %q", s.ID, s.Hub))
	})
}

func (f *Registry) GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error) {
	return locked(f, func() (devices.Sensor, error) { return lookup(f.sensors, sensorKey{hub, id}, sensorWhat(id)) })
}

func (f *Registry) ListSensors(ctx context.Context, hub devices.HubID) ([]devices.Sensor, error) {
	return locked(f, func() ([]devices.Sensor, error) {
		// A sensor is stored under its own hub and id, so s.Hub is its key's hub.
		return sortedByID(f.sensors, sensorID, func(s devices.Sensor) bool { return s.Hub == hub }), nil
	})
}

func (f *Registry) UpdateSensor(ctx context.Context, s devices.Sensor) error {
	return lockedDo(f, func() error {
		return modify(f.sensors, sensorKey{s.Hub, s.ID}, sensorWhat(s.ID), func(cur *devices.Sensor) {
			s.Disabled = cur.Disabled
			*cur = s
		})
	})
}

func (f *Registry) SetSensorDisabled(ctx context.Context, hub devices.HubID, id devices.SensorID, disabled bool) error {
	return lockedDo(f, func() error {
		return modify(f.sensors, sensorKey{hub, id}, sensorWhat(id), func(s *devices.Sensor) { s.Disabled = disabled })
	})
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
	_ api.Registry         = (*Registry)(nil)
	_ console.HealthReader = Health(nil)
	_ console.HubControl   = (*Hubs)(nil)
)
