package web

// The admin pages of the registry: residents (with their social worker),
// hubs and sensors, created and edited in the browser. The changes go
// through the same api.Registrar as the admin API, so a form and a JSON body
// are validated alike; each change is audited. Medical notes, medications,
// allergies, access details and guardians are never shown to admins
// (docs/console.md): the forms take them, and on an edit an empty field
// keeps what is stored.

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
)

func (w *web) registryRoutes() {
	m := w.mux
	// A regional admin's pages: their regions' residents and hubs only.
	admin := func(h pageHandler) http.HandlerFunc {
		return w.signedIn(w.withRegistry(w.registryInScope(h)), console.RoleAdmin)
	}
	m.HandleFunc("GET /admin/residents/new", admin(w.newResidentPage))
	m.HandleFunc("POST /admin/residents", admin(w.createResidentForm))
	m.HandleFunc("GET /admin/residents/{id}", admin(w.editResidentPage))
	m.HandleFunc("POST /admin/residents/{id}", admin(w.updateResidentForm))
	m.HandleFunc("POST /admin/hubs", admin(w.createHubForm))
	m.HandleFunc("GET /admin/hubs/{id}", admin(w.hubPage))
	m.HandleFunc("POST /admin/hubs/{id}", admin(w.updateHubForm))
	m.HandleFunc("POST /admin/hubs/{id}/sensors", admin(w.createSensorForm))
	m.HandleFunc("POST /admin/hubs/{id}/sensors/{sensor}", admin(w.updateSensorForm))
	m.HandleFunc("POST /admin/residents/{id}/disabled", admin(w.residentDisabledForm))
	m.HandleFunc("POST /admin/hubs/{id}/disabled", admin(w.hubDisabledForm))
	m.HandleFunc("POST /admin/hubs/{id}/secret", admin(w.hubSecretForm))
	m.HandleFunc("POST /admin/hubs/{id}/sensors/{sensor}/disabled", admin(w.sensorDisabledForm))
}

// withRegistry answers 404 when no registry is wired (the registry is then
// edited through the API only).
func (w *web) withRegistry(h pageHandler) pageHandler {
	return func(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
		if w.deps.Registry == nil {
			w.errorPage(rw, r, rc, http.StatusNotFound)
			return
		}
		h(rw, r, rc)
	}
}

func (w *web) registrar() api.Registrar {
	return api.NewRegistrar(w.deps.Registry, w.deps.Hubs, w.cfg.Now)
}

// formProblem is a refused form: the field to fix and why, in the
// reader's language.
type formProblem struct {
	Field   string // the form field's name, to mark it
	Label   string // its name on the page
	Message string
}

// bracketIndex turns guardians[1].phone into guardians.phone: the message
// table is per field, not per guardian.
var bracketIndex = regexp.MustCompile(`\[\d+\]`)

// problemOf words a validation error for the page. Korean pages get the
// table's sentence for the field (the API's English detail would be an
// untranslated internal); English pages get the API's own message, which
// names the value.
func problemOf(lang string, err error) (formProblem, bool) {
	field, msg := "", ""
	var ae *api.Error
	var f interface{ Field() string }
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		field, msg = ae.Field, ae.Msg
	case errors.As(err, &ae) && ae.Status == http.StatusConflict, errors.Is(err, devices.ErrConflict):
		p := formProblem{Field: "id", Label: translate(lang, "form.field.id"), Message: err.Error()}
		if ae != nil {
			p.Message = ae.Msg
		}
		if lang != "en" {
			p.Message = translate(lang, "form.err.conflict")
		}
		return p, true
	case errors.Is(err, devices.ErrInvalid):
		msg = err.Error()
		if errors.As(err, &f) {
			field = f.Field()
		}
	default:
		return formProblem{}, false
	}
	key := bracketIndex.ReplaceAllString(field, "")
	p := formProblem{Field: key, Label: translate(lang, "form.field."+key)}
	if p.Label == "form.field."+key {
		p.Label = field
	}
	p.Message = msg
	if lang != "en" {
		p.Message = translate(lang, "form.err."+key)
		if p.Message == "form.err."+key {
			p.Message = translate(lang, "error.400")
		}
	}
	return p, true
}

