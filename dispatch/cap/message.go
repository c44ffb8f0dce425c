// Package cap hands incidents to 119 as OASIS CAP 1.2 messages over HTTPS
// and takes 119's answers back. Notifier is the dispatch core's channel to
// 119: it decides what 119 may see of a notification and fills a Message;
// Build turns it into XML with a stable identifier (built and parsed only
// here), a Sender posts it, and Answers applies what 119 says about it.
package cap

import (
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/wording"
)

// Namespace is the CAP 1.2 XML namespace.
const Namespace = "urn:oasis:names:tc:emergency:cap:1.2"

// ContentType is what CAP messages are posted as.
const ContentType = "application/cap+xml"

// Status is the CAP alert status we use.
type Status string

const (
	StatusActual   Status = "Actual"
	StatusExercise Status = "Exercise"
	StatusTest     Status = "Test"
)

// MsgType is the CAP message type we send.
type MsgType string

const (
	MsgAlert  MsgType = "Alert"
	MsgUpdate MsgType = "Update"
	MsgCancel MsgType = "Cancel"
)

// Certainty of what the gateway knows, in CAP's words.
type Certainty string

const (
	CertaintyObserved Certainty = "Observed" // confirmed: SOS pressed, fire corroborated, fall confirmed
	CertaintyLikely   Certainty = "Likely"   // p > ~50%: a detector fired, nobody cancelled
	CertaintyPossible Certainty = "Possible" // worth checking: inactivity, single sensor
	CertaintyUnlikely Certainty = "Unlikely" // used on Cancel
)

// ErrInvalid is wrapped by every Build error: the input cannot become a
// valid CAP message, and retrying will not help.
var ErrInvalid = errors.New("cap: invalid message")

// seoul is a fixed +09:00 zone: Korea has no daylight saving, and a fixed
// zone needs no tzdata on the host. CAP's schema forbids "Z" in sent.
var seoul = time.FixedZone("KST", 9*60*60)

// sentLayout always writes a numeric offset, as the schema's pattern demands.
const sentLayout = "2006-01-02T15:04:05-07:00"

// FormatSent renders t as CAP wants it: second precision, +09:00.
func FormatSent(t time.Time) string { return t.In(seoul).Format(sentLayout) }

// DefaultAddressee names the receiving 119 centre when the gateway is not
// told which one it hands off to.
const DefaultAddressee = "119 종합상황실"

// Reference names an earlier message; Update and Cancel must carry the
// reference of every earlier message of the incident they amend.
type Reference struct {
	Sender     string
	Identifier string
	Sent       time.Time
}

func (r Reference) String() string {
	return r.Sender + "," + r.Identifier + "," + FormatSent(r.Sent)
}

// Resident is who lives at the home, as much as 119 needs.
type Resident struct {
	Name         string
	Age          int
	Sex          string // "F", "M" or empty
	Phone        string
	MedicalNotes string
	Medications  []string
	Allergies    []string
}

// Access is how responders get in.
type Access struct {
	KeyHolder string // name and phone of whoever holds a key
	KeySafe   string // key safe location and code
	DoorCode  string
	Notes     string
}

// Location is where the home is. Lat/Lon of zero means unknown: no circle.
// Building, Floor and Unit are written as responders read them ("103동",
// "7층", "703호": devices.Address formats them); the area description
// joins them after the road address the Korean way.
type Location struct {
	Address  string
	Building string
	Floor    string
	Unit     string
	Lat, Lon float64
	RadiusKm float64 // 0 means 0.05 (50 m)
	// RoomKO and RoomEN say where in the home the alarm is and from what
	// device: "주방 연기감지기", "kitchen smoke detector". Empty when the
	// sensor is not known.
	RoomKO, RoomEN string
}

// Guardian is a family member or social worker and what they know so far.
type Guardian struct {
	Name     string
	Relation string // "daughter", "social worker", ...
	Phone    string
	Told     string // what we told them, e.g. "SMS 10:02, call 10:03"
	Answered string // their answer, e.g. "acknowledged by keypad, on the way"
}

