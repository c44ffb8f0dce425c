package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/internal/defaults"
)

// IncidentDesk is what the incident API calls (dispatch.Dispatcher
// implements it).
type IncidentDesk interface {
	ListIncidents(ctx context.Context, q dispatch.IncidentQuery) ([]dispatch.Incident, error)
	Incident(ctx context.Context, id string) (dispatch.Incident, []dispatch.TimelineEntry, error)
	Notifications(ctx context.Context, id string) ([]dispatch.OutboxRow, error)
	Acknowledge(ctx context.Context, id, by string, via dispatch.Channel) (dispatch.Incident, error)
	Assign(ctx context.Context, id, assignee, by string) (dispatch.Incident, error)
	Note(ctx context.Context, id, by, text string) (dispatch.Incident, error)
	Resolve(ctx context.Context, id string, disp dispatch.Disposition, by, note string) (dispatch.Incident, error)
	Cancel(ctx context.Context, id, by, reason string) (dispatch.Incident, error)
	// Send119 alerts 119 now (once; a second request is recorded);
	// SetResponder records a responder's state for them.
	Send119(ctx context.Context, id, by, reason string) (dispatch.Incident, error)
	SetResponder(ctx context.Context, id, by, responder string, state dispatch.ResponderState, etaMinutes int) (dispatch.Incident, error)
	// Watch streams incident changes after a bounded start (see
	// dispatch.FeedStart); LastIncidentSeq is the latest change, where a
	// page rendered now starts its stream.
	Watch(ctx context.Context, after int64) (<-chan dispatch.Incident, dispatch.FeedStart, error)
	LastIncidentSeq(ctx context.Context) (int64, error)
	Policy(cause detectors.Cause) (dispatch.Policy, bool)
	SetPolicy(ctx context.Context, cause detectors.Cause, p dispatch.Policy) error
}

// IncidentAPIConfig configures the incident API.
type IncidentAPIConfig struct {
	Token        string        // the admin bearer token (sessions come with the consoles issue)
	MaxBodyBytes int64         // default 64 KiB
	Heartbeat    time.Duration // SSE comment interval, default 15s
	// StreamWriteTimeout bounds each write of the stream (default 30 s): a
	// client that reads nothing for that long is taken for gone.
	StreamWriteTimeout time.Duration
	// Tokens, when set with Residents, accepts the bearer tokens of
	// admin and dispatcher accounts (scope.go): each sees the incidents
	// of its regions. IncidentRegions tells where an incident was routed.
	Tokens          console.APITokens
	Residents       console.ResidentGetter
	IncidentRegions console.IncidentRegions
}

type incidentAPI struct {
	cfg      IncidentAPIConfig
	auth     authenticator
	patterns []string // every route, for Patterns
	desk     IncidentDesk
	log      zerolog.Logger
	mux      *http.ServeMux
	admin    *adminAPI // for decodeJSON and fail
}

// NewIncidentAPI returns the incident API and live feed, routes under
// /api/v1/incidents and /api/v1/policies (docs/api.md). Mount it on those
// two prefixes beside the admin API.
func NewIncidentAPI(cfg IncidentAPIConfig, desk IncidentDesk, log zerolog.Logger) http.Handler {
	defaults.Set(&cfg.MaxBodyBytes, 64<<10)
	defaults.Set(&cfg.Heartbeat, 15*time.Second)
	defaults.Set(&cfg.StreamWriteTimeout, 30*time.Second)
	a := &incidentAPI{cfg: cfg, desk: desk,
		log: log.With().Str("component", "incident_api").Logger(), mux: http.NewServeMux()}
	tokens := cfg.Tokens
	if tokens != nil && cfg.Residents == nil {
		// Without residents no incident's region can be read: a regional
		// token would see nothing or everything. Only the admin token.
		a.log.Error().Msg("incident API: account tokens need Residents; only the admin token is accepted")
		tokens = nil
	}
	a.auth = newAuthenticator(cfg.Token, tokens)
	a.admin = &adminAPI{cfg: AdminConfig{MaxBodyBytes: cfg.MaxBodyBytes}, log: a.log, mux: a.mux}
	const p = "/api/v1"
	m := routeMux{a.mux, &a.patterns}
	m.HandleFunc("GET "+p+"/incidents", a.list)
	m.HandleFunc("GET "+p+"/incidents/stream", a.stream)
	m.HandleFunc("GET "+p+"/incidents/{id}", a.get)
	m.HandleFunc("POST "+p+"/incidents/{id}/{action}", a.act)
	m.HandleFunc("GET "+p+"/policies/{cause}", a.getPolicy)
	m.HandleFunc("PUT "+p+"/policies/{cause}", a.putPolicy)
	return a
}

