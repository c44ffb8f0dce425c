package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// TestCredentialLookupsShareQueries: the lookups of a connect wave that
// arrive while a query is under way are answered by one query between
// them, each with its own hub's record.
func TestCredentialLookupsShareQueries(t *testing.T) {
	s := openEmbedded(t, Config{})
	ctx := context.Background()
	const hubs = 500
	for i := range hubs {
		id := devices.HubID(fmt.Sprintf("hub-%03d", i))
		if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: id}); err != nil {
			t.Fatal(err)
		}
		if err := s.Registry().SetHubSecretHash(ctx, id, devices.HashHubSecret(string(id))); err != nil {
			t.Fatal(err)
		}
	}
	var queries atomic.Int32
	release := make(chan struct{})
	real := s.creds.lookup
	s.creds.lookup = func(ctx context.Context, ids []string) (map[devices.HubID]devices.HubCredential, error) {
		queries.Add(1)
		<-release // the first queries are slow: the wave queues behind them
		return real(ctx, ids)
	}
	var wg sync.WaitGroup
	for i := range hubs {
		wg.Go(func() {
			id := devices.HubID(fmt.Sprintf("hub-%03d", i))
			c, err := s.Registry().HubCredential(ctx, id)
			if err != nil || c.Hub != id || c.SecretHash != devices.HashHubSecret(string(id)) {
				t.Errorf("HubCredential(%s) = %+v, %v", id, c, err)
			}
		})
	}
	for queued, deadline := 0, time.Now().Add(10*time.Second); queued < hubs-credentialQueries; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d lookups queued behind the first queries, want %d", queued, hubs-credentialQueries)
		}
		s.creds.mu.Lock()
		queued = len(s.creds.queue)
		s.creds.mu.Unlock()
	}
	close(release)
	wg.Wait()
	// The first queries took one lookup each; everything queued behind
	// them shares at most one more query per runner.
	if n := queries.Load(); n > 2*credentialQueries {
		t.Errorf("%d lookups made %d queries, want at most %d", hubs, n, 2*credentialQueries)
	}
}