// ---- residents ----

// residentForm is the resident page's data: the record (sensitive fields
// emptied), whether it exists yet, what it holds hidden, and its hubs.
type residentForm struct {
	Resident      devices.Resident
	New           bool
	Stored        storedSensitive
	SocialWorkers []console.Account
	Hubs          []devices.Hub
	Problem       *formProblem
	Done          string
	Kinds         []devices.SensorKind
}

// storedSensitive says which hidden fields hold something, so that the
// admin knows an empty field keeps a value rather than meaning none.
type storedSensitive struct {
	Medical, Access bool
	Guardians       int
}

func (w *web) socialWorkers(ctx context.Context) ([]console.Account, error) {
	all, err := w.deps.Accounts.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(a console.Account) bool { return a.Role != console.RoleSocialWorker || a.Disabled }), nil
}

func (w *web) renderResidentForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, f residentForm) {
	ctx := r.Context()
	sw, err := w.socialWorkers(ctx)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	f.SocialWorkers = sw
	if !f.New {
		hubs, err := w.deps.Registry.ListHubs(ctx, console.ListQuery{ResidentID: f.Resident.ID, IncludeDisabled: true, Limit: 100})
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		f.Hubs = hubs
	}
	if !f.New {
		// A refused new resident's form shows back what the admin just
		// typed; a stored one's hidden details are never sent to an admin.
		redact(&f.Resident)
	}
	w.render(rw, r, "admin_resident", status, rc, f)
}

func (w *web) newResidentPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.renderResidentForm(rw, r, rc, http.StatusOK, residentForm{New: true, Resident: devices.Resident{Language: "ko",
		Consent: devices.Consent{NotifyGuardians: true}}})
}

func (w *web) editResidentPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	res, err := w.deps.Registry.GetResident(r.Context(), devices.ResidentID(r.PathValue("id")))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.renderResidentForm(rw, r, rc, http.StatusOK, residentForm{Resident: res, Stored: storedOf(res), Done: r.URL.Query().Get("done")})
}

func storedOf(res devices.Resident) storedSensitive {
	return storedSensitive{
		Medical:   res.MedicalNotes != "" || len(res.Medications) > 0 || len(res.Allergies) > 0,
		Access:    res.Access != devices.Access{},
		Guardians: len(res.Guardians),
	}
}

// formGuardians is how many guardians the form has rows for.
const formGuardians = 3

// residentFromForm reads the form into res. Sensitive fields left empty
// keep res's values (on a new resident: none). The fields read are the
// ones the template writes; a checkbox absent means "no".
func residentFromForm(r *http.Request, res *devices.Resident) error {
	v := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	on := func(name string) bool { return r.PostFormValue(name) == "on" }
	res.Name, res.BirthDate, res.Phone, res.Language = v("name"), v("birth_date"), v("phone"), v("language")
	a := &res.Address
	a.Line1, a.Building, a.Floor, a.Unit, a.District, a.Postcode = v("line1"), v("building"), v("floor"), v("unit"), v("district"), v("postcode")
	for _, c := range []struct {
		field string
		dst   *float64
	}{{"lat", &a.Lat}, {"lon", &a.Lon}} {
		a := v(c.field)
		if a == "" {
			*c.dst = 0
			continue
		}
		f, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return api.BadRequest("address."+c.field, "%q is not a number (use a dot for decimals: 37.5665)", a)
		}
		*c.dst = f
	}
	res.SocialWorkerID = v("social_worker_id")
	res.Priority = on("priority")
	res.Consent = devices.Consent{ShareMedicalWith119: on("consent_share_medical_with_119"),
		NotifyGuardians: on("consent_notify_guardians"), VitalSignsMonitoring: on("consent_vital_signs_monitoring")}

	// Write-only fields: given means replace, empty means keep.
	keep := func(dst *string, name string) {
		if s := v(name); s != "" {
			*dst = s
		}
	}
	keep(&res.MedicalNotes, "medical_notes")
	keep(&res.Access.KeyHolder, "key_holder")
	keep(&res.Access.KeySafeCode, "key_safe_code")
	keep(&res.Access.DoorCode, "door_code")
	keep(&res.Access.Notes, "access_notes")
	for name, dst := range map[string]*[]string{"medications": &res.Medications, "allergies": &res.Allergies} {
		if s := v(name); s != "" {
			*dst = nil
			for item := range strings.SplitSeq(s, ";") {
				if item = strings.TrimSpace(item); item != "" {
					*dst = append(*dst, item)
				}
			}
		}
	}
	var guardians []devices.Guardian
	for i := 1; i <= formGuardians; i++ {
		n := strconv.Itoa(i)
		g := devices.Guardian{Name: v("guardian" + n + "_name"), Phone: v("guardian" + n + "_phone"), Relation: v("guardian" + n + "_relation")}
		if g != (devices.Guardian{}) {
			guardians = append(guardians, g)
		}
	}
	if guardians != nil {
		res.Guardians = guardians // the guardians are a list in order: replaced as a whole
	}
	return nil
}

