package devices

import "time"

// ConnectionEvent is a hub connecting to or disconnecting from the broker.
// It is not a wire message: the broker observes it.
type ConnectionEvent struct {
	Hub       HubID
	Connected bool
	At        time.Time
	Remote    string // the peer address
	// Reason says why a hub disconnected: "clean" (DISCONNECT sent),
	// "lost" (connection dropped; its last will is published), "taken_over"
	// (a new connection with the same client id), "kicked" (revoked),
	// "shutdown".
	Reason string
	// Epoch is the hub's ownership epoch claimed at this CONNECT (0 on a
	// single gateway, and on disconnects): the detectors fence the home's
	// writes with it.
	Epoch Epoch
}

// Fault is a device-health condition of a hub or one of its sensors.
type Fault string

const (
	FaultOffline      Fault = "offline"       // hub disconnected or heartbeat overdue
	FaultPowerLost    Fault = "power_lost"    // hub on battery
	FaultBatteryLow   Fault = "battery_low"   // hub or sensor battery low
	FaultSensorSilent Fault = "sensor_silent" // a sensor missed its supervision deadline
	FaultSensorFault  Fault = "sensor_fault"  // the sensor reported a fault or tamper
	FaultEndOfLife    Fault = "end_of_life"   // past its service life
	FaultClockSkew    Fault = "clock_skew"    // the hub's clock is off by more than the tolerance
)

// HubHealth is what the gateway knows of one hub's equipment.
type HubHealth struct {
	Hub               HubID         `json:"hub_id"`
	Online            bool          `json:"online"`
	LastSeen          time.Time     `json:"last_seen"` // any message or connection
	LastConnect       time.Time     `json:"last_connect"`
	LastDisconnect    time.Time     `json:"last_disconnect"`
	HeartbeatInterval time.Duration `json:"-"`
	PowerKnown        bool          `json:"power_known"`
	OnMains           bool          `json:"on_mains"`
	Battery           float64       `json:"battery"` // %, -1 when unknown
	ClockSkew         time.Duration `json:"-"`       // hub clock minus gateway clock
	ClockSkewMillis   int64         `json:"clock_skew_ms"`
	Firmware          string        `json:"firmware,omitempty"`
	// FirmwareReported is when the hub first reported Firmware in its
	// status (zero: Firmware is what the registry declared, not yet
	// reported). A reported version beats the registry's (docs/operations.md
	// "Fleet"); it is not renewed by a repeated status, which would cost
	// a write per connect.
	FirmwareReported time.Time      `json:"firmware_reported,omitzero"`
	Faults           []Fault        `json:"faults"`
	Sensors          []SensorHealth `json:"sensors"`
}

// SensorHealth is what the gateway knows of one sensor's equipment.
type SensorHealth struct {
	Sensor   SensorID  `json:"sensor_id"`
	LastSeen time.Time `json:"last_seen"`
	Battery  float64   `json:"battery"` // %, -1 when unknown
	Faults   []Fault   `json:"faults"`
}
