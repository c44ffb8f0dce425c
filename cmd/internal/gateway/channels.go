package gateway

// The outbound channels: CAP to 119, SMS and voice through Twilio, and the
// console; plus the inbound paths that move incidents on (119's answers,
// Twilio's callbacks). The channel packages speak their own types; the
// adapters here translate dispatch's notifications into them.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/twilio"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/internal/memhttp"
)

// ChannelOptions configures the channels.
type ChannelOptions struct {
	// CAPURLs are the 119 endpoints CAP alerts are POSTed to.
	CAPURLs []string
	// CAPTransport, when set, carries the requests to CAPURLs instead of
	// the default HTTPS transport (a proxy's, or the simulator's in-memory
	// mock 119, which lets a whole gateway run in a synctest bubble).
	CAPTransport http.RoundTripper
	// CAPSender is the CAP sender id (no spaces or commas).
	CAPSender string
	// CAPAnswerToken authenticates 119's answers (bearer); default the
	// admin token.
	CAPAnswerToken string
	// Contact is the monitoring centre's phone, given to 119.
	Contact string
	// CAPAddressee names the 119 centre the CAP messages are for: the
	// restriction of a message with personal data says it is for them
	// only (default cap.DefaultAddressee).
	CAPAddressee string

	// Twilio: the account SMS and calls go through. Without one nothing
	// reaches the guardians, so New refuses to start unless FakeTwilio
	// chooses the in-process fake Twilio (make run, tests, the simulator),
	// which behaves as FakeBehaviour says.
	TwilioAccountSID string
	TwilioAuthToken  string
	TwilioFrom       string
	TwilioAPIURL     string
	FakeTwilio       bool
	// PublicURL is where Twilio reaches this gateway's webhooks, e.g.
	// https://gw.example.kr: required with an account, since Twilio cannot
	// call a listen address such as http://[::]:8080. The fake calls back
	// on the gateway's own HTTP address when it is empty.
	PublicURL     string
	FakeBehaviour fake.Behaviour
	// WatchFakeTwilio logs each SMS and call of the fake at info (the demo:
	// its user watches for the guardian's SMS and call).
	WatchFakeTwilio bool
	// CallInterval is the Twilio account's voice rate (default 1 s).
	CallInterval time.Duration
}

// fakeURL is the fake Twilio's control API address, empty when none is
// served.
func (c *channels) fakeURL() string {
	if c.fakeLn == nil {
		return ""
	}
	return "http://" + c.fakeLn.Addr().String()
}

// channels holds the channel clients and the fake Twilio when one runs.
type channels struct {
	cap       *cap.Sender
	capSender string
	contact   string
	addressee string
	// sensors finds the alarm's sensor, for its room (set by the gateway
	// once the store is open; nil sends no room).
	sensors    sensorGetter
	twilio     *twilio.Client
	fakeTwilio *fake.Server
	fakeServer *http.Server // the fake's control API, when served
	fakeLn     net.Listener
	twilioBase string // public URL of our Twilio webhooks
	authToken  string // the Twilio account's, to check callback signatures
	webhooks   http.Handler
	answers    http.Handler
}

