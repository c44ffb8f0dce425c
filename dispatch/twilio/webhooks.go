package twilio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/rs/zerolog"
	twclient "github.com/twilio/twilio-go/client"
)

// Status is a delivery outcome as the dispatch core cares about it.
type Status string

const (
	StatusQueued      Status = "queued"    // accepted by Twilio, on its way
	StatusSent        Status = "sent"      // SMS handed to the carrier
	StatusDelivered   Status = "delivered" // SMS on the handset
	StatusFailed      Status = "failed"    // SMS undelivered/failed, call failed: try the next step
	StatusBusy        Status = "busy"
	StatusNoAnswer    Status = "no-answer"
	StatusCanceled    Status = "canceled"
	StatusAnswered    Status = "answered"  // a person took the call but pressed nothing (yet)
	StatusVoicemail   Status = "voicemail" // a machine answered: NOT an acknowledgement
	StatusInProgress  Status = "in-progress"
	StatusUnknownCode Status = "unknown"
)

// Report is a status callback, reduced.
type Report struct {
	Ref        string // Notice.Ref
	SID        string
	Channel    dispatch.Channel
	Status     Status
	Raw        string // Twilio's own status word
	AnsweredBy string // calls: human, machine_start, machine_end_beep, ... (empty without detection)
	ErrorCode  string
	To         string
}

// Ack is a person's answer: every keypress of a person and every SMS
// reply is at least an acknowledgement; Answer says what more it means.
type Ack struct {
	// Ref is the notice answered; empty for an SMS reply, which Twilio
	// cannot tie to one message: the core matches From to its open notices.
	Ref     string
	SID     string           // the call SID, or the inbound message SID
	By      string           // the person's number
	Via     dispatch.Channel // voice (keypad) or sms (reply)
	Payload string           // the digits or the reply text
	Answer  Answer
	// ETAMinutes goes with AnswerOnTheWay (0: not said).
	ETAMinutes int
}

// ErrNoOpenAlert is returned (wrapped) by Events.Acknowledged when the
// answer reached no open incident (no notice for the number, or the
// incident is closed): the person is told so, and to call 119 themselves
// if they need it, instead of being thanked for an answer nobody acts on.
var ErrNoOpenAlert = errors.New("twilio: no open alert for this answer")

// Events is what the dispatch core implements to hear from Twilio. Both are
// called on the webhook's request goroutine; an error answers 500, and
// Twilio may repeat the callback, so both must be idempotent.
type Events interface {
	Status(ctx context.Context, r Report) error
	Acknowledged(ctx context.Context, a Ack) error
}

// EventFuncs adapts two funcs to Events; a nil func ignores the event.
type EventFuncs struct {
	OnStatus func(context.Context, Report) error
	OnAck    func(context.Context, Ack) error
}

func (f EventFuncs) Status(ctx context.Context, r Report) error {
	if f.OnStatus == nil {
		return nil
	}
	return f.OnStatus(ctx, r)
}

func (f EventFuncs) Acknowledged(ctx context.Context, a Ack) error {
	if f.OnAck == nil {
		return nil
	}
	return f.OnAck(ctx, a)
}

// Webhooks serves Twilio's callbacks under the paths Path*, relative to
// publicBaseURL: mount it so that it sees "/sms/status" for
// publicBaseURL+"/sms/status" (e.g. http.StripPrefix("/twilio", h)).
// Every request must carry a valid X-Twilio-Signature for the exact public
// URL; anything else gets 403. Point the Twilio number's "A message comes
// in" webhook at publicBaseURL+PathInboundSMS.
func Webhooks(authToken, publicBaseURL string, events Events, log zerolog.Logger) http.Handler {
	h := &webhooks{
		validator: twclient.NewRequestValidator(authToken),
		base:      strings.TrimSuffix(publicBaseURL, "/"),
		events:    events,
		log:       log.With().Str("component", "twilio_webhooks").Logger(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathMessageStatus, h.signed(h.messageStatus))
	mux.HandleFunc("POST "+PathCallStatus, h.signed(h.callStatus))
	mux.HandleFunc("POST "+PathGather, h.signed(h.gather))
	mux.HandleFunc("POST "+PathInboundSMS, h.signed(h.inboundSMS))
	return mux
}

type webhooks struct {
	validator twclient.RequestValidator
	base      string
	events    Events
	log       zerolog.Logger
}

const maxWebhookBytes = 64 << 10

// signed checks the signature over the public URL and the form body, then
// hands the parsed form on.
func (h *webhooks) signed(next func(http.ResponseWriter, *http.Request, url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBytes))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		public := h.base + r.URL.Path
		if r.URL.RawQuery != "" {
			public += "?" + r.URL.RawQuery
		}
		if !h.validator.ValidateBody(public, body, r.Header.Get("X-Twilio-Signature")) {
			h.log.Warn().Str("url", public).Str("remote", r.RemoteAddr).Msg("twilio webhook with a bad signature refused")
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "malformed form", http.StatusBadRequest)
			return
		}
		next(w, r, form)
	}
}