// Message is the neutral input of Build: one CAP message about one incident.
type Message struct {
	IncidentID string // the dispatch core's incident id
	Sequence   int    // 0 for the first Alert, 1, 2, ... for each later message
	// Key, when set, names the message instead of Sequence: the dispatch
	// core's stable notification key (KeyedIdentifier).
	Key     string
	HubID   string
	Sender  string // CAP sender, e.g. "gateway@dolbom.example.kr"; no spaces or commas
	Sent    time.Time
	Status  Status  // empty means Actual
	MsgType MsgType // empty means Alert
	// References lists every earlier message of the incident (Update, Cancel).
	References []Reference

	// Category is what the incident is about; it picks the CAP category,
	// event name and default urgency/severity.
	Cause     dispatch.Category
	Priority  int // 1 (most urgent) to 4
	Certainty Certainty
	// SummaryKO and SummaryEN describe what happened, e.g. the detector's
	// reading; the builder adds resident and place.
	SummaryKO string
	SummaryEN string
	// TriedKO and TriedEN say what has been done already, one line each,
	// in each info's language ("10:01:30 허브를 통해 대상자에게 괜찮은지
	// 물음 (취소 대기 30초)"): people's words, never internal ones.
	TriedKO []string
	TriedEN []string
	Contact string // the monitoring centre's phone
	// CancelReason explains a Cancel ("resident cancelled", "false alarm verified").
	CancelReason string
	// Addressee is the 119 centre the message is for, named in the
	// restriction of a message that carries personal data (default
	// DefaultAddressee).
	Addressee string

	Resident  Resident
	Access    Access
	Location  Location
	Guardians []Guardian
}

// Identifier is the stable CAP identifier of the message with sequence seq
// about incidentID: a retry after a crash rebuilds the same identifier, so
// the receiver can recognise it.
func Identifier(sender, incidentID string, seq int) string {
	host := sender
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		host = sender[i+1:]
	}
	return "dolbom." + host + "." + incidentID + "." + strconv.Itoa(seq)
}

// KeyedIdentifier is the identifier of a message named by the dispatch
// core's notification key rather than a sequence: the incident's first
// alert's identifier, a dot and the key with every character CAP's
// identifier may not hold (space, comma, "/" ...) turned into "-". The key
// is stable, so a retry or a resend after a crash carries the same
// identifier and the receiver de-duplicates by it.
func KeyedIdentifier(sender, incidentID, key string) string {
	suffix := make([]byte, 0, len(key))
	for i := 0; i < len(key); i++ {
		b := key[i]
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' {
			suffix = append(suffix, b)
		} else {
			suffix = append(suffix, '-')
		}
	}
	return Identifier(sender, incidentID, 0) + "." + string(suffix)
}

