package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// HubCreateRequest is the body of POST /hubs. The secret is never sent in:
// the gateway generates it, so it is random and shown exactly once.
type HubCreateRequest struct {
	ResidentID  devices.ResidentID `json:"resident_id"`
	ID          devices.HubID      `json:"id"`
	Firmware    string             `json:"firmware"`
	Model       string             `json:"model"`
	InstalledAt time.Time          `json:"installed_at"`
	EndOfLife   time.Time          `json:"end_of_life"`
}

// HubWithSecret is the answer that carries a new secret: the hub's record
// plus hub_id and secret, the two values a hub's installer configures.
type HubWithSecret struct {
	devices.Hub
	HubID  devices.HubID `json:"hub_id"`
	Secret string        `json:"secret"`
}

func hubLabel(id devices.HubID) string { return "hub " + strconv.Quote(string(id)) }

func sensorLabel(hub devices.HubID, id devices.SensorID) string {
	return "sensor " + strconv.Quote(string(id)) + " of hub " + strconv.Quote(string(hub))
}

// hubOfPath loads the hub the path's {id} names. When it cannot, it has
// answered the request (404, or the registry's failure) and ok is false.
func (a *adminAPI) hubOfPath(w http.ResponseWriter, r *http.Request) (id devices.HubID, h devices.Hub, ok bool) {
	id = devices.HubID(r.PathValue("id"))
	h, err := a.regOf(r).GetHub(r.Context(), id)
	if err != nil {
		a.fail(w, r, err, hubLabel(id))
		return id, h, false
	}
	return id, h, true
}

// refuseServerOwned refuses a PATCH body that changes what the server owns:
// the id, and the disabled flag, which has routes of its own under
// recordPath (".../disable", ".../enable").
func refuseServerOwned[ID ~string](curID, nextID ID, curDisabled, nextDisabled bool, recordPath string) error {
	switch {
	case nextID != curID:
		return BadRequest("id", "the id cannot be changed (the path says %q, the body %q)", curID, nextID)
	case nextDisabled != curDisabled:
		return BadRequest("disabled", "use POST %s/disable or /enable", recordPath)
	}
	return nil
}

func validateHubFields(h *devices.Hub) error {
	if err := checkText("firmware", h.Firmware, 100); err != nil {
		return err
	}
	if err := checkText("model", h.Model, 100); err != nil {
		return err
	}
	if h.InstalledAt.IsZero() {
		return BadRequest("installed_at", "the installation time is required")
	}
	if !h.EndOfLife.After(h.InstalledAt) {
		return BadRequest("end_of_life", "end of life %s is not after installation %s",
			h.EndOfLife.Format(time.RFC3339), h.InstalledAt.Format(time.RFC3339))
	}
	return nil
}

func (a *adminAPI) createHub(w http.ResponseWriter, r *http.Request) {
	var req HubCreateRequest
	if err := a.decodeJSON(w, r, &req); err != nil {
		a.fail(w, r, err, "")
		return
	}
	hs, err := a.registrar(r).CreateHub(r.Context(), req)
	if err != nil {
		a.fail(w, r, err, hubLabel(req.ID))
		return
	}
	a.log.Info().Str("hub_id", string(hs.ID)).Str("resident_id", string(hs.ResidentID)).Msg("hub created")
	WriteJSON(w, http.StatusCreated, hs)
}

func (a *adminAPI) listHubs(w http.ResponseWriter, r *http.Request) {
	lq, err := listParams(r.URL.Query(), "limit", "after", "resident_id", "include_disabled")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	p, err := fetchPage(lq, func(q console.ListQuery) ([]devices.Hub, error) { return a.regOf(r).ListHubs(r.Context(), q) },
		func(h devices.Hub) string { return string(h.ID) })
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

func (a *adminAPI) getHub(w http.ResponseWriter, r *http.Request) {
	if _, h, ok := a.hubOfPath(w, r); ok {
		WriteJSON(w, http.StatusOK, h)
	}
}

// updateHub is a PATCH: fields absent from the body keep their values. The
// secret changes only through POST /hubs/{id}/secret.
func (a *adminAPI) updateHub(w http.ResponseWriter, r *http.Request) {
	id, cur, ok := a.hubOfPath(w, r)
	if !ok {
		return
	}
	next := cur
	if err := a.decodeJSON(w, r, &next); err != nil {
		a.fail(w, r, err, "")
		return
	}
	next, err := a.registrar(r).UpdateHub(r.Context(), cur, next)
	if err != nil {
		a.fail(w, r, err, hubLabel(id))
		return
	}
	a.log.Info().Str("hub_id", string(id)).Msg("hub updated")
	WriteJSON(w, http.StatusOK, next)
}

// rotateHubSecret replaces the hub's secret. The store is updated before
// the broker is told, so a hub that reconnects at once is checked against
// the new hash.
func (a *adminAPI) rotateHubSecret(w http.ResponseWriter, r *http.Request) {
	id, h, ok := a.hubOfPath(w, r)
	if !ok {
		return
	}
	hs, err := a.registrar(r).RotateHubSecret(r.Context(), h)
	if err != nil {
		a.fail(w, r, err, hubLabel(id))
		return
	}
	a.log.Info().Str("hub_id", string(id)).Msg("hub secret rotated; live session revoked")
	WriteJSON(w, http.StatusOK, hs)
}

func (a *adminAPI) setHubDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := devices.HubID(r.PathValue("id"))
		if err := a.registrar(r).SetHubDisabled(r.Context(), id, disabled); err != nil {
			a.fail(w, r, err, hubLabel(id))
			return
		}
		a.log.Info().Str("hub_id", string(id)).Bool("disabled", disabled).Msg("hub disabled state set")
		h, err := a.regOf(r).GetHub(r.Context(), id)
		if err != nil {
			a.fail(w, r, err, hubLabel(id))
			return
		}
		WriteJSON(w, http.StatusOK, h)
	}
}

