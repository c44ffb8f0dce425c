// Package receiver is a mock 119 centre: it accepts CAP POSTs, checks them
// against the schema, keeps each identifier once, shows what arrived and
// answers through the gateway's answer endpoint. cmd/dolbom-119 serves it;
// tests run it in-process.
package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/dispatch/cap"
)

// Options configures a Receiver.
type Options struct {
	// XSDPath is the CAP schema, checked with xmllint. Empty, not there,
	// or xmllint missing: every message is checked by cap.CheckStructure instead (the
	// required elements and values, written by us), and refused when it
	// fails; the command says so loudly at start.
	XSDPath string
	// AutoAccept answers "accepted" this long after an Alert arrives; 0 is off.
	AutoAccept time.Duration
	// AutoDispatch answers "dispatched" AutoAccept after the acceptance.
	AutoDispatch bool
	// AnswerURL is the gateway's answer endpoint; empty means no answers.
	AnswerURL  string
	AnswerAuth cap.AnswerAuth
	// BearerToken, when set, is required on CAP POSTs.
	BearerToken string
	// DownFor makes the receiver answer 503 for this long after start.
	DownFor time.Duration
	Client  *http.Client // for answers; nil means a 5 s timeout client
	Logger  zerolog.Logger
	Now     func() time.Time
}

// Alert is one received CAP message.
type Alert struct {
	Identifier string      `json:"identifier"`
	IncidentID string      `json:"incident_id,omitempty"`
	Sender     string      `json:"sender"`
	Sent       string      `json:"sent"`
	Status     cap.Status  `json:"status"`
	MsgType    cap.MsgType `json:"msg_type"`
	References string      `json:"references,omitempty"`
	Headline   string      `json:"headline"`
	ReceivedAt time.Time   `json:"received_at"`
	Duplicates int         `json:"duplicates"`
	Valid      *bool       `json:"schema_valid,omitempty"` // nil: not checked against the schema
	// Checked is how the message was checked: "schema" (the official XSD)
	// or "structure" (cap.CheckStructure, without the schema).
	Checked string       `json:"checked"`
	Answers []cap.Answer `json:"answers,omitempty"`
	XML     string       `json:"xml,omitempty"`
}

// Stats counts what arrived; crash tests assert Received == sent and
// Duplicates tell how often a retry repeated a delivered message.
type Stats struct {
	Received   int `json:"received"`   // distinct identifiers accepted
	Duplicates int `json:"duplicates"` // repeats of a known identifier (answered 409)
	Invalid    int `json:"invalid"`    // refused: not CAP, not schema-valid, or (without the schema) not structurally valid
	Refused    int `json:"refused"`    // answered 503 while down
	Answers    int `json:"answers"`    // answers posted to the gateway
	AnswerErrs int `json:"answer_errors"`
	// ByType splits Received by msgType: one Alert per incident, and the
	// Updates and Cancels that follow it.
	ByType map[cap.MsgType]int `json:"by_type"`
}

// Receiver is the mock 119 centre. Use Handler to serve it and Run to send
// its automatic answers.
type Receiver struct {
	o   Options
	log zerolog.Logger
	now func() time.Time

	mu        sync.Mutex
	alerts    map[string]*Alert
	order     []string
	stats     Stats
	downUntil time.Time
	pending   []scheduled // automatic answers, sorted by due time
	wake      chan struct{}
}

type scheduled struct {
	due    time.Time
	answer cap.Answer
}

// New returns a receiver; it starts down when o.DownFor > 0.
func New(o Options) *Receiver {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Second}
	}
	r := &Receiver{o: o, log: o.Logger.With().Str("component", "mock119").Logger(), now: now,
		alerts: map[string]*Alert{}, wake: make(chan struct{}, 1)}
	// A schema that is not there checks nothing: xmllint would fail to
	// compile it and every message would be answered "try again" for ever
	// (in a clone without ../shared beside it, every chain test timed out).
	if o.XSDPath != "" {
		if _, err := os.Stat(o.XSDPath); err != nil {
			r.log.Warn().Str("xsd", o.XSDPath).Msg("CAP 스키마 없음: 구조만 검사 / CAP schema not found: checking structure only")
			r.o.XSDPath = ""
		}
	}
	if o.DownFor > 0 {
		r.downUntil = now().Add(o.DownFor)
	}
	return r
}

// SetDown simulates an outage for d (0 brings it back at once).
func (r *Receiver) SetDown(d time.Duration) {
	r.mu.Lock()
	r.downUntil = r.now().Add(d)
	r.mu.Unlock()
	r.log.Info().Dur("down_for", d).Msg("119 장애 모의 / simulated outage set")
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.ByType = maps.Clone(s.ByType)
	return s
}