// IncidentOf recovers the incident id from one of our identifiers
// ("dolbom.<host>.<incident>.0[.<key>]"), for a 119 answer that names only
// the identifier; empty when it is not one of ours.
func IncidentOf(identifier string) string {
	rest, ok := strings.CutPrefix(identifier, "dolbom.")
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

// identifier is m's: by its Key when it has one, else by its Sequence.
func (m Message) identifier() string {
	if m.Key != "" {
		return KeyedIdentifier(m.Sender, m.IncidentID, m.Key)
	}
	return Identifier(m.Sender, m.IncidentID, m.Sequence)
}

// Ref returns the Reference later messages use to point at m.
func (m Message) Ref() Reference {
	return Reference{Sender: m.Sender, Identifier: m.identifier(), Sent: m.Sent}
}

// XML shape, in the schema's element order.
type alertXML struct {
	XMLName    xml.Name `xml:"urn:oasis:names:tc:emergency:cap:1.2 alert"`
	Identifier string   `xml:"identifier"`
	Sender     string   `xml:"sender"`
	Sent       string   `xml:"sent"`
	Status     Status   `xml:"status"`
	MsgType    MsgType  `xml:"msgType"`
	Source     string   `xml:"source,omitempty"`
	Scope      string   `xml:"scope"`
	// Restriction is required by CAP with scope Restricted.
	Restriction string    `xml:"restriction,omitempty"`
	Note        string    `xml:"note,omitempty"`
	References  string    `xml:"references,omitempty"`
	Incidents   string    `xml:"incidents,omitempty"`
	Info        []infoXML `xml:"info"`
}

type infoXML struct {
	Language     string     `xml:"language"`
	Category     string     `xml:"category"`
	Event        string     `xml:"event"`
	ResponseType string     `xml:"responseType,omitempty"`
	Urgency      string     `xml:"urgency"`
	Severity     string     `xml:"severity"`
	Certainty    Certainty  `xml:"certainty"`
	SenderName   string     `xml:"senderName,omitempty"`
	Headline     string     `xml:"headline,omitempty"`
	Description  string     `xml:"description,omitempty"`
	Instruction  string     `xml:"instruction,omitempty"`
	Contact      string     `xml:"contact,omitempty"`
	Parameters   []paramXML `xml:"parameter"`
	Area         []areaXML  `xml:"area"`
}

type paramXML struct {
	ValueName string `xml:"valueName"`
	Value     string `xml:"value"`
}

type areaXML struct {
	AreaDesc string `xml:"areaDesc"`
	Circle   string `xml:"circle,omitempty"`
}

// causeInfo is the fixed CAP vocabulary per cause.
type causeInfo struct {
	category          string
	eventKO, eventEN  string
	urgency, severity string
	instrKO, instrEN  string
}

var causes = map[dispatch.Category]causeInfo{
	dispatch.CategoryFall: {"Rescue", "독거노인 낙상", "Fall of a senior living alone", "Immediate", "Severe",
		"구급대 출동 요망. 거주자가 스스로 일어나지 못할 수 있음.", "Send an ambulance; the resident may be unable to get up."},
	dispatch.CategoryFire: {"Fire", "독거노인 주택 화재 감지", "Fire detected in a senior's home", "Immediate", "Extreme",
		"화재 출동 요망. 거동이 불편한 노인이 혼자 거주함.", "Send fire and rescue; a frail senior lives alone here."},
	dispatch.CategoryGas: {"Safety", "독거노인 주택 가스/일산화탄소 감지", "Gas or CO detected in a senior's home", "Immediate", "Severe",
		"가스 누출 대응 및 구급 요망.", "Respond to a gas leak; send an ambulance."},
	dispatch.CategorySOS: {"Rescue", "독거노인 응급호출(SOS)", "Emergency button pressed by a senior", "Immediate", "Severe",
		"구급대 출동 요망. 거주자가 응급호출 버튼을 눌렀음.", "Send an ambulance; the resident pressed the emergency button."},
	dispatch.CategoryHeart: {"Health", "독거노인 심장 이상", "Cardiac emergency of a senior", "Immediate", "Extreme",
		"구급대 즉시 출동 요망. 심정지 가능성.", "Send an ambulance at once; possible cardiac arrest."},
	dispatch.CategoryBreathing: {"Health", "독거노인 호흡 이상", "Breathing emergency of a senior", "Immediate", "Extreme",
		"구급대 즉시 출동 요망. 호흡 이상 감지.", "Send an ambulance at once; abnormal breathing detected."},
	dispatch.CategoryInactivity: {"Health", "독거노인 장시간 무활동", "Prolonged inactivity of a senior living alone", "Expected", "Moderate",
		"안부 확인을 위한 출동 요망.", "Welfare check needed."},
	dispatch.CategoryFallRecovered: {"Health", "독거노인 낙상 후 스스로 일어남", "A senior living alone fell and got up", "Expected", "Minor",
		"안부 확인 요망. 거주자가 낙상 후 스스로 일어났음.", "Welfare check needed; the resident fell and got up by themselves."},
	dispatch.CategoryDevice: {"Safety", "독거노인 안전장비 이상", "Safety device fault in a senior's home", "Future", "Minor",
		"정보 제공용.", "For information."},
}

// Build renders m as a CAP 1.2 alert and returns its identifier and XML.
// Personal data (resident, access, guardians, address) is written only into
// Alert and Update messages; a Cancel carries identity and reason only.
func Build(m Message) (identifier string, body []byte, err error) {
	if err := m.validate(); err != nil {
		return "", nil, err
	}
	status, msgType := m.Status, m.MsgType
	if status == "" {
		status = StatusActual
	}
	if msgType == "" {
		msgType = MsgAlert
	}
	ci := causes[m.Cause]
	identifier = m.identifier()
	a := alertXML{
		Identifier: identifier,
		Sender:     m.Sender,
		Sent:       FormatSent(m.Sent),
		Status:     status,
		MsgType:    msgType,
		Source:     "dolbom hub " + m.HubID,
		Scope:      "Public",
		Incidents:  "dolbom." + m.IncidentID,
	}
	// A message with the resident's address, access codes, medical notes
	// or contacts is not for the public: CAP's Restricted scope with a
	// restriction naming the one 119 centre it is addressed to tells any
	// system that relays it not to publish it. ("Private" would need a
	// list of CAP addresses, which 119 does not define.) A Cancel carries
	// no personal data and stays Public.
	if msgType != MsgCancel && m.personal() {
		addressee := m.Addressee
		if addressee == "" {
			addressee = DefaultAddressee
		}
		a.Scope = "Restricted"
		a.Restriction = addressee + " 전용: 개인정보(주소·출입·의료) 포함, 공개·재배포 금지. " +
			"For " + addressee + " only: personal data (address, access, medical); do not publish or relay."
	}
	refs := make([]string, len(m.References))
	for i, r := range m.References {
		refs[i] = r.String()
	}
	a.References = strings.Join(refs, " ")

	if msgType == MsgCancel {
		a.Note = m.CancelReason
		a.Info = m.cancelInfo(ci)
	} else {
		a.Info = m.openInfo(ci)
	}
	out, err := xml.MarshalIndent(a, "", "  ")
	if err != nil {
		return "", nil, fmt.Errorf("cap: marshal %s: %w", identifier, err)
	}
	return identifier, append([]byte(xml.Header), append(out, '\n')...), nil
}

func (m Message) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if m.IncidentID == "" || strings.ContainsAny(m.IncidentID, " ,<&") {
		return bad("incident id %q", m.IncidentID)
	}
	if m.Sender == "" || strings.ContainsAny(m.Sender, " ,<&") {
		return bad("sender %q", m.Sender)
	}
	if m.Sent.IsZero() {
		return bad("sent time missing")
	}
	if _, ok := causes[m.Cause]; !ok {
		return bad("cause %q", m.Cause)
	}
	switch m.Status {
	case "", StatusActual, StatusExercise, StatusTest:
	default:
		return bad("status %q", m.Status)
	}
	switch m.MsgType {
	case "", MsgAlert:
	case MsgUpdate, MsgCancel:
		if len(m.References) == 0 {
			return bad("%s without references", m.MsgType)
		}
	default:
		return bad("msgType %q", m.MsgType)
	}
	for _, r := range m.References {
		if r.Identifier == "" || r.Sender == "" || r.Sent.IsZero() {
			return bad("incomplete reference %+v", r)
		}
	}
	if m.Sequence < 0 {
		return bad("sequence %d", m.Sequence)
	}
	return nil
}

