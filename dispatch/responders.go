package dispatch

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dolbom/dolbom/detectors"
)

// Responders: the people an incident's escalation reaches and what each of
// them said. An acknowledgement means "I got the message", not "the
// resident is safe" (DOMAIN.md section 4): a relative 200 km away pressing
// 1 must not stop 119 for a resident lying still on the floor. So for the
// emergency causes only a responder on scene, the resident safe, or a
// person's decision in the console or API stands the escalation (and with
// it the 119 step) down; an acknowledgement or "on the way" stops
// re-contacting that responder only. docs/dispatch.md has the table.

// ResponderState is where one responder is.
type ResponderState string

const (
	// ResponderContacted: a notification was queued; no answer yet.
	ResponderContacted    ResponderState = "contacted"
	ResponderAcknowledged ResponderState = "acknowledged" // "I got the message"
	ResponderOnTheWay     ResponderState = "on_the_way"   // with an ETA when they gave one
	ResponderOnScene      ResponderState = "on_scene"     // with the resident
	ResponderResidentSafe ResponderState = "resident_safe"
)

// answerStates are the states a responder (or a dispatcher for them) can
// set; contacted is the system's.
var answerStates = []ResponderState{ResponderAcknowledged, ResponderOnTheWay, ResponderOnScene, ResponderResidentSafe}

// ValidAnswer reports whether s is a state a responder can answer with.
func (s ResponderState) ValidAnswer() bool { return slices.Contains(answerStates, s) }

// StandsDown reports whether s means a person is with the resident or the
// resident is safe: what stands an emergency's escalation down.
func (s ResponderState) StandsDown() bool { return s == ResponderOnScene || s == ResponderResidentSafe }

// answered reports whether the responder said anything yet.
func (s ResponderState) answered() bool { return s != "" && s != ResponderContacted }

// MaxETAMinutes bounds an ETA: more than ten hours away is a typo, or not
// coming.
const MaxETAMinutes = 600

// Responder is one person the incident reached (every recipient but 119,
// whose answers are Status119) and what they said last.
type Responder struct {
	// ID is the recipient's id in the incident ("guardian-1",
	// "social_worker-1"), the key of its outbox rows.
	ID   string `json:"id"`
	Role Role   `json:"role"`
	Name string `json:"name,omitempty"`
	// Phone is masked ("010-****-5432"): enough to tell two guardians
	// apart on a screen; the number itself is in the resident's record.
	Phone string         `json:"phone,omitempty"`
	State ResponderState `json:"state"`
	// ETAMinutes is what they said ("1 20": twenty minutes away); ETA is
	// when that is, from when they said it. Only while on the way.
	ETAMinutes int       `json:"eta_minutes,omitempty"`
	ETA        time.Time `json:"eta,omitzero"`
	// At is when State was last set, Via how (sms, voice, console).
	At  time.Time `json:"at"`
	Via Channel   `json:"via,omitempty"`
	// SetBy is the console user who recorded it (a guardian phoned the
	// dispatcher); empty when the responder answered themselves.
	SetBy string `json:"set_by,omitempty"`
}

// Label is how the timeline and the console name the responder:
// "guardian:최영희".
func (r Responder) Label() string { return string(r.Role) + ":" + cmp.Or(r.Name, r.ID) }

// strictCauses are the causes where a person may be dying while a distant
// acknowledger thinks it handled: an acknowledgement never stands them
// down. Any incident of the emergency class is treated the same way
// (inactivity past the hard limit, a cause added later).
var strictCauses = map[detectors.Cause]bool{
	detectors.CauseFall: true, detectors.CauseSOS: true,
	detectors.CauseFireConfirmed: true, detectors.CauseSmokeUnconfirmed: true,
	detectors.CauseCO: true, detectors.CauseGas: true,
	detectors.CauseBradycardia: true, detectors.CauseTachycardia: true, detectors.CauseAsystole: true,
	detectors.CauseApnoea: true, detectors.CauseBreathingRate: true,
}