// hubHealth answers for a registered hub the gateway has not heard from
// with an offline record rather than 404: the hub exists, it is just not
// there.
func (a *adminAPI) hubHealth(w http.ResponseWriter, r *http.Request) {
	id, _, ok := a.hubOfPath(w, r)
	if !ok {
		return
	}
	hh, err := a.health.HubHealth(r.Context(), id)
	switch {
	case errors.Is(err, devices.ErrNotFound):
		hh = devices.HubHealth{Hub: id, Battery: -1, Faults: []devices.Fault{devices.FaultOffline}}
	case err != nil:
		a.fail(w, r, err, hubLabel(id))
		return
	}
	if hh.Faults == nil {
		hh.Faults = []devices.Fault{}
	}
	if hh.Sensors == nil {
		hh.Sensors = []devices.SensorHealth{}
	}
	WriteJSON(w, http.StatusOK, hh)
}

// Sensors.

func (a *adminAPI) createSensor(w http.ResponseWriter, r *http.Request) {
	hub, _, ok := a.hubOfPath(w, r)
	if !ok {
		return
	}
	var s devices.Sensor
	if err := a.decodeJSON(w, r, &s); err != nil {
		a.fail(w, r, err, "")
		return
	}
	if s.Hub != "" && s.Hub != hub {
		a.fail(w, r, BadRequest("hub_id", "the body names hub %q, the path hub %q", s.Hub, hub), "")
		return
	}
	s.Hub = hub
	if err := a.registrar(r).CreateSensor(r.Context(), &s); err != nil {
		a.fail(w, r, err, sensorLabel(hub, s.ID))
		return
	}
	a.log.Info().Str("hub_id", string(hub)).Str("sensor_id", string(s.ID)).Msg("sensor created")
	WriteJSON(w, http.StatusCreated, s)
}

func (a *adminAPI) listSensors(w http.ResponseWriter, r *http.Request) {
	hub, _, ok := a.hubOfPath(w, r)
	if !ok {
		return
	}
	sensors, err := a.regOf(r).ListSensors(r.Context(), hub)
	if err != nil {
		a.fail(w, r, err, hubLabel(hub))
		return
	}
	if sensors == nil {
		sensors = []devices.Sensor{}
	}
	WriteJSON(w, http.StatusOK, page[devices.Sensor]{Items: sensors})
}

func (a *adminAPI) getSensor(w http.ResponseWriter, r *http.Request) {
	hub, id := devices.HubID(r.PathValue("id")), devices.SensorID(r.PathValue("sensor"))
	s, err := a.regOf(r).GetSensor(r.Context(), hub, id)
	if err != nil {
		a.fail(w, r, err, sensorLabel(hub, id))
		return
	}
	WriteJSON(w, http.StatusOK, s)
}

// updateSensor is a PATCH: kind, location, installed_at, report_interval_s.
func (a *adminAPI) updateSensor(w http.ResponseWriter, r *http.Request) {
	hub, id := devices.HubID(r.PathValue("id")), devices.SensorID(r.PathValue("sensor"))
	cur, err := a.regOf(r).GetSensor(r.Context(), hub, id)
	if err != nil {
		a.fail(w, r, err, sensorLabel(hub, id))
		return
	}
	next := cur
	if err := a.decodeJSON(w, r, &next); err != nil {
		a.fail(w, r, err, "")
		return
	}
	next, err = a.registrar(r).UpdateSensor(r.Context(), cur, next)
	if err != nil {
		a.fail(w, r, err, sensorLabel(hub, id))
		return
	}
	a.log.Info().Str("hub_id", string(hub)).Str("sensor_id", string(id)).Msg("sensor updated")
	WriteJSON(w, http.StatusOK, next)
}

func (a *adminAPI) setSensorDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hub, id := devices.HubID(r.PathValue("id")), devices.SensorID(r.PathValue("sensor"))
		if err := a.regOf(r).SetSensorDisabled(r.Context(), hub, id, disabled); err != nil {
			a.fail(w, r, err, sensorLabel(hub, id))
			return
		}
		a.log.Info().Str("hub_id", string(hub)).Str("sensor_id", string(id)).Bool("disabled", disabled).Msg("sensor disabled state set")
		s, err := a.regOf(r).GetSensor(r.Context(), hub, id)
		if err != nil {
			a.fail(w, r, err, sensorLabel(hub, id))
			return
		}
		WriteJSON(w, http.StatusOK, s)
	}
}
