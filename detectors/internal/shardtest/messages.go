package shardtest

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// The hub messages the engine's and the health monitor's tests hand their
// runtimes (Heartbeat is in queued.go).

// eventSeq numbers the events of a test binary: every event id is new.
var eventSeq atomic.Int64

// Event is one event of kind from sensor at at, received now.
func Event(hub devices.HubID, kind devices.EventKind, sensor devices.SensorID, at time.Time) *devices.Message {
	id := devices.EventID(fmt.Sprintf("e%d", eventSeq.Add(1)))
	return &devices.Message{Hub: hub, Channel: devices.ChanEvents, Event: &devices.Event{
		Hub: hub, ID: id, Kind: kind, Sensor: sensor, At: at, Received: time.Now()}}
}

// Readings is a batch sent now by a hub whose clock is off by skew; a
// reading without a time is stamped with the hub's, and none has a
// signal quality (-1).
func Readings(hub devices.HubID, skew time.Duration, rs ...devices.Reading) *devices.Message {
	now := time.Now()
	for i := range rs {
		if rs[i].At.IsZero() {
			rs[i].At = now.Add(skew)
		}
		rs[i].Quality = -1
	}
	return &devices.Message{Hub: hub, Channel: devices.ChanReadings,
		Readings: &devices.ReadingBatch{Hub: hub, SentAt: now.Add(skew), Received: now, Readings: rs}}
}