// personal reports whether an Alert or Update would carry anything about
// the person or their home.
func (m Message) personal() bool {
	r, ac, l := m.Resident, m.Access, m.Location
	return r.Name != "" || r.Phone != "" || r.MedicalNotes != "" || len(r.Medications) > 0 || len(r.Allergies) > 0 ||
		ac != (Access{}) || l.Address != "" || l.Building != "" || l.Floor != "" || l.Unit != "" || len(m.Guardians) > 0
}

func (m Message) certainty() Certainty {
	if m.Certainty == "" {
		return CertaintyLikely
	}
	return m.Certainty
}

func (m Message) openInfo(ci causeInfo) []infoXML {
	params := m.parameters()
	ko := infoXML{
		Language:     "ko-KR",
		Category:     ci.category,
		Event:        ci.eventKO,
		ResponseType: "Assess",
		Urgency:      ci.urgency,
		Severity:     ci.severity,
		Certainty:    m.certainty(),
		SenderName:   "돌봄 안전 게이트웨이",
		Headline:     m.headlineKO(ci),
		Description:  m.describeKO(),
		Instruction:  ci.instrKO,
		Contact:      m.Contact,
		Parameters:   withRoom(withTried(params, m.TriedKO), m.Location.RoomKO),
		Area:         m.area(m.Location.RoomKO),
	}
	en := ko
	en.Language = "en-US"
	en.Event = ci.eventEN
	en.SenderName = "Dolbom safety gateway"
	en.Headline = m.headlineEN(ci)
	en.Description = m.describeEN()
	en.Instruction = ci.instrEN
	en.Parameters = withRoom(withTried(params, m.TriedEN), m.Location.RoomEN)
	en.Area = m.area(m.Location.RoomEN)
	return []infoXML{ko, en}
}