// AckStandsDown reports whether an acknowledgement (or "on the way")
// stands the incident's escalation down: only for welfare checks and
// device health, whose next steps are more people to phone, never 119.
func (inc Incident) AckStandsDown() bool {
	return !strictCauses[inc.Cause] && inc.Class != detectors.ClassEmergency
}

// someoneWithResident reports whether a responder said they are on scene
// or that the resident is safe.
func someoneWithResident(inc *Incident) bool {
	return slices.ContainsFunc(inc.Responders, func(r Responder) bool { return r.State.StandsDown() })
}

// Responder returns the incident's responder with id, if any.
func (inc Incident) Responder(id string) (Responder, bool) {
	i := slices.IndexFunc(inc.Responders, func(r Responder) bool { return r.ID == id })
	if i < 0 {
		return Responder{}, false
	}
	return inc.Responders[i], true
}

// setResponder replaces (or adds) r in a new slice: the incident being
// changed may share its backing array with the stored one.
func setResponder(inc *Incident, r Responder) {
	out := make([]Responder, 0, len(inc.Responders)+1)
	found := false
	for _, x := range inc.Responders {
		if x.ID == r.ID {
			x, found = r, true
		}
		out = append(out, x)
	}
	if !found {
		out = append(out, r)
	}
	inc.Responders = out
}

// contacted records a recipient a step reaches: a new responder starts as
// contacted; one who answered already keeps their answer.
func (p planner) contacted(inc *Incident, r Recipient, via Channel) {
	if r.Role == Role119 {
		return
	}
	if _, ok := inc.Responder(r.ID); ok {
		return
	}
	setResponder(inc, Responder{ID: r.ID, Role: r.Role, Name: r.Name, Phone: MaskPhone(r.Phone),
		State: ResponderContacted, At: p.now, Via: via})
}

// Reply is what a person answered to a notification (a keypad digit, an
// SMS reply) or what a dispatcher records for them.
type Reply struct {
	// State is acknowledged (any other reply), on_the_way, on_scene or
	// resident_safe; empty counts as acknowledged.
	State ResponderState
	// ETAMinutes goes with on_the_way (0: not said).
	ETAMinutes int
	// Call119 is "call 119 now" (keypad 9): 119 gets an alert at once if
	// it has none, whatever the cause and the time of day.
	Call119 bool
	// Text is what they sent, recorded on the timeline (an unknown reply
	// is kept as it came, cut to 160 characters).
	Text string
}

func (r Reply) check() error {
	if r.State == "" {
		return nil
	}
	if !r.State.ValidAnswer() {
		return fmt.Errorf("%w: responder state %q (acknowledged, on_the_way, on_scene, resident_safe)", ErrInvalid, r.State)
	}
	if r.ETAMinutes < 0 || r.ETAMinutes > MaxETAMinutes {
		return fmt.Errorf("%w: eta_minutes %d outside 0-%d", ErrInvalid, r.ETAMinutes, MaxETAMinutes)
	}
	if r.ETAMinutes > 0 && r.State != ResponderOnTheWay {
		return fmt.Errorf("%w: eta_minutes goes with on_the_way, not %s", ErrInvalid, r.State)
	}
	return nil
}

// onReply applies a responder's answer to the notification row it
// answers.
func (p planner) onReply(cur *Incident, row *OutboxRow, r Reply) (Change, error) {
	rc := row.Recipient
	who := Responder{ID: rc.ID, Role: rc.Role, Name: rc.Name, Phone: MaskPhone(rc.Phone)}
	// The actor is AckActor's, so that reports find the notification whose
	// answer stood the incident down (AcknowledgedThrough).
	return p.respond(cur, who, r, AckActor(rc), row.Channel, "")
}

