package api

// Regions and 119 routing (docs/operations.md): each 시도 has its own route
// to its 119 centre, managed here (GET /api/v1/regions, GET/PUT/DELETE
// /api/v1/regions/routes[/{sido}]) and by dolbomctl region.

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dolbom/dolbom/devices/region"
	"github.com/dolbom/dolbom/dispatch/cap"
)

// RouteAdmin is the 119 routing table the admin API shows and edits.
type RouteAdmin interface {
	// Table is the effective route of every 시도 and where it comes from.
	Table(ctx context.Context) ([]cap.Effective, error)
	PutCAPRoute(ctx context.Context, r cap.Route) (cap.Route, error)
	// DeleteCAPRoute removes a stored route (devices.ErrNotFound when
	// the 시도 has none).
	DeleteCAPRoute(ctx context.Context, sido string) error
	// ResidentsBySido counts the enabled residents per 시도 code.
	ResidentsBySido(ctx context.Context) (map[string]int, error)
	// OpenIncidentsBySido counts the open incidents per 시도 (the 시도
	// their 119 Alert went to, else their resident's).
	OpenIncidentsBySido(ctx context.Context) (map[string]int, error)
}

// sidoTree is a 시도 and its 시군구, as GET /api/v1/regions lists them.
type sidoTree struct {
	region.Region
	Districts []region.Region `json:"districts"`
}

func (a *adminAPI) listRegions(w http.ResponseWriter, r *http.Request) {
	var out []sidoTree
	for _, s := range region.Sidos() {
		out = append(out, sidoTree{Region: s, Districts: region.Districts(s.Code)})
	}
	WriteJSON(w, http.StatusOK, out)
}

// routeView is one 시도's route as the API shows it: never the token.
type routeView struct {
	Sido      region.Region `json:"sido"`
	Source    string        `json:"source"` // stored, fallback (--cap-url) or none
	Endpoints []string      `json:"endpoints"`
	HasToken  bool          `json:"has_token"`
	Residents int           `json:"residents"`
	Open      int           `json:"open_incidents"`
	UpdatedAt string        `json:"updated_at,omitempty"`
}

func (a *adminAPI) routesOff(w http.ResponseWriter) bool {
	if a.cfg.Routes == nil {
		WriteError(w, &Error{Status: http.StatusNotImplemented, Msg: "this gateway serves no 119 routing table"})
		return true
	}
	return false
}

// routeSido is the 시도 a route request names ({sido}: a code or a name);
// false when the request was answered (no routing table, an unknown 시도).
func (a *adminAPI) routeSido(w http.ResponseWriter, r *http.Request) (region.Region, bool) {
	if a.routesOff(w) {
		return region.Region{}, false
	}
	sido, err := cap.SidoOf(r.PathValue("sido"))
	if err != nil {
		a.fail(w, r, MarkInvalid(err, "sido"), "")
		return region.Region{}, false
	}
	return sido, true
}

func (a *adminAPI) listRoutes(w http.ResponseWriter, r *http.Request) {
	if a.routesOff(w) {
		return
	}
	table, err := a.cfg.Routes.Table(r.Context())
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	counts, err := a.cfg.Routes.ResidentsBySido(r.Context())
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	open, err := a.cfg.Routes.OpenIncidentsBySido(r.Context())
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	out := make([]routeView, 0, len(table))
	caller := accountOf(r.Context())
	for _, e := range table {
		if !caller.Covers(string(e.Sido.Code)) {
			continue // another region's route: its endpoints are none of this token's business
		}
		v := routeView{Sido: e.Sido, Source: e.Source, Endpoints: e.Route.Endpoints, HasToken: e.Route.BearerToken != "",
			Residents: counts[string(e.Sido.Code)], Open: open[string(e.Sido.Code)]}
		if v.Endpoints == nil {
			v.Endpoints = []string{}
		}
		if !e.Route.UpdatedAt.IsZero() {
			v.UpdatedAt = e.Route.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z07:00")
		}
		out = append(out, v)
	}
	without := counts[""]
	if !caller.National() {
		without = 0 // residents of no district are the national admin's
	}
	WriteJSON(w, http.StatusOK, map[string]any{"routes": out, "residents_without_district": without})
}

