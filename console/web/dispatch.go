package web

// The dispatcher's console: the live incident queue, the incident page and
// the actions on an incident. The queue's rows are rendered on the server;
// the browser listens to the incident feed (server-sent events, the same
// events as /api/v1/incidents/stream, behind the session cookie) and
// fetches the rows again when something changed, so ordering, filtering and
// the rights stay in one place.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/wording"
)

// Desk is what the dispatcher's pages call: the incident API's desk and
// 119's status round trip as a dispatcher records it (a 119 call-taker on
// the phone says "dispatched"). *dispatch.Dispatcher implements it.
type Desk interface {
	api.IncidentDesk
	Apply119(ctx context.Context, a dispatch.Answer119) (dispatch.Incident, error)
}

// activeStates are the states the queue shows.
var activeStates = dispatch.ActiveStates()

// queueLimit bounds the queue: more than this many open incidents at once
// is a disaster, and the filters narrow it.
const queueLimit = 500

func (w *web) dispatchRoutes() {
	m := w.mux
	m.HandleFunc("GET /queue", w.signedIn(w.queue, console.RoleDispatcher, console.RoleAdmin))
	m.HandleFunc("GET /queue/rows", w.signedIn(w.queueRows, console.RoleDispatcher, console.RoleAdmin))
	m.HandleFunc("GET /queue/stream", w.signedIn(w.queueStream, console.RoleDispatcher, console.RoleAdmin))
	m.HandleFunc("GET /incidents/{id}", w.signedIn(w.incidentPage, console.RoleDispatcher, console.RoleAdmin, console.RoleSocialWorker))
	m.HandleFunc("POST /incidents/{id}/{action}", w.signedIn(w.incidentAction, console.RoleDispatcher))
	// A social worker may send their resident's incident to 119 and record
	// what a guardian told them on the phone: they know the resident and
	// are often the one called; everything else stays the dispatchers'.
	m.HandleFunc("POST /incidents/{id}/send119", w.signedIn(w.incidentAction, console.RoleDispatcher, console.RoleSocialWorker))
	m.HandleFunc("POST /incidents/{id}/responder", w.signedIn(w.incidentAction, console.RoleDispatcher, console.RoleSocialWorker))
}

// ---- the queue ----

type queueFilter struct {
	States   []dispatch.State
	Priority int
	// Devices is the device-health tab (hub offline, battery, sensors):
	// a technician's list, never mixed into the 119 queue.
	Devices bool
}

func parseQueueFilter(v url.Values) queueFilter {
	var f queueFilter
	for _, s := range v["state"] {
		if st := dispatch.State(s); slices.Contains(activeStates, st) && !slices.Contains(f.States, st) {
			f.States = append(f.States, st)
		}
	}
	if len(f.States) == 0 {
		f.States = slices.Clone(activeStates)
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(v.Get("priority")), "P")); err == nil && n >= 1 && n <= 4 {
		f.Priority = n
	}
	f.Devices = v.Get("tab") == "devices"
	return f
}

// Query is the filter as a query string, for the rows' fetch.
func (f queueFilter) Query() string {
	v := url.Values{}
	if len(f.States) != len(activeStates) {
		for _, s := range f.States {
			v.Add("state", string(s))
		}
	}
	if f.Priority > 0 {
		v.Set("priority", strconv.Itoa(f.Priority))
	}
	if f.Devices {
		v.Set("tab", "devices")
	}
	return v.Encode()
}

func (f queueFilter) Has(s string) bool { return slices.Contains(f.States, dispatch.State(s)) }

type queueRow struct {
	Inc         dispatch.Incident
	Resident    devices.Resident // name, age and address only
	HasResident bool
	// Began is when the emergency began (the condition's start, before
	// any cancel window), Waited the time since: it keeps counting after
	// an acknowledgement, which means someone took it, not that it ended.
	Began  time.Time
	Waited time.Duration
	Alarm  bool // P1 nobody has taken on yet
	// Room is where in the home the alarm is ("주방 연기감지기"), when the
	// registry knows the sensor.
	Room string
	// Grouped rows are further open incidents of the home of the row
	// above; Others counts them on the home's first row.
	Grouped bool
	Others  int
	// Sido is the code of the incident's 시도: the one its 119 Alert went
	// to, else its resident's ("" unknown).
	Sido string
}

