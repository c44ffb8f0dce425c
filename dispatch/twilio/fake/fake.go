// Package fake is a stand-in for Twilio's REST API for tests and demos. The
// real twilio-go client talks to it (through twilio.RewriteHost); it records
// every message and call, answers with Twilio-shaped JSON, and plays back
// signed callbacks: delivery status, call outcome, a keypress, an SMS reply.
// Callbacks happen on command (Go methods or the /fake/ HTTP endpoints) or
// by a scripted Behaviour per number.
package fake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Options configures a Server.
type Options struct {
	AccountSID string
	AuthToken  string
	// InboundSMSURL is where replies go (the number's "message comes in"
	// webhook), e.g. publicBase + twilio.PathInboundSMS.
	InboundSMSURL string
	// Default is the behaviour for numbers without their own; zero does nothing.
	Default Behaviour
	Client  *http.Client // for callbacks; nil means a 5 s timeout client
	Logger  zerolog.Logger
	// Watched logs each SMS (number and text) and call at info, for a
	// person trying the demo who watches for them (as the mock 119 logs
	// each CAP); otherwise they are logged at debug, since tests and load
	// runs send thousands.
	Watched bool
}

// Behaviour scripts what the person at a number does.
type Behaviour struct {
	// Refuse answers an SMS to the number with Twilio's 400 "not a valid
	// phone number" (21211): a failure no retry mends. Nothing is recorded.
	Refuse bool
	// SMSStatus is reported After an SMS is created: "delivered", "failed",
	// "undelivered"; empty reports nothing.
	SMSStatus string
	// Reply is texted back After SMSStatus (e.g. "1", "확인"); empty: no reply.
	Reply string
	// CallOutcome is what happens to a call After it is created: "human"
	// (answered by a person), "machine" (voicemail), "busy", "no-answer",
	// "failed"; empty does nothing.
	CallOutcome string
	// Digits a human presses once answered: "1" on my way, "2" with them,
	// "3" safe, "9" call 119, anything else acknowledges; empty: none.
	Digits string
	// Then is pressed into the next question the call asks, as a person
	// answers it: the minutes to get there after "1" ("20#"); empty: the
	// question times out.
	Then  string
	After time.Duration
}

// Message is a recorded SMS.
type Message struct {
	SID, To, From, Body, StatusCallback string
	Created                             time.Time
}

// Call is a recorded call.
type Call struct {
	SID, To, From, Twiml, StatusCallback, MachineDetection string
	GatherAction                                           string // from the TwiML
	Created                                                time.Time
	// Replies are the TwiML documents our Gather action answered with.
	Replies []string
}

// event is the log line of one SMS or call (see Options.Watched).
func (s *Server) event() *zerolog.Event {
	if s.o.Watched {
		return s.log.Info()
	}
	return s.log.Debug()
}

// Server is the fake. It is an http.Handler.
type Server struct {
	o      Options
	log    zerolog.Logger
	client *http.Client
	mux    *http.ServeMux

	mu         sync.Mutex
	messages   []*Message
	calls      []*Call
	behaviours map[string]Behaviour
	callbacks  int
	failures   int
	wg         sync.WaitGroup
}

// New returns a fake Twilio.
func New(o Options) *Server {
	s := &Server{o: o, log: o.Logger.With().Str("component", "fake_twilio").Logger(), client: o.Client,
		behaviours: map[string]Behaviour{}}
	if s.client == nil {
		s.client = &http.Client{Timeout: 5 * time.Second}
	}
	m := http.NewServeMux()
	m.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", s.auth(s.createMessage))
	m.HandleFunc("POST /2010-04-01/Accounts/{sid}/Calls.json", s.auth(s.createCall))
	m.HandleFunc("GET /fake/messages", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Messages()) })
	m.HandleFunc("GET /fake/calls", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Calls()) })
	m.HandleFunc("POST /fake/messages/{sid}/status", s.control(func(r *http.Request) error {
		return s.MessageStatus(r.Context(), r.PathValue("sid"), r.FormValue("status"))
	}))
	m.HandleFunc("POST /fake/calls/{sid}/status", s.control(func(r *http.Request) error {
		return s.CallStatus(r.Context(), r.PathValue("sid"), r.FormValue("status"), r.FormValue("answered_by"))
	}))
	m.HandleFunc("POST /fake/calls/{sid}/digits", s.control(func(r *http.Request) error {
		return s.PressDigits(r.Context(), r.PathValue("sid"), r.FormValue("digits"))
	}))
	m.HandleFunc("POST /fake/sms/reply", s.control(func(r *http.Request) error {
		return s.ReplySMS(r.Context(), r.FormValue("from"), r.FormValue("body"))
	}))
	m.HandleFunc("POST /fake/behaviour", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			To string `json:"to"` // empty sets the default
			Behaviour
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetBehaviour(req.To, req.Behaviour)
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux = m
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetBehaviour scripts the person at number to (empty: the default).
func (s *Server) SetBehaviour(to string, b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if to == "" {
		s.o.Default = b
		return
	}
	s.behaviours[to] = b
}

// Messages returns the recorded SMS, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = *m
	}
	return out
}

