package devices

import (
	"encoding/json"
	"time"
)

// Reading is one sample of one metric from one sensor, at the hub's time.
type Reading struct {
	Sensor SensorID
	Metric Metric
	At     time.Time
	Value  float64
	// Quality is the sensor's signal quality in [0, 1] for metrics that need
	// one (heart rate, respiration), and -1 where the metric has none.
	Quality float32
}

// ReadingBatch is the readings a hub sent in one message.
type ReadingBatch struct {
	Hub      HubID
	SentAt   time.Time // the hub's clock when it sent the batch
	Received time.Time // the gateway's clock when it decoded the batch
	Readings []Reading

	// holders counts who still reads a batch DecodeShared took from the
	// pool (see Retain); 0 and unused for every other batch.
	holders int32
	shared  bool
}

// Event is something that happened once, identified by (Hub, ID).
type Event struct {
	Hub      HubID
	ID       EventID
	Kind     EventKind
	Sensor   SensorID // may be empty for hub-level events (power_lost)
	At       time.Time
	Received time.Time
	// Value is optional (a fall's peak acceleration in g, a battery level).
	Value    float64
	HasValue bool
	// Detail is optional vendor detail, a JSON object kept as evidence.
	Detail json.RawMessage
	// ClockError is set when an emergency event's timestamp was missing or
	// out of bounds (CodeMissing, CodeFuture, CodeTooOld): the event was
	// accepted all the same, with At set to the receive time, and the hub
	// is to be warned. Empty for every other event.
	ClockError ErrorCode

	// Seq is the event's position in the journal, set once it is committed
	// (0 before). The detectors record the newest position they applied per
	// home, so that what the journal holds beyond it can be applied after a
	// crash (docs/faults.md, "The journal").
	Seq int64
	// Replayed marks an event handed on again: a hub's redelivery of a
	// stored event, or the journal replayed at start. The detectors apply it
	// only when it is beyond the home's applied position. A fresh event is
	// always applied.
	Replayed bool
	// Epoch is the ownership epoch of the session the event came on (0 on
	// a single gateway). It is not stored: the journal keeps the event,
	// the epoch only fences what is written because of it.
	Epoch Epoch
}

// AccelChunk is a run of wearable accelerometer samples in g, evenly spaced
// at RateHz, the first at At.
type AccelChunk struct {
	Hub      HubID
	Sensor   SensorID
	At       time.Time
	Received time.Time
	RateHz   int
	X, Y, Z  []float32
}

// SampleTime returns the time of sample i.
func (c *AccelChunk) SampleTime(i int) time.Time {
	return c.At.Add(time.Duration(i) * time.Second / time.Duration(c.RateHz))
}

// HubState is a hub's connection state as it announces it.
type HubState string

const (
	HubOnline  HubState = "online"
	HubOffline HubState = "offline"
)

// Status is the retained announcement a hub makes when it connects, and the
// payload of its last will.
type Status struct {
	Hub      HubID
	State    HubState
	At       time.Time // zero in a last will, which is written at connect time
	Received time.Time
	Firmware string
	Model    string
	// HeartbeatInterval is how often the hub promises a heartbeat; zero means
	// the gateway's default.
	HeartbeatInterval time.Duration
}

// Heartbeat says the hub is alive; any other message says so too.
type Heartbeat struct {
	Hub      HubID
	At       time.Time
	Received time.Time
	Uptime   time.Duration
	RSSI     int // dBm of the hub's uplink, 0 when unknown
	Queued   int // events waiting in the hub's store-and-forward buffer
}

// CommandType is what the gateway asks a hub to do.
type CommandType string

const (
	// CmdCheckIn asks the resident "are you all right?" through the hub's
	// speaker; the answer comes back as a check_in or cancel event.
	CmdCheckIn CommandType = "check_in"
	// CmdSilence silences the local sounders (after a verified false alarm).
	CmdSilence CommandType = "silence"
	// CmdSetHeartbeat sets the heartbeat interval (args.seconds).
	CmdSetHeartbeat CommandType = "set_heartbeat"
)

// Command is sent by the gateway on the hub's cmd topic at QoS 1.
type Command struct {
	ID   CommandID       `json:"id"`
	At   time.Time       `json:"-"`
	Type CommandType     `json:"type"`
	Args json.RawMessage `json:"args,omitempty"`
}

// AckStatus is a hub's answer to a command.
type AckStatus string

const (
	AckAccepted    AckStatus = "accepted"    // received, under way (a check-in is being spoken)
	AckDone        AckStatus = "done"        // carried out
	AckFailed      AckStatus = "failed"      // could not be carried out (detail says why)
	AckUnsupported AckStatus = "unsupported" // this hub does not know the command
)

// CommandAck is a hub's acknowledgement of a command.
type CommandAck struct {
	Hub    HubID
	ID     CommandID
	Status AckStatus
	Detail string
	// Step is the firmware_update step an "accepted" ack reports; empty
	// for other acks and other commands.
	Step FirmwareStep `json:",omitempty"`
	// Firmware is the version a hub runs, in the "done" ack of a
	// firmware_update (after it rebooted into the image); empty otherwise.
	Firmware string `json:",omitempty"`
	At       time.Time
	Received time.Time
}

// Reject tells a hub why one of its messages was refused. The gateway
// publishes it on the hub's rejects topic, so that hubs on MQTT 3.1.1, whose
// PUBACK has no reason code, learn it too.
type Reject struct {
	At      time.Time
	Topic   string
	EventID EventID // when the refused message was an event with a readable id
	Code    ErrorCode
	Error   string
}

// Message is one decoded hub message: exactly one of the pointers is set,
// according to Channel.
type Message struct {
	Hub       HubID
	Channel   Channel
	Readings  *ReadingBatch
	Event     *Event
	Accel     *AccelChunk
	Status    *Status
	Heartbeat *Heartbeat
	CmdAck    *CommandAck
}

// HubClock returns the hub's clock reading of a message sent just now (a
// batch's sent time, a heartbeat's or status's time), for skew estimation.
// It reports false for messages whose time may be old (events replayed from
// the hub's store-and-forward buffer) or absent.
func (m *Message) HubClock() (hub, received time.Time, ok bool) {
	switch {
	case m.Readings != nil:
		return m.Readings.SentAt, m.Readings.Received, true
	case m.Heartbeat != nil:
		return m.Heartbeat.At, m.Heartbeat.Received, true
	case m.Status != nil && !m.Status.At.IsZero():
		return m.Status.At, m.Status.Received, true
	}
	return time.Time{}, time.Time{}, false
}