// serveFake opens a port for the fake Twilio's control API (a gateway with
// an HTTP server: a person may be trying it out); the in-process gateway of
// the simulator opens none, so that nothing in it waits on a socket.
func newChannels(o ChannelOptions, publicBase string, serveFake bool, log zerolog.Logger) (*channels, error) {
	c := &channels{capSender: o.CAPSender, contact: o.Contact, addressee: o.CAPAddressee}
	if c.capSender == "" {
		c.capSender = "gateway@dolbom.local"
	}
	var err error
	if len(o.CAPURLs) > 0 {
		c.cap, err = cap.NewSender(cap.SenderOptions{Endpoints: o.CAPURLs, Transport: o.CAPTransport, Logger: log})
		if err != nil {
			return nil, err
		}
	} else {
		log.Warn().Msg("no 119 endpoint (--cap-url): CAP alerts wait in the outbox until one is configured")
	}

	if err := checkTwilio(o); err != nil {
		return nil, err
	}
	if o.PublicURL != "" {
		publicBase = strings.TrimRight(o.PublicURL, "/")
	}
	twilioBase := publicBase + "/twilio"
	tc := twilio.Config{
		AccountSID: o.TwilioAccountSID, AuthToken: o.TwilioAuthToken, From: o.TwilioFrom, APIURL: o.TwilioAPIURL,
		PublicBaseURL: twilioBase, CallInterval: o.CallInterval, Logger: log,
	}
	if o.FakeTwilio {
		// The fake answers like Twilio and plays the callbacks back to our
		// webhooks, so the whole chain runs here, in memory: no port is
		// opened for it, and no socket keeps a synctest bubble's clock
		// from moving (the simulator's acceptance suite).
		tc.AccountSID = "AC" + randomHex(16)
		tc.AuthToken = randomHex(16)
		tc.From = "+821000000000"
		prefix := ""
		if u, err := url.Parse(publicBase); err == nil {
			prefix = strings.TrimRight(u.Path, "/")
		}
		toWebhooks := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The callback URL is the public one; the webhooks are ours.
			r.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
			r.URL.RawPath = ""
			c.webhooks.ServeHTTP(w, r)
		})
		c.fakeTwilio = fake.New(fake.Options{AccountSID: tc.AccountSID, AuthToken: tc.AuthToken,
			InboundSMSURL: twilioBase + twilio.PathInboundSMS, Default: o.FakeBehaviour, Logger: log, Watched: o.WatchFakeTwilio,
			Client: &http.Client{Transport: memhttp.Transport{Handler: toWebhooks}, Timeout: 5 * time.Second}})
		tc.APIURL = "http://fake-twilio.invalid"
		tc.Transport = memhttp.Transport{Handler: c.fakeTwilio}
		if serveFake {
			// Its control API (GET /fake/messages, /fake/calls ...) on a
			// port of its own, for a person trying the gateway out (the
			// demo banner names it); the gateway itself never uses it.
			c.fakeLn, err = net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("gateway: fake twilio: %w", err)
			}
			c.fakeServer = &http.Server{Handler: c.fakeTwilio, ReadHeaderTimeout: 5 * time.Second}
		}
		log.Warn().Msg("the built-in fake Twilio stands in (--twilio=fake): no SMS or call leaves this machine")
	}
	c.twilio, err = twilio.New(tc)
	if err != nil {
		return nil, err
	}
	c.twilioBase, c.authToken = twilioBase, tc.AuthToken
	return c, nil
}

// checkTwilio refuses a Twilio set-up that would fail silently: an account
// whose callbacks cannot arrive, or no account at all without the fake
// having been chosen.
func checkTwilio(o ChannelOptions) error {
	switch {
	case o.TwilioAccountSID != "" && o.FakeTwilio:
		return errors.New("gateway: a Twilio account and the fake Twilio at once: choose one (TWILIO_ACCOUNT_SID or --twilio=fake)")
	case o.FakeTwilio:
		if o.PublicURL != "" {
			if err := twilio.CheckPublicURL(o.PublicURL, false); err != nil {
				return fmt.Errorf("gateway: %w (DOLBOM_PUBLIC_URL)", err)
			}
		}
		return nil
	case o.TwilioAccountSID == "":
		return errors.New("gateway: no Twilio account: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, DOLBOM_TWILIO_FROM and DOLBOM_PUBLIC_URL, " +
			"or choose the built-in fake Twilio, which reaches nobody (--twilio=fake or DOLBOM_TWILIO=fake; --demo implies it)")
	case o.PublicURL == "":
		return errors.New("gateway: a Twilio account is configured but no public URL: set DOLBOM_PUBLIC_URL (--public-url) to the address " +
			"where Twilio reaches this gateway, e.g. https://gw.dolbom.example.kr; without it keypad and SMS acknowledgements never arrive")
	}
	// The real Twilio calls from the internet; a stand-in API
	// (TwilioAPIURL) may call back on this machine.
	if err := twilio.CheckPublicURL(o.PublicURL, o.TwilioAPIURL == ""); err != nil {
		return fmt.Errorf("gateway: %w (DOLBOM_PUBLIC_URL); without a reachable public URL keypad and SMS acknowledgements never arrive", err)
	}
	return nil
}

