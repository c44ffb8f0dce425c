// Package api is the console's bearer-token JSON API (docs/api.md): the
// admin API (residents, hubs, sensors, the CSV import, hub health and
// events), the incident API with its live feed and the policies, the admin
// token file, and the Registrar whose checks the admin pages (console/web)
// use too, so that a form and a JSON body make the same change.
package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/defaults"
)

// APIPrefix is where cmd/dolbomd mounts the admin API:
// mux.Handle(api.APIPrefix, api.NewAdminAPI(...)). The handler's own
// routes carry the prefix, so no http.StripPrefix is needed.
const APIPrefix = "/api/v1/"

// Registry is the resident, hub and sensor register the admin API edits.
//
// Errors: a missing record wraps devices.ErrNotFound (404), a conflict
// devices.ErrConflict (409: the id exists already, a unique field is taken),
// the caller's mistake devices.ErrInvalid (400); if an invalid error also
// implements `interface{ Field() string }` the field is named in the answer. The messages of conflict and
// invalid errors are shown to the API client; every other error is logged and
// answered with a bare 500.
type Registry interface {
	// CreateResident stores a new resident, assigning r.ID when it is empty.
	CreateResident(ctx context.Context, r *devices.Resident) error
	GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error)
	ListResidents(ctx context.Context, q console.ListQuery) ([]devices.Resident, error)
	// UpdateResident replaces every field of the resident but ID, Disabled
	// and CreatedAt.
	UpdateResident(ctx context.Context, r devices.Resident) error
	SetResidentDisabled(ctx context.Context, id devices.ResidentID, disabled bool) error

	// CreateHub stores a new hub, generating h.ID when it is empty.
	CreateHub(ctx context.Context, h *devices.Hub) error
	GetHub(ctx context.Context, id devices.HubID) (devices.Hub, error)
	ListHubs(ctx context.Context, q console.ListQuery) ([]devices.Hub, error)
	// UpdateHub replaces every field but ID, SecretHash, Disabled and
	// CreatedAt.
	UpdateHub(ctx context.Context, h devices.Hub) error
	SetHubSecretHash(ctx context.Context, id devices.HubID, hash string) error
	SetHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error

	CreateSensor(ctx context.Context, s *devices.Sensor) error
	GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error)
	// ListSensors returns every sensor of the hub, disabled ones included.
	ListSensors(ctx context.Context, hub devices.HubID) ([]devices.Sensor, error)
	// UpdateSensor replaces every field but Hub, ID and Disabled.
	UpdateSensor(ctx context.Context, s devices.Sensor) error
	SetSensorDisabled(ctx context.Context, hub devices.HubID, id devices.SensorID, disabled bool) error

	// GetAccount returns a console account (devices.ErrNotFound when there
	// is none): a resident's social_worker_id must name an enabled
	// social worker's account, or the resident would be nobody's.
	GetAccount(ctx context.Context, id string) (console.Account, error)
}

// MarkConflict wraps err so that it also is devices.ErrConflict: the API
// answers it with 409 and err's message. The incident API uses it for
// dispatch's own errors.
func MarkConflict(err error) error { return &markedError{err: err, conflict: true} }

// MarkInvalid wraps err so that it also is devices.ErrInvalid: the API
// answers it with 400, err's message and, when field is not empty, the
// field's name.
func MarkInvalid(err error, field string) error {
	return &markedError{err: err, invalid: true, field: field}
}

type markedError struct {
	err               error
	conflict, invalid bool
	field             string
}

func (e *markedError) Error() string { return e.err.Error() }
func (e *markedError) Unwrap() error { return e.err }
func (e *markedError) Field() string { return e.field }

// Is makes the mark one of the registry's sentinels for errors.Is.
func (e *markedError) Is(target error) bool {
	return e.conflict && target == devices.ErrConflict || e.invalid && target == devices.ErrInvalid
}

// AdminConfig configures the admin API. Only Token is required.
type AdminConfig struct {
	// Token is the bearer token every request must carry. With an empty
	// token the API refuses everything.
	Token string
	// MaxBodyBytes bounds JSON request bodies (default 64 KiB).
	MaxBodyBytes int64
	// MaxImportBytes bounds a CSV import (default 32 MiB: ~100,000 rows).
	MaxImportBytes int64
	// MaxImportRows bounds the data rows of one import (default 100,000).
	MaxImportRows int
	// Now is the clock (default time.Now); tests pin it.
	Now func() time.Time
	// Events, when set, serves GET /hubs/{id}/events from the journal.
	Events EventLog
	// Routes, when set, serves the 119 routing table
	// (/api/v1/regions/routes).
	Routes RouteAdmin
	// Accounts, when set, serves the accounts' regions
	// (/api/v1/accounts, accounts_api.go).
	Accounts AccountRegions
	// Fleet, when set, serves the fleet view (/api/v1/fleet, fleet.go),
	// within the token's account's regions.
	Fleet *Fleet
	// Tokens, when set, accepts the bearer tokens of accounts (scope.go)
	// besides Token, and serves /api/v1/accounts/{id}/tokens.
	Tokens console.APITokens
	// IncidentRegions tells the 시도 an incident was routed to (for the
	// audit of a regional token; optional).
	IncidentRegions console.IncidentRegions
	// WorkOrders, when set, serves the maintenance work orders and
	// technicians (workorders_api.go).
	WorkOrders WorkOrders
	// Rollouts, when set, serves firmware publishing and rollouts
	// (/api/v1/firmware, /api/v1/rollouts, rollouts_api.go).
	Rollouts RolloutAdmin
}