func (w *web) createResidentForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	res := devices.Resident{ID: devices.ResidentID(strings.TrimSpace(r.PostFormValue("id")))}
	err := residentFromForm(r, &res)
	if err == nil {
		err = residentRegionRefusal(w.scopeOf(rc), res)
	}
	if err == nil {
		err = w.registrar().CreateResident(r.Context(), &res)
	}
	if err != nil {
		w.formFailed(rw, r, rc, err, func(p *formProblem) {
			w.renderResidentForm(rw, r, rc, http.StatusBadRequest, residentForm{New: true, Resident: res, Problem: p})
		})
		return
	}
	_ = w.audit(r.Context(), rc, "resident.create", res.ID, "", "social_worker="+res.SocialWorkerID)
	http.Redirect(rw, r, "/admin/residents/"+url.PathEscape(string(res.ID))+"?done=created", http.StatusSeeOther)
}

func (w *web) updateResidentForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	cur, err := w.deps.Registry.GetResident(ctx, devices.ResidentID(r.PathValue("id")))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	next := api.Editable(cur)
	err = residentFromForm(r, &next)
	if err == nil && next.Address.Line1 != cur.Address.Line1 && next.DistrictCode == cur.DistrictCode {
		next.DistrictCode = "" // a new address brings its own district (api.Registrar), checked below
	}
	if err == nil {
		err = residentRegionRefusal(w.scopeOf(rc), next)
	}
	if err == nil {
		next, err = w.registrar().UpdateResident(ctx, cur, next)
	}
	if err != nil {
		w.formFailed(rw, r, rc, err, func(p *formProblem) {
			w.renderResidentForm(rw, r, rc, http.StatusBadRequest, residentForm{Resident: next, Stored: storedOf(cur), Problem: p})
		})
		return
	}
	detail := "social_worker=" + next.SocialWorkerID
	if next.SocialWorkerID != cur.SocialWorkerID {
		detail += " (was " + cur.SocialWorkerID + ")"
	}
	_ = w.audit(ctx, rc, "resident.update", next.ID, "", detail)
	http.Redirect(rw, r, "/admin/residents/"+url.PathEscape(string(next.ID))+"?done=saved", http.StatusSeeOther)
}

// formFailed shows the form again with the problem when err is the
// input's fault, and the error page otherwise.
func (w *web) formFailed(rw http.ResponseWriter, r *http.Request, rc *reqCtx, err error, again func(*formProblem)) {
	if p, ok := problemOf(rc.lang, err); ok {
		again(&p)
		return
	}
	w.fail(rw, r, rc, err)
}

// ---- hubs and sensors ----

