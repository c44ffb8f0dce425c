package health

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// saveCounter is a Store that counts the records saved per hub and
// restores nothing.
type saveCounter struct{ *shardtest.SaveCounter }

func (c saveCounter) SaveHubHealth(_ context.Context, rs []devices.HubHealthRecord) error {
	for _, r := range rs {
		c.Add(r.Hub)
	}
	return nil
}

func (c saveCounter) LoadHubHealth(context.Context) ([]devices.HubHealthRecord, error) {
	return nil, nil
}

// TestSeenSavesSpreadOverInterval: the monitor's last-seen-only saves go out
// a slot of the fleet per round (see shardtest.SeenSavesSpreadOverInterval).
func TestSeenSavesSpreadOverInterval(t *testing.T) {
	shardtest.SeenSavesSpreadOverInterval(t, func(t *testing.T, store *shardtest.SaveCounter) shardtest.Saved {
		var fleet []registryEntry
		for _, id := range shardtest.Hubs() {
			fleet = append(fleet, registryEntry{hub: devices.Hub{ID: id, Firmware: "1.0"}})
		}
		m, err := New(Config{Sink: &recorder{}, Store: saveCounter{store}, Fleet: fleetOf(fleet...), Shards: 1,
			Logger: zerolog.Nop(), SaveInterval: shardtest.SpreadSaveEvery, SeenSaveInterval: shardtest.SpreadRounds * shardtest.SpreadSaveEvery})
		if err != nil {
			t.Fatal(err)
		}
		return shardtest.Saved{
			Seen: func(hub devices.HubID) { m.Ingest(heartbeat(hub)) },
			State: func(hub devices.HubID) {
				m.Connection(devices.ConnectionEvent{Hub: hub, Connected: false, At: time.Now(), Reason: "lost"})
			},
			Stop: shardtest.Run(t, m.Run),
		}
	})
}
