package api

// Maintenance work orders and technicians (dispatch/workorder,
// docs/operations.md "Work orders"): GET /api/v1/workorders,
// GET /api/v1/workorders/{id}, POST /api/v1/workorders/{id}/close,
// GET /api/v1/technicians, PUT /api/v1/technicians/{id}. A regional
// token sees the orders and technicians of its regions only.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/workorder"
)

// WorkOrders is the work-order store as the API uses it.
type WorkOrders interface {
	ListOrders(ctx context.Context, q workorder.Query) ([]workorder.Order, error)
	GetOrder(ctx context.Context, id string) (workorder.Order, error)
	CloseOrder(ctx context.Context, id, by, replaced string, at time.Time) (workorder.Order, error)
	PutTechnician(ctx context.Context, t workorder.Technician) error
	ListTechnicians(ctx context.Context) ([]workorder.Technician, error)
}

func (a *adminAPI) workOrdersOff(w http.ResponseWriter) bool {
	return unserved(w, a.cfg.WorkOrders == nil, "this gateway keeps no work orders")
}

func (a *adminAPI) listWorkOrders(w http.ResponseWriter, r *http.Request) {
	if a.workOrdersOff(w) {
		return
	}
	v := r.URL.Query()
	for name := range v {
		if !slices.Contains([]string{"status", "resident_id", "hub"}, name) {
			a.fail(w, r, BadRequest(name, "unknown query parameter %q; this route takes: status, resident_id, hub", name), "")
			return
		}
	}
	q := workorder.Query{Status: workorder.Status(v.Get("status")), ResidentID: devices.ResidentID(v.Get("resident_id")), Hub: devices.HubID(v.Get("hub"))}
	if q.Status != "" && q.Status != workorder.StatusOpen && q.Status != workorder.StatusClosed {
		a.fail(w, r, BadRequest("status", "%q: open or closed", q.Status), "")
		return
	}
	if caller := accountOf(r.Context()); !caller.National() {
		q.Regions = caller.Regions
	}
	list, err := a.cfg.WorkOrders.ListOrders(r.Context(), q)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"work_orders": nonNil(list)})
}

// orderInScope reads the order the path names; another region's is not
// found.
func (a *adminAPI) orderInScope(r *http.Request) (workorder.Order, error) {
	id := r.PathValue("id")
	o, err := a.cfg.WorkOrders.GetOrder(r.Context(), id)
	if err == nil && !accountOf(r.Context()).Covers(o.Region) {
		return workorder.Order{}, outOfScope("work order " + id)
	}
	return o, err
}

func (a *adminAPI) getWorkOrder(w http.ResponseWriter, r *http.Request) {
	if a.workOrdersOff(w) {
		return
	}
	o, err := a.orderInScope(r)
	if err != nil {
		a.fail(w, r, err, "work order "+r.PathValue("id"))
		return
	}
	WriteJSON(w, http.StatusOK, o)
}

// closeBody is what POST /api/v1/workorders/{id}/close takes.
type closeBody struct {
	By       string `json:"by"`
	Replaced string `json:"replaced"`
}

func (a *adminAPI) closeWorkOrder(w http.ResponseWriter, r *http.Request) {
	if a.workOrdersOff(w) {
		return
	}
	var body closeBody
	if err := a.decodeJSON(w, r, &body); err != nil {
		a.fail(w, r, err, "")
		return
	}
	o, err := a.orderInScope(r)
	if err == nil {
		o, err = a.cfg.WorkOrders.CloseOrder(r.Context(), o.ID, strings.TrimSpace(body.By), strings.TrimSpace(body.Replaced), a.cfg.Now())
	}
	if errors.Is(err, workorder.ErrClosed) {
		err = MarkConflict(err)
	}
	if err != nil {
		a.fail(w, r, err, "work order "+r.PathValue("id"))
		return
	}
	a.log.Info().Str("order_id", o.ID).Str("by", body.By).Msg("work order closed")
	WriteJSON(w, http.StatusOK, o)
}

func (a *adminAPI) listTechnicians(w http.ResponseWriter, r *http.Request) {
	if a.workOrdersOff(w) {
		return
	}
	list, err := a.cfg.WorkOrders.ListTechnicians(r.Context())
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	caller := accountOf(r.Context())
	list = slices.DeleteFunc(list, func(t workorder.Technician) bool { return !caller.Covers(t.Region) })
	WriteJSON(w, http.StatusOK, map[string]any{"technicians": nonNil(list)})
}

// putTechnician creates or replaces a technician of a region within the
// caller's: {"name", "phone", "region" (a 시도 or 시군구, code or name),
// "lang" (ko or en)}.
func (a *adminAPI) putTechnician(w http.ResponseWriter, r *http.Request) {
	if a.workOrdersOff(w) {
		return
	}
	var t workorder.Technician
	if err := a.decodeJSON(w, r, &t); err != nil {
		a.fail(w, r, err, "")
		return
	}
	id := r.PathValue("id")
	if t.ID != "" && t.ID != id {
		a.fail(w, r, BadRequest("id", "the path says %q, the body %q", id, t.ID), "")
		return
	}
	t.ID = id
	regions, err := console.NormalizeRegions(console.RoleAdmin, []string{t.Region})
	if err != nil || len(regions) != 1 {
		if err == nil {
			err = BadRequest("region", "one region is required: a 시도 or 시군구, code or name")
		}
		a.fail(w, r, MarkInvalid(err, "region"), "")
		return
	}
	t.Region = regions[0]
	if caller := accountOf(r.Context()); !caller.Covers(t.Region) {
		a.fail(w, r, BadRequest("region", "관리 지역 밖입니다 (region %s is outside your regions %s)", t.Region, strings.Join(caller.Regions, ", ")), "")
		return
	}
	// Replacing another region's technician is replacing what the caller
	// may not see.
	if cur, err := a.cfg.WorkOrders.ListTechnicians(r.Context()); err == nil {
		for _, c := range cur {
			if c.ID == id && !accountOf(r.Context()).Covers(c.Region) {
				a.fail(w, r, MarkConflict(errors.New("technician id "+id+" is taken")), "")
				return
			}
		}
	}
	if t.Phone, err = devices.NormalizePhone(t.Phone); err != nil {
		a.fail(w, r, BadRequest("phone", "%v", err), "")
		return
	}
	if t.Lang != "" && t.Lang != "ko" && t.Lang != "en" {
		a.fail(w, r, BadRequest("lang", "%q: ko or en", t.Lang), "")
		return
	}
	if err := a.cfg.WorkOrders.PutTechnician(r.Context(), t); err != nil {
		a.fail(w, r, err, "")
		return
	}
	WriteJSON(w, http.StatusOK, t)
}