type hubForm struct {
	Hub       devices.Hub
	Resident  devices.Resident
	Sensors   []devices.Sensor
	Secret    string // only right after the hub was created or its secret replaced: shown once
	CanRevoke bool   // a broker is wired: the hub can be disabled and its secret replaced
	Problem   *formProblem
	Done      string
	Kinds     []devices.SensorKind
	Locations []devices.Location
}

func (w *web) renderHub(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, f hubForm) {
	ctx := r.Context()
	if f.Sensors == nil {
		sensors, err := w.deps.Registry.ListSensors(ctx, f.Hub.ID)
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		f.Sensors = sensors
	}
	if res, err := w.deps.Registry.GetResident(ctx, f.Hub.ResidentID); err == nil {
		redact(&res)
		f.Resident = res
	}
	f.Kinds, f.Locations = slices.Sorted(maps.Keys(devices.SensorKinds)), slices.Sorted(maps.Keys(devices.Locations))
	f.CanRevoke = w.deps.Hubs != nil
	w.render(rw, r, "admin_hub", status, rc, f)
}

func (w *web) hubPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	h, ok := w.hubOf(rw, r, rc)
	if !ok {
		return
	}
	w.renderHub(rw, r, rc, http.StatusOK, hubForm{Hub: h, Done: r.URL.Query().Get("done")})
}

// parseFormDate reads a YYYY-MM-DD field as a date in the console's zone;
// empty is the zero time.
func (w *web) parseFormDate(r *http.Request, field string) (time.Time, error) {
	s := strings.TrimSpace(r.PostFormValue(field))
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, w.cfg.Location)
	if err != nil {
		return t, api.BadRequest(field, "%q is not a date in the form YYYY-MM-DD", s)
	}
	return t.UTC(), nil
}

func (w *web) createHubForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	req := api.HubCreateRequest{ResidentID: devices.ResidentID(r.PostFormValue("resident_id")),
		ID: devices.HubID(strings.TrimSpace(r.PostFormValue("id"))), Model: strings.TrimSpace(r.PostFormValue("model")),
		Firmware: strings.TrimSpace(r.PostFormValue("firmware"))}
	var err error
	if req.InstalledAt, err = w.parseFormDate(r, "installed_at"); err == nil {
		var hs api.HubWithSecret
		if hs, err = w.registrar().CreateHub(ctx, req); err == nil {
			_ = w.audit(ctx, rc, "hub.create", hs.ResidentID, "", "hub="+string(hs.ID))
			// The secret is shown on this answer and never again: no
			// redirect, and the page is not cached (securityHeaders).
			w.renderHub(rw, r, rc, http.StatusCreated, hubForm{Hub: hs.Hub, Secret: hs.Secret, Done: "created"})
			return
		}
	}
	res, gerr := w.deps.Registry.GetResident(ctx, req.ResidentID)
	if gerr != nil {
		w.fail(rw, r, rc, gerr) // the form is on the resident's page: without one, nowhere to show it
		return
	}
	w.formFailed(rw, r, rc, err, func(p *formProblem) {
		w.renderResidentForm(rw, r, rc, http.StatusBadRequest, residentForm{Resident: res, Stored: storedOf(res), Problem: p})
	})
}

func (w *web) updateHubForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	cur, ok := w.hubOf(rw, r, rc)
	if !ok {
		return
	}
	next := cur
	next.ResidentID = devices.ResidentID(strings.TrimSpace(r.PostFormValue("resident_id")))
	next.Model, next.Firmware = strings.TrimSpace(r.PostFormValue("model")), strings.TrimSpace(r.PostFormValue("firmware"))
	var err error
	if next.EndOfLife, err = w.parseFormDate(r, "end_of_life"); err == nil {
		if next.EndOfLife.IsZero() {
			next.EndOfLife = cur.EndOfLife
		}
		next, err = w.registrar().UpdateHub(ctx, cur, next)
	}
	if err != nil {
		w.formFailed(rw, r, rc, err, func(p *formProblem) { w.renderHub(rw, r, rc, http.StatusBadRequest, hubForm{Hub: next, Problem: p}) })
		return
	}
	_ = w.audit(ctx, rc, "hub.update", next.ResidentID, "", "hub="+string(next.ID))
	http.Redirect(rw, r, "/admin/hubs/"+url.PathEscape(string(next.ID))+"?done=saved", http.StatusSeeOther)
}

