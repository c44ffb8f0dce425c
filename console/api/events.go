package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// eventJSON is an event as the API shows it: the hub's time and the
// gateway's receive time, both, so that clock skew and store-and-forward
// delays are visible.
type eventJSON struct {
	ID         devices.EventID   `json:"id"`
	Kind       devices.EventKind `json:"kind"`
	Class      string            `json:"class"`
	Sensor     devices.SensorID  `json:"sensor_id,omitempty"`
	At         time.Time         `json:"at"`
	Received   time.Time         `json:"received"`
	Value      *float64          `json:"value,omitempty"`
	Detail     json.RawMessage   `json:"detail,omitempty"`
	ClockError string            `json:"clock_error,omitempty"`
}

// hubEvents lists a hub's stored events: GET /api/v1/hubs/{id}/events
// ?since=RFC3339&limit=N (default 100, at most 1000).
func (a *adminAPI) hubEvents(w http.ResponseWriter, r *http.Request) {
	id := devices.HubID(r.PathValue("id"))
	if a.cfg.Events == nil {
		WriteError(w, &Error{Status: http.StatusNotImplemented, Msg: "this gateway keeps no event log"})
		return
	}
	if _, err := a.regOf(r).GetHub(r.Context(), id); err != nil {
		a.fail(w, r, err, hubLabel(id))
		return
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			WriteError(w, &Error{Status: http.StatusBadRequest, Msg: "limit must be a whole number from 1 to 1000", Field: "limit"})
			return
		}
		limit = n
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			WriteError(w, &Error{Status: http.StatusBadRequest, Msg: "since must be an RFC 3339 time such as 2026-11-27T09:00:00+09:00", Field: "since"})
			return
		}
		since = t
	}
	events, err := a.cfg.Events.HubEvents(r.Context(), id, since, limit)
	if err != nil {
		a.fail(w, r, err, hubLabel(id))
		return
	}
	out := make([]eventJSON, len(events))
	for i, e := range events {
		out[i] = eventJSON{ID: e.ID, Kind: e.Kind, Class: string(e.Kind.Class()), Sensor: e.Sensor, At: e.At, Received: e.Received,
			Detail: e.Detail, ClockError: string(e.ClockError)}
		if e.HasValue {
			v := e.Value
			out[i].Value = &v
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"hub_id": id, "events": out})
}