// NewIncidentStream serves the live feed alone, with no token check, to a
// caller that signed in another way: the dispatcher's queue page
// (console/web), whose EventSource sends the session cookie and cannot
// send a bearer token. The events are the same as /api/v1/incidents/stream.
func NewIncidentStream(cfg IncidentAPIConfig, desk IncidentDesk, log zerolog.Logger) http.Handler {
	cfg.Token = "-" // never checked: only the stream is served
	return http.HandlerFunc(NewIncidentAPI(cfg, desk, log).(*incidentAPI).stream)
}

func (a *incidentAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if a.cfg.Token == "" {
		WriteError(w, &Error{Status: http.StatusServiceUnavailable, Msg: "the API has no token configured"})
		return
	}
	acct, err := a.auth.account(r)
	if err != nil {
		if !refuseToken(w, err, "missing or wrong token") {
			a.fail(w, r, err)
		}
		return
	}
	if acct.Role != console.RoleAdmin && acct.Role != console.RoleDispatcher {
		WriteError(w, forbidden("the incident API is for admins and dispatchers; this token's account %s is a %s", acct.ID, acct.Role))
		return
	}
	r = withAccount(r, acct)
	if _, pattern := a.mux.Handler(r); pattern == "" {
		a.admin.noRoute(w, r)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// scope is the request's account's view of the incidents.
func (a *incidentAPI) scope(r *http.Request) *console.Scope {
	return console.NewScope(accountOf(r.Context()), a.cfg.Residents, a.cfg.IncidentRegions)
}

// inScope answers an incident of another region as not found.
func (a *incidentAPI) inScope(r *http.Request, inc dispatch.Incident) error {
	ok, err := a.scope(r).Incident(r.Context(), inc)
	if err == nil && !ok {
		err = outOfScope("incident " + strconv.Quote(inc.ID))
	}
	return err
}

// fail maps dispatch's errors onto the admin API's answers.
func (a *incidentAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, dispatch.ErrClosed):
		err = MarkConflict(err)
	case errors.Is(err, dispatch.ErrInvalid), errors.Is(err, dispatch.ErrInvalidPolicy):
		err = MarkInvalid(err, "")
	}
	a.admin.fail(w, r, err, "the incident")
}

func (a *incidentAPI) list(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := dispatch.IncidentQuery{Cause: detectors.Cause(v.Get("cause")), Hub: devices.HubID(v.Get("hub")),
		ResidentID: devices.ResidentID(v.Get("resident"))}
	for _, s := range strings.Split(v.Get("state"), ",") {
		if s == "" {
			continue
		}
		if st := dispatch.State(s); st.Valid() {
			q.States = append(q.States, st)
		} else if s == "active" {
			q.States = append(q.States, dispatch.ActiveStates()...)
		} else {
			WriteError(w, BadRequest("state", "unknown state %q", s))
			return
		}
	}
	if s := v.Get("priority"); s != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(s), "P"))
		if err != nil || n < 1 || n > 4 {
			WriteError(w, BadRequest("priority", "priority is 1-4 (or P1-P4)"))
			return
		}
		q.Priority = detectors.Priority(n)
	}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			WriteError(w, BadRequest("since", "since is an RFC 3339 time"))
			return
		}
		q.Since = t
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			WriteError(w, BadRequest("limit", "limit is 1-1000"))
			return
		}
		q.Limit = n
	}
	sc := a.scope(r)
	q.Regions = sc.Regions() // the store narrows the page first; each is checked below
	incs, err := a.desk.ListIncidents(r.Context(), q)
	if err == nil {
		incs, err = sc.Incidents(r.Context(), incs)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"incidents": nonNil(incs)})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *incidentAPI) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	inc, tl, err := a.desk.Incident(r.Context(), id)
	if err == nil {
		err = a.inScope(r, inc)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rows, err := a.desk.Notifications(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"incident": inc, "timeline": nonNil(tl), "notifications": nonNil(rows)})
}

// actionBody is the body of every POST action; each uses its own fields.
type actionBody struct {
	By          string               `json:"by"`
	Via         dispatch.Channel     `json:"via,omitempty"`
	Assignee    string               `json:"assignee,omitempty"`
	Text        string               `json:"text,omitempty"`
	Disposition dispatch.Disposition `json:"disposition,omitempty"`
	Reason      string               `json:"reason,omitempty"`
	// responder: who ("guardian-1", "guardian:최영희" or the name), the
	// state and, with on_the_way, the minutes to get there.
	Responder  string                  `json:"responder,omitempty"`
	State      dispatch.ResponderState `json:"state,omitempty"`
	ETAMinutes int                     `json:"eta_minutes,omitempty"`
}