// wire connects the inbound paths (Twilio's callbacks, 119's answers) to
// the dispatcher.
func (c *channels) wire(d *dispatch.Dispatcher, answerToken string, log zerolog.Logger) {
	c.webhooks = http.StripPrefix("/twilio", twilio.Webhooks(c.authToken, c.twilioBase, twilioEvents{d}, log))
	c.answers = cap.AnswerHandler(cap.AnswerAuth{BearerToken: answerToken}, func(ctx context.Context, a cap.Answer) error {
		id := a.IncidentID
		if id == "" {
			id = incidentOfIdentifier(a.Identifier)
		}
		if id == "" {
			return cap.ErrUnknownIncident
		}
		_, err := d.Apply119(ctx, dispatch.Answer119{IncidentID: id, Status: dispatch.Answer119Status(a.Status), Reason: a.Reason,
			Disposition: dispatch.Disposition(a.Disposition), By: strings.TrimSpace("119 " + a.Unit)})
		if errors.Is(err, devices.ErrNotFound) {
			return cap.ErrUnknownIncident
		}
		return err
	})
}

// sensorGetter is the registry's sensor look-up (*store.Store).
type sensorGetter interface {
	GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error)
}

// room is where in the home the incident's sensor is, in Korean and
// English ("주방 연기감지기"); empty when it is not known. A failed look-up
// sends the alert without it rather than holding the alert back.
func (c *channels) room(ctx context.Context, inc dispatch.IncidentSnapshot) (ko, en string) {
	if c.sensors == nil || inc.Sensor == "" {
		return "", ""
	}
	s, err := c.sensors.GetSensor(ctx, inc.Hub, inc.Sensor)
	if err != nil {
		return "", ""
	}
	return s.Place("ko"), s.Place("en")
}

// notifiers returns dispatch's channels by name.
func (c *channels) notifiers() map[string]dispatch.Notifier {
	return map[string]dispatch.Notifier{
		dispatch.Channel119: dispatch.NotifierFunc(c.notifyCAP),
		"sms":               dispatch.NotifierFunc(c.notifySMS),
		"voice":             dispatch.NotifierFunc(c.notifyVoice),
		// The consoles show every incident live from the feed; a console
		// step is recorded on the timeline, nothing is sent.
		"console": dispatch.NotifierFunc(func(context.Context, dispatch.Notification) (string, bool, error) {
			return "console", false, nil
		}),
	}
}

// run serves the fake Twilio's control API (when it is served) and hands
// out voice slots.
func (c *channels) run(ctx context.Context) error {
	if c.fakeServer != nil {
		go c.fakeServer.Serve(c.fakeLn)
		defer c.fakeServer.Close()
	}
	return c.twilio.Run(ctx)
}

// capIdentifier is the stable CAP identifier of a notification: retries and
// a restart after a crash send the same one, and the receiver
// de-duplicates by it. The first alert of an incident is always
// ".../<incident>.alert", which later Updates and Cancels reference.
func (c *channels) capIdentifier(n dispatch.Notification) string {
	if n.Type == dispatch.MsgAlert {
		return cap.Identifier(c.capSender, n.Incident.ID, 0)
	}
	suffix := make([]byte, 0, len(n.Key))
	for i := 0; i < len(n.Key); i++ {
		b := n.Key[i]
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' {
			suffix = append(suffix, b)
		} else {
			suffix = append(suffix, '-')
		}
	}
	return cap.Identifier(c.capSender, n.Incident.ID, 0) + "." + string(suffix)
}

// incidentOfIdentifier recovers the incident id from one of our CAP
// identifiers ("dolbom.<host>.<incident>.0[.<key>]"), for a 119 answer that
// names only the identifier.
func incidentOfIdentifier(id string) string {
	rest, ok := strings.CutPrefix(id, "dolbom.")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, ".")
	for i := len(parts) - 1; i > 0; i-- {
		if parts[i] == "0" {
			return parts[i-1]
		}
	}
	return ""
}

