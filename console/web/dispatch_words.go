package web

// The words of the dispatcher's pages for what dispatch and the detectors
// record as identifiers: people ("guardian:최영희", "sw-kim"), phones in
// E.164, the detectors' facts ("peak", "radar_still"), the channels'
// errors. A dispatcher under time pressure reads names and Korean, never
// internals; anything not recognised is shown as a translated category,
// with the recorded text kept for the timeline's audit view only.

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/wording"
)

// accountNamer is page data that knows the console's account names (the
// dispatcher's pages load them once per page: accounts are few).
type accountNamer interface {
	accountName(id string) (string, bool)
}

// accountNames maps account ids to names. A failure leaves ids as they
// are: the page is more use with an id than not at all.
func (w *web) accountNames(ctx context.Context) map[string]string {
	list, err := w.deps.Accounts.ListAccounts(ctx)
	if err != nil {
		w.log.Warn().Err(err).Msg("account names for the dispatcher's pages")
		return nil
	}
	names := make(map[string]string, len(list))
	for _, a := range list {
		if a.Name != "" {
			names[a.ID] = a.Name
		}
	}
	return names
}

func (d queueData) accountName(id string) (string, bool) { n, ok := d.Names[id]; return n, ok }

func (d incidentData) accountName(id string) (string, bool) { n, ok := d.Names[id]; return n, ok }

// sensorPlace names a sensor the timeline mentions by its room and kind
// (incidentData.Sensors), never by its id.
func (p *pageData) sensorPlace(id devices.SensorID) string {
	if d, ok := p.Data.(incidentData); ok {
		if s, ok := d.Sensors[id]; ok {
			return s.Place(p.Lang)
		}
	}
	return p.T("inc.sensor.unknown")
}

// Person names who acted or was told, as recorded by dispatch:
// "guardian:최영희" is "보호자 최영희", "monitoring_centre:" is "관제센터", an
// account id ("sw-kim") is its person's name, "119 강남구급대" stays.
func (p *pageData) Person(who string) string {
	if who == "" {
		return ""
	}
	if role, name, ok := strings.Cut(who, ":"); ok {
		if label := translateOr(p.Lang, "who."+role, ""); label != "" {
			return wording.Join(" ", label, p.accountOr(name))
		}
	}
	if label := translateOr(p.Lang, "actor."+who, ""); label != "" {
		return label
	}
	return p.accountOr(who)
}

// accountOr is an account's name, or s when s names no account.
func (p *pageData) accountOr(s string) string {
	if n, ok := p.Data.(accountNamer); ok {
		if name, ok := n.accountName(s); ok {
			return name
		}
	}
	return s
}

// OtherCauses are the incident's causes besides its headline one (a fall
// folded into an SOS, smoke into a confirmed fire), in words; "" when
// there are none.
func (p *pageData) OtherCauses(inc dispatch.Incident) string {
	var out []string
	for _, c := range inc.Causes {
		if c != inc.Cause {
			out = append(out, p.Cause(c))
		}
	}
	return strings.Join(out, ", ")
}

// Phone is a phone as Koreans read it: 010-1234-5678.
func (p *pageData) Phone(e164 string) string { return devices.DomesticPhone(e164) }

// Address is the address written the Korean way, to the unit: "... 103동
// 7층 703호" (in both languages: it is what the responders must find).
func (p *pageData) Address(a devices.Address) string { return a.Korean() }

// factText is one detector fact in the reader's words.
type factText struct{ Name, Value string }

// boolFacts are facts whose value is yes (1) or no (0).
var boolFacts = map[string]bool{"radar_still": true, "night_bed_still": true, "bed_empty": true, "in_bed": true, "from_lying": true, "heat": true, "co_rise": true, "moving": true, "hub_online": true,
	"gateway_restart": true, "evaluation_failed": true}

// Fact words a detector's fact: "충격 최대값 3.4 g", "레이더: 움직임 없음 예".
func (p *pageData) Fact(f detectors.Fact) factText {
	t := factText{Name: translateOr(p.Lang, "fact."+f.Name, "")}
	if t.Name == "" {
		t.Name = p.T("fact.other")
	}
	switch {
	case boolFacts[f.Name]:
		t.Value = p.T("fact.no")
		if f.Value != 0 {
			t.Value = p.T("fact.yes")
		}
	case f.Unit == "unix_s":
		t.Value = p.DateTime(time.Unix(int64(f.Value), 0))
	case f.Unit == "s":
		t.Value = p.Waited(time.Duration(f.Value * float64(time.Second)))
	case f.Unit == "min":
		t.Value = p.Waited(time.Duration(f.Value * float64(time.Minute)))
	case f.Name == "quality":
		t.Value = strconv.Itoa(int(f.Value*100+0.5)) + "%"
	default:
		t.Value = strconv.FormatFloat(f.Value, 'g', 4, 64)
		if f.Unit != "" {
			t.Value += " " + translateOr(p.Lang, "funit."+f.Unit, f.Unit)
		}
	}
	return t
}