// EventLog reads back the events hubs sent, as stored (each exactly once).
type EventLog interface {
	// HubEvents returns the hub's events received at or after since, oldest
	// first, at most limit of them.
	HubEvents(ctx context.Context, hub devices.HubID, since time.Time, limit int) ([]devices.Event, error)
}

func (c *AdminConfig) setDefaults() {
	defaults.Set(&c.MaxBodyBytes, 64<<10)
	defaults.Set(&c.MaxImportBytes, 32<<20)
	defaults.Set(&c.MaxImportRows, 100_000)
	if c.Now == nil {
		c.Now = time.Now
	}
}

type adminAPI struct {
	cfg      AdminConfig
	auth     authenticator
	patterns []string // every route, for Patterns
	reg      Registry
	health   console.HealthReader
	hubs     console.HubControl
	log      zerolog.Logger
	mux      *http.ServeMux
}

// NewAdminAPI returns the admin JSON API. Its routes start with APIPrefix;
// docs/api.md describes them. Every request needs the bearer token.
func NewAdminAPI(cfg AdminConfig, reg Registry, health console.HealthReader, hubs console.HubControl, log zerolog.Logger) http.Handler {
	cfg.setDefaults()
	a := &adminAPI{
		cfg:    cfg,
		auth:   newAuthenticator(cfg.Token, cfg.Tokens),
		reg:    reg,
		health: health,
		hubs:   hubs,
		log:    log.With().Str("component", "admin_api").Logger(),
		mux:    http.NewServeMux(),
	}
	if cfg.Token == "" {
		a.log.Error().Msg("admin API has no token: every request is refused")
	}
	a.routes()
	return a
}

// regOf is the registry as the request's account sees it (scope.go).
func (a *adminAPI) regOf(r *http.Request) Registry {
	return scopedRegistry{Registry: a.reg, s: console.NewScope(accountOf(r.Context()), a.reg, a.cfg.IncidentRegions)}
}

func (a *adminAPI) registrar(r *http.Request) Registrar {
	return NewRegistrar(a.regOf(r), a.hubs, a.cfg.Now)
}

// routeMux registers routes and remembers their patterns (Patterns).
type routeMux struct {
	mux      *http.ServeMux
	patterns *[]string
}

func (m routeMux) HandleFunc(pattern string, h http.HandlerFunc) {
	*m.patterns = append(*m.patterns, pattern)
	m.mux.HandleFunc(pattern, h)
}