// Alerts returns what arrived, oldest first.
func (r *Receiver) Alerts() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Alert, 0, len(r.order))
	for _, id := range r.order {
		a := *r.alerts[id]
		a.Answers = slices.Clone(a.Answers)
		out = append(out, a)
	}
	return out
}

// Handler serves:
//
//	POST /cap                      a CAP message (also POST /)
//	GET  /                         HTML list of received alerts
//	GET  /alerts                   JSON list
//	GET  /stats                    JSON counters
//	POST /alerts/{id}/answer       JSON {status, reason, disposition, unit}: answer by hand
//	POST /control/down?for=10m     simulate an outage; /control/up ends it
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cap", r.receive)
	mux.HandleFunc("POST /{$}", r.receive)
	mux.HandleFunc("GET /{$}", r.page)
	mux.HandleFunc("GET /alerts", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, r.Alerts()) })
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, r.Stats()) })
	mux.HandleFunc("POST /alerts/{id}/answer", r.manualAnswer)
	mux.HandleFunc("POST /control/down", func(w http.ResponseWriter, req *http.Request) {
		d, err := time.ParseDuration(req.URL.Query().Get("for"))
		if err != nil || d <= 0 {
			http.Error(w, "need ?for=<duration>", http.StatusBadRequest)
			return
		}
		r.SetDown(d)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /control/up", func(w http.ResponseWriter, _ *http.Request) {
		r.SetDown(0)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

const maxCAPBytes = 1 << 20

func (r *Receiver) receive(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	down := r.now().Before(r.downUntil)
	if down {
		r.stats.Refused++
	}
	r.mu.Unlock()
	if down {
		http.Error(w, "119 unavailable (simulated outage)", http.StatusServiceUnavailable)
		return
	}
	if r.o.BearerToken != "" && req.Header.Get("Authorization") != "Bearer "+r.o.BearerToken {
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxCAPBytes))
	if err != nil {
		if req.Context().Err() != nil {
			return // the sender went away mid-body: nothing was sent to judge
		}
		r.invalid(w, "unreadable body", err)
		return
	}
	p, err := cap.Parse(body)
	if err != nil {
		r.invalid(w, "not CAP", err)
		return
	}
	var valid *bool
	checked := "structure"
	if r.o.XSDPath != "" {
		switch err := cap.ValidateXSD(req.Context(), r.o.XSDPath, body); {
		case errors.Is(err, cap.ErrNoXMLLint):
			// No validator here: the structural check below still runs.
		case errors.Is(err, cap.ErrValidator):
			// No verdict (the sender went away, or xmllint could not run):
			// not the message's fault; the sender tries again.
			r.log.Warn().Err(err).Msg("CAP schema check did not finish")
			http.Error(w, "schema check unavailable, try again", http.StatusServiceUnavailable)
			return
		case err != nil:
			r.invalid(w, "schema", err)
			return
		default:
			ok := true
			valid, checked = &ok, "schema"
		}
	}
	if checked == "structure" {
		if err := cap.CheckStructure(body); err != nil {
			r.invalid(w, "structure", err)
			return
		}
	}

	r.mu.Lock()
	if a, dup := r.alerts[p.Identifier]; dup {
		a.Duplicates++
		r.stats.Duplicates++
		r.mu.Unlock()
		r.log.Info().Str("cap_id", p.Identifier).Msg("중복 수신 / duplicate CAP ignored")
		http.Error(w, "duplicate identifier", http.StatusConflict)
		return
	}
	a := &Alert{Identifier: p.Identifier, IncidentID: p.IncidentID, Sender: p.Sender, Sent: p.Sent,
		Status: p.Status, MsgType: p.MsgType, References: p.References, Headline: p.Headline,
		ReceivedAt: r.now(), Valid: valid, Checked: checked, XML: string(body)}
	r.alerts[p.Identifier] = a
	r.order = append(r.order, p.Identifier)
	r.stats.Received++
	if r.stats.ByType == nil {
		r.stats.ByType = map[cap.MsgType]int{}
	}
	r.stats.ByType[p.MsgType]++
	r.scheduleLocked(a)
	r.mu.Unlock()

	// A mock centre exists to be watched, so each arrival is logged at info.
	r.log.Info().Str("cap_id", p.Identifier).Str("incident_id", p.IncidentID).Str("msg_type", string(p.MsgType)).
		Str("headline", p.Headline).Msgf("119 신고 수신 / CAP %s received", p.MsgType)
	w.WriteHeader(http.StatusCreated)
}

func (r *Receiver) invalid(w http.ResponseWriter, what string, err error) {
	r.mu.Lock()
	r.stats.Invalid++
	r.mu.Unlock()
	r.log.Warn().Err(err).Msgf("잘못된 CAP / invalid CAP: %s", what)
	http.Error(w, what+": "+err.Error(), http.StatusBadRequest)
}

func (r *Receiver) scheduleLocked(a *Alert) {
	if r.o.AnswerURL == "" {
		return
	}
	base := cap.Answer{Identifier: a.Identifier, IncidentID: a.IncidentID}
	now := r.now()
	switch {
	case a.MsgType == cap.MsgCancel:
		ans := base
		ans.Status = cap.AnswerCancelAcknowledged
		r.pending = append(r.pending, scheduled{now.Add(r.o.AutoAccept), ans})
	case a.MsgType == cap.MsgAlert && r.o.AutoAccept > 0:
		ans := base
		ans.Status = cap.AnswerAccepted
		r.pending = append(r.pending, scheduled{now.Add(r.o.AutoAccept), ans})
		if r.o.AutoDispatch {
			d := base
			d.Status, d.Unit = cap.AnswerDispatched, "모의 119 구급대 (mock ambulance 1)"
			r.pending = append(r.pending, scheduled{now.Add(2 * r.o.AutoAccept), d})
		}
	default:
		return
	}
	sort.SliceStable(r.pending, func(i, j int) bool { return r.pending[i].due.Before(r.pending[j].due) })
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run sends the automatic answers when they fall due, until ctx ends.
func (r *Receiver) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		var due []cap.Answer
		now := r.now()
		for len(r.pending) > 0 && !r.pending[0].due.After(now) {
			due = append(due, r.pending[0].answer)
			r.pending = r.pending[1:]
		}
		wait := time.Hour
		if len(r.pending) > 0 {
			wait = r.pending[0].due.Sub(now)
		}
		r.mu.Unlock()
		for _, a := range due {
			a.At = r.now()
			r.answer(ctx, a)
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer.C:
		}
	}
}

