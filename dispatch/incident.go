package dispatch

import (
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// State is where an incident is in its lifecycle:
//
//	open -> verifying -> notified -> acknowledged -> resolved
//	  \________\____________\_____________\______-> cancelled
//
// verifying is only entered from a Pending detection (the resident is being
// asked through the hub); notified once a first notification went out.
type State string

const (
	StateOpen         State = "open"
	StateVerifying    State = "verifying"
	StateNotified     State = "notified"
	StateAcknowledged State = "acknowledged"
	StateResolved     State = "resolved"
	StateCancelled    State = "cancelled"
)

// Closed reports whether the incident is over (resolved or cancelled).
func (s State) Closed() bool { return s == StateResolved || s == StateCancelled }

// ActiveStates are the states of an incident that is not over (not
// Closed), for the queries of the open ones: the console's queue, the
// API's "active" filter, the incidents a guardian's reply may answer. A
// fresh slice each call, so that a query may append to it.
func ActiveStates() []State {
	return []State{StateOpen, StateVerifying, StateNotified, StateAcknowledged}
}

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	switch s {
	case StateOpen, StateVerifying, StateNotified, StateAcknowledged, StateResolved, StateCancelled:
		return true
	}
	return false
}

// Disposition is how a resolved incident ended.
type Disposition string

const (
	DispositionRealEmergency Disposition = "real_emergency"
	DispositionFalseAlarm    Disposition = "false_alarm"
	DispositionTest          Disposition = "test"
	DispositionDuplicate     Disposition = "duplicate"
	DispositionNoAction      Disposition = "no_action"
)

// Valid reports whether d is one of the dispositions above.
func (d Disposition) Valid() bool {
	switch d {
	case DispositionRealEmergency, DispositionFalseAlarm, DispositionTest, DispositionDuplicate, DispositionNoAction:
		return true
	}
	return false
}

// Incident is one emergency in one home: the episode of its first
// detection (its fingerprint) and the related episodes of the home folded
// into it (Episodes). Repeated detections update it; they never open a
// second one.
type Incident struct {
	ID          string             `json:"id"`
	Fingerprint string             `json:"fingerprint"`
	Hub         devices.HubID      `json:"hub_id"`
	Sensor      devices.SensorID   `json:"sensor_id,omitempty"`
	ResidentID  devices.ResidentID `json:"resident_id,omitempty"`
	Class       detectors.Class    `json:"class"`
	Cause       detectors.Cause    `json:"cause"`
	Priority    detectors.Priority `json:"priority"`
	State       State              `json:"state"`

	Explanation detectors.Explanation `json:"explanation"`
	// Timing is where the opening detection's event spent its time in the
	// gateway that opened the incident (nil when no event fired it, or for
	// incidents of older versions): received, journaled, detected, and
	// Dispatched, when the incident was opened, is OpenedAt.
	Timing *detectors.Timing `json:"timing,omitempty"`
	// Evidence is the last detection's evidence; Count how many detections
	// of the episode were folded into the incident.
	Evidence detectors.Evidence `json:"evidence"`
	Count    int                `json:"count"`

	Episode   time.Time `json:"episode"`
	OpenedAt  time.Time `json:"opened_at"`
	UpdatedAt time.Time `json:"updated_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`

	AcknowledgedBy  string      `json:"acknowledged_by,omitempty"`
	AcknowledgedVia Channel     `json:"acknowledged_via,omitempty"`
	AcknowledgedAt  time.Time   `json:"acknowledged_at,omitzero"`
	AssignedTo      string      `json:"assigned_to,omitempty"`
	Disposition     Disposition `json:"disposition,omitempty"`

	// NextStep is the index of the escalation step that runs next (steps of
	// repeated rounds count on: round*len(steps)+i).
	NextStep int `json:"next_step"`
	// Alerted119 is set once an alert to 119 was queued, so that a cancel
	// or a false alarm is sent to 119 too, and a repeat round does not
	// alert 119 twice.
	Alerted119 bool `json:"alerted_119,omitempty"`
	// Status119 is 119's last answer (accepted, dispatched, ...).
	Status119 string `json:"status_119,omitempty"`
	// Sent119 is set once 119's endpoint accepted the first alert: only
	// then does a Cancel or an Update have something to refer to.
	Sent119 bool `json:"sent_119,omitempty"`
	// Cancel119Owed is set when the incident closed (with a disposition
	// that tells 119) while its alert was queued but not known sent: the
	// Cancel is queued only if that alert is still sent (it was in flight).
	Cancel119Owed bool `json:"cancel_119_owed,omitempty"`
	// Updates119 counts the CAP Updates queued (each has its own key);
	// Update119Due is when the last one was due (the rate limit).
	Updates119   int       `json:"updates_119,omitempty"`
	Update119Due time.Time `json:"update_119_due,omitzero"`

	// Episodes are the detection episodes folded into the incident, its
	// own first (fold.go): related detections of one home (smoke, then
	// heat; a fall, then SOS) are one emergency. Causes lists every cause
	// seen, in the order first seen; Cause is the most serious of them.
	Episodes []Episode         `json:"episodes,omitempty"`
	Causes   []detectors.Cause `json:"causes,omitempty"`
	// Told lists the recipients ("guardian/guardian-1") an alert was queued
	// for: when the cause rises they get one SMS, not a second round.
	Told []string `json:"told,omitempty"`
	// Plan counts the times the escalation was planned again under a new
	// cause's policy; it prefixes the keys of the new plan's rows.
	Plan int `json:"plan,omitempty"`

	// Responders are the people contacted about the incident (every
	// recipient but 119) and what each said: acknowledged, on the way (with
	// an ETA), on scene, resident safe (responders.go).
	Responders []Responder `json:"responders,omitempty"`

	// Seq is the change sequence number of the incident's last change,
	// increasing across all incidents: the live feed's event id.
	Seq int64 `json:"seq"`
}

