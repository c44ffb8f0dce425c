package web

// The admin's regions and routes page (/admin/regions): every 시도 with
// its 119 route, how many residents live there and how many incidents are
// open; a national admin sets and deletes routes here with the admin API's
// checks (a delete is refused, with the counts, while residents or open
// incidents depend on the route). A regional admin sees their 시도 only
// and changes nothing: 119 routing is run nationally.

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices/region"
	"github.com/dolbom/dolbom/dispatch/cap"
)

type regionRow struct {
	Sido      region.Region
	Source    string // cap.RouteStored, RouteFallback or RouteNone
	Endpoints []string
	HasToken  bool
	Residents int
	Open      int
}

func (w *web) regionRoutes() {
	m := w.mux
	m.HandleFunc("GET /admin/regions", w.signedIn(w.regionsPage, console.RoleAdmin))
	m.HandleFunc("POST /admin/regions/{sido}/route", w.signedIn(w.setRouteForm, console.RoleAdmin))
	m.HandleFunc("POST /admin/regions/{sido}/route/delete", w.signedIn(w.deleteRouteForm, console.RoleAdmin))
}

func (w *web) regionsPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.renderRegions(rw, r, rc, http.StatusOK, r.URL.Query().Get("done"), "")
}

func (w *web) renderRegions(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, done, problem string) {
	if w.deps.Routes == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	ctx := r.Context()
	table, err := w.deps.Routes.Table(ctx)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	residents, err := w.deps.Routes.ResidentsBySido(ctx)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	open, err := w.deps.Routes.OpenIncidentsBySido(ctx)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	var rows []regionRow
	for _, e := range table {
		code := string(e.Sido.Code)
		if !rc.account.National() && !coversSido(rc.account, code) {
			continue
		}
		rows = append(rows, regionRow{Sido: e.Sido, Source: e.Source, Endpoints: e.Route.Endpoints, HasToken: e.Route.BearerToken != "",
			Residents: residents[code], Open: open[code]})
	}
	w.render(rw, r, "regions", status, rc, map[string]any{"Rows": rows, "Done": done, "Problem": problem,
		"CanEdit": rc.account.National(), "WithoutDistrict": residents[""]})
}

// coversSido: a regional account sees a 시도's row when one of its regions
// lies in it.
func coversSido(a console.Account, sido string) bool {
	for _, r := range a.Regions {
		if strings.HasPrefix(r, sido) {
			return true
		}
	}
	return false
}

// routeSido reads the {sido} of a route form; false when it answered.
func (w *web) routeSido(rw http.ResponseWriter, r *http.Request, rc *reqCtx) (region.Region, bool) {
	if w.deps.Routes == nil || !rc.account.National() {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return region.Region{}, false
	}
	sido, err := cap.SidoOf(r.PathValue("sido"))
	if err != nil {
		w.renderRegions(rw, r, rc, http.StatusBadRequest, "", err.Error())
		return region.Region{}, false
	}
	return sido, true
}

func (w *web) setRouteForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	sido, ok := w.routeSido(rw, r, rc)
	if !ok {
		return
	}
	var endpoints []string
	for _, line := range strings.FieldsFunc(r.PostFormValue("endpoints"), func(c rune) bool { return c == '\n' || c == ',' || c == ' ' || c == '\r' }) {
		endpoints = append(endpoints, line)
	}
	rt := cap.Route{Sido: string(sido.Code), Endpoints: endpoints, BearerToken: strings.TrimSpace(r.PostFormValue("token"))}
	if rt.BearerToken == "" && r.PostFormValue("keep_token") == "1" {
		// The stored token stays when none is typed (it is never shown).
		if table, err := w.deps.Routes.Table(r.Context()); err == nil {
			for _, e := range table {
				if e.Sido.Code == sido.Code && e.Source == cap.RouteStored {
					rt.BearerToken = e.Route.BearerToken
				}
			}
		}
	}
	if _, err := w.deps.Routes.PutCAPRoute(r.Context(), rt); err != nil {
		w.renderRegions(rw, r, rc, http.StatusBadRequest, "", err.Error())
		return
	}
	_ = w.audit(r.Context(), rc, "route.set", "", "", string(sido.Code)+" "+strings.Join(endpoints, " "))
	http.Redirect(rw, r, "/admin/regions?done="+url.QueryEscape(string(sido.Code)), http.StatusSeeOther)
}

func (w *web) deleteRouteForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	sido, ok := w.routeSido(rw, r, rc)
	if !ok {
		return
	}
	if err := api.DeleteCAPRoute(r.Context(), w.deps.Routes, sido); err != nil {
		w.renderRegions(rw, r, rc, http.StatusConflict, "", err.Error())
		return
	}
	_ = w.audit(r.Context(), rc, "route.delete", "", "", string(sido.Code))
	http.Redirect(rw, r, "/admin/regions?done="+url.QueryEscape(string(sido.Code)), http.StatusSeeOther)
}