func (c *channels) notifyCAP(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	if c.cap == nil {
		return "", true, errors.New("no 119 endpoint configured (--cap-url)")
	}
	m := cap.Message{
		IncidentID: n.Incident.ID, HubID: string(n.Incident.Hub), Sender: c.capSender,
		Sent: time.Now(), MsgType: cap.MsgAlert, Cause: dispatch.CategoryOf(n.Incident.Cause), Priority: int(n.Incident.Priority),
		Certainty: cap.CertaintyLikely, SummaryKO: n.Incident.Explanation.Ko, SummaryEN: n.Incident.Explanation.En,
		Contact: c.contact, Addressee: c.addressee,
	}
	if dispatch.Observed(n.Incident.Cause) {
		m.Certainty = cap.CertaintyObserved
	}
	for _, t := range n.Tried {
		m.TriedKO, m.TriedEN = append(m.TriedKO, t.Ko), append(m.TriedEN, t.En)
	}
	alert := cap.Reference{Sender: c.capSender, Identifier: cap.Identifier(c.capSender, n.Incident.ID, 0), Sent: n.Incident.OpenedAt}
	switch n.Type {
	case dispatch.MsgAlert:
		// The alert's sent time is the incident's opening, so that a resend
		// after a crash is the same message and later ones can reference it.
		m.Sent = n.Incident.OpenedAt
	case dispatch.MsgUpdate:
		m.MsgType, m.References = cap.MsgUpdate, []cap.Reference{alert}
	case dispatch.MsgCancel:
		// A Cancel names the incident and why it is cancelled, nothing
		// about the resident's health: the explanation stays out.
		m.MsgType, m.References = cap.MsgCancel, []cap.Reference{alert}
		m.CancelReason = cancelReason(n.Incident.State, n.Incident.Disposition)
		m.SummaryKO, m.SummaryEN = "", ""
	}
	if n.HasResident && n.Type != dispatch.MsgCancel {
		r := n.Resident
		m.Resident = cap.Resident{Name: r.Name, Age: age(r.BirthDate, time.Now()), Phone: r.Phone}
		if r.Consent.ShareMedicalWith119 {
			// Medical details go to 119 only with the resident's consent.
			m.Resident.MedicalNotes, m.Resident.Medications, m.Resident.Allergies = r.MedicalNotes, r.Medications, r.Allergies
		}
		m.Access = cap.Access{KeyHolder: r.Access.KeyHolder, KeySafe: r.Access.KeySafeCode, DoorCode: r.Access.DoorCode, Notes: r.Access.Notes}
		// Floor and unit as responders read them: "7층", "703호".
		a := r.Address
		m.Location = cap.Location{Address: a.Line1, Building: a.BuildingKorean(), Floor: a.FloorKorean(), Unit: a.UnitKorean(),
			Lat: a.Lat, Lon: a.Lon, RadiusKm: 0.05}
		m.Location.RoomKO, m.Location.RoomEN = c.room(ctx, n.Incident)
		for _, g := range r.Guardians {
			m.Guardians = append(m.Guardians, cap.Guardian{Name: g.Name, Relation: g.Relation, Phone: g.Phone})
		}
	}
	_, body, err := cap.Build(m)
	if err != nil {
		return "", false, err
	}
	id := c.capIdentifier(n)
	if id != cap.Identifier(c.capSender, n.Incident.ID, 0) {
		// Build names the message by incident and sequence; an Update or
		// Cancel carries its own stable identifier instead.
		body = []byte(strings.Replace(string(body), "<identifier>"+cap.Identifier(c.capSender, n.Incident.ID, 0)+"</identifier>",
			"<identifier>"+id+"</identifier>", 1))
	}
	retry, err := c.cap.Send(ctx, id, body)
	if err != nil {
		return "", retry, err
	}
	return id, false, nil
}

func (c *channels) notice(n dispatch.Notification) twilio.Notice {
	no := twilio.Notice{Ref: n.Key, To: n.Recipient.Phone, Lang: twilio.Lang(n.Recipient.Language),
		Cause: dispatch.CategoryOf(n.Incident.Cause), Priority: int(n.Incident.Priority), Recovered: n.Type == dispatch.MsgRecovered}
	if n.Type == dispatch.MsgWith119 {
		no.With119 = n.Incident.Status119
	}
	if n.HasResident {
		no.ResidentName = n.Resident.Name
		// The same address as on the console and in the CAP: to the unit,
		// "... 103동 7층 703호".
		no.Address = n.Resident.Address.Korean()
	}
	return no
}

func (c *channels) notifySMS(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	if n.Recipient.Phone == "" {
		return "", false, errors.New("recipient has no phone number")
	}
	return c.twilio.SendSMS(ctx, c.notice(n))
}

func (c *channels) notifyVoice(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	if n.Recipient.Phone == "" {
		return "", false, errors.New("recipient has no phone number")
	}
	return c.twilio.Call(ctx, c.notice(n))
}

// twilioEvents moves incidents on from Twilio's callbacks.
type twilioEvents struct{ d *dispatch.Dispatcher }