func (a *adminAPI) routes() {
	const p = "/api/v1"
	m := routeMux{a.mux, &a.patterns}
	m.HandleFunc("GET "+p+"/status", a.status)

	m.HandleFunc("POST "+p+"/residents", a.createResident)
	m.HandleFunc("GET "+p+"/residents", a.listResidents)
	m.HandleFunc("GET "+p+"/residents/{id}", a.getResident)
	m.HandleFunc("PATCH "+p+"/residents/{id}", a.updateResident)
	m.HandleFunc("PUT "+p+"/residents/{id}", a.updateResident)
	m.HandleFunc("POST "+p+"/residents/{id}/disable", a.setResidentDisabled(true))
	m.HandleFunc("POST "+p+"/residents/{id}/enable", a.setResidentDisabled(false))
	m.HandleFunc("POST "+p+"/import/residents", a.importResidents)

	m.HandleFunc("POST "+p+"/hubs", a.createHub)
	m.HandleFunc("GET "+p+"/hubs", a.listHubs)
	m.HandleFunc("GET "+p+"/hubs/{id}", a.getHub)
	m.HandleFunc("PATCH "+p+"/hubs/{id}", a.updateHub)
	m.HandleFunc("POST "+p+"/hubs/{id}/secret", a.rotateHubSecret)
	m.HandleFunc("POST "+p+"/hubs/{id}/disable", a.setHubDisabled(true))
	m.HandleFunc("POST "+p+"/hubs/{id}/enable", a.setHubDisabled(false))
	m.HandleFunc("GET "+p+"/hubs/{id}/health", a.hubHealth)
	m.HandleFunc("GET "+p+"/hubs/{id}/events", a.hubEvents)

	m.HandleFunc("GET "+p+"/fleet", a.fleet((*Fleet).ServeList))
	m.HandleFunc("GET "+p+"/fleet/counts", a.fleet((*Fleet).ServeCounts))
	m.HandleFunc("GET "+p+"/fleet.csv", a.fleet((*Fleet).ServeCSV))

	m.HandleFunc("GET "+p+"/regions", a.listRegions)
	m.HandleFunc("GET "+p+"/accounts", a.listAccounts)
	m.HandleFunc("PUT "+p+"/accounts/{id}/regions", a.setAccountRegions)
	m.HandleFunc("POST "+p+"/accounts/{id}/tokens", a.createToken)
	m.HandleFunc("DELETE "+p+"/accounts/{id}/tokens", a.revokeTokens)
	m.HandleFunc("GET "+p+"/regions/routes", a.listRoutes)
	m.HandleFunc("PUT "+p+"/regions/routes/{sido}", a.putRoute)
	m.HandleFunc("DELETE "+p+"/regions/routes/{sido}", a.deleteRoute)

	m.HandleFunc("GET "+p+"/workorders", a.listWorkOrders)
	m.HandleFunc("GET "+p+"/workorders/{id}", a.getWorkOrder)
	m.HandleFunc("POST "+p+"/workorders/{id}/close", a.closeWorkOrder)
	m.HandleFunc("GET "+p+"/technicians", a.listTechnicians)
	m.HandleFunc("PUT "+p+"/technicians/{id}", a.putTechnician)

	m.HandleFunc("POST "+p+"/hubs/{id}/sensors", a.createSensor)
	m.HandleFunc("GET "+p+"/hubs/{id}/sensors", a.listSensors)
	m.HandleFunc("GET "+p+"/hubs/{id}/sensors/{sensor}", a.getSensor)
	m.HandleFunc("PATCH "+p+"/hubs/{id}/sensors/{sensor}", a.updateSensor)
	m.HandleFunc("POST "+p+"/hubs/{id}/sensors/{sensor}/disable", a.setSensorDisabled(true))
	m.HandleFunc("POST "+p+"/hubs/{id}/sensors/{sensor}/enable", a.setSensorDisabled(false))
	a.rolloutRoutes(m)
}

func (a *adminAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // answers hold personal data and secrets
	if a.cfg.Token == "" {
		WriteError(w, &Error{Status: http.StatusServiceUnavailable, Msg: "the admin API has no token configured"})
		return
	}
	acct, err := a.auth.account(r)
	if err != nil {
		if !refuseToken(w, err, "missing or wrong admin token") {
			a.fail(w, r, err, "")
		}
		return
	}
	if acct.Role != console.RoleAdmin {
		WriteError(w, forbidden("the admin API is for admins; this token's account %s is a %s", acct.ID, acct.Role))
		return
	}
	r = withAccount(r, acct)
	a.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Msg("admin request")
	if _, pattern := a.mux.Handler(r); pattern == "" {
		a.noRoute(w, r)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// noRoute answers in JSON what http.ServeMux would answer in plain text:
// 404 for an unknown path, 405 with Allow for a known path and wrong method.
func (a *adminAPI) noRoute(w http.ResponseWriter, r *http.Request) {
	h, _ := a.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		WriteError(w, &Error{Status: http.StatusMethodNotAllowed,
			Msg: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + rec.header.Get("Allow")})
	case http.StatusNotFound:
		WriteError(w, &Error{Status: http.StatusNotFound, Msg: "no such route: " + r.Method + " " + r.URL.Path + " (see docs/api.md)"})
	default: // a redirect to the cleaned path
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
	}
}

type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}
func (h *headerRecorder) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}

func (a *adminAPI) status(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]any{"hubs_connected": a.hubs.Connected()})
}

// fail answers err: an *Error as it is, a registry error by its class
// (see Registry), anything else as a logged 500. what names the record the
// request was about, for the 404 message.
func (a *adminAPI) fail(w http.ResponseWriter, r *http.Request, err error, what string) {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		WriteError(w, ae)
	case errors.Is(err, devices.ErrNotFound):
		if what == "" {
			what = "the record"
		}
		WriteError(w, &Error{Status: http.StatusNotFound, Msg: what + " not found"})
	case errors.Is(err, devices.ErrConflict):
		WriteError(w, &Error{Status: http.StatusConflict, Msg: err.Error()})
	case errors.Is(err, devices.ErrInvalid):
		e := &Error{Status: http.StatusBadRequest, Msg: err.Error()}
		var f interface{ Field() string }
		if errors.As(err, &f) {
			e.Field = f.Field()
		}
		WriteError(w, e)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		a.log.Debug().Str("path", r.URL.Path).Msg("admin request canceled by the client")
	default:
		a.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("admin request failed")
		WriteError(w, &Error{Status: http.StatusInternalServerError, Msg: "internal error (logged on the server)"})
	}
}
