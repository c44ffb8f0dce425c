package web

// What a regional admin manages: the accounts whose regions lie within
// theirs, and (registry.go) their regions' residents and hubs. A national
// admin (no regions) manages all. Another region's account or resident is
// "not found", like a missing one.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
)

func errOutsideRegions(a console.Account) error {
	return fmt.Errorf("%w: regions: 관리 지역 밖입니다 (outside your regions %s): a regional admin manages accounts of their own regions only",
		devices.ErrInvalid, strings.Join(a.Regions, ", "))
}

func regionsDetail(regions []string) string {
	if len(regions) == 0 {
		return " national"
	}
	return " regions=" + strings.Join(regions, ",")
}

// managedAccount answers http.StatusOK when rc's account may manage the
// account id, 404 when it does not exist or lies outside their regions.
func (w *web) managedAccount(r *http.Request, rc *reqCtx, id string) int {
	if rc.account.National() {
		return http.StatusOK
	}
	a, err := w.deps.Accounts.GetAccount(r.Context(), id)
	switch {
	case errors.Is(err, devices.ErrNotFound):
		return http.StatusNotFound
	case err != nil:
		w.log.Error().Err(err).Msg("get account")
		return http.StatusInternalServerError
	case !rc.account.CoversAccount(a):
		return http.StatusNotFound
	}
	return http.StatusOK
}

// managedAccounts lists the accounts rc's account may manage.
func (w *web) managedAccounts(r *http.Request, rc *reqCtx) ([]console.Account, error) {
	list, err := w.deps.Accounts.ListAccounts(r.Context())
	if err != nil || rc.account.National() {
		return list, err
	}
	return slices.DeleteFunc(list, func(a console.Account) bool { return !rc.account.CoversAccount(a) }), nil
}

// setRegions replaces an account's regions (POST
// /admin/accounts/{id}/regions and the JSON twin): checked against the
// account's role, the valid choices named on a refusal.
func (w *web) setRegions(r *http.Request, rc *reqCtx, id string, in []string) (int, error) {
	if status := w.managedAccount(r, rc, id); status != http.StatusOK {
		return status, errors.New(http.StatusText(status))
	}
	a, err := w.deps.Accounts.GetAccount(r.Context(), id)
	if err != nil {
		return http.StatusNotFound, err
	}
	regions, err := console.NormalizeRegions(a.Role, in)
	if err != nil {
		return http.StatusBadRequest, err
	}
	a.Regions = regions
	if !rc.account.CoversAccount(a) {
		return http.StatusForbidden, errOutsideRegions(rc.account)
	}
	if err := w.deps.Accounts.SetAccountRegions(r.Context(), id, regions); err != nil {
		w.log.Error().Err(err).Msg("set account regions")
		return http.StatusInternalServerError, err
	}
	_ = w.audit(r.Context(), rc, "account.regions", "", "", id+regionsDetail(regions))
	return http.StatusOK, nil
}