func (e twilioEvents) Status(ctx context.Context, r twilio.Report) error {
	ref := r.Ref
	if ref == "" {
		ref = r.SID
	}
	var err error
	switch r.Status {
	case twilio.StatusDelivered, twilio.StatusAnswered:
		err = e.d.Delivered(ctx, ref, string(r.Status))
	case twilio.StatusVoicemail:
		// A machine took the call: recorded, never an acknowledgement.
		err = e.d.Delivered(ctx, ref, "voicemail")
	case twilio.StatusFailed, twilio.StatusBusy, twilio.StatusNoAnswer, twilio.StatusCanceled:
		err = e.d.Failed(ctx, ref, string(r.Status))
	}
	if errors.Is(err, devices.ErrNotFound) {
		return nil // a callback about a row we no longer know: nothing to move
	}
	return err
}

func (e twilioEvents) Acknowledged(ctx context.Context, a twilio.Ack) error {
	ref := a.Ref
	if ref == "" {
		// An SMS reply names only the number it came from: it answers the
		// newest notification of an open incident sent to that number.
		ref = e.latestTo(ctx, a.By)
		if ref == "" {
			return twilio.ErrNoOpenAlert
		}
	}
	inc, err := e.d.ReplyToNotification(ctx, ref, replyOf(a))
	switch {
	case errors.Is(err, devices.ErrNotFound) || errors.Is(err, dispatch.ErrInvalid):
		// A row we no longer know, or one that is not a person's: Twilio
		// repeating the callback would not change that.
		return twilio.ErrNoOpenAlert
	case err != nil:
		return err
	case inc.State.Closed():
		return twilio.ErrNoOpenAlert // recorded on the timeline, acted on by nobody
	}
	return nil
}

// replyOf maps a person's answer on Twilio onto the dispatch core's.
func replyOf(a twilio.Ack) dispatch.Reply {
	r := dispatch.Reply{State: dispatch.ResponderAcknowledged, Text: a.Payload}
	switch a.Answer {
	case twilio.AnswerOnTheWay:
		r.State, r.ETAMinutes = dispatch.ResponderOnTheWay, a.ETAMinutes
	case twilio.AnswerOnScene:
		r.State = dispatch.ResponderOnScene
	case twilio.AnswerSafe:
		r.State = dispatch.ResponderResidentSafe
	case twilio.AnswerCall119:
		r.Call119 = true
	}
	return r
}

func (e twilioEvents) latestTo(ctx context.Context, phone string) string {
	open, err := e.d.ListIncidents(ctx, dispatch.IncidentQuery{
		// Acknowledged too: "2, I am with them" after "1" still counts.
		States: []dispatch.State{dispatch.StateOpen, dispatch.StateVerifying, dispatch.StateNotified, dispatch.StateAcknowledged}, Limit: 200})
	if err != nil {
		return ""
	}
	var best dispatch.OutboxRow
	for _, inc := range open {
		rows, err := e.d.Notifications(ctx, inc.ID)
		if err != nil {
			continue
		}
		for _, r := range rows {
			if r.Recipient.Phone == phone && (r.Channel == "sms" || r.Channel == "voice") && r.CreatedAt.After(best.CreatedAt) {
				best = r
			}
		}
	}
	return best.Key
}

// age in whole years from a YYYY-MM-DD birth date; 0 when unknown.
func age(birth string, now time.Time) int {
	t, err := time.Parse("2006-01-02", birth)
	if err != nil {
		return 0
	}
	years := now.Year() - t.Year()
	if now.Month() < t.Month() || (now.Month() == t.Month() && now.Day() < t.Day()) {
		years--
	}
	return years
}

// cancelReason is the fixed wording of a CAP Cancel's reason, from how the
// incident ended: never free text that could carry personal data.
func cancelReason(s dispatch.State, d dispatch.Disposition) string {
	switch {
	case s == dispatch.StateCancelled:
		return "거주자 취소 (resident cancelled)"
	case s == dispatch.StateResolved && d == dispatch.DispositionTest:
		return "시험 신호 (test)"
	case s == dispatch.StateResolved && d == dispatch.DispositionDuplicate:
		return "중복 신고 (duplicate)"
	case s == dispatch.StateResolved:
		return "오경보 확인 (verified false alarm)"
	}
	return "취소 (cancelled)"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
