package detectors

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// saveCounter is an EngineStore and a HealthStore that counts the records
// saved per hub and restores nothing.
type saveCounter struct {
	mu    sync.Mutex
	saved map[devices.HubID]int
	total int
}

func (c *saveCounter) add(hub devices.HubID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.saved == nil {
		c.saved = map[devices.HubID]int{}
	}
	c.saved[hub]++
	c.total++
}

func (c *saveCounter) SaveHomes(_ context.Context, hs []HomeSnapshot) error {
	for _, h := range hs {
		c.add(h.Hub)
	}
	return nil
}

func (c *saveCounter) LoadHomes(context.Context) ([]HomeSnapshot, error) { return nil, nil }

func (c *saveCounter) LoadHome(_ context.Context, hub devices.HubID) (HomeSnapshot, bool, error) {
	return HomeSnapshot{}, false, nil
}

func (c *saveCounter) SaveHubHealth(_ context.Context, rs []devices.HubHealthRecord) error {
	for _, r := range rs {
		c.add(r.Hub)
	}
	return nil
}

func (c *saveCounter) LoadHubHealth(context.Context) ([]devices.HubHealthRecord, error) {
	return nil, nil
}

// reset forgets the counts and returns the total saved before.
func (c *saveCounter) reset() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.total
	c.saved, c.total = nil, 0
	return n
}

// takeTotal returns the records saved since the last take, keeping the
// counts per hub.
func (c *saveCounter) takeTotal() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.total
	c.total = 0
	return n
}

func (c *saveCounter) count(hub devices.HubID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saved[hub]
}

// savedMonitor is the engine or the health monitor running with a
// saveCounter, and how to change a hub's activity only (seen) or its state.
type savedMonitor struct {
	seen, state func(devices.HubID)
	stop        func()
}

// runMonitor runs a monitor's Run until the returned stop (idempotent),
// which fails the test if Run does.
func runMonitor(t *testing.T, run func(context.Context) error) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	synctest.Wait()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

// TestSeenSavesSpreadOverInterval: at national scale every home is seen
// every minute; activity-only changes must go out a slot of the fleet per
// round, not all in one round (a burst of 300,000 upserts that holds the
// store's writer while emergencies wait), and still each within the seen
// interval. State changes keep going out in the next round, and the final
// save at shutdown still takes everything.
func TestSeenSavesSpreadOverInterval(t *testing.T) {
	const hubs, rounds = 100, 12 // 100 is not a multiple of 12: uneven slots
	const saveEvery = 5 * time.Second
	perRound := (hubs + rounds - 1) / rounds
	ids := make([]devices.HubID, hubs)
	for n := range ids {
		ids[n] = devices.HubID(fmt.Sprintf("hub-%03d", n))
	}
	cases := []struct {
		name  string
		start func(t *testing.T, store *saveCounter) savedMonitor
	}{
		{"engine", func(t *testing.T, store *saveCounter) savedMonitor {
			e, err := NewEngine(EngineConfig{Sink: &recorder{}, Store: store, Shards: 1, Logger: zerolog.Nop(),
				SaveInterval: saveEvery, SeenInterval: rounds * saveEvery})
			if err != nil {
				t.Fatal(err)
			}
			return savedMonitor{
				seen: func(hub devices.HubID) {
					now := time.Now()
					e.Ingest(&devices.Message{Hub: hub, Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{
						Hub: hub, SentAt: now, Received: now, Readings: []devices.Reading{
							{Sensor: "hall-pir", Metric: devices.MetricMotion, At: now, Value: 1, Quality: -1}}}})
				},
				state: func(hub devices.HubID) {
					e.Connection(devices.ConnectionEvent{Hub: hub, Connected: false, At: time.Now(), Reason: "lost"})
				},
				stop: runMonitor(t, e.Run),
			}
		}},
		{"health", func(t *testing.T, store *saveCounter) savedMonitor {
			var fleet []registryEntry
			for _, id := range ids {
				fleet = append(fleet, registryEntry{hub: devices.Hub{ID: id, Firmware: "1.0"}})
			}
			m, err := NewHealthMonitor(HealthConfig{Sink: &recorder{}, Store: store, Fleet: fleetOf(fleet...), Shards: 1,
				Logger: zerolog.Nop(), SaveInterval: saveEvery, SeenSaveInterval: rounds * saveEvery})
			if err != nil {
				t.Fatal(err)
			}
			return savedMonitor{
				seen: func(hub devices.HubID) { m.Ingest(heartbeat(hub)) },
				state: func(hub devices.HubID) {
					m.Connection(devices.ConnectionEvent{Hub: hub, Connected: false, At: time.Now(), Reason: "lost"})
				},
				stop: runMonitor(t, m.Run),
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &saveCounter{}
				mon := c.start(t, store)
				defer mon.stop()
				// Settle between two rounds: every hub known and saved.
				time.Sleep(time.Second)
				for _, id := range ids {
					mon.seen(id)
				}
				time.Sleep((rounds + 1) * saveEvery)
				synctest.Wait()
				if n := store.reset(); n < hubs {
					t.Fatalf("settling saved %d records, want at least %d", n, hubs)
				}

				for _, id := range ids {
					mon.seen(id)
				}
				synctest.Wait()
				// A state change in the middle of the cycle goes out in the
				// next round, on top of that round's slot.
				changed := ids[hubs/2]
				for r := 1; r <= rounds; r++ {
					limit := perRound
					if r == 4 {
						mon.state(changed)
						synctest.Wait()
						limit++
					}
					before := store.count(changed)
					time.Sleep(saveEvery)
					synctest.Wait()
					if n := store.takeTotal(); n > limit {
						t.Errorf("round %d saved %d records, want at most %d", r, n, limit)
					}
					if r == 4 && store.count(changed) == before {
						t.Errorf("round %d did not save the state change of %s", r, changed)
					}
				}
				for _, id := range ids {
					n := store.count(id)
					switch {
					case id == changed && (n < 1 || n > 2): // once or twice, by where its slot falls
						t.Errorf("%s saved %d times in a seen interval with a state change, want 1 or 2", id, n)
					case id != changed && n != 1:
						t.Errorf("%s saved %d times in a seen interval, want 1", id, n)
					}
				}

				// The final save takes every seen change, whatever its slot.
				store.reset()
				for _, id := range ids {
					mon.seen(id)
				}
				synctest.Wait()
				mon.stop()
				for _, id := range ids {
					if n := store.count(id); n != 1 {
						t.Errorf("%s saved %d times by the final save, want 1", id, n)
					}
				}
			})
		})
	}
}