// respond records a responder's answer and acts on it:
//   - on scene or resident safe, or any answer on a welfare or device
//     incident: the escalation stops (as an acknowledgement always did);
//   - otherwise (acknowledged, on the way, on an emergency): only this
//     responder's pending notifications are cancelled and later steps skip
//     them; the escalation, 119 included, goes on;
//   - Call119: 119 is alerted now unless it was already (never stands
//     anything down).
//
// actor is who acted on the timeline, setBy the console user when a
// dispatcher recorded it for the responder.
func (p planner) respond(cur *Incident, who Responder, r Reply, actor string, via Channel, setBy string) (Change, error) {
	if err := r.check(); err != nil {
		return Change{}, err
	}
	inc := *cur
	inc.UpdatedAt = p.now
	ch := Change{Incident: &inc}
	state := cmp.Or(r.State, ResponderAcknowledged)
	if prev, ok := cur.Responder(who.ID); ok {
		who.Phone = cmp.Or(prev.Phone, who.Phone)
		if state == ResponderAcknowledged && prev.State.answered() {
			// "OK" after "on my way" says nothing new about where they are.
			state = prev.State
		}
		if state == prev.State {
			// "1" again without the minutes keeps the ETA they gave.
			who.ETAMinutes, who.ETA = prev.ETAMinutes, prev.ETA
		}
	}
	who.State, who.At, who.Via, who.SetBy = state, p.now, via, setBy
	if state == ResponderOnTheWay && r.ETAMinutes > 0 {
		who.ETAMinutes, who.ETA = r.ETAMinutes, p.now.Add(time.Duration(r.ETAMinutes)*time.Minute)
	}
	if state != ResponderOnTheWay {
		who.ETAMinutes, who.ETA = 0, time.Time{}
	}
	detail := responderDetail(who, r.Text)
	if inc.State.Closed() {
		// A late answer is kept for the record and changes nothing.
		ch.Timeline = append(ch.Timeline, p.entry(&inc, actor, ActResponder, via, detail+"; the incident was already closed"))
		if r.Call119 {
			ch.Timeline = append(ch.Timeline, p.entry(&inc, actor, ActSend119, via, "not sent: the incident was already closed"))
		}
		return ch, nil
	}
	setResponder(&inc, who)
	ch.Timeline = append(ch.Timeline, p.entry(&inc, actor, ActResponder, via, detail))
	if r.Call119 {
		p.queue119(&inc, &ch, actor, via, "asked by "+who.Label())
	}
	switch {
	case inc.State == StateAcknowledged:
		// Stood down already: recorded, nothing to stop.
	case state.StandsDown() || inc.AckStandsDown() && !r.Call119:
		inc.State, inc.AcknowledgedBy, inc.AcknowledgedVia, inc.AcknowledgedAt = StateAcknowledged, actor, via, p.now
		ch.CancelPending, ch.Keep = true, []Channel{Channel119}
		ch.Timeline = append(ch.Timeline, p.entry(&inc, actor, ActAcknowledged, via, "escalation stopped"))
	default:
		ch.CancelRecipients = append(ch.CancelRecipients, who.ID)
	}
	if state == ResponderOnTheWay || state.StandsDown() {
		// 119 acting on the alert wants to know who is coming or there.
		p.update119(&inc, &ch, detail)
	}
	return ch, nil
}

// responderDetail is the timeline's record of an answer:
// `guardian:최영희 on_the_way eta 20m; reply "1 20"`.
func responderDetail(r Responder, text string) string {
	s := r.Label() + " " + string(r.State)
	if r.ETAMinutes > 0 {
		s += " eta " + strconv.Itoa(r.ETAMinutes) + "m"
	}
	if text = strings.TrimSpace(text); text != "" {
		if utf8.RuneCountInString(text) > 160 {
			text = string([]rune(text)[:160]) + "…"
		}
		s += "; reply " + strconv.Quote(text)
	}
	return s
}

