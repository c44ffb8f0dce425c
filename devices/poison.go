package devices

import "time"

// Poison is an input whose handling panicked somewhere in the gateway. The
// panic is recovered where it happened; the input is kept here for an
// engineer, the hub is disconnected, and the input is never handled again,
// so that one malformed message cannot stop the other hubs' emergencies or
// crash the gateway in a loop (a replayed event would panic again).
type Poison struct {
	Hub     HubID
	Stage   string // where it panicked: "broker", "engine", "device_health", "dispatch"
	Channel Channel
	EventID EventID // for an event
	Seq     int64   // journal position, when it had one
	// Input is the raw payload the hub sent, or a description of the
	// input when the stage had no payload (a decoded message).
	Input []byte
	Panic string
	Stack string
	At    time.Time
}