type queueData struct {
	Connected bool
	Filter    queueFilter
	Rows      []queueRow
	Seq       int64
	Alarms    int
	States    []dispatch.State
	// Emergencies and DeviceCount are the sizes of the two tabs.
	Emergencies, DeviceCount int
	Names                    map[string]string // account id -> name
	// NoRoutes are the incidents whose 119 message has no route (the
	// "119 경로 없음" banner), of the account's regions.
	NoRoutes []cap.StuckMessage
}

// began is when an incident's emergency began: the detectors' episode
// start, never later than the opening.
func began(inc dispatch.Incident) time.Time {
	if !inc.Episode.IsZero() && inc.Episode.Before(inc.OpenedAt) {
		return inc.Episode
	}
	return inc.OpenedAt
}

// loadQueue returns the queue's rows, the sizes of both tabs and the
// change its stream starts after: the latest one, read first, so that the
// stream misses nothing rendered too late and replays nothing rendered
// already (the rows' own changes may be long past: starting after them
// replayed the history).
func (w *web) loadQueue(ctx context.Context, f queueFilter, rc *reqCtx) (d queueData, err error) {
	lang := rc.lang
	desk := scopedDesk{Desk: w.deps.Desk, s: w.scopeOf(rc), log: w.log}
	d.Connected, d.Filter = true, f
	if d.Seq, err = w.deps.Desk.LastIncidentSeq(ctx); err != nil {
		return d, err
	}
	incs, err := desk.ListIncidents(ctx, dispatch.IncidentQuery{States: f.States, Priority: detectors.Priority(f.Priority), Limit: queueLimit})
	if err != nil {
		return d, err
	}
	// The rows' 시도: one query for the page's pinned routes.
	if err := desk.s.Prefetch(ctx, incs); err != nil {
		return d, err
	}
	now := w.cfg.Now()
	residents := map[devices.ResidentID]*devices.Resident{}
	rooms := roomCache{w: w, lang: lang, known: map[[2]string]string{}}
	for _, inc := range incs {
		d.Seq = max(d.Seq, inc.Seq)
		device := inc.Class == detectors.ClassDeviceHealth
		if device {
			d.DeviceCount++
		} else {
			d.Emergencies++
		}
		if device != f.Devices {
			continue
		}
		row := queueRow{Inc: inc, Began: began(inc), Alarm: inc.Priority == detectors.PriorityCritical && inc.State != dispatch.StateAcknowledged && !device}
		row.Waited = now.Sub(row.Began)
		if inc.ResidentID != "" {
			res, ok := residents[inc.ResidentID]
			if !ok {
				if r, err := w.deps.Residents.GetResident(ctx, inc.ResidentID); err == nil {
					redact(&r)
					res = &r
				} else if !errors.Is(err, devices.ErrNotFound) {
					return d, err
				}
				residents[inc.ResidentID] = res
			}
			if res != nil {
				row.Resident, row.HasResident = *res, true
				desk.s.KnowDistrict(res.ID, res.DistrictCode)
			}
		}
		row.Room = rooms.of(ctx, inc)
		if code, err := desk.s.RegionOf(ctx, inc); err == nil && len(code) >= 2 {
			row.Sido = code[:2]
		}
		d.Rows = append(d.Rows, row)
		if row.Alarm {
			d.Alarms++
		}
	}
	d.Rows = orderQueue(d.Rows)
	d.Names = w.accountNames(ctx)
	d.NoRoutes = w.noRoutes(rc)
	return d, nil
}