func (r *Receiver) answer(ctx context.Context, a cap.Answer) error {
	err := cap.PostAnswer(ctx, r.o.Client, r.o.AnswerURL, r.o.AnswerAuth, a)
	r.mu.Lock()
	if al, ok := r.alerts[a.Identifier]; ok && err == nil {
		al.Answers = append(al.Answers, a)
	}
	if err != nil {
		r.stats.AnswerErrs++
	} else {
		r.stats.Answers++
	}
	r.mu.Unlock()
	if err != nil {
		r.log.Warn().Err(err).Str("cap_id", a.Identifier).Str("status", string(a.Status)).Msg("응답 전송 실패 / answer not delivered")
		return err
	}
	r.log.Info().Str("cap_id", a.Identifier).Str("status", string(a.Status)).Msg("119 응답 전송 / answer sent")
	return nil
}

// Answer sends a by hand (the web page's and POST /alerts/{id}/answer's path).
func (r *Receiver) Answer(ctx context.Context, identifier string, a cap.Answer) error {
	r.mu.Lock()
	al, ok := r.alerts[identifier]
	if ok {
		a.Identifier, a.IncidentID = al.Identifier, al.IncidentID
	}
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("receiver: no alert %q", identifier)
	}
	if r.o.AnswerURL == "" {
		return errors.New("receiver: no answer URL configured")
	}
	if a.At.IsZero() {
		a.At = r.now()
	}
	if err := a.Validate(); err != nil {
		return err
	}
	return r.answer(ctx, a)
}

func (r *Receiver) manualAnswer(w http.ResponseWriter, req *http.Request) {
	var a cap.Answer
	if err := json.NewDecoder(io.LimitReader(req.Body, 64<<10)).Decode(&a); err != nil {
		http.Error(w, "malformed answer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := r.Answer(req.Context(), req.PathValue("id"), a); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"answers": func(as []cap.Answer) string {
		var s []string
		for _, a := range as {
			s = append(s, string(a.Status))
		}
		return strings.Join(s, " → ")
	},
}).Parse(`<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<title>모의 119 / mock 119</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style>
</head><body>
<h1>모의 119 수신 현황 / mock 119 receiver</h1>
<p>수신 received {{.Stats.Received}} · 중복 duplicates {{.Stats.Duplicates}} · 오류 invalid {{.Stats.Invalid}} · 장애 중 거절 refused {{.Stats.Refused}}</p>
<table><tr><th>수신 시각 received</th><th>유형 type</th><th>제목 headline</th><th>사건 incident</th><th>식별자 identifier</th><th>응답 answers</th></tr>
{{range .Alerts}}<tr><td>{{.ReceivedAt.Format "15:04:05"}}</td><td>{{.MsgType}}</td><td>{{.Headline}}</td><td>{{.IncidentID}}</td><td>{{.Identifier}}</td><td>{{answers .Answers}}</td></tr>
{{else}}<tr><td colspan="6">아직 없음 / nothing yet</td></tr>{{end}}
</table></body></html>`))

func (r *Receiver) page(w http.ResponseWriter, _ *http.Request) {
	alerts := r.Alerts()
	slices.Reverse(alerts)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, struct {
		Stats  Stats
		Alerts []Alert
	}{r.Stats(), alerts})
}
