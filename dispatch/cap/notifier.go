package cap

// The dispatch core's channel to 119: Notifier decides what 119 receives
// of a notification (the resident's medical details only with consent, a
// Cancel with no health data and fixed wording, the certainty by cause)
// and posts it; Answers takes 119's answers back to the core. The rules of
// what 119 may see live here, beside the message they shape.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// SensorGetter is the registry's sensor look-up, for the room of the
// alarm's sensor.
type SensorGetter interface {
	GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error)
}

// ResidentLookup is the registry's resident of a hub: the district of a
// resident whose record a notification does not carry (a Cancel after the
// incident closed tells 119 nothing about the resident, but must reach the
// same 시도's centre).
type ResidentLookup interface {
	ResidentOfHub(ctx context.Context, hub devices.HubID) (devices.Resident, error)
}

// NotifierOptions configures a Notifier.
type NotifierOptions struct {
	// Routes chooses the 119 centre of each message by the resident's 시도
	// (route.go). When nil, Sender posts every message.
	Routes *Router
	// Residents finds the resident of a message that carries none; nil
	// routes such a message as a resident without a district.
	Residents ResidentLookup
	// Sender posts the messages when Routes is nil (one receiver for
	// everything: tests and tools); nil as well when no 119 endpoint is
	// configured: every notification then fails, retryable, and waits in
	// the outbox.
	Sender *Sender
	// SenderID is the CAP sender ("gateway@dolbom.example.kr").
	SenderID string
	// Contact is the monitoring centre's phone, given to 119.
	Contact string
	// Addressee is the 119 centre the messages are for (Message.Addressee).
	Addressee string
	// Sensors finds the alarm's sensor, for its room; nil sends no room.
	Sensors SensorGetter
	// Pins keeps the 시도 of each incident's first message, so that its
	// Updates and Cancel reach the same centre (pin.go); nil routes every
	// message by the resident's district as it is then.
	Pins RoutePins
	// Stuck lists the incidents whose message found no route (the
	// dispatcher's banner, a gauge); nil keeps none.
	Stuck *Stuck
	// Logger logs a message without a route at error level, once per
	// incident until it goes out.
	Logger zerolog.Logger
	// Now is the clock (default time.Now): the sent time of Updates and
	// Cancels, and the resident's age.
	Now func() time.Time
}

// Notifier is dispatch's channel to 119 (dispatch.Channel119).
type Notifier struct{ o NotifierOptions }

// NewNotifier returns the 119 channel.
func NewNotifier(o NotifierOptions) *Notifier {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{o: o}
}

var _ dispatch.Notifier = (*Notifier)(nil)

// Notify builds n's CAP message and posts it; the reference is its
// identifier.
func (c *Notifier) Notify(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	sender, err := c.sender(ctx, n)
	if err != nil {
		// Retryable: the message waits in the outbox, its error on the
		// incident's timeline, until a route (or the resident's district)
		// is set; never dropped, and loud while it waits.
		c.noRoute(n, err)
		return "", true, err
	}
	id, body, err := Build(c.message(ctx, n))
	if err != nil {
		return "", false, err
	}
	retry, err := sender.Send(ctx, id, body)
	if err != nil {
		return "", retry, err
	}
	if c.o.Stuck != nil {
		c.o.Stuck.clear(n.Incident.ID)
	}
	return id, false, nil
}

// noRoute makes a message without a route loud: an error log naming the
// 시도 and the incident (once per incident while it waits; its retries at
// debug level) and an entry in the stuck list.
func (c *Notifier) noRoute(n dispatch.Notification, err error) {
	var nr *NoRouteError
	if !errors.As(err, &nr) {
		return
	}
	m := StuckMessage{Incident: n.Incident.ID, Sido: nr.Sido, Resident: string(nr.Resident), Since: c.o.Now(), Reason: nr.Error()}
	first := true
	if c.o.Stuck != nil {
		first = c.o.Stuck.add(m)
	}
	ev := c.o.Logger.Debug()
	if first {
		ev = c.o.Logger.Error()
	}
	ev.Str("incident_id", n.Incident.ID).Str("sido", string(nr.Sido.Code)).Str("sido_name", nr.Sido.Name).
		Str("resident_id", string(nr.Resident)).Str("msg_type", string(n.Type)).Err(err).
		Msg("119 경로 없음 (no 119 route): the CAP message waits in the outbox until the route is set")
}

// sender is the 119 centre n goes to: the route of the resident's 시도.
func (c *Notifier) sender(ctx context.Context, n dispatch.Notification) (*Sender, error) {
	if c.o.Routes == nil {
		if c.o.Sender == nil {
			return nil, errors.New("no 119 endpoint configured (--cap-url, or dolbomctl region route set)")
		}
		return c.o.Sender, nil
	}
	if c.o.Pins != nil {
		sido, ok, err := c.o.Pins.PinnedRoute(ctx, n.Incident.ID)
		if err != nil {
			return nil, fmt.Errorf("cap: the 119 route of incident %s: %w", n.Incident.ID, err)
		}
		if ok {
			rt, err := c.o.Routes.RouteOfSido(ctx, sido)
			if err != nil {
				return nil, err
			}
			return c.o.Routes.SenderFor(rt)
		}
	}
	res := n.Resident
	if !n.HasResident && c.o.Residents != nil {
		r, err := c.o.Residents.ResidentOfHub(ctx, n.Incident.Hub)
		switch {
		case err == nil:
			res = r
		case !errors.Is(err, devices.ErrNotFound):
			return nil, fmt.Errorf("cap: the resident of hub %s, for the 119 route: %w", n.Incident.Hub, err)
		}
	}
	rt, err := c.o.Routes.RouteOf(ctx, res.ID, res.DistrictCode)
	if err != nil {
		return nil, err
	}
	// The first message fixes the incident's 시도 (normally the Alert). A
	// resident without a district, reaching the one route of every 시도,
	// pins nothing: the 시도 is not known.
	if c.o.Pins != nil && rt.Sido != "" {
		if err := c.o.Pins.PinRoute(ctx, n.Incident.ID, rt.Sido, rt.Endpoints); err != nil {
			return nil, fmt.Errorf("cap: pin the 119 route of incident %s: %w", n.Incident.ID, err)
		}
	}
	return c.o.Routes.SenderFor(rt)
}