// splitRegions reads regions given as one field ("26, 27") or several.
func splitRegions(in []string) []string {
	var out []string
	for _, s := range in {
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func (w *web) setRegionsForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	status, err := w.setRegions(r, rc, r.PathValue("id"), splitRegions(r.PostForm["regions"]))
	if status == http.StatusBadRequest || status == http.StatusForbidden {
		w.renderAccountsProblem(rw, r, rc, status, "regions", err)
		return
	}
	if status != http.StatusOK {
		w.errorPage(rw, r, rc, status)
		return
	}
	http.Redirect(rw, r, "/admin/accounts?done=1", http.StatusSeeOther)
}

func (w *web) apiSetRegions(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var in struct {
		Regions []string `json:"regions"`
	}
	if !decodeBody(r, &in) {
		api.WriteError(rw, api.BadRequest("", `body must be {"regions": ["26", "부산 해운대구", ...]} ([] for national)`))
		return
	}
	status, err := w.setRegions(r, rc, r.PathValue("id"), in.Regions)
	if status != http.StatusOK {
		api.WriteError(rw, &api.Error{Status: status, Field: "regions", Msg: err.Error()})
		return
	}
	a, _ := w.deps.Accounts.GetAccount(r.Context(), r.PathValue("id"))
	api.WriteJSON(rw, http.StatusOK, a)
}

// ---- the registry pages of a regional admin ----

// registryInScope wraps a registry page: the resident or hub the path
// names (or, creating a hub, the form's resident) must lie in rc's
// regions; otherwise 404.
func (w *web) registryInScope(h pageHandler) pageHandler {
	return func(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
		s := w.scopeOf(rc)
		if !s.National() {
			ok, err := w.registryTargetInScope(r.Context(), s, r)
			if err != nil && !errors.Is(err, devices.ErrNotFound) {
				w.fail(rw, r, rc, err)
				return
			}
			if !ok {
				w.errorPage(rw, r, rc, http.StatusNotFound)
				return
			}
		}
		h(rw, r, rc)
	}
}

func (w *web) registryTargetInScope(ctx context.Context, s *scope, r *http.Request) (bool, error) {
	residentIn := func(id devices.ResidentID) (bool, error) {
		res, err := w.deps.Registry.GetResident(ctx, id)
		if err != nil {
			return false, err
		}
		return s.Resident(res), nil
	}
	id := r.PathValue("id")
	switch {
	case strings.HasPrefix(r.URL.Path, "/admin/residents/") && id != "":
		return residentIn(devices.ResidentID(id))
	case strings.HasPrefix(r.URL.Path, "/admin/hubs/") && id != "":
		h, err := w.deps.Registry.GetHub(ctx, devices.HubID(id))
		if err != nil {
			return false, err
		}
		return residentIn(h.ResidentID)
	case r.URL.Path == "/admin/hubs":
		return residentIn(devices.ResidentID(r.PostFormValue("resident_id")))
	}
	return true, nil
}

// residentRegionRefusal refuses a resident that a regional admin creates
// or moves outside their regions (the district as given, or as derived
// from the address); nil when it lies within.
func residentRegionRefusal(s *scope, res devices.Resident) error {
	if s.National() {
		return nil
	}
	code := res.DistrictCode
	if code == "" {
		if d, err := region.Derive(res.Address.Line1); err == nil {
			code = string(d.Code)
		}
	}
	if s.Account().Covers(code) {
		return nil
	}
	return api.MarkInvalid(fmt.Errorf("관리 지역 밖의 대상자입니다 (the resident's district %q is outside your regions %s)",
		code, strings.Join(s.Account().Regions, ", ")), "district_code")
}

// RegionName is a region code as people read it: "부산광역시 (26)",
// "부산광역시 해운대구 (26350)"; an unknown code as it is.
func (p *pageData) RegionName(code string) string {
	r, ok := region.Lookup(region.Code(code))
	if !ok {
		return code
	}
	if r.Code.IsSido() {
		return r.String()
	}
	if s, ok := region.Lookup(r.Code.Sido()); ok {
		return s.Name + " " + r.String()
	}
	return r.String()
}

// ---- the audit log of a regional admin ----

// auditInScope keeps the entries a regional admin may read: about a
// resident or incident of their regions, or else by an account they
// manage. A page may then hold fewer than its limit; "older" still pages
// on by the last entry read.
func (w *web) auditInScope(ctx context.Context, rc *reqCtx, list []console.AuditEntry) ([]console.AuditEntry, error) {
	s := w.scopeOf(rc)
	if s.National() {
		return list, nil
	}
	accounts := map[string]bool{}
	out := list[:0:0]
	for _, e := range list {
		var ok bool
		switch {
		case e.ResidentID != "":
			d, err := s.District(ctx, devices.ResidentID(e.ResidentID))
			if err != nil {
				return nil, err
			}
			ok = s.Account().Covers(d)
		case e.IncidentID != "" && w.deps.Desk != nil:
			inc, _, err := w.deps.Desk.Incident(ctx, e.IncidentID)
			if err != nil && !errors.Is(err, devices.ErrNotFound) {
				return nil, err
			}
			if err == nil {
				if ok, err = s.Incident(ctx, inc); err != nil {
					return nil, err
				}
			}
		default:
			covered, seen := accounts[e.AccountID]
			if !seen {
				a, err := w.deps.Accounts.GetAccount(ctx, e.AccountID)
				covered = err == nil && s.Account().CoversAccount(a)
				accounts[e.AccountID] = covered
			}
			ok = covered
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}
