package detectors

import (
	"fmt"

	"github.com/dolbom/dolbom/devices"
)

// PoisonFunc receives an input whose handling panicked in a shard (see
// devices.Poison): the gateway keeps it and disconnects the hub. It is
// called on the shard's goroutine and must not block.
type PoisonFunc func(devices.Poison)

// fallbackCause is what an emergency event means when the rules could not
// evaluate it: people are still told, at the event's face value.
var fallbackCause = map[devices.EventKind]struct {
	cause Cause
	prio  Priority
}{
	devices.EventSOS:        {CauseSOS, PriorityCritical},
	devices.EventFall:       {CauseFall, PriorityCritical},
	devices.EventSmokeAlarm: {CauseSmokeUnconfirmed, PriorityHigh},
	devices.EventHeatAlarm:  {CauseFireConfirmed, PriorityCritical},
	devices.EventCOAlarm:    {CauseCO, PriorityCritical},
	devices.EventGasAlarm:   {CauseGas, PriorityCritical},
}

// fallbackDetection is the detection of an emergency event whose
// evaluation panicked: an acknowledged emergency must reach people even when
// a bug keeps the rules from judging it. Its fingerprint is the one the
// rules give an episode starting at the event, so a later evaluation of the
// same episode folds into it.
func fallbackDetection(ev *devices.Event) (Detection, bool) {
	fc, ok := fallbackCause[ev.Kind]
	if !ok {
		return Detection{}, false
	}
	at := ev.At.UTC()
	return Detection{
		Fingerprint: Fingerprint(ev.Hub, fc.cause, "", at), Hub: ev.Hub, Sensor: ev.Sensor,
		Class: ClassEmergency, Cause: fc.cause, Priority: fc.prio, State: Firing, Episode: at, At: at,
		Explanation: Explanation{
			Ko: fmt.Sprintf("%s 이벤트: 게이트웨이 오류로 규칙 판단 없이 그대로 전달", ev.Kind),
			En: fmt.Sprintf("%s event passed on as sent: the gateway failed evaluating it", ev.Kind),
		},
		Evidence: Evidence{Events: []devices.EventID{ev.ID}, Facts: []Fact{{Name: "evaluation_failed", Value: 1}}},
	}, true
}