// Calls returns the recorded calls, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
		out[i].Replies = append([]string(nil), c.Replies...)
	}
	return out
}

// CallbackStats counts callbacks posted and how many of them failed.
func (s *Server) CallbackStats() (posted, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callbacks, s.failures
}

// Wait blocks until every scripted behaviour started so far has played.
func (s *Server) Wait() { s.wg.Wait() }

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != s.o.AccountSID || pass != s.o.AuthToken || r.PathValue("sid") != s.o.AccountSID {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 20003, "message": "Authenticate", "status": 401,
				"more_info": "https://www.twilio.com/docs/errors/20003"})
			return
		}
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21100, "message": "bad form", "status": 400})
			return
		}
		next(w, r)
	}
}

func (s *Server) control(do func(*http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := do(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func newSID(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	to, body := r.PostForm.Get("To"), r.PostForm.Get("Body")
	if to == "" || body == "" || r.PostForm.Get("From") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21604, "message": "A 'To', 'From' and 'Body' are required", "status": 400})
		return
	}
	m := &Message{SID: newSID("SM"), To: to, From: r.PostForm.Get("From"), Body: body,
		StatusCallback: r.PostForm.Get("StatusCallback"), Created: time.Now()}
	s.mu.Lock()
	b := s.behaviourLocked(to)
	if b.Refuse {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21211, "message": "The 'To' number " + to + " is not a valid phone number.", "status": 400})
		return
	}
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	s.event().Str("sid", m.SID).Str("to", to).Str("body", body).Msg("가짜 Twilio 문자 / fake Twilio SMS")
	writeJSON(w, http.StatusCreated, s.resource(m.SID, "Messages", map[string]any{
		"to": m.To, "from": m.From, "body": m.Body, "status": "queued", "direction": "outbound-api", "num_segments": "1"}))
	if b.SMSStatus != "" || b.Reply != "" {
		s.play(b.After, func(ctx context.Context) {
			if b.SMSStatus != "" {
				s.logErr(s.MessageStatus(ctx, m.SID, b.SMSStatus))
			}
			if b.Reply != "" {
				s.logErr(s.ReplySMS(ctx, m.To, b.Reply))
			}
		})
	}
}

func (s *Server) createCall(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	c := &Call{SID: newSID("CA"), To: f.Get("To"), From: f.Get("From"), Twiml: f.Get("Twiml"),
		StatusCallback: f.Get("StatusCallback"), MachineDetection: f.Get("MachineDetection"), Created: time.Now()}
	if c.To == "" || c.From == "" || (c.Twiml == "" && f.Get("Url") == "") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21205, "message": "To, From and Twiml or Url are required", "status": 400})
		return
	}
	c.GatherAction = gatherAction(c.Twiml)
	s.mu.Lock()
	s.calls = append(s.calls, c)
	b := s.behaviourLocked(c.To)
	s.mu.Unlock()
	s.event().Str("sid", c.SID).Str("to", c.To).Msg("가짜 Twilio 음성전화 / fake Twilio call")
	writeJSON(w, http.StatusCreated, s.resource(c.SID, "Calls", map[string]any{
		"to": c.To, "from": c.From, "status": "queued", "direction": "outbound-api"}))
	if b.CallOutcome != "" {
		s.play(b.After, func(ctx context.Context) {
			switch b.CallOutcome {
			case "human":
				if b.Digits != "" {
					s.logErr(s.PressDigits(ctx, c.SID, b.Digits))
					if b.Then != "" {
						s.logErr(s.PressDigits(ctx, c.SID, b.Then))
					}
				}
				s.logErr(s.CallStatus(ctx, c.SID, "completed", "human"))
			case "machine":
				s.logErr(s.CallStatus(ctx, c.SID, "completed", "machine_end_beep"))
			default:
				s.logErr(s.CallStatus(ctx, c.SID, b.CallOutcome, ""))
			}
		})
	}
}

func (s *Server) behaviourLocked(to string) Behaviour {
	if b, ok := s.behaviours[to]; ok {
		return b
	}
	return s.o.Default
}

// play runs a scripted behaviour after a delay. A timer per scripted event
// is fine in a fake; the gateway itself keeps no such timers.
func (s *Server) play(after time.Duration, do func(context.Context)) {
	s.wg.Add(1)
	time.AfterFunc(after, func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		do(ctx)
	})
}

func (s *Server) logErr(err error) {
	if err != nil {
		s.log.Warn().Err(err).Msg("fake twilio callback failed")
	}
}

func (s *Server) resource(sid, kind string, fields map[string]any) map[string]any {
	now := time.Now().UTC().Format(time.RFC1123Z)
	fields["sid"] = sid
	fields["account_sid"] = s.o.AccountSID
	fields["api_version"] = "2010-04-01"
	fields["date_created"] = now
	fields["date_updated"] = now
	fields["uri"] = "/2010-04-01/Accounts/" + s.o.AccountSID + "/" + kind + "/" + sid + ".json"
	return fields
}

