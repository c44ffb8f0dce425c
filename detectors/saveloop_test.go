package detectors

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// saveCounter is an EngineStore that counts the records saved per hub and
// restores nothing.
type saveCounter struct{ *shardtest.SaveCounter }

func (c saveCounter) SaveHomes(_ context.Context, hs []HomeSnapshot) error {
	for _, h := range hs {
		c.Add(h.Hub)
	}
	return nil
}

func (c saveCounter) LoadHomes(context.Context) ([]HomeSnapshot, error) { return nil, nil }

func (c saveCounter) LoadHome(_ context.Context, hub devices.HubID) (HomeSnapshot, bool, error) {
	return HomeSnapshot{}, false, nil
}

// TestSeenSavesSpreadOverInterval: the engine's activity-only saves go out a
// slot of the fleet per round (see shardtest.SeenSavesSpreadOverInterval).
func TestSeenSavesSpreadOverInterval(t *testing.T) {
	shardtest.SeenSavesSpreadOverInterval(t, func(t *testing.T, store *shardtest.SaveCounter) shardtest.Saved {
		e, err := NewEngine(EngineConfig{Sink: &recorder{}, Store: saveCounter{store}, Shards: 1, Logger: zerolog.Nop(),
			SaveInterval: shardtest.SpreadSaveEvery, SeenInterval: shardtest.SpreadRounds * shardtest.SpreadSaveEvery})
		if err != nil {
			t.Fatal(err)
		}
		return shardtest.Saved{
			Seen: func(hub devices.HubID) {
				now := time.Now()
				e.Ingest(&devices.Message{Hub: hub, Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{
					Hub: hub, SentAt: now, Received: now, Readings: []devices.Reading{
						{Sensor: "hall-pir", Metric: devices.MetricMotion, At: now, Value: 1, Quality: -1}}}})
			},
			State: func(hub devices.HubID) {
				e.Connection(devices.ConnectionEvent{Hub: hub, Connected: false, At: time.Now(), Reason: "lost"})
			},
			Stop: shardtest.Run(t, e.Run),
		}
	})
}