func (h *webhooks) report(w http.ResponseWriter, r *http.Request, rep Report) {
	if err := h.events.Status(r.Context(), rep); err != nil {
		h.log.Error().Err(err).Str("ref", rep.Ref).Str("sid", rep.SID).Msg("status callback not applied")
		http.Error(w, "not applied", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *webhooks) messageStatus(w http.ResponseWriter, r *http.Request, f url.Values) {
	raw := f.Get("MessageStatus")
	if raw == "" {
		raw = f.Get("SmsStatus")
	}
	h.report(w, r, Report{Ref: r.URL.Query().Get("ref"), SID: f.Get("MessageSid"), Channel: dispatch.ChannelSMS,
		Status: messageStatus(raw), Raw: raw, ErrorCode: f.Get("ErrorCode"), To: f.Get("To")})
}

func messageStatus(raw string) Status {
	switch raw {
	case "accepted", "scheduled", "queued", "sending":
		return StatusQueued
	case "sent":
		return StatusSent
	case "delivered", "read":
		return StatusDelivered
	case "undelivered", "failed":
		return StatusFailed
	case "canceled":
		return StatusCanceled
	}
	return StatusUnknownCode
}

func (h *webhooks) callStatus(w http.ResponseWriter, r *http.Request, f url.Values) {
	raw, by := f.Get("CallStatus"), f.Get("AnsweredBy")
	h.report(w, r, Report{Ref: r.URL.Query().Get("ref"), SID: f.Get("CallSid"), Channel: dispatch.ChannelVoice,
		Status: callStatus(raw, by), Raw: raw, AnsweredBy: by, ErrorCode: f.Get("ErrorCode"), To: f.Get("To")})
}

// callStatus: a completed call answered by a machine is voicemail, which
// must never count as reaching a person.
func callStatus(raw, answeredBy string) Status {
	switch raw {
	case "queued", "initiated", "ringing":
		return StatusQueued
	case "in-progress":
		if isMachine(answeredBy) {
			return StatusVoicemail
		}
		return StatusInProgress
	case "completed":
		if isMachine(answeredBy) {
			return StatusVoicemail
		}
		return StatusAnswered
	case "busy":
		return StatusBusy
	case "no-answer":
		return StatusNoAnswer
	case "failed":
		return StatusFailed
	case "canceled":
		return StatusCanceled
	}
	return StatusUnknownCode
}

func isMachine(answeredBy string) bool {
	return strings.HasPrefix(answeredBy, "machine") || answeredBy == "fax"
}

// gather receives a keypress. A person's key is an answer (KeyAnswer);
// after 1 the call asks for the minutes to get there, which come back here
// with askETAParam. A machine's keys are ignored.
func (h *webhooks) gather(w http.ResponseWriter, r *http.Request, f url.Values) {
	q := r.URL.Query()
	lang := Lang(q.Get("lang"))
	digits := strings.TrimSpace(f.Get("Digits"))
	machine := isMachine(f.Get("AnsweredBy"))
	a, eta := KeyAnswer(digits), 0
	if q.Get("ask") == "eta" {
		a, eta = AnswerOnTheWay, minutes(strings.TrimSuffix(digits, "#"))
	}
	if !machine && (digits != "" || eta > 0) {
		ack := Ack{Ref: q.Get("ref"), SID: f.Get("CallSid"), By: f.Get("To"), Via: dispatch.ChannelVoice, Payload: digits, Answer: a, ETAMinutes: eta}
		err := h.events.Acknowledged(r.Context(), ack)
		if errors.Is(err, ErrNoOpenAlert) {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			l := lines(Notice{Lang: lang})
			io.WriteString(w, render(say{Language: lang.sayLanguage(), Text: l.noOpen}, hangup{}))
			return
		}
		if err != nil {
			h.log.Error().Err(err).Str("ref", ack.Ref).Msg("keypad answer not applied")
			http.Error(w, "not applied", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	if q.Get("ask") == "eta" && eta == 0 {
		// Minutes we cannot read: "on the way" is recorded already.
		io.WriteString(w, render(say{Language: lang.sayLanguage(), Text: lines(Notice{Lang: lang}).said[AnswerOnTheWay]}, hangup{}))
		return
	}
	// The menu again goes to the same URL: its signature base is unchanged.
	public := h.base + r.URL.Path + "?" + r.URL.RawQuery
	io.WriteString(w, gatherReply(lang, a, eta, machine || digits == "", public))
}

// inboundSMS receives a text reply: every reply is an answer (ParseReply),
// an unknown one an acknowledgement kept as it came.
func (h *webhooks) inboundSMS(w http.ResponseWriter, r *http.Request, f url.Values) {
	body := f.Get("Body")
	answer, eta, known := ParseReply(body)
	a := Ack{SID: f.Get("MessageSid"), By: f.Get("From"), Via: dispatch.ChannelSMS, Payload: body, Answer: answer, ETAMinutes: eta}
	err := h.events.Acknowledged(r.Context(), a)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	if errors.Is(err, ErrNoOpenAlert) {
		io.WriteString(w, render(message{Text: noOpenSMS}))
		return
	}
	if err != nil {
		h.log.Error().Err(err).Str("from", a.By).Msg("sms reply not applied")
		http.Error(w, "not applied", http.StatusInternalServerError)
		return
	}
	if !known {
		h.log.Debug().Str("from", a.By).Msg("sms reply not understood; recorded as an acknowledgement")
	}
	io.WriteString(w, smsReply(answer, eta))
}