// gatherAction finds <Gather action="..."> in a TwiML document.
func gatherAction(twiml string) string {
	dec := xml.NewDecoder(strings.NewReader(twiml))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Gather" {
			for _, a := range se.Attr {
				if a.Name.Local == "action" {
					return a.Value
				}
			}
		}
	}
}

func (s *Server) message(sid string) (*Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.SID == sid {
			return m, nil
		}
	}
	return nil, fmt.Errorf("fake: no message %s", sid)
}

func (s *Server) call(sid string) (*Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if c.SID == sid {
			return c, nil
		}
	}
	return nil, fmt.Errorf("fake: no call %s", sid)
}

// MessageStatus posts a message status callback (delivered, failed, ...).
func (s *Server) MessageStatus(ctx context.Context, sid, status string) error {
	m, err := s.message(sid)
	if err != nil {
		return err
	}
	if m.StatusCallback == "" {
		return fmt.Errorf("fake: message %s has no status callback", sid)
	}
	f := url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "MessageStatus": {status}, "SmsStatus": {status},
		"AccountSid": {s.o.AccountSID}, "From": {m.From}, "To": {m.To}, "ApiVersion": {"2010-04-01"}}
	if status == "failed" || status == "undelivered" {
		f.Set("ErrorCode", "30003")
	}
	_, err = s.Post(ctx, m.StatusCallback, f)
	return err
}

// CallStatus posts a call status callback; answeredBy is "human",
// "machine_start", "machine_end_beep", ... or empty.
func (s *Server) CallStatus(ctx context.Context, sid, status, answeredBy string) error {
	c, err := s.call(sid)
	if err != nil {
		return err
	}
	if c.StatusCallback == "" {
		return fmt.Errorf("fake: call %s has no status callback", sid)
	}
	f := s.callForm(c)
	f.Set("CallStatus", status)
	if answeredBy != "" {
		f.Set("AnsweredBy", answeredBy)
	}
	if status == "completed" {
		f.Set("CallDuration", "24")
	}
	_, err = s.Post(ctx, c.StatusCallback, f)
	return err
}

// PressDigits plays a keypress into the call's current Gather, as the call
// goes on: the first TwiML's, then the one our last answer offered (the
// minutes after "1", the menu again), and records what our webhook
// answered. A call whose last answer asks nothing has ended.
func (s *Server) PressDigits(ctx context.Context, sid, digits string) error {
	c, err := s.call(sid)
	if err != nil {
		return err
	}
	s.mu.Lock()
	action := c.GatherAction
	if n := len(c.Replies); n > 0 {
		action = gatherAction(c.Replies[n-1])
	}
	s.mu.Unlock()
	if action == "" {
		return fmt.Errorf("fake: call %s has no <Gather action> to press %q into (the call ended)", sid, digits)
	}
	f := s.callForm(c)
	f.Set("CallStatus", "in-progress")
	f.Set("Digits", digits)
	f.Set("FinishedOnKey", "")
	reply, err := s.Post(ctx, action, f)
	if err != nil {
		return err
	}
	s.mu.Lock()
	c.Replies = append(c.Replies, reply)
	s.mu.Unlock()
	return nil
}

// ReplySMS plays an inbound SMS from a person to our number.
func (s *Server) ReplySMS(ctx context.Context, from, body string) error {
	if s.o.InboundSMSURL == "" {
		return errors.New("fake: no inbound SMS URL configured")
	}
	to := ""
	s.mu.Lock()
	for i := len(s.messages) - 1; i >= 0; i-- {
		if s.messages[i].To == from {
			to = s.messages[i].From
			break
		}
	}
	s.mu.Unlock()
	sid := newSID("SM")
	f := url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid}, "AccountSid": {s.o.AccountSID},
		"From": {from}, "To": {to}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"}, "ApiVersion": {"2010-04-01"}}
	_, err := s.Post(ctx, s.o.InboundSMSURL, f)
	return err
}

func (s *Server) callForm(c *Call) url.Values {
	return url.Values{"CallSid": {c.SID}, "AccountSid": {s.o.AccountSID}, "From": {c.From}, "To": {c.To},
		"Direction": {"outbound-api"}, "ApiVersion": {"2010-04-01"}}
}

// Sign computes X-Twilio-Signature for a POST of form to rawURL, as Twilio
// does: HMAC-SHA1 over the URL followed by each sorted key and its value.
func Sign(authToken, rawURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(rawURL)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Post sends a signed callback and returns the response body; a non-2xx
// answer is an error.
func (s *Server) Post(ctx context.Context, rawURL string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("fake: callback %s: %w", rawURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Sign(s.o.AuthToken, rawURL, form))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	resp, err := s.client.Do(req)
	s.mu.Lock()
	s.callbacks++
	if err != nil || resp.StatusCode/100 != 2 {
		s.failures++
	}
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("fake: callback %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return string(body), fmt.Errorf("fake: callback %s answered %d: %s", rawURL, resp.StatusCode, bytes.TrimSpace(body))
	}
	return string(body), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
