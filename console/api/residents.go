package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// page is the answer of every list route. NextAfter is set when more
// records may follow: pass it as ?after= for the next page.
type page[T any] struct {
	Items     []T    `json:"items"`
	NextAfter string `json:"next_after,omitempty"`
}

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// listParams reads the query of a list route, refusing parameters the
// route does not know (a misspelt filter would otherwise list everything).
func listParams(q url.Values, allowed ...string) (console.ListQuery, error) {
	lq := console.ListQuery{Limit: defaultPageSize}
	for name := range q {
		if !slices.Contains(allowed, name) {
			return lq, BadRequest(name, "unknown query parameter %q; this route takes: %s", name, strings.Join(allowed, ", "))
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return lq, BadRequest("limit", "%q: a whole number from 1 to %d", s, maxPageSize)
		}
		lq.Limit = n
	}
	lq.After = q.Get("after")
	lq.Search = strings.TrimSpace(q.Get("q"))
	if len(lq.Search) > maxShortText {
		return lq, BadRequest("q", "search text longer than %d bytes", maxShortText)
	}
	lq.SocialWorkerID = q.Get("social_worker")
	lq.ResidentID = devices.ResidentID(q.Get("resident_id"))
	if s := q.Get("include_disabled"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return lq, BadRequest("include_disabled", "%q: true or false", s)
		}
		lq.IncludeDisabled = b
	}
	return lq, nil
}

// fetchPage asks list for one record more than the page holds, so that
// next_after is usually given only when another page exists. A registry
// may cap the limit below what was asked (the store caps at 1000), so a
// full page also gets next_after: the last page can then be empty, but no
// record is ever skipped.
func fetchPage[T any](lq console.ListQuery, list func(console.ListQuery) ([]T, error), id func(T) string) (page[T], error) {
	want := lq.Limit
	lq.Limit++
	items, err := list(lq)
	if err != nil {
		return page[T]{}, err
	}
	p := page[T]{Items: items}
	if want > 0 && len(items) >= want {
		p.Items = items[:want]
		p.NextAfter = id(p.Items[want-1])
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p, nil
}

func residentLabel(id devices.ResidentID) string { return "resident " + strconv.Quote(string(id)) }

// masked returns r with its access codes replaced by accessMask.
func masked(r devices.Resident) devices.Resident {
	if r.Access.KeySafeCode != "" {
		r.Access.KeySafeCode = accessMask
	}
	if r.Access.DoorCode != "" {
		r.Access.DoorCode = accessMask
	}
	return r
}

// prepareNewResident validates a resident about to be created and sets the
// fields the server owns.
func prepareNewResident(r *devices.Resident, now time.Time) error {
	if r.Disabled {
		return BadRequest("disabled", "a resident is created enabled; disable it afterwards with POST /api/v1/residents/{id}/disable")
	}
	if err := validateResident(r, now); err != nil {
		return err
	}
	now = now.UTC().Truncate(time.Second)
	r.CreatedAt, r.UpdatedAt = now, now
	return nil
}

func (a *adminAPI) createResident(w http.ResponseWriter, r *http.Request) {
	var res devices.Resident
	if err := a.decodeJSON(w, r, &res); err != nil {
		a.fail(w, r, err, "")
		return
	}
	if err := a.registrar(r).CreateResident(r.Context(), &res); err != nil {
		a.fail(w, r, err, residentLabel(res.ID))
		return
	}
	a.log.Info().Str("resident_id", string(res.ID)).Msg("resident created")
	WriteJSON(w, http.StatusCreated, masked(res))
}

func (a *adminAPI) listResidents(w http.ResponseWriter, r *http.Request) {
	lq, err := listParams(r.URL.Query(), "limit", "after", "q", "social_worker", "include_disabled")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	p, err := fetchPage(lq, func(q console.ListQuery) ([]devices.Resident, error) { return a.regOf(r).ListResidents(r.Context(), q) },
		func(res devices.Resident) string { return string(res.ID) })
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	for i := range p.Items {
		p.Items[i] = masked(p.Items[i])
	}
	WriteJSON(w, http.StatusOK, p)
}

// getResident shows the access codes only with ?reveal=access, and logs
// every such reveal (who asked is the admin token; where from is the remote
// address) so that access to door codes can be audited.
func (a *adminAPI) getResident(w http.ResponseWriter, r *http.Request) {
	id := devices.ResidentID(r.PathValue("id"))
	q := r.URL.Query()
	for name := range q {
		if name != "reveal" {
			a.fail(w, r, BadRequest(name, "unknown query parameter %q; this route takes: reveal", name), "")
			return
		}
	}
	reveal := false
	switch v := q.Get("reveal"); v {
	case "":
	case "access":
		reveal = true
	default:
		a.fail(w, r, BadRequest("reveal", "%q: the only value is \"access\"", v), "")
		return
	}
	res, err := a.regOf(r).GetResident(r.Context(), id)
	if err != nil {
		a.fail(w, r, err, residentLabel(id))
		return
	}
	if !reveal {
		res = masked(res)
	} else {
		a.log.Info().Str("resident_id", string(id)).Str("remote_addr", r.RemoteAddr).Msg("resident access codes revealed")
	}
	WriteJSON(w, http.StatusOK, res)
}

// updateResident serves PATCH (fields absent from the body keep their
// values) and PUT (absent fields are cleared). id, disabled, created_at and
// updated_at are the server's: they may be sent back as read, but a
// different id or disabled is refused.
func (a *adminAPI) updateResident(w http.ResponseWriter, r *http.Request) {
	id := devices.ResidentID(r.PathValue("id"))
	cur, err := a.regOf(r).GetResident(r.Context(), id)
	if err != nil {
		a.fail(w, r, err, residentLabel(id))
		return
	}
	next := devices.Resident{ID: cur.ID, Disabled: cur.Disabled, CreatedAt: cur.CreatedAt, UpdatedAt: cur.UpdatedAt}
	if r.Method == http.MethodPatch {
		next = Editable(cur)
	}
	if err := a.decodeJSON(w, r, &next); err != nil {
		a.fail(w, r, err, "")
		return
	}
	if err := refuseServerOwned(cur.ID, next.ID, cur.Disabled, next.Disabled, "/api/v1/residents/"+string(id)); err != nil {
		a.fail(w, r, err, "")
		return
	}
	next, err = a.registrar(r).UpdateResident(r.Context(), cur, next)
	if err != nil {
		a.fail(w, r, err, residentLabel(id))
		return
	}
	a.log.Info().Str("resident_id", string(id)).Msg("resident updated")
	WriteJSON(w, http.StatusOK, masked(next))
}

func (a *adminAPI) setResidentDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := devices.ResidentID(r.PathValue("id"))
		if err := a.regOf(r).SetResidentDisabled(r.Context(), id, disabled); err != nil {
			a.fail(w, r, err, residentLabel(id))
			return
		}
		a.log.Info().Str("resident_id", string(id)).Bool("disabled", disabled).Msg("resident disabled state set")
		res, err := a.regOf(r).GetResident(r.Context(), id)
		if err != nil {
			a.fail(w, r, err, residentLabel(id))
			return
		}
		WriteJSON(w, http.StatusOK, masked(res))
	}
}