// orderQueue puts the incidents nobody has taken yet first, then the most
// urgent, then the longest waiting; a home's other open incidents follow
// its first one, so that one emergency with several causes reads as one.
func orderQueue(rows []queueRow) []queueRow {
	slices.SortStableFunc(rows, func(a, b queueRow) int {
		return cmp.Or(cmp.Compare(boolInt(a.Inc.State == dispatch.StateAcknowledged), boolInt(b.Inc.State == dispatch.StateAcknowledged)),
			cmp.Compare(a.Inc.Priority, b.Inc.Priority), a.Began.Compare(b.Began), cmp.Compare(a.Inc.ID, b.Inc.ID))
	})
	home := func(r queueRow) string {
		if r.Inc.ResidentID != "" {
			return "r:" + string(r.Inc.ResidentID)
		}
		return "h:" + string(r.Inc.Hub)
	}
	first := map[string]int{} // home -> index in out of its first row
	groups := map[string][]queueRow{}
	var order []string
	for _, r := range rows {
		k := home(r)
		if _, ok := first[k]; !ok {
			first[k] = len(order)
			order = append(order, k)
		} else {
			r.Grouped = true
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]queueRow, 0, len(rows))
	for _, k := range order {
		g := groups[k]
		g[0].Others = len(g) - 1
		out = append(out, g...)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *web) queue(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d := queueData{Filter: parseQueueFilter(r.URL.Query())}
	if w.deps.Desk != nil {
		var err error
		if d, err = w.loadQueue(r.Context(), d.Filter, rc); err != nil {
			w.fail(rw, r, rc, err)
			return
		}
	}
	d.States = activeStates
	w.render(rw, r, "queue", http.StatusOK, rc, d)
}

// queueRows is the queue's table body alone, fetched by app.js when the
// feed says something changed.
func (w *web) queueRows(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if w.deps.Desk == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	d, err := w.loadQueue(r.Context(), parseQueueFilter(r.URL.Query()), rc)
	if err != nil {
		w.log.Error().Err(err).Msg("queue rows")
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	pd := &pageData{Lang: rc.lang, Path: "/queue", Data: d, loc: w.cfg.Location}
	a := rc.account
	pd.Account, pd.CSRF = &a, rc.session.CSRFToken
	var buf bytes.Buffer
	if err := w.pages["queue"].ExecuteTemplate(&buf, "rows", pd); err != nil {
		w.log.Error().Err(err).Msg("render queue rows")
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The tabs' counts change with the rows; app.js updates them.
	rw.Header().Set("X-Queue-Counts", strconv.Itoa(d.Emergencies)+","+strconv.Itoa(d.DeviceCount))
	_, _ = buf.WriteTo(rw)
}

// queueStream is the incident feed for the signed-in console: the same
// events as the API's /api/v1/incidents/stream. EventSource cannot send a
// bearer token; it sends the session cookie. The page passes the highest
// sequence number it rendered (?last_event_id=) so that a fresh page does
// not replay history.
func (w *web) queueStream(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if w.deps.Desk == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	// A regional dispatcher's stream carries their regions' incidents only.
	desk := scopedDesk{Desk: w.deps.Desk, s: w.scopeOf(rc), log: w.log}
	api.NewIncidentStream(api.IncidentAPIConfig{Heartbeat: w.streamHeartbeat()}, desk, w.log).ServeHTTP(rw, r)
}

func (w *web) streamHeartbeat() time.Duration { return 15 * time.Second }

// ---- the incident page ----

type notificationView struct {
	Row    dispatch.OutboxRow
	Answer string // translation key of what came back
}

type step119 struct {
	Status string
	At     time.Time
	Done   bool
}

type incidentData struct {
	Inc           dispatch.Incident
	Seq           int64 // where the page's stream starts
	Open          bool
	Began         time.Time // when the emergency began (see queueRow)
	Waited        time.Duration
	Sensor        devices.Sensor // the alarm's sensor: its room
	HasSensor     bool
	Guardians     []guardianView
	Others        []dispatch.Responder                // responders who are not the guardians listed
	Choices       []responderChoice                   // whose state a person may record
	Names         map[string]string                   // account id -> name
	Sensors       map[devices.SensorID]devices.Sensor // the sensors the timeline mentions
	Timeline      []dispatch.TimelineEntry
	Notifications []notificationView
	Resident      devices.Resident
	HasResident   bool
	ShowSensitive bool
	Evidence      evidenceView
	Steps119      []step119
	CanAct        bool
	// CanRespond: send to 119 now and set a responder's state (dispatchers
	// and the resident's social worker, while the incident is open).
	CanRespond      bool
	ResponderStates []dispatch.ResponderState
	Dispositions    []dispatch.Disposition
	Statuses119     []dispatch.Answer119Status
	Error           string
}

// incidentFor loads an incident the person may see: a social worker sees
// only their residents' incidents; another's is not found, like a missing
// one.
func (w *web) incidentFor(ctx context.Context, rc *reqCtx, id string) (dispatch.Incident, []dispatch.TimelineEntry, *devices.Resident, error) {
	if w.deps.Desk == nil {
		return dispatch.Incident{}, nil, nil, devices.ErrNotFound
	}
	inc, tl, err := w.deps.Desk.Incident(ctx, id)
	if err != nil {
		return inc, nil, nil, err
	}
	var res *devices.Resident
	if inc.ResidentID != "" {
		r, err := w.deps.Residents.GetResident(ctx, inc.ResidentID)
		switch {
		case err == nil:
			res = &r
		case !errors.Is(err, devices.ErrNotFound):
			return inc, nil, nil, err
		}
	}
	if rc.account.Role == console.RoleSocialWorker && (res == nil || res.SocialWorkerID != rc.account.ID) {
		return dispatch.Incident{}, nil, nil, devices.ErrNotFound
	}
	// Another region's incident is not found either, for every role.
	if ok, err := w.scopeOf(rc).Incident(ctx, inc); err != nil {
		return dispatch.Incident{}, nil, nil, err
	} else if !ok {
		return dispatch.Incident{}, nil, nil, devices.ErrNotFound
	}
	return inc, tl, res, nil
}

func (w *web) incidentPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	var seq int64
	if w.deps.Desk != nil {
		// The page's stream starts after the latest change, read before
		// the incident (see loadQueue).
		var err error
		if seq, err = w.deps.Desk.LastIncidentSeq(ctx); err != nil {
			w.fail(rw, r, rc, err)
			return
		}
	}
	inc, tl, res, err := w.incidentFor(ctx, rc, r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	rows, err := w.deps.Desk.Notifications(ctx, inc.ID)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	now := w.cfg.Now()
	d := incidentData{Inc: inc, Seq: max(seq, inc.Seq), Open: !inc.State.Closed(), Timeline: tl, CanAct: rc.account.Role == console.RoleDispatcher && !inc.State.Closed(),
		Dispositions: []dispatch.Disposition{dispatch.DispositionRealEmergency, dispatch.DispositionFalseAlarm, dispatch.DispositionTest,
			dispatch.DispositionDuplicate, dispatch.DispositionNoAction},
		Statuses119: []dispatch.Answer119Status{dispatch.Answer119Accepted, dispatch.Answer119Dispatched, dispatch.Answer119OnScene},
		Error:       r.URL.Query().Get("error")}
	d.CanRespond = (rc.account.Role == console.RoleDispatcher || rc.account.Role == console.RoleSocialWorker) && !inc.State.Closed()
	d.ResponderStates = []dispatch.ResponderState{dispatch.ResponderAcknowledged, dispatch.ResponderOnTheWay,
		dispatch.ResponderOnScene, dispatch.ResponderResidentSafe}
	d.Began = began(inc)
	d.Waited = now.Sub(d.Began)
	if !inc.ClosedAt.IsZero() {
		d.Waited = inc.ClosedAt.Sub(d.Began)
	}
	d.Sensor, d.HasSensor = w.sensorOf(ctx, inc)
	d.Sensors = w.timelineSensors(ctx, inc, tl)
	d.Names = w.accountNames(ctx)
	for _, row := range rows {
		if row.Kind == dispatch.KindNotify {
			d.Notifications = append(d.Notifications, notificationView{Row: row, Answer: "out." + string(row.State)})
		}
	}
	d.Steps119 = steps119(inc, tl)
	if res != nil {
		d.Resident, d.HasResident = *res, true
		d.ShowSensitive = w.sensitiveVisible(ctx, rc, *res)
		if !d.ShowSensitive {
			redact(&d.Resident)
		}
		d.Guardians = guardianStates(d.Resident.Guardians, rows, inc)
	}
	d.Others = otherResponders(inc.Responders, d.Resident.Guardians)
	d.Choices = responderChoices(inc.Responders, d.Resident.Guardians)
	d.Evidence = w.evidence(ctx, rc.lang, inc, now)
	detail := "sensitive=hidden"
	if d.ShowSensitive {
		detail = "sensitive=shown"
	}
	// The view is recorded before anything of it is sent.
	if err := w.audit(ctx, rc, "incident.view", inc.ResidentID, inc.ID, detail); err != nil {
		w.errorPage(rw, r, rc, http.StatusInternalServerError)
		return
	}
	w.render(rw, r, "incident", http.StatusOK, rc, d)
}

// SensorReader is the registry's sensor look-up, which a ResidentReader
// may also offer: the incident page then says in which room the alarm is.
type SensorReader interface {
	GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error)
}

// roomCache names the alarms' rooms for one rendering of the queue: one
// look-up per sensor, however many of its incidents are listed.
type roomCache struct {
	w     *web
	lang  string
	known map[[2]string]string
}

func (c roomCache) of(ctx context.Context, inc dispatch.Incident) string {
	if inc.Sensor == "" {
		return ""
	}
	k := [2]string{string(inc.Hub), string(inc.Sensor)}
	room, ok := c.known[k]
	if !ok {
		if s, found := c.w.sensorOf(ctx, inc); found {
			room = s.Place(c.lang)
		}
		c.known[k] = room
	}
	return room
}

// timelineSensors looks up the sensors the timeline names (a related
// detection folded in from another sensor), so that it says "주방
// 열감지기" rather than an id.
func (w *web) timelineSensors(ctx context.Context, inc dispatch.Incident, tl []dispatch.TimelineEntry) map[devices.SensorID]devices.Sensor {
	out := map[devices.SensorID]devices.Sensor{}
	for _, e := range tl {
		m := foldedRe.FindStringSubmatch(e.Detail)
		if e.Action != dispatch.ActFolded || m == nil || m[3] == "" {
			continue
		}
		id := devices.SensorID(m[3])
		if _, seen := out[id]; seen {
			continue
		}
		if s, ok := w.sensorOf(ctx, dispatch.Incident{ID: inc.ID, Hub: inc.Hub, Sensor: id}); ok {
			out[id] = s
		}
	}
	return out
}

// sensorOf is the incident's sensor, when the registry knows it. A failed
// look-up leaves the room out and is logged: the page is needed more.
func (w *web) sensorOf(ctx context.Context, inc dispatch.Incident) (devices.Sensor, bool) {
	sr, ok := w.deps.Residents.(SensorReader)
	if !ok || inc.Sensor == "" {
		return devices.Sensor{}, false
	}
	s, err := sr.GetSensor(ctx, inc.Hub, inc.Sensor)
	if err != nil {
		if !errors.Is(err, devices.ErrNotFound) {
			w.log.Warn().Err(err).Str("incident_id", inc.ID).Msg("the alarm's sensor")
		}
		return devices.Sensor{}, false
	}
	return s, true
}

// steps119 is the 119 round trip: alerted, accepted, dispatched, on scene,
// closed, each with the time it was first reported.
func steps119(inc dispatch.Incident, tl []dispatch.TimelineEntry) []step119 {
	steps := []step119{{Status: "alerted"}, {Status: "accepted"}, {Status: "dispatched"}, {Status: "on_scene"}, {Status: "closed"}}
	mark := func(status string, at time.Time) {
		for i := range steps {
			if steps[i].Status == status && !steps[i].Done {
				steps[i].Done, steps[i].At = true, at
			}
		}
	}
	for _, e := range tl {
		switch {
		case e.Channel == dispatch.Channel119 && (e.Action == dispatch.ActSent || e.Action == dispatch.ActDelivered) && !strings.Contains(e.Detail, string(dispatch.MsgCancel)):
			mark("alerted", e.At)
		case e.Action == dispatch.Act119:
			status, _, _ := strings.Cut(e.Detail, ":")
			mark(strings.TrimSpace(status), e.At)
		}
	}
	// Each later step implies the earlier ones, even if 119 skipped saying so.
	for i := len(steps) - 2; i >= 0; i-- {
		if steps[i+1].Done && !steps[i].Done {
			steps[i].Done = true
		}
	}
	if !inc.Alerted119 && !steps[0].Done {
		return nil
	}
	return steps
}

// ---- actions ----

// incidentAction runs one dispatcher action from the incident page's forms:
// acknowledge, assign, note, status119, resolve, cancel. Each is audited.
func (w *web) incidentAction(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	inc, _, _, err := w.incidentFor(ctx, rc, r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	// The send119 and responder routes name their action in the path.
	by, action := rc.account.ID, cmp.Or(r.PathValue("action"), path.Base(r.URL.Path))
	text := strings.TrimSpace(r.PostFormValue("text"))
	if len(text) > 4000 {
		w.errorPage(rw, r, rc, http.StatusBadRequest)
		return
	}
	detail := ""
	switch action {
	case "acknowledge":
		_, err = w.deps.Desk.Acknowledge(ctx, inc.ID, by, dispatch.ChannelConsole)
	case "assign":
		assignee := strings.TrimSpace(r.PostFormValue("assignee"))
		if assignee == "" && r.PostFormValue("self") == "1" {
			assignee = by
		}
		detail = assignee
		_, err = w.deps.Desk.Assign(ctx, inc.ID, assignee, by)
	case "note":
		detail = text
		_, err = w.deps.Desk.Note(ctx, inc.ID, by, text)
	case "status119":
		status := dispatch.Answer119Status(r.PostFormValue("status"))
		if status != dispatch.Answer119Accepted && status != dispatch.Answer119Dispatched && status != dispatch.Answer119OnScene {
			w.errorPage(rw, r, rc, http.StatusBadRequest)
			return
		}
		detail = string(status)
		_, err = w.deps.Desk.Apply119(ctx, dispatch.Answer119{IncidentID: inc.ID, Status: status, Reason: text, By: by})
	case "resolve":
		disp := dispatch.Disposition(r.PostFormValue("disposition"))
		detail = joinNonEmpty(string(disp), text)
		_, err = w.deps.Desk.Resolve(ctx, inc.ID, disp, by, text)
	case "cancel":
		detail = joinNonEmpty("false_alarm", text)
		_, err = w.deps.Desk.Cancel(ctx, inc.ID, by, detail)
	case "send119":
		detail = text
		_, err = w.deps.Desk.Send119(ctx, inc.ID, by, text)
	case "responder":
		who, state := strings.TrimSpace(r.PostFormValue("responder")), dispatch.ResponderState(r.PostFormValue("state"))
		eta := 0
		if s := strings.TrimSpace(r.PostFormValue("eta_minutes")); s != "" {
			if eta, err = strconv.Atoi(s); err != nil {
				http.Redirect(rw, r, "/incidents/"+url.PathEscape(inc.ID)+"?error=invalid", http.StatusSeeOther)
				return
			}
		}
		detail = joinNonEmpty(who, string(state))
		_, err = w.deps.Desk.SetResponder(ctx, inc.ID, by, who, state, eta)
	default:
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	if err != nil {
		switch {
		case errors.Is(err, dispatch.ErrClosed):
			http.Redirect(rw, r, "/incidents/"+url.PathEscape(inc.ID)+"?error=closed", http.StatusSeeOther)
		case errors.Is(err, dispatch.ErrInvalid):
			http.Redirect(rw, r, "/incidents/"+url.PathEscape(inc.ID)+"?error=invalid", http.StatusSeeOther)
		default:
			w.fail(rw, r, rc, err)
		}
		return
	}
	_ = w.audit(ctx, rc, "incident."+action, inc.ResidentID, inc.ID, detail)
	http.Redirect(rw, r, "/incidents/"+url.PathEscape(inc.ID), http.StatusSeeOther)
}

func joinNonEmpty(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

// ---- template helpers ----

// Explain is an explanation in the page's language.
func (p *pageData) Explain(e detectors.Explanation) string {
	if p.Lang == "en" && e.En != "" {
		return e.En
	}
	return cmp.Or(e.Ko, e.En)
}

// Cause is a cause's name in the page's language.
func (p *pageData) Cause(c detectors.Cause) string {
	return translateOr(p.Lang, "cause."+string(c), string(c))
}

// State is an incident state's name in the page's language.
func (p *pageData) State(s dispatch.State) string {
	return translateOr(p.Lang, "state."+string(s), string(s))
}

// Label translates key, or shows fallback when there is no translation.
func (p *pageData) Label(key, fallback string) string { return translateOr(p.Lang, key, fallback) }

// Waited formats a duration as a dispatcher reads it: "3분 12초", "1h 05m".
func (p *pageData) Waited(d time.Duration) string { return formatWaited(d, p.Lang) }

// Millis is a time in Unix milliseconds, for app.js.
func (p *pageData) Millis(t time.Time) int64 { return t.UnixMilli() }

// Clock is a time of day with seconds.
func (p *pageData) Clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(p.loc).Format("15:04:05")
}

func translateOr(lang, key, fallback string) string {
	if _, ok := webText[key]; !ok {
		return fallback
	}
	return translate(lang, key)
}

func formatWaited(d time.Duration, lang string) string { return wording.Duration(lang, d) }