// sensorFromForm reads kind, location and the report interval in minutes.
func sensorFromForm(r *http.Request, s *devices.Sensor) error {
	s.Kind = devices.SensorKind(r.PostFormValue("kind"))
	s.Location = devices.Location(r.PostFormValue("location"))
	if m := strings.TrimSpace(r.PostFormValue("report_minutes")); m != "" {
		f, err := strconv.ParseFloat(m, 64)
		if err != nil || f <= 0 {
			return api.BadRequest("report_interval_s", "%q is not a number of minutes", m)
		}
		s.ReportSeconds = int(f * 60)
	}
	return nil
}

func (w *web) createSensorForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.sensorForm(rw, r, rc, true)
}

func (w *web) updateSensorForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.sensorForm(rw, r, rc, false)
}

func (w *web) sensorForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx, create bool) {
	ctx := r.Context()
	h, ok := w.hubOf(rw, r, rc)
	if !ok {
		return
	}
	var s, cur devices.Sensor
	var err error
	action := "sensor.create"
	if create {
		s = devices.Sensor{Hub: h.ID, ID: devices.SensorID(strings.TrimSpace(r.PostFormValue("sensor_id")))}
	} else {
		action = "sensor.update"
		if cur, err = w.deps.Registry.GetSensor(ctx, h.ID, devices.SensorID(r.PathValue("sensor"))); err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		s = cur
	}
	if err = sensorFromForm(r, &s); err == nil {
		if create {
			err = w.registrar().CreateSensor(ctx, &s)
		} else {
			s, err = w.registrar().UpdateSensor(ctx, cur, s)
		}
	}
	if err != nil {
		w.formFailed(rw, r, rc, err, func(p *formProblem) {
			if p.Field == "id" {
				p.Field, p.Label = "sensor_id", translate(rc.lang, "form.field.sensor_id")
			}
			w.renderHub(rw, r, rc, http.StatusBadRequest, hubForm{Hub: h, Problem: p})
		})
		return
	}
	_ = w.audit(ctx, rc, action, h.ResidentID, "", "hub="+string(h.ID)+" sensor="+string(s.ID)+" "+string(s.Kind)+"@"+string(s.Location))
	http.Redirect(rw, r, "/admin/hubs/"+url.PathEscape(string(h.ID))+"?done=saved", http.StatusSeeOther)
}

// ---- disabling, and a hub's new secret ----

// disabledAction reads the form's disabled=true|false and names the
// audit action for it.
func disabledAction(r *http.Request, what string) (bool, string) {
	if r.PostFormValue("disabled") == "true" {
		return true, what + ".disable"
	}
	return false, what + ".enable"
}

func (w *web) residentDisabledForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := devices.ResidentID(r.PathValue("id"))
	disabled, action := disabledAction(r, "resident")
	if err := w.deps.Registry.SetResidentDisabled(r.Context(), id, disabled); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	_ = w.audit(r.Context(), rc, action, id, "", "")
	http.Redirect(rw, r, "/admin/residents/"+url.PathEscape(string(id))+"?done=saved", http.StatusSeeOther)
}

// hubOf loads the hub the path names; false when it has answered.
func (w *web) hubOf(rw http.ResponseWriter, r *http.Request, rc *reqCtx) (devices.Hub, bool) {
	h, err := w.deps.Registry.GetHub(r.Context(), devices.HubID(r.PathValue("id")))
	if err != nil {
		w.fail(rw, r, rc, err)
		return h, false
	}
	return h, true
}