// send119 is a person's "send to 119 now" (a dispatcher, a social worker,
// a guardian's keypad 9), at any state of an open incident.
func (p planner) send119(cur *Incident, by string, via Channel, reason string) (Change, error) {
	if strings.TrimSpace(by) == "" {
		return Change{}, fmt.Errorf("%w: sent to 119 by whom?", ErrInvalid)
	}
	if strings.TrimSpace(reason) == "" {
		return Change{}, fmt.Errorf("%w: a reason for sending to 119 is required", ErrInvalid)
	}
	if cur.State.Closed() {
		return Change{}, ErrClosed
	}
	inc := *cur
	inc.UpdatedAt = p.now
	ch := Change{Incident: &inc}
	p.queue119(&inc, &ch, by, via, reason)
	if inc.State == StateVerifying {
		// A person decided it is an emergency: the check-in window ends and
		// the escalation runs now, so the guardians hear of it too, not only
		// 119 (whose "accepted" would otherwise stand everything down before
		// the window ended and anyone was told). 119 is not alerted twice.
		ch.CancelKeys = append(ch.CancelKeys, timerKey(inc.ID, TimerVerify, 0))
		inc.State = StateOpen
		inc.Explanation.Ko, inc.Explanation.En = windowEnded(&inc, 0, "why.window.send119")
		p.runStep(&inc, p.pol.For(inc.Cause, inc.Class), 0, &ch)
	}
	return ch, nil
}

// queue119 queues the 119 alert now, unless 119 was alerted already: 119
// never gets two alerts for one incident; a second request is recorded.
// Device health too: a person decided it, and no policy forbids a person.
func (p planner) queue119(inc *Incident, ch *Change, by string, via Channel, reason string) {
	if inc.Alerted119 {
		ch.Timeline = append(ch.Timeline, p.entry(inc, by, ActSend119, via, joinDetail("119 already alerted; not sent again", reason)))
		return
	}
	inc.Alerted119 = true
	ch.Enqueue = append(ch.Enqueue, OutboxRow{Key: send119Key(inc.ID), IncidentID: inc.ID, Kind: KindNotify,
		Channel: Channel119, Recipient: Recipient{Role: Role119, ID: "119", Name: "119"}, MsgType: MsgAlert,
		Attempt: 1, Step: -1, Priority: inc.Priority, State: OutboxPending, DueAt: p.now, Deadline: p.now.Add(p.pol.Retry119For.D())})
	ch.Timeline = append(ch.Timeline, p.entry(inc, by, ActSend119, via, joinDetail("alert to 119 queued", reason)))
}

func send119Key(incidentID string) string {
	return incidentID + "/send119/119/" + string(Channel119) + "/1"
}

// setResponder is a dispatcher or social worker recording a responder's
// state (the guardian phoned them). responder names one of the incident's
// responders by id ("guardian-1"), label ("guardian:최영희") or name, or a
// guardian or fixed contact not contacted yet.
func (p planner) setResponder(cur *Incident, by, responder string, r Reply) (Change, error) {
	if strings.TrimSpace(by) == "" {
		return Change{}, fmt.Errorf("%w: set by whom?", ErrInvalid)
	}
	if r.State == "" {
		return Change{}, fmt.Errorf("%w: state is required (acknowledged, on_the_way, on_scene, resident_safe)", ErrInvalid)
	}
	if r.Call119 {
		return Change{}, fmt.Errorf("%w: send to 119 is its own action", ErrInvalid)
	}
	who, err := p.findResponder(cur, responder)
	if err != nil {
		return Change{}, err
	}
	if cur.State.Closed() {
		return Change{}, ErrClosed
	}
	return p.respond(cur, who, r, by, ChannelConsole, by)
}

