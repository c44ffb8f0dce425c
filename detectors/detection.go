package detectors

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Class says who responds to a detection. Device health is never mixed with
// a resident's emergency: it has its own responders and never goes to 119.
type Class string

const (
	ClassEmergency    Class = "emergency"     // a resident may be in danger now
	ClassWelfare      Class = "welfare"       // a social worker should check on the resident
	ClassDeviceHealth Class = "device_health" // the equipment needs attention
)

// Cause is what a detection is about. The emergency rules add their own.
type Cause string

// Device-health causes.
const (
	CauseHubOffline   Cause = "hub_offline"
	CausePowerLost    Cause = "power_lost"
	CauseBatteryLow   Cause = "battery_low"
	CauseSensorSilent Cause = "sensor_silent"
	CauseSensorFault  Cause = "sensor_fault" // a failed self-test or a tamper switch
	CauseEndOfLife    Cause = "end_of_life"
	CauseClockSkew    Cause = "clock_skew"
	// CauseSensorSignalLost is a vital-signs sensor that reads zero with poor
	// signal or while the resident moves: the sensor is off or displaced,
	// which is a device fault and not asystole or apnoea.
	CauseSensorSignalLost Cause = "sensor_signal_lost"
)

// Emergency and welfare causes (the Engine).
const (
	CauseFireConfirmed    Cause = "fire_confirmed"    // smoke corroborated (heat, CO, second sensor or room), or heat at the fixed limit: 119 at once
	CauseSmokeUnconfirmed Cause = "smoke_unconfirmed" // one fire signal alone (smoke, or a heat rise): verify with the resident first
	CauseCO               Cause = "co"                // carbon monoxide dose past the UL 2034 curve, or the detector's own alarm
	CauseGas              Cause = "gas"               // combustible gas past its %LEL limit, or the detector's own alarm
	CauseFall             Cause = "fall"
	CauseSOS              Cause = "sos"
	CauseBradycardia      Cause = "bradycardia"
	CauseTachycardia      Cause = "tachycardia"
	CauseAsystole         Cause = "asystole"
	CauseApnoea           Cause = "apnoea"
	CauseBreathingRate    Cause = "breathing_rate" // a breathing rate out of band, sustained
	// CauseInactivity is one episode with two levels: a welfare check
	// (ClassWelfare) after the learned limit, then an emergency after the
	// hard limit, re-emitted under the same fingerprint.
	CauseInactivity Cause = "inactivity"
	// CauseFallRecovered is a fall the wearer got up from (ClassWelfare): no
	// emergency, but earlier falls are the strongest predictor of the next,
	// so the social worker hears of it. One detection per fall, Firing only:
	// the social worker closes it.
	CauseFallRecovered Cause = "fall_recovered"
)

// Priority orders detections for responders: 1 is the most urgent.
type Priority int

const (
	PriorityCritical Priority = 1 // life at risk now (confirmed fire, SOS)
	PriorityHigh     Priority = 2 // probable emergency, being verified
	PriorityMedium   Priority = 3 // welfare: someone should look today
	PriorityLow      Priority = 4 // device health
)

// State is whether a condition has started or ended.
type State string

const (
	Firing   State = "firing"
	Resolved State = "resolved"
	// Pending opens a cancel window (a fall, unconfirmed smoke): dispatch
	// asks the resident through the hub ("are you all right?") and sends
	// nobody yet. The same fingerprint then goes Firing when the window
	// ends, or Cancelled or Resolved when it does not need to.
	Pending State = "pending"
	// Cancelled says the resident cancelled (or, for a fall, got up): a
	// pending window closes, and an already firing SOS or fall may be
	// called off by dispatch. Same fingerprint as the episode it ends.
	Cancelled State = "cancelled"
)

// Explanation is a one-line account for people, in Korean and English.
type Explanation struct {
	Ko string `json:"ko"`
	En string `json:"en"`
}

// Fact is one measured or known value that led to a detection.
type Fact struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Evidence is what triggered a detection, kept small: the readings and
// events that crossed a threshold, and derived facts (a duration, a limit).
type Evidence struct {
	Readings []devices.Reading `json:"readings,omitempty"`
	Events   []devices.EventID `json:"events,omitempty"`
	Facts    []Fact            `json:"facts,omitempty"`
}