// message is what 119 receives of n.
func (c *Notifier) message(ctx context.Context, n dispatch.Notification) Message {
	now := c.o.Now()
	m := Message{
		IncidentID: n.Incident.ID, HubID: string(n.Incident.Hub), Sender: c.o.SenderID,
		Sent: now, MsgType: MsgAlert, Cause: dispatch.CategoryOf(n.Incident.Cause), Priority: int(n.Incident.Priority),
		Certainty: CertaintyLikely, SummaryKO: n.Incident.Explanation.Ko, SummaryEN: n.Incident.Explanation.En,
		Contact: c.o.Contact, Addressee: c.o.Addressee,
	}
	if dispatch.Observed(n.Incident.Cause) {
		m.Certainty = CertaintyObserved
	}
	for _, t := range n.Tried {
		m.TriedKO, m.TriedEN = append(m.TriedKO, t.Ko), append(m.TriedEN, t.En)
	}
	// The first alert of an incident is always ".../<incident>.0", which
	// later Updates and Cancels reference; they are named by their stable
	// notification keys, so that a retry carries the same identifier.
	alert := Reference{Sender: c.o.SenderID, Identifier: Identifier(c.o.SenderID, n.Incident.ID, 0), Sent: n.Incident.OpenedAt}
	switch n.Type {
	case dispatch.MsgAlert:
		// The alert's sent time is the incident's opening, so that a resend
		// after a crash is the same message and later ones can reference it.
		m.Sent = n.Incident.OpenedAt
	case dispatch.MsgUpdate:
		m.MsgType, m.References, m.Key = MsgUpdate, []Reference{alert}, n.Key
	case dispatch.MsgCancel:
		// A Cancel names the incident and why it is cancelled, nothing
		// about the resident's health: the explanation stays out.
		m.MsgType, m.References, m.Key = MsgCancel, []Reference{alert}, n.Key
		m.CancelReason = cancelReason(n.Incident.State, n.Incident.Disposition)
		m.SummaryKO, m.SummaryEN = "", ""
	default:
		m.Key = n.Key
	}
	if n.HasResident && n.Type != dispatch.MsgCancel {
		r := n.Resident
		m.Resident = Resident{Name: r.Name, Age: age(r.BirthDate, now), Phone: r.Phone}
		if r.Consent.ShareMedicalWith119 {
			// Medical details go to 119 only with the resident's consent.
			m.Resident.MedicalNotes, m.Resident.Medications, m.Resident.Allergies = r.MedicalNotes, r.Medications, r.Allergies
		}
		m.Access = Access{KeyHolder: r.Access.KeyHolder, KeySafe: r.Access.KeySafeCode, DoorCode: r.Access.DoorCode, Notes: r.Access.Notes}
		// Floor and unit as responders read them: "7층", "703호".
		a := r.Address
		m.Location = Location{Address: a.Line1, Building: a.BuildingKorean(), Floor: a.FloorKorean(), Unit: a.UnitKorean(),
			Lat: a.Lat, Lon: a.Lon, RadiusKm: 0.05}
		m.Location.RoomKO, m.Location.RoomEN = c.room(ctx, n.Incident)
		for _, g := range r.Guardians {
			m.Guardians = append(m.Guardians, Guardian{Name: g.Name, Relation: g.Relation, Phone: g.Phone})
		}
	}
	return m
}

// room is where in the home the incident's sensor is, in Korean and
// English ("주방 연기감지기"); empty when it is not known. A failed look-up
// sends the alert without it rather than holding the alert back.
func (c *Notifier) room(ctx context.Context, inc dispatch.IncidentSnapshot) (ko, en string) {
	if c.o.Sensors == nil || inc.Sensor == "" {
		return "", ""
	}
	s, err := c.o.Sensors.GetSensor(ctx, inc.Hub, inc.Sensor)
	if err != nil {
		return "", ""
	}
	return s.Place("ko"), s.Place("en")
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

// Applier moves an incident on 119's answer (*dispatch.Dispatcher).
type Applier interface {
	Apply119(ctx context.Context, a dispatch.Answer119) (dispatch.Incident, error)
}

// Answers is the endpoint 119 answers on: each answer, about an incident
// by its id or one of our identifiers, is applied to the incident.
func Answers(auth AnswerAuth, to Applier) http.Handler {
	return AnswerHandler(auth, func(ctx context.Context, a Answer) error {
		id := a.IncidentID
		if id == "" {
			id = IncidentOf(a.Identifier)
		}
		if id == "" {
			return ErrUnknownIncident
		}
		_, err := to.Apply119(ctx, dispatch.Answer119{IncidentID: id, Status: dispatch.Answer119Status(a.Status), Reason: a.Reason,
			Disposition: dispatch.Disposition(a.Disposition), By: strings.TrimSpace("119 " + a.Unit)})
		if errors.Is(err, devices.ErrNotFound) {
			return ErrUnknownIncident
		}
		return err
	})
}
