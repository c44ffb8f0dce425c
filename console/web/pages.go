package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/workorder"
)

// parsePages parses every page with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := fs.ReadFile(webFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: web: %w", err)
	}
	names, err := fs.Glob(webFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: web: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".html")
		if base == "layout" {
			continue
		}
		body, err := fs.ReadFile(webFiles, name)
		if err != nil {
			return nil, fmt.Errorf("console: web: %w", err)
		}
		t, err := template.New("layout").Parse(string(layout))
		if err == nil {
			_, err = t.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("console: web: template %s: %w", name, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// pageData is what every template gets: the person, the language, the
// CSRF token for its forms, and the page's own Data.
type pageData struct {
	Lang    string
	Account *console.Account
	CSRF    string
	Path    string
	Data    any
	loc     *time.Location
}

func (p *pageData) T(key string) string { return translate(p.Lang, key) }

// KindName is a sensor kind as the admin forms list it: the console's own
// description where it has one (adm.kind.*, e.g. what a radar measures),
// else the kind's name in the hub's vocabulary (devices), so that a kind
// added to the protocol is never listed as a bare key.
func (p *pageData) KindName(k devices.SensorKind) string {
	return translateOr(p.Lang, "adm.kind."+string(k), k.Name(p.Lang))
}

func (p *pageData) Date(t time.Time) string {
	if t.IsZero() {
		return translate(p.Lang, "visit.never")
	}
	return t.In(p.loc).Format("2006-01-02")
}

func (p *pageData) DateTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(p.loc).Format("2006-01-02 15:04")
}

func (p *pageData) Fault(f devices.Fault) string { return translate(p.Lang, "fault."+string(f)) }

func (p *pageData) Is(role string) bool { return p.Account != nil && string(p.Account.Role) == role }

func (p *pageData) OtherLang() string {
	if p.Lang == "en" {
		return "ko"
	}
	return "en"
}

// Hour formats an hour of day, or "-" when unknown.
func (p *pageData) Hour(h int) string {
	if h < 0 {
		return "-"
	}
	if p.Lang == "en" {
		return fmt.Sprintf("%02d:00", h)
	}
	return fmt.Sprintf("%d시", h)
}

func (p *pageData) Age(birth string) string {
	b, err := time.Parse("2006-01-02", birth)
	if err != nil {
		return "-"
	}
	now := time.Now().In(p.loc)
	age := now.Year() - b.Year()
	if now.YearDay() < b.YearDay() {
		age--
	}
	return fmt.Sprintf("%d%s", age, translate(p.Lang, "unit.years"))
}

func (w *web) render(rw http.ResponseWriter, r *http.Request, page string, status int, rc *reqCtx, data any) {
	t := w.pages[page]
	pd := &pageData{Lang: rc.lang, Path: r.URL.Path, Data: data, loc: w.cfg.Location}
	if rc.account.ID != "" {
		a := rc.account
		pd.Account, pd.CSRF = &a, rc.session.CSRFToken
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		w.log.Error().Err(err).Str("page", page).Msg("render")
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = buf.WriteTo(rw)
}

func (w *web) errorPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int) {
	w.render(rw, r, "error", status, rc, map[string]any{"Status": status, "Message": fmt.Sprintf("error.%d", status)})
}

func (w *web) home(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	to := map[console.Role]string{console.RoleSocialWorker: "/today", console.RoleDispatcher: "/queue", console.RoleAdmin: "/admin/accounts"}[rc.account.Role]
	http.Redirect(rw, r, to, http.StatusSeeOther)
}

// myResidents returns every resident of a social worker (a caseload is a
// few hundred).
func (w *web) myResidents(ctx context.Context, socialWorkerID string) ([]devices.Resident, error) {
	var out []devices.Resident
	q := console.ListQuery{SocialWorkerID: socialWorkerID, Limit: 1000}
	for {
		page, err := w.deps.Residents.ListResidents(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out, nil
		}
		q.After = string(page[len(page)-1].ID)
	}
}

// resident returns a resident the person may see: a social worker sees
// only their own; another's is not found, exactly like a missing one.
func (w *web) resident(ctx context.Context, rc *reqCtx, id devices.ResidentID) (devices.Resident, error) {
	res, err := w.deps.Residents.GetResident(ctx, id)
	if err != nil {
		return res, err
	}
	if rc.account.Role == console.RoleSocialWorker && res.SocialWorkerID != rc.account.ID {
		return devices.Resident{}, fmt.Errorf("console: resident %s: %w", id, devices.ErrNotFound)
	}
	// Another region's resident is not found, like a missing one.
	if !w.scopeOf(rc).Resident(res) {
		return devices.Resident{}, fmt.Errorf("console: resident %s: %w", id, devices.ErrNotFound)
	}
	return res, nil
}

// sensitiveVisible says whether the person may see a resident's medical
// notes, access codes and guardians: their social worker always; a
// dispatcher only while the resident has an open incident; an admin never
// (accounts, not residents, are their business).
func (w *web) sensitiveVisible(ctx context.Context, rc *reqCtx, res devices.Resident) bool {
	switch rc.account.Role {
	case console.RoleSocialWorker:
		return res.SocialWorkerID == rc.account.ID
	case console.RoleDispatcher:
		return w.deps.OpenIncident != nil && w.deps.OpenIncident.OpenIncident(ctx, res.ID)
	}
	return false
}

func redact(res *devices.Resident) {
	res.MedicalNotes, res.Medications, res.Allergies = "", nil, nil
	res.Access = devices.Access{}
	res.Guardians = nil
}

func (w *web) fail(rw http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	if errors.Is(err, devices.ErrNotFound) {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	w.log.Error().Err(err).Str("path", r.URL.Path).Msg("page failed")
	w.errorPage(rw, r, rc, http.StatusInternalServerError)
}

// ---- residents ----

const residentsPerPage = 50

func (w *web) listVisible(ctx context.Context, rc *reqCtx, search, after string) ([]devices.Resident, bool, error) {
	q := console.ListQuery{Search: search, After: after, Limit: residentsPerPage + 1, Regions: w.scopeOf(rc).Regions()}
	if rc.account.Role == console.RoleSocialWorker {
		q.SocialWorkerID = rc.account.ID
	}
	list, err := w.deps.Residents.ListResidents(ctx, q)
	if err != nil {
		return nil, false, err
	}
	more := len(list) > residentsPerPage
	if more {
		list = list[:residentsPerPage]
	}
	return list, more, nil
}

func (w *web) residentList(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	list, more, err := w.listVisible(r.Context(), rc, q, r.URL.Query().Get("after"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	next := ""
	if more {
		next = string(list[len(list)-1].ID)
	}
	w.render(rw, r, "residents", http.StatusOK, rc, map[string]any{"Residents": list, "Query": q, "Next": next})
}

type hubView struct {
	Hub    devices.Hub
	Health *devices.HubHealth
}

type residentData struct {
	Resident      devices.Resident
	ShowSensitive bool
	Heatmap       template.HTML
	HasActivity   bool
	Sleep         []sleepDay
	WakeMedian    int
	BedMedian     int
	Heart         template.HTML
	Breath        template.HTML
	Hubs          []hubView
	Incidents     []IncidentSummary
	Visits        []console.Visit
	CanAddVisit   bool
	Today         string
	NextDefault   string
	HasWellbeing  bool
	// Next is the next contact due by Today's cadence (today.go).
	Next     visitDue
	HasNext  bool
	Falls    fallCount // the last 30 days' falls, as Today counts them
	activity activityCheck
	// WorkOrders is the resident's maintenance history, newest first.
	WorkOrders []workorder.Order
}

func (w *web) residentPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	res, err := w.resident(ctx, rc, devices.ResidentID(r.PathValue("id")))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	d := residentData{Resident: res, ShowSensitive: w.sensitiveVisible(ctx, rc, res), WakeMedian: -1, BedMedian: -1}
	if !d.ShowSensitive {
		redact(&d.Resident)
	}
	now := w.cfg.Now()
	from := startOfDay(now.In(w.cfg.Location)).AddDate(0, 0, -29)
	if w.deps.Wellbeing != nil {
		d.HasWellbeing = true
		motion, err := w.deps.Wellbeing.ResidentHourly(ctx, res.ID, devices.MetricMotion, from, now)
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		d.activity = assessActivity(activityOfHourly(motion, now))
		hm := buildHeatmap(motion, now, w.cfg.Location, 30)
		d.HasActivity = hm.Any
		if hm.Any {
			d.Heatmap = hm.svg(rc.lang)
			all := sleepTimes(hm)
			d.WakeMedian, d.BedMedian = medianHour(all, true), medianHour(all, false)
			last := all[len(all)-7:]
			for i := len(last) - 1; i >= 0; i-- { // newest first
				d.Sleep = append(d.Sleep, last[i])
			}
		}
		for _, m := range []struct {
			metric devices.Metric
			dst    *template.HTML
			label  string
		}{{devices.MetricHeartRate, &d.Heart, "res.heart"}, {devices.MetricRespiration, &d.Breath, "res.breath"}} {
			pts, err := w.deps.Wellbeing.ResidentHourly(ctx, res.ID, m.metric, from, now)
			if err != nil {
				w.fail(rw, r, rc, err)
				return
			}
			*m.dst = trendSVG(dailyStats(pts, now, w.cfg.Location, 30), rc.lang, translate(rc.lang, m.label))
		}
	}
	hubs, err := w.deps.Residents.ListHubs(ctx, console.ListQuery{ResidentID: res.ID, Limit: 100})
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	for _, h := range hubs {
		hv := hubView{Hub: h}
		if w.deps.Health != nil {
			if hh, err := w.deps.Health.HubHealth(ctx, h.ID); err == nil {
				hv.Health = &hh
			}
		}
		d.Hubs = append(d.Hubs, hv)
	}
	if w.deps.History != nil {
		incs, err := w.deps.History.IncidentsOfResident(ctx, res.ID, 20)
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		d.Incidents = make([]IncidentSummary, len(incs))
		for i, inc := range incs {
			d.Incidents[i] = summaryOf(inc)
		}
	}
	if w.deps.WorkOrders != nil {
		if d.WorkOrders, err = w.deps.WorkOrders.ListOrders(ctx, workorder.Query{ResidentID: res.ID, Limit: 20}); err != nil {
			w.fail(rw, r, rc, err)
			return
		}
	}
	if w.deps.Visits != nil && rc.account.Role == console.RoleSocialWorker {
		d.CanAddVisit = true
		if d.Visits, err = w.deps.Visits.ListVisits(ctx, res.ID, 50); err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		if err := w.nextContact(ctx, rc, &d, now); err != nil {
			w.fail(rw, r, rc, err)
			return
		}
	}
	local := now.In(w.cfg.Location)
	d.Today = local.Format("2006-01-02")
	months := 2
	if res.Priority {
		months = 1
	}
	d.NextDefault = local.AddDate(0, months, 0).Format("2006-01-02")
	detail := "sensitive=hidden"
	if d.ShowSensitive {
		detail = "sensitive=shown"
	}
	// The view is recorded before anything of it is sent.
	if err := w.audit(ctx, rc, "resident.view", res.ID, "", detail); err != nil {
		w.errorPage(rw, r, rc, http.StatusInternalServerError)
		return
	}
	w.render(rw, r, "resident", http.StatusOK, rc, d)
}

// parseVisit reads a visit from form or JSON values: dates are local
// calendar days (YYYY-MM-DD).
func (w *web) parseVisit(kind, date, notes, next string) (console.Visit, string) {
	v := console.Visit{Kind: console.VisitKind(kind), Notes: strings.TrimSpace(notes)}
	if v.Kind != console.VisitHome && v.Kind != console.VisitCall {
		return v, "kind"
	}
	at, err := time.ParseInLocation("2006-01-02", date, w.cfg.Location)
	if err != nil || at.After(w.cfg.Now()) {
		return v, "date"
	}
	v.At = at.Add(12 * time.Hour) // midday: the date stays the same in any nearby zone
	if next != "" {
		n, err := time.ParseInLocation("2006-01-02", next, w.cfg.Location)
		if err != nil || n.Before(at) {
			return v, "next"
		}
		v.Next = n.Add(12 * time.Hour)
	}
	if len(v.Notes) > 10000 {
		return v, "notes"
	}
	return v, ""
}

func (w *web) addVisit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	if w.deps.Visits == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	res, err := w.resident(ctx, rc, devices.ResidentID(r.PathValue("id")))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	v, bad := w.parseVisit(r.PostFormValue("kind"), r.PostFormValue("date"), r.PostFormValue("notes"), r.PostFormValue("next"))
	if bad != "" {
		w.errorPage(rw, r, rc, http.StatusBadRequest)
		return
	}
	v.ResidentID, v.AccountID = res.ID, rc.account.ID
	if err := w.deps.Visits.AddVisit(ctx, &v); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	_ = w.audit(ctx, rc, "visit.add", res.ID, "", string(v.Kind)+" "+v.ID)
	http.Redirect(rw, r, "/residents/"+string(res.ID)+"#visits", http.StatusSeeOther)
}