// withRoom adds the alarm's room, in the info block's language, after the
// floor and unit parameters.
func withRoom(params []paramXML, room string) []paramXML {
	if room == "" {
		return params
	}
	at := len(params)
	for i, p := range params {
		if p.ValueName == "unit" || p.ValueName == "floor" {
			at = i + 1
		}
	}
	return slices.Insert(slices.Clone(params), at, paramXML{"sensor_location", room})
}

func (m Message) cancelInfo(ci causeInfo) []infoXML {
	params := []paramXML{
		{"incident_id", m.IncidentID},
		{"hub_id", m.HubID},
		{"cause", string(m.Cause)},
	}
	if m.CancelReason != "" {
		params = append(params, paramXML{"cancel_reason", m.CancelReason})
	}
	base := infoXML{
		Category:     ci.category,
		ResponseType: "AllClear",
		Urgency:      "Past",
		Severity:     "Minor",
		Certainty:    CertaintyUnlikely,
		Contact:      m.Contact,
		Parameters:   params,
	}
	ko, en := base, base
	ko.Language, ko.Event = "ko-KR", ci.eventKO
	ko.Headline = "신고 취소: " + ci.eventKO
	ko.Description = "이전 신고를 취소합니다. 사유: " + orDash(m.CancelReason)
	en.Language, en.Event = "en-US", ci.eventEN
	en.Headline = "Cancelled: " + ci.eventEN
	en.Description = "The earlier alert is cancelled. Reason: " + orDash(m.CancelReason)
	return []infoXML{ko, en}
}

func (m Message) headlineKO(ci causeInfo) string {
	h := ci.eventKO
	if m.Resident.Name != "" {
		h += " - " + m.Resident.Name
		if m.Resident.Age > 0 {
			h += "(" + strconv.Itoa(m.Resident.Age) + "세)"
		}
	}
	return h
}

func (m Message) headlineEN(ci causeInfo) string {
	h := ci.eventEN
	if m.Resident.Name != "" {
		h += " - " + m.Resident.Name
		if m.Resident.Age > 0 {
			h += " (" + strconv.Itoa(m.Resident.Age) + ")"
		}
	}
	return h
}

func (m Message) describeKO() string {
	return describe(descriptionKO, m.SummaryKO, m.placeOf(), m.Location.RoomKO, m.TriedKO)
}

func (m Message) describeEN() string {
	return describe(descriptionEN, m.SummaryEN, m.placeOf(), m.Location.RoomEN, m.TriedEN)
}

// descriptionWords are the labels of a description in one language.
type descriptionWords struct{ address, room, tried string }

var (
	descriptionKO = descriptionWords{address: "주소", room: "감지 위치", tried: "조치 내역"}
	descriptionEN = descriptionWords{address: "Address", room: "Alarm from", tried: "Already tried"}
)

// describe is a description in one language: the summary, the address
// (when there is one), the room of the alarm, what was tried already.
func describe(w descriptionWords, summary, place, room string, tried []string) string {
	var b strings.Builder
	if summary != "" {
		b.WriteString(summary)
		b.WriteString(" ")
	}
	if place != "" {
		fmt.Fprintf(&b, "%s: %s. ", w.address, place)
	}
	if room != "" {
		fmt.Fprintf(&b, "%s: %s. ", w.room, room)
	}
	if len(tried) > 0 {
		fmt.Fprintf(&b, "%s: %s.", w.tried, strings.Join(tried, "; "))
	}
	return strings.TrimSpace(b.String())
}

// placeOf is the address as read in Korea, "" when the resident has no
// address on record (the building and door alone do not make one).
func (m Message) placeOf() string {
	if m.Location.Address == "" {
		return ""
	}
	return m.placeString()
}

