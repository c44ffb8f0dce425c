package devices

import "time"

// FaultEpisode is one open fault of a hub or of one of its sensors, with the
// time it began. The start identifies the episode: a gateway that restarts
// reloads it, so that the fault is neither forgotten nor raised again as new.
type FaultEpisode struct {
	Fault  Fault     `json:"fault"`
	Sensor SensorID  `json:"sensor_id,omitempty"` // empty for a hub-level fault
	Since  time.Time `json:"since"`
}

// HubHealthRecord is a hub's health as the gateway persists it: what the API
// shows, plus the open fault episodes.
type HubHealthRecord struct {
	HubHealth
	Episodes []FaultEpisode `json:"episodes,omitempty"`
	// JournalApplied is the newest journal position (devices.Event.Seq)
	// the monitor applied to this hub.
	JournalApplied int64 `json:"journal_applied,omitempty"`
	// Epoch is the ownership epoch the record was written under (0 on a
	// single gateway): a save of an older epoch never replaces it. The
	// store keeps it in a column of its own (hub_health.epoch), where the
	// save's fence compares it, not in the record's JSON.
	Epoch Epoch `json:"-"`
}
