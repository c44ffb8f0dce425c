package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// One hub's event that the database refuses (PostgreSQL's jsonb rejects a
// \u0000 escape) must fail alone, not the other hubs' emergencies that were
// grouped into the same commit.
func TestBadEventFailsAloneInGroupCommit(t *testing.T) {
	for name, cfg := range map[string]func(testing.TB) store.Config{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			s, ctx := startStore(t, cfg(t))
			now := time.Now()
			errs := make([]error, 40)
			var wg sync.WaitGroup
			for round := range 2 { // twice, so that some batches surely hold the bad one with others
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						e := &devices.Event{Hub: devices.HubID(fmt.Sprintf("hub-%d", i)), ID: devices.EventID(fmt.Sprintf("sos-%d", round)),
							Kind: devices.EventSOS, At: now, Received: now}
						if i == 0 {
							e.Detail = []byte(`{"x":"\u0000"}`)
						}
						_, errs[i] = s.Journal().AppendEvent(ctx, e)
					}()
				}
				wg.Wait()
				for i, err := range errs[1:] {
					if err != nil {
						t.Errorf("round %d: hub-%d's emergency refused because of another hub's event: %v", round, i+1, err)
					}
				}
			}
		})
	}
}

// startStore opens a store on cfg and runs it until the test ends; ctx
// ends with the test too.
func startStore(tb testing.TB, cfg store.Config) (*store.Store, context.Context) {
	tb.Helper()
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done; s.Close() })
	return s, ctx
}
