package dispatch

import (
	"fmt"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// OutboxKind is what an outbox row asks for. Escalation timers live in the
// outbox beside notifications, so they survive restarts and are claimed
// exactly once like everything else.
type OutboxKind string

const (
	KindNotify  OutboxKind = "notify"  // deliver a Notification through a Notifier
	KindCommand OutboxKind = "command" // send a check-in command to the hub
	KindTimer   OutboxKind = "timer"   // run the incident's escalation logic when due
)

// OutboxState is a row's delivery state.
type OutboxState string

const (
	OutboxPending      OutboxState = "pending"
	OutboxSending      OutboxState = "sending"
	OutboxSent         OutboxState = "sent"      // the provider accepted it
	OutboxDelivered    OutboxState = "delivered" // the provider confirmed delivery
	OutboxFailed       OutboxState = "failed"    // given up (permanent error or past the deadline)
	OutboxAcknowledged OutboxState = "acknowledged"
	OutboxCancelled    OutboxState = "cancelled" // no longer needed (acknowledged or closed incident)
	OutboxDone         OutboxState = "done"      // a timer that ran
)

// Timer kinds.
const (
	TimerVerify   = "verify"   // the resident's cancel window ended
	TimerEscalate = "escalate" // the next escalation step is due
)

// MessageType is what a notification says about the incident.
type MessageType string

const (
	MsgAlert  MessageType = "alert"
	MsgUpdate MessageType = "update"
	MsgCancel MessageType = "cancel"
	// MsgRecovered tells that the resident answered and the episode is
	// over (a fall they got up from): news, not an alarm; sent after the
	// incident closed, never to 119.
	MsgRecovered MessageType = "recovered"
	// MsgWith119 tells a guardian or the social worker, once, that 119
	// has the incident (accepted, dispatched or on scene): its first such
	// answer stands the escalation down, and their unanswered attempts
	// with it. News, not an alarm; never to 119.
	MsgWith119 MessageType = "with_119"
)

// newsOfPeople reports whether a message of type t is news for a person
// who knows the resident (a guardian, the social worker) rather than an
// alert: it names the resident even once the incident is closed, which is
// when a recovered fall's notice goes out.
func (t MessageType) newsOfPeople() bool { return t == MsgRecovered || t == MsgWith119 }

// Role is who a recipient is.
type Role string

const (
	Role119              Role = "119"
	RoleGuardian         Role = "guardian"
	RoleSocialWorker     Role = "social_worker"
	RoleMonitoringCentre Role = "monitoring_centre"
	RoleTechnician       Role = "technician"
)

// Recipient is who a notification is for.
type Recipient struct {
	Role     Role   `json:"role"`
	ID       string `json:"id"` // stable within the incident: "guardian-1", "119"
	Name     string `json:"name,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Language string `json:"language,omitempty"` // "ko" (default) or "en"
}

// OutboxRow is one durable notification, command or timer.
type OutboxRow struct {
	// Key is stable: incident id, step, recipient and attempt for a
	// notification; a provider may use it to recognise a resend.
	Key        string             `json:"key"`
	IncidentID string             `json:"incident_id"`
	Kind       OutboxKind         `json:"kind"`
	Channel    Channel            `json:"channel,omitempty"`
	Step       int                `json:"step"`
	Attempt    int                `json:"attempt"`
	Recipient  Recipient          `json:"recipient"`
	MsgType    MessageType        `json:"msg_type,omitempty"`
	Timer      string             `json:"timer,omitempty"`
	Priority   detectors.Priority `json:"priority"`
	State      OutboxState        `json:"state"`
	DueAt      time.Time          `json:"due_at"`
	// Deadline bounds the retries: past it a failing row is given up.
	Deadline    time.Time `json:"deadline"`
	Tries       int       `json:"tries"`
	ProviderRef string    `json:"provider_ref,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	// Recovered is set on a row claimed after its previous claim's lease
	// ran out: it may or may not have been sent.
	Recovered bool      `json:"recovered,omitempty"`
	ClaimID   string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NotificationKey is the stable key of a notification.
func NotificationKey(incidentID string, step int, recipientID string, channel Channel, attempt int) string {
	return fmt.Sprintf("%s/s%d/%s/%s/%d", incidentID, step, recipientID, channel, attempt)
}

// recoveredKey is the row key of the "resident recovered" notice to one
// recipient on one channel: one per incident, never retried as a new row.
func recoveredKey(incidentID, recipientID string, channel Channel) string {
	return fmt.Sprintf("%s/recovered/%s/%s", incidentID, recipientID, channel)
}

// with119Key is the row key of the "119 has it" notice to one recipient:
// one per incident, whatever 119 answers next and however often.
func with119Key(incidentID, recipientID string, channel Channel) string {
	return fmt.Sprintf("%s/with119/%s/%s", incidentID, recipientID, channel)
}

func timerKey(incidentID, timer string, step int) string {
	return fmt.Sprintf("%s/t/%s/%d", incidentID, timer, step)
}

func commandKey(incidentID string, n int) string {
	return fmt.Sprintf("%s/cmd/check_in/%d", incidentID, n)
}

func cancelKey(incidentID string, channel Channel) string {
	return fmt.Sprintf("%s/cancel/119/%s", incidentID, channel)
}

// IncidentSnapshot is the incident as a channel shows it.
type IncidentSnapshot struct {
	ID       string             `json:"id"`
	Hub      devices.HubID      `json:"hub_id"`
	Sensor   devices.SensorID   `json:"sensor_id,omitempty"`
	Class    detectors.Class    `json:"class"`
	Cause    detectors.Cause    `json:"cause"`
	Priority detectors.Priority `json:"priority"`
	State    State              `json:"state"`
	// Status119 is 119's last answer (accepted, dispatched, on_scene...):
	// the "119 has it" notice says how far 119 is.
	Status119 string `json:"status_119,omitempty"`
	// Disposition is how a resolved incident ended (a CAP Cancel says it).
	Disposition Disposition           `json:"disposition,omitempty"`
	Explanation detectors.Explanation `json:"explanation"`
	// Evidence is a one-line summary of the facts ("fall_peak_g=3.1 g").
	Evidence string    `json:"evidence"`
	OpenedAt time.Time `json:"opened_at"`
	// Seq counts the incident's changes: a CAP Update carries a new one.
	Seq int64 `json:"seq"`
}

// Notification is everything a channel needs to send one message.
type Notification struct {
	Key      string           `json:"key"`
	Incident IncidentSnapshot `json:"incident"`
	// Resident is disclosed while the incident is open, and to the people
	// who know the resident (never 119) in the news sent after it closed (a
	// recovered fall's notice); it is the zero value (HasResident false)
	// otherwise, and when no resident is registered for the hub.
	Resident    devices.Resident `json:"resident,omitzero"`
	HasResident bool             `json:"has_resident"`
	Type        MessageType      `json:"type"`
	Recipient   Recipient        `json:"recipient"`
	Channel     Channel          `json:"channel"`
	Step        int              `json:"step"`
	Attempt     int              `json:"attempt"`
	// Tried says what has been done so far, oldest first, one line each in
	// Korean and English ("09:14:03 보호자 김민수에게 음성전화 응급 알림:
	// 실패 (받지 않음)"): what 119 reads, so never an internal word.
	Tried []TriedLine `json:"tried,omitempty"`
}