// ErrorText is an error recorded on a notification in the reader's words:
// the known ones by name, anything else as "전송 오류" (the recorded text is
// in the audit and the logs).
func (p *pageData) ErrorText(s string) string {
	if s == "" {
		return ""
	}
	return p.T(wording.ErrorKey(s))
}

// guardianView is a guardian on the first screen: who, and what we know of
// them now. A responder state (acknowledged, on the way with an ETA, on
// scene, resident safe: what they answered, or what a dispatcher recorded)
// outranks what the notifications say (told by SMS, called, no answer).
type guardianView struct {
	devices.Guardian
	State   string // translation key: rs.*, out.* or gstate.none
	Channel string
	At      time.Time
	Error   string // the last error, for ErrorText
	Acked   bool   // answered in any way
	// ETAMinutes and ETA while on the way; SetBy is who recorded the
	// state for them (a dispatcher they phoned).
	ETAMinutes int
	ETA        time.Time
	SetBy      string
}

// guardianStates matches the incident's responders (by name) and its
// notifications (by phone, else by name) to the resident's guardians: a
// responder's answer first; else the latest word from or to each, an
// acknowledgement outranking anything later.
func guardianStates(gs []devices.Guardian, rows []dispatch.OutboxRow, inc dispatch.Incident) []guardianView {
	out := make([]guardianView, 0, len(gs))
	for _, g := range gs {
		v := guardianView{Guardian: g, State: "gstate.none"}
		for _, r := range rows {
			match := r.Recipient.Phone != "" && r.Recipient.Phone == g.Phone || r.Recipient.Phone == "" && r.Recipient.Name == g.Name
			if r.Kind != dispatch.KindNotify || r.Recipient.Role != dispatch.RoleGuardian || !match || v.Acked {
				continue
			}
			if r.State != dispatch.OutboxAcknowledged && !v.At.IsZero() && r.UpdatedAt.Before(v.At) {
				continue
			}
			v.State, v.Channel, v.At, v.Error = "out."+string(r.State), string(r.Channel), r.UpdatedAt, r.LastError
			v.Acked = r.State == dispatch.OutboxAcknowledged
		}
		if r, ok := guardianResponder(inc.Responders, g); ok && r.State != dispatch.ResponderContacted {
			v.State, v.Channel, v.At, v.Error, v.Acked = "rs."+string(r.State), string(r.Via), r.At, "", true
			v.ETAMinutes, v.ETA, v.SetBy = r.ETAMinutes, r.ETA, r.SetBy
		} else if inc.AcknowledgedBy == string(dispatch.RoleGuardian)+":"+g.Name {
			v.State, v.Acked, v.At, v.Channel = "out.acknowledged", true, inc.AcknowledgedAt, string(inc.AcknowledgedVia)
		}
		out = append(out, v)
	}
	return out
}

// guardianResponder is the responder who is the guardian g.
func guardianResponder(rs []dispatch.Responder, g devices.Guardian) (dispatch.Responder, bool) {
	for _, r := range rs {
		if r.Role == dispatch.RoleGuardian && r.Name == g.Name {
			return r, true
		}
	}
	return dispatch.Responder{}, false
}

// otherResponders are the responders who are not among the guardians
// listed (a social worker, the monitoring centre): the first screen lists
// them after the guardians.
func otherResponders(rs []dispatch.Responder, gs []devices.Guardian) []dispatch.Responder {
	var out []dispatch.Responder
	for _, r := range rs {
		listed := false
		for _, g := range gs {
			listed = listed || r.Role == dispatch.RoleGuardian && r.Name == g.Name
		}
		if !listed {
			out = append(out, r)
		}
	}
	return out
}

// responderChoice is one person whose state the responder form records:
// Value is what dispatch finds them by (a responder id, or the name of a
// guardian not contacted yet who phoned in), Role and Name how to show them.
type responderChoice struct {
	Value string
	Role  dispatch.Role
	Name  string
}

// responderChoices are the incident's responders, then the guardians not
// contacted yet (a guardian may phone the dispatcher before any message
// reached them).
func responderChoices(rs []dispatch.Responder, gs []devices.Guardian) []responderChoice {
	out := make([]responderChoice, 0, len(rs)+len(gs))
	for _, r := range rs {
		out = append(out, responderChoice{Value: r.ID, Role: r.Role, Name: r.Name})
	}
	for _, g := range gs {
		if _, ok := guardianResponder(rs, g); !ok && g.Name != "" {
			out = append(out, responderChoice{Value: g.Name, Role: dispatch.RoleGuardian, Name: g.Name})
		}
	}
	return out
}