// TimelineEntry is one step in an incident's history: its audit record.
type TimelineEntry struct {
	IncidentID string    `json:"incident_id"`
	At         time.Time `json:"at"`
	// Actor is who or what acted: "system", "resident", "119", a user name,
	// "guardian:김민수".
	Actor   string  `json:"actor"`
	Action  string  `json:"action"`
	Channel Channel `json:"channel,omitempty"`
	Detail  string  `json:"detail,omitempty"`
}

// Timeline actions.
const (
	ActOpened        = "opened"
	ActRepeated      = "repeated"
	ActPriority      = "priority_raised"
	ActCheckIn       = "check_in_sent"
	ActVerifyTimeout = "verify_window_ended"
	ActEscalated     = "escalation_step"
	ActQueued        = "notification_queued"
	ActSent          = "sent"
	ActDelivered     = "delivered"
	ActRetrying      = "delivery_retrying"
	ActFailed        = "delivery_failed"
	ActAcknowledged  = "acknowledged"
	ActAssigned      = "assigned"
	ActNote          = "note"
	ActResolved      = "resolved"
	ActCancelled     = "cancelled"
	ActCleared       = "condition_cleared"
	Act119           = "119_answer"
	ActSkipped       = "skipped"
	// ActResponder records a responder's answer or a dispatcher setting
	// it; ActSend119 a person's "send to 119 now" (responders.go).
	ActResponder = "responder"
	ActSend119   = "send_119"
)

// IncidentQuery selects incidents for the console. Empty fields match all.
type IncidentQuery struct {
	States     []State
	Priority   detectors.Priority // 0: any
	Cause      detectors.Cause
	Hub        devices.HubID
	ResidentID devices.ResidentID
	Since      time.Time // opened at or after
	Limit      int       // default 100, at most 1000
	// Regions, when set, keeps the incidents of these region codes (a
	// 시도's 2 digits or a 시군구's 5): those whose 119 Alert went to the
	// 시도, or whose resident's district lies in one (a regional
	// dispatcher's queue). A store may return more; the console checks
	// each incident again.
	Regions []string
}