func (p planner) findResponder(inc *Incident, name string) (Responder, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Responder{}, fmt.Errorf("%w: responder is required (an id such as guardian-1, or a name)", ErrInvalid)
	}
	match := func(r Responder) bool { return r.ID == name || r.Label() == name || r.Name == name }
	if i := slices.IndexFunc(inc.Responders, match); i >= 0 {
		return inc.Responders[i], nil
	}
	// Not contacted yet: a guardian of the resident or a fixed contact
	// (the social worker's centre, the monitoring centre) who phoned in.
	for _, role := range []Role{RoleGuardian, RoleSocialWorker, RoleMonitoringCentre, RoleTechnician} {
		rs, _ := p.recipients(role)
		for _, rc := range rs {
			if r := (Responder{ID: rc.ID, Role: rc.Role, Name: rc.Name, Phone: MaskPhone(rc.Phone)}); match(r) {
				return r, nil
			}
		}
	}
	known := make([]string, 0, len(inc.Responders))
	for _, r := range inc.Responders {
		known = append(known, r.ID+" ("+r.Label()+")")
	}
	return Responder{}, fmt.Errorf("%w: no responder %q on this incident (known: %s)", ErrInvalid, name,
		cmp.Or(strings.Join(known, ", "), "none yet"))
}

// MaskPhone shows the start and the last four digits of a number, the
// way Korean services print it: "+821098765432" -> "010-****-5432".
func MaskPhone(phone string) string {
	digits := make([]byte, 0, len(phone))
	for i := 0; i < len(phone); i++ {
		if c := phone[i]; c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	d := string(digits)
	if strings.HasPrefix(phone, "+82") {
		d = "0" + strings.TrimPrefix(d, "82")
	}
	if len(d) < 8 {
		if d == "" {
			return ""
		}
		return "****"
	}
	head := d[:3]
	if strings.HasPrefix(d, "02") {
		head = "02" // Seoul's area code is two digits
	}
	return head + "-****-" + d[len(d)-4:]
}

// ---- the Dispatcher's actions ----

// ReplyToNotification applies a responder's answer to the notification
// whose key or provider reference is ref (a keypad digit on a call, an SMS
// reply): the row is marked acknowledged, the responder's state set, and
// the escalation stopped or not as respond decides. An answer on a closed
// incident is recorded only.
func (d *Dispatcher) ReplyToNotification(ctx context.Context, ref string, r Reply) (Incident, error) {
	return d.submit(ctx, Mutation{RowRef: ref, Apply: func(cur *Incident, row *OutboxRow) (Change, error) {
		if row.Kind != KindNotify || row.Recipient.Role == Role119 {
			return Change{}, fmt.Errorf("%w: %s is not a notification to a person", ErrInvalid, ref)
		}
		p := d.planner()
		p.resident = d.lookupResident(cur.Hub)
		ch, err := p.onReply(cur, row, r)
		if err != nil {
			return Change{}, err
		}
		ch.Row = &RowUpdate{Key: row.Key, State: OutboxAcknowledged}
		return ch, nil
	}})
}

// SetResponder records a responder's state for them (a dispatcher or
// social worker the guardian phoned): responder is an id ("guardian-1"),
// a label ("guardian:최영희") or a name; etaMinutes goes with on_the_way.
func (d *Dispatcher) SetResponder(ctx context.Context, incidentID, by, responder string, state ResponderState, etaMinutes int) (Incident, error) {
	return d.onIncident(ctx, incidentID, func(p planner, cur *Incident) (Change, error) {
		// A guardian not contacted yet is found among the resident's.
		p.resident = d.lookupResident(cur.Hub)
		return p.setResponder(cur, by, responder, Reply{State: state, ETAMinutes: etaMinutes})
	})
}

// Send119 alerts 119 now (a person's decision, from the console or the
// API), at any state of an open incident, stood down included. 119 is
// never alerted twice: a second request is recorded and sends nothing.
func (d *Dispatcher) Send119(ctx context.Context, incidentID, by, reason string) (Incident, error) {
	return d.onIncident(ctx, incidentID, func(p planner, cur *Incident) (Change, error) {
		// Ending a check-in window runs the first step: its guardians.
		p.resident = d.lookupResident(cur.Hub)
		return p.send119(cur, by, ChannelConsole, reason)
	})
}