// routeBody is what PUT /api/v1/regions/routes/{sido} takes.
type routeBody struct {
	Endpoints   []string `json:"endpoints"`
	BearerToken string   `json:"bearer_token"`
}

func (a *adminAPI) putRoute(w http.ResponseWriter, r *http.Request) {
	sido, ok := a.routeSido(w, r)
	if !ok {
		return
	}
	// A wrong route sends a 시도's emergencies to the wrong 119: only the
	// national admin changes the table.
	if err := nationalOnly(r.Context(), "the 119 routing table"); err != nil {
		a.fail(w, r, err, "")
		return
	}
	var body routeBody
	if err := a.decodeJSON(w, r, &body); err != nil {
		a.fail(w, r, err, "")
		return
	}
	rt, err := a.cfg.Routes.PutCAPRoute(r.Context(), cap.Route{Sido: string(sido.Code), Endpoints: body.Endpoints, BearerToken: body.BearerToken})
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	a.log.Info().Str("sido", rt.Sido).Strs("endpoints", rt.Endpoints).Msg("119 route set")
	WriteJSON(w, http.StatusOK, routeView{Sido: sido, Source: cap.RouteStored, Endpoints: rt.Endpoints, HasToken: rt.BearerToken != "",
		UpdatedAt: rt.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z07:00")})
}

// deleteRoute refuses to leave residents without a route: a 시도 whose
// residents would then have nowhere to go keeps its route (409, with the
// count), as the gateway would refuse to start that way.
func (a *adminAPI) deleteRoute(w http.ResponseWriter, r *http.Request) {
	sido, ok := a.routeSido(w, r)
	if !ok {
		return
	}
	// A wrong route sends a 시도's emergencies to the wrong 119: only the
	// national admin changes the table.
	if err := nationalOnly(r.Context(), "the 119 routing table"); err != nil {
		a.fail(w, r, err, "")
		return
	}
	if err := DeleteCAPRoute(r.Context(), a.cfg.Routes, sido); err != nil {
		a.fail(w, r, err, "the 119 route of "+sido.String())
		return
	}
	a.log.Info().Str("sido", string(sido.Code)).Msg("119 route deleted")
	w.WriteHeader(http.StatusNoContent)
}

// DeleteCAPRoute deletes the stored route of a 시도 unless something
// depends on it (routeDeleteRefusal: a conflict naming the counts); a 시도
// without a stored route is an *Error with 404. The admin API and the
// console's regions page both delete through it.
func DeleteCAPRoute(ctx context.Context, routes RouteAdmin, sido region.Region) error {
	table, err := routes.Table(ctx)
	if err != nil {
		return err
	}
	fallback := false
	for _, e := range table {
		if e.Sido.Code == sido.Code && e.Source != cap.RouteStored {
			return &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("%s has no stored 119 route (its route: %s)", sido, e.Source)}
		}
		// Another 시도 on the fallback means there is one for this too.
		fallback = fallback || e.Source == cap.RouteFallback
	}
	counts, err := routes.ResidentsBySido(ctx)
	if err != nil {
		return err
	}
	open, err := routes.OpenIncidentsBySido(ctx)
	if err != nil {
		return err
	}
	if err := routeDeleteRefusal(sido, counts[string(sido.Code)], open[string(sido.Code)], fallback); err != nil {
		return MarkConflict(err)
	}
	return routes.DeleteCAPRoute(ctx, string(sido.Code))
}

// routeDeleteRefusal is why a 시도's stored route may not be deleted, nil
// when it may: its residents would have nowhere to go (no --cap-url to
// take its place), or its open incidents' Updates and Cancel would leave
// the centre that holds their Alert (even for the --cap-url one).
func routeDeleteRefusal(sido region.Region, residents, open int, fallback bool) error {
	if open == 0 && (residents == 0 || fallback) {
		return nil
	}
	return fmt.Errorf("%s의 119 경로를 지울 수 없습니다: 대상자 %d명, 진행 중 사건 %d건이 이 경로를 씁니다 "+
		"(cannot delete the 119 route of %s: %d residents and %d open incidents depend on it); "+
		"set another route instead, or close the open incidents first", sido.Name, residents, open, sido, residents, open)
}