// Detection is the output of the detectors stage: a condition of one home
// (and maybe one sensor) that started or ended.
type Detection struct {
	// Fingerprint is the same for every detection of one episode of one
	// cause in one home (firing, then resolved), across restarts, so that
	// dispatch keeps one incident per episode.
	Fingerprint string
	Hub         devices.HubID
	Sensor      devices.SensorID // empty for a home-level condition
	Class       Class
	Cause       Cause
	Priority    Priority
	State       State
	// Episode is when the condition began; it is part of the fingerprint.
	Episode time.Time
	// At is the event time of this transition.
	At          time.Time
	Explanation Explanation
	Evidence    Evidence
	// Epoch is the ownership epoch of the hub's home when the detection
	// was made (0 on a single gateway): dispatch fences the incident
	// change with it (dispatch.Mutation.Fence), so that a gateway that
	// lost the home can no longer open or change its incidents.
	Epoch devices.Epoch
	// Timing is when the event that fired the detection passed the
	// gateway's stages; nil for a detection no event of this process
	// fired (a deadline, a restored episode).
	Timing *Timing
}

// Timing is where an emergency's time went inside one gateway, kept in its
// incident (dispatch.Incident.Timing) so that an operator, and the cluster
// harness, can split an SOS's way from the hub to its incident per node.
// All times are the gateway's wall clock.
type Timing struct {
	Node string `json:"node,omitempty"` // the gateway that served the event
	// Received: the broker decoded the event (devices.Event.Received).
	Received time.Time `json:"received,omitzero"`
	// Journaled: the event was committed to the journal and handed to the
	// rules (the PUBACK is written at about the same moment).
	Journaled time.Time `json:"journaled,omitzero"`
	// Detected: the detectors handed the detection on to dispatch.
	Detected time.Time `json:"detected,omitzero"`
}

// Fingerprint builds the stable identity of an episode:
// "hub-1/hub_offline/1767225600" or, for a sensor,
// "hub-1/battery_low/kitchen-smoke/1767225600". Episodes are told apart to
// the second.
func Fingerprint(hub devices.HubID, cause Cause, sensor devices.SensorID, episode time.Time) string {
	var b strings.Builder
	b.Grow(len(hub) + len(cause) + len(sensor) + 16)
	b.WriteString(string(hub))
	b.WriteByte('/')
	b.WriteString(string(cause))
	if sensor != "" {
		b.WriteByte('/')
		b.WriteString(string(sensor))
	}
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(episode.Unix(), 10))
	return b.String()
}

// Sink receives detections. It is called on a shard's goroutine, so it must
// queue rather than do slow work; a slow Sink holds up that shard's homes.
//
// A Sink must keep one incident per Fingerprint and treat a repeated
// Firing or Pending detection of an episode it already has as an update,
// never as a new incident or a second call-out. (Dispatch goes further:
// related episodes of one home fold into one incident.) The Engine relies on this
// at startup: it saves its state on its own schedule, not when the Sink has
// made a detection durable, so after a restart it sends every restored open
// episode again (Firing, or Pending with the time left in its window,
// facts "gateway_restart" and "window_left"), lest a crash between its save
// and the Sink's commit lose an emergency. Those facts are bookkeeping, not
// news about the emergency (dispatch sends 119 no Update for them). A
// Pending repeat may arrive for an episode the Sink already has as Firing;
// it must not lower its state.
type Sink interface {
	Detect(Detection)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Detection)

// Detect calls f(d).
func (f SinkFunc) Detect(d Detection) { f(d) }

// DurKo and DurEn say a duration the way people do: "12분", "1시간 5분";
// "12 min", "1 h 5 min"; every explanation
// words its durations with them.
func DurKo(d time.Duration) string { return durIn(d, "%d초", "%d분", "%d시간", "%d시간 %d분") }

// DurEn is DurKo in English.
func DurEn(d time.Duration) string { return durIn(d, "%d s", "%d min", "%d h", "%d h %d min") }

// durIn words d, rounded to the second, in the largest unit that says it
// whole: seconds under a minute, minutes under an hour, hours, or hours and
// minutes; one rule for both languages, only the words differ.
func durIn(d time.Duration, sec, minute, hour, hourMinute string) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf(sec, int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf(minute, int(d.Minutes()))
	case d%time.Hour < time.Minute:
		return fmt.Sprintf(hour, int(d.Hours()))
	}
	return fmt.Sprintf(hourMinute, int(d.Hours()), int((d % time.Hour).Minutes()))
}
