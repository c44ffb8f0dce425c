package detectors

import (
	"fmt"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// recorder is an in-memory Sink.
type recorder struct {
	mu  sync.Mutex
	got []Detection
}

func (r *recorder) Detect(d Detection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, d)
}

// take returns and forgets what was detected so far.
func (r *recorder) take() []Detection {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

func heartbeat(hub devices.HubID) *devices.Message {
	now := time.Now()
	return &devices.Message{Hub: hub, Channel: devices.ChanHeartbeat, Heartbeat: &devices.Heartbeat{Hub: hub, At: now, Received: now}}
}

var eventSeq int

func event(hub devices.HubID, kind devices.EventKind, sensor devices.SensorID, at time.Time) *devices.Message {
	eventSeq++
	return &devices.Message{Hub: hub, Channel: devices.ChanEvents, Event: &devices.Event{
		Hub: hub, ID: devices.EventID(fmt.Sprintf("e%d", eventSeq)), Kind: kind, Sensor: sensor, At: at, Received: time.Now()}}
}

// readings is a batch sent now by a hub whose clock is off by skew.
func readings(hub devices.HubID, skew time.Duration, rs ...devices.Reading) *devices.Message {
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