func (a *incidentAPI) act(w http.ResponseWriter, r *http.Request) {
	var b actionBody
	if err := a.admin.decodeJSON(w, r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	if strings.TrimSpace(b.By) == "" {
		WriteError(w, BadRequest("by", "who is acting is required"))
		return
	}
	id, ctx := r.PathValue("id"), r.Context()
	inc, _, err := a.desk.Incident(ctx, id)
	if err == nil {
		err = a.inScope(r, inc)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	switch r.PathValue("action") {
	case "acknowledge":
		if b.Via == "" {
			b.Via = dispatch.ChannelConsole
		}
		inc, err = a.desk.Acknowledge(ctx, id, b.By, b.Via)
	case "assign":
		inc, err = a.desk.Assign(ctx, id, b.Assignee, b.By)
	case "note":
		inc, err = a.desk.Note(ctx, id, b.By, b.Text)
	case "resolve":
		inc, err = a.desk.Resolve(ctx, id, b.Disposition, b.By, b.Text)
	case "cancel":
		inc, err = a.desk.Cancel(ctx, id, b.By, b.Reason)
	case "send119":
		inc, err = a.desk.Send119(ctx, id, b.By, b.Reason)
	case "responder":
		inc, err = a.desk.SetResponder(ctx, id, b.By, b.Responder, b.State, b.ETAMinutes)
	default:
		WriteError(w, &Error{Status: http.StatusNotFound,
			Msg: "no such action " + strconv.Quote(r.PathValue("action")) + " (acknowledge, assign, note, resolve, cancel, send119, responder)"})
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, inc)
}

// stream is the live feed: one server-sent event per incident change
// ("id: <seq>", "event: incident", the incident JSON), a comment every
// Heartbeat, and resume after Last-Event-ID (header or ?last_event_id=).
// Its start is bounded (dispatch.Watch): without Last-Event-ID the active
// incidents and the latest changes; more than dispatch.WatchCatchUp
// changes behind, an "event: reset" (the client reloads what it shows)
// and the same snapshot.
func (a *incidentAPI) stream(w http.ResponseWriter, r *http.Request) {
	var after int64
	if s := cmpOr(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("last_event_id")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			WriteError(w, BadRequest("Last-Event-ID", "a sequence number from an earlier event's id"))
			return
		}
		after = n
	}
	// The stream lives for hours: the server's read and write timeouts
	// (seconds) would end it. Nothing more is read from the client; each
	// write gets its own deadline instead, so that a client that stopped
	// reading is dropped, with its subscription, within
	// StreamWriteTimeout.
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
	feed, start, err := a.desk.Watch(r.Context(), after)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	feed = a.scope(r).Watch(r.Context(), feed, func(inc dispatch.Incident, err error) {
		a.log.Warn().Err(err).Str("incident_id", inc.ID).Msg("live stream: the incident's region")
	})
	// send writes one piece of the stream and flushes it within the
	// deadline; false when the client is gone or too slow.
	send := func(format string, args ...any) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(a.cfg.StreamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	hello := ": dolbom incident feed\nretry: 2000\n\n"
	if start == dispatch.FeedReset {
		// No id: a reconnect before the snapshot's first event still
		// resumes from the client's old position, and is reset again.
		hello += fmt.Sprintf("event: reset\ndata: {\"after\":%d,\"reason\":\"behind\"}\n\n", after)
	}
	if !send("%s", hello) {
		return
	}
	beat := time.NewTicker(a.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			if !send(": heartbeat\n\n") {
				return
			}
		case inc, ok := <-feed:
			if !ok {
				return // the client reconnects with Last-Event-ID
			}
			b, _ := json.Marshal(inc)
			if !send("id: %d\nevent: incident\ndata: %s\n\n", inc.Seq, b) {
				return
			}
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (a *incidentAPI) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, ok := a.desk.Policy(detectors.Cause(r.PathValue("cause")))
	if !ok {
		WriteError(w, &Error{Status: http.StatusNotFound, Msg: "no policy of its own for cause " + strconv.Quote(r.PathValue("cause"))})
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

// putPolicy: the escalation policies are every region's, so only the
// national admin changes them.
func (a *incidentAPI) putPolicy(w http.ResponseWriter, r *http.Request) {
	if acct := accountOf(r.Context()); acct.Role != console.RoleAdmin {
		a.fail(w, r, forbidden("policies are changed by an admin; this token's account %s is a %s", acct.ID, acct.Role))
		return
	}
	if err := nationalOnly(r.Context(), "the escalation policies"); err != nil {
		a.fail(w, r, err)
		return
	}
	var p dispatch.Policy
	if err := a.admin.decodeJSON(w, r, &p); err != nil {
		a.fail(w, r, err)
		return
	}
	cause := detectors.Cause(r.PathValue("cause"))
	if err := a.desk.SetPolicy(r.Context(), cause, p); err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

var _ IncidentDesk = (*dispatch.Dispatcher)(nil)
