// Package shardtest holds what the tests of the shard runtime's users
// share: the save loop's contract, checked for each runtime that saves
// through it (the engine, the health monitor).
package shardtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// SaveCounter counts the records a store was asked to save, per hub; the
// runtimes' test stores wrap it.
type SaveCounter struct {
	mu    sync.Mutex
	saved map[devices.HubID]int
	total int
}

// Add counts one record of hub.
func (c *SaveCounter) Add(hub devices.HubID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.saved == nil {
		c.saved = map[devices.HubID]int{}
	}
	c.saved[hub]++
	c.total++
}

// Reset forgets the counts and returns the total saved before.
func (c *SaveCounter) Reset() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.total
	c.saved, c.total = nil, 0
	return n
}

// TakeTotal returns the records saved since the last take, keeping the
// counts per hub.
func (c *SaveCounter) TakeTotal() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.total
	c.total = 0
	return n
}

// Count is how many records of hub were saved.
func (c *SaveCounter) Count(hub devices.HubID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saved[hub]
}

// Saved is a runtime running with a SaveCounter, and how to change a hub's
// activity only (Seen) or its state.
type Saved struct {
	Seen, State func(devices.HubID)
	Stop        func()
}

// Run runs a runtime's Run until the returned stop (idempotent), which
// fails the test if Run does.
func Run(t *testing.T, run func(context.Context) error) func() {
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

// Hubs are the hub ids SeenSavesSpreadOverInterval uses.
func Hubs() []devices.HubID {
	ids := make([]devices.HubID, SpreadHubs)
	for n := range ids {
		ids[n] = devices.HubID(fmt.Sprintf("hub-%03d", n))
	}
	return ids
}

// The figures of SeenSavesSpreadOverInterval: SpreadHubs is not a multiple
// of SpreadRounds, so the slots are uneven.
const (
	SpreadHubs, SpreadRounds = 100, 12
	SpreadSaveEvery          = 5 * time.Second
)

// SeenSavesSpreadOverInterval: at national scale every home is seen every
// minute; activity-only changes must go out a slot of the fleet per round,
// not all in one round (a burst of 300,000 upserts that holds the store's
// writer while emergencies wait), and still each within the seen interval.
// State changes keep going out in the next round, and the final save at
// shutdown still takes everything. start runs the runtime with
// SpreadSaveEvery and a seen interval of SpreadRounds of it, knowing Hubs.
func SeenSavesSpreadOverInterval(t *testing.T, start func(t *testing.T, store *SaveCounter) Saved) {
	const hubs, rounds, saveEvery = SpreadHubs, SpreadRounds, SpreadSaveEvery
	perRound := (hubs + rounds - 1) / rounds
	ids := Hubs()
	synctest.Test(t, func(t *testing.T) {
		store := &SaveCounter{}
		mon := start(t, store)
		defer mon.Stop()
		// Settle between two rounds: every hub known and saved.
		time.Sleep(time.Second)
		for _, id := range ids {
			mon.Seen(id)
		}
		time.Sleep((rounds + 1) * saveEvery)
		synctest.Wait()
		if n := store.Reset(); n < hubs {
			t.Fatalf("settling saved %d records, want at least %d", n, hubs)
		}

		for _, id := range ids {
			mon.Seen(id)
		}
		synctest.Wait()
		// A state change in the middle of the cycle goes out in the
		// next round, on top of that round's slot.
		changed := ids[hubs/2]
		for r := 1; r <= rounds; r++ {
			limit := perRound
			if r == 4 {
				mon.State(changed)
				synctest.Wait()
				limit++
			}
			before := store.Count(changed)
			time.Sleep(saveEvery)
			synctest.Wait()
			if n := store.TakeTotal(); n > limit {
				t.Errorf("round %d saved %d records, want at most %d", r, n, limit)
			}
			if r == 4 && store.Count(changed) == before {
				t.Errorf("round %d did not save the state change of %s", r, changed)
			}
		}
		for _, id := range ids {
			n := store.Count(id)
			switch {
			case id == changed && (n < 1 || n > 2): // once or twice, by where its slot falls
				t.Errorf("%s saved %d times in a seen interval with a state change, want 1 or 2", id, n)
			case id != changed && n != 1:
				t.Errorf("%s saved %d times in a seen interval, want 1", id, n)
			}
		}

		// The final save takes every seen change, whatever its slot.
		store.Reset()
		for _, id := range ids {
			mon.Seen(id)
		}
		synctest.Wait()
		mon.Stop()
		for _, id := range ids {
			if n := store.Count(id); n != 1 {
				t.Errorf("%s saved %d times by the final save, want 1", id, n)
			}
		}
	})
}