// placeString is the address as it is read in Korea, road address first
// and the door last: "서울특별시 강남구 테헤란로 123 행복아파트 101동 3층 302호".
func (m Message) placeString() string {
	l := m.Location
	return wording.Join(" ", l.Address, l.Building, l.Floor, l.Unit)
}

// parameters lists the structured facts; empty values are left out so the
// receiver never sees a misleading blank.
func (m Message) parameters() []paramXML {
	var ps []paramXML
	add := func(name, value string) {
		if value != "" {
			ps = append(ps, paramXML{name, value})
		}
	}
	add("incident_id", m.IncidentID)
	add("hub_id", m.HubID)
	add("cause", string(m.Cause))
	if m.Priority > 0 {
		add("priority", "P"+strconv.Itoa(m.Priority))
	}
	r := m.Resident
	add("resident_name", r.Name)
	if r.Age > 0 {
		add("resident_age", strconv.Itoa(r.Age))
	}
	add("resident_sex", r.Sex)
	add("resident_phone", r.Phone)
	add("medical_notes", r.MedicalNotes)
	add("medications", strings.Join(r.Medications, "; "))
	add("allergies", strings.Join(r.Allergies, "; "))
	add("access_key_holder", m.Access.KeyHolder)
	add("access_key_safe", m.Access.KeySafe)
	add("access_door_code", m.Access.DoorCode)
	add("access_notes", m.Access.Notes)
	add("floor", m.Location.Floor)
	add("unit", m.Location.Unit)
	for i, g := range m.Guardians {
		n := strconv.Itoa(i + 1)
		add("guardian_"+n, wording.Join(" / ", g.Name, g.Relation, g.Phone))
		add("guardian_"+n+"_told", g.Told)
		add("guardian_"+n+"_answered", g.Answered)
	}
	return ps
}

// withTried adds what was tried, in the info block's language, as
// tried_1, tried_2, ...
func withTried(params []paramXML, tried []string) []paramXML {
	out := slices.Clone(params)
	for i, t := range tried {
		if t != "" {
			out = append(out, paramXML{"tried_" + strconv.Itoa(i+1), t})
		}
	}
	return out
}

// area is the home; room, in the info block's language, says where in it
// the alarm is: "... 302호 (주방 연기감지기)".
func (m Message) area(room string) []areaXML {
	desc := m.placeString()
	if desc == "" {
		desc = "unknown"
	}
	if room != "" {
		desc += " (" + room + ")"
	}
	a := areaXML{AreaDesc: desc}
	if m.Location.Lat != 0 || m.Location.Lon != 0 {
		r := m.Location.RadiusKm
		if r <= 0 {
			r = 0.05
		}
		a.Circle = strconv.FormatFloat(m.Location.Lat, 'f', 6, 64) + "," +
			strconv.FormatFloat(m.Location.Lon, 'f', 6, 64) + " " +
			strconv.FormatFloat(r, 'f', -1, 64)
	}
	return []areaXML{a}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Parsed is the little of a CAP message a receiver needs to route it.
type Parsed struct {
	Identifier string
	Sender     string
	Sent       string
	Status     Status
	MsgType    MsgType
	References string
	IncidentID string // from the incident_id parameter, when present
	Headline   string // of the first info block
}

// Parse reads the routing fields of a CAP message (used by the mock 119
// receiver and tests; it is not a validator).
func Parse(body []byte) (Parsed, error) {
	var a alertXML
	if err := xml.Unmarshal(body, &a); err != nil {
		return Parsed{}, fmt.Errorf("cap: parse: %w", err)
	}
	p := Parsed{Identifier: a.Identifier, Sender: a.Sender, Sent: a.Sent, Status: a.Status,
		MsgType: a.MsgType, References: a.References}
	if len(a.Info) > 0 {
		p.Headline = a.Info[0].Headline
		for _, prm := range a.Info[0].Parameters {
			if prm.ValueName == "incident_id" {
				p.IncidentID = prm.Value
			}
		}
	}
	if p.Identifier == "" {
		return p, fmt.Errorf("cap: parse: no identifier")
	}
	return p, nil
}