func (w *web) hubDisabledForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	h, ok := w.hubOf(rw, r, rc)
	if !ok {
		return
	}
	disabled, action := disabledAction(r, "hub")
	if w.deps.Hubs == nil && disabled {
		w.errorPage(rw, r, rc, http.StatusNotFound) // without the broker its live session would go on
		return
	}
	if err := w.registrar().SetHubDisabled(r.Context(), h.ID, disabled); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	_ = w.audit(r.Context(), rc, action, h.ResidentID, "", "hub="+string(h.ID))
	http.Redirect(rw, r, "/admin/hubs/"+url.PathEscape(string(h.ID))+"?done=saved", http.StatusSeeOther)
}

// hubSecretForm replaces a lost secret: the new one is shown on this
// answer only, and the hub's live session ends.
func (w *web) hubSecretForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	h, ok := w.hubOf(rw, r, rc)
	if !ok {
		return
	}
	if w.deps.Hubs == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	hs, err := w.registrar().RotateHubSecret(r.Context(), h)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	_ = w.audit(r.Context(), rc, "hub.secret_rotate", h.ResidentID, "", "hub="+string(h.ID))
	w.renderHub(rw, r, rc, http.StatusOK, hubForm{Hub: hs.Hub, Secret: hs.Secret, Done: "secret"})
}

func (w *web) sensorDisabledForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	h, ok := w.hubOf(rw, r, rc)
	if !ok {
		return
	}
	sensor := devices.SensorID(r.PathValue("sensor"))
	disabled, action := disabledAction(r, "sensor")
	if err := w.deps.Registry.SetSensorDisabled(r.Context(), h.ID, sensor, disabled); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	_ = w.audit(r.Context(), rc, action, h.ResidentID, "", "hub="+string(h.ID)+" sensor="+string(sensor))
	http.Redirect(rw, r, "/admin/hubs/"+url.PathEscape(string(h.ID))+"?done=saved", http.StatusSeeOther)
}

// ---- template helpers of the admin forms ----

func (f residentForm) badField() string { return problemField(f.Problem) }
func (f hubForm) badField() string      { return problemField(f.Problem) }

func problemField(p *formProblem) string {
	if p == nil {
		return ""
	}
	return p.Field
}

// Invalid tells whether the page's problem is with field, to mark it
// (aria-invalid) for the eye and for screen readers.
func (p *pageData) Invalid(field string) bool {
	f, ok := p.Data.(interface{ badField() string })
	return ok && f.badField() != "" && f.badField() == field
}

// FormPhone writes a stored E.164 number the way Koreans type it
// (+821033334444 -> 010-3333-4444), for a form to show and take back.
func (p *pageData) FormPhone(e164 string) string {
	d, ok := strings.CutPrefix(e164, "+82")
	if !ok || len(d) < 8 {
		return e164
	}
	d = "0" + d
	area := 3 // 010, 031, 051...
	if strings.HasPrefix(d, "02") {
		area = 2
	}
	rest := d[area:]
	mid := len(rest) - 4
	return d[:area] + "-" + rest[:mid] + "-" + rest[mid:]
}

// Seq is 1..n, for rows of inputs.
func (p *pageData) Seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// HasWorker tells whether id is among the social workers listed.
func (p *pageData) HasWorker(list []console.Account, id string) bool {
	return slices.ContainsFunc(list, func(a console.Account) bool { return a.ID == id })
}

// FormDate is t as YYYY-MM-DD in the console's zone, empty for zero.
func (p *pageData) FormDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.loc).Format(time.DateOnly)
}

// Minutes is a report interval in minutes, as the sensor form takes it.
func (p *pageData) Minutes(seconds int) string {
	return strconv.FormatFloat(float64(seconds)/60, 'f', -1, 64)
}

// JoinList writes a list field as the form takes it back.
func (p *pageData) JoinList(items []string) string { return strings.Join(items, "; ") }

// GuardianAt is the i-th guardian (1-based), or none.
func (p *pageData) GuardianAt(list []devices.Guardian, i int) devices.Guardian {
	if i < 1 || i > len(list) {
		return devices.Guardian{}
	}
	return list[i-1]
}
